import Foundation
import XCTest

/// How one run of a built executable ended.
struct RunResult {
    let reason: Process.TerminationReason
    let status: Int32
    let stdout: String
    let stderr: String

    var summary: String { "reason \(reason == .exit ? "exit" : "signal") \(status); stderr: \(stderr.suffix(600))" }
}

enum Executables {
    /// The directory holding the built executables: `swift test` puts them beside the test bundle.
    static let directory: URL? = {
        var candidates = [Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent()]
        candidates += Bundle.allBundles.filter { $0.bundlePath.hasSuffix(".xctest") }.map { $0.bundleURL.deletingLastPathComponent() }
        if let argv0 = CommandLine.arguments.first { candidates.append(URL(fileURLWithPath: argv0).deletingLastPathComponent()) }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.appendingPathComponent("align").path) }
    }()

    static func url(_ name: String) throws -> URL {
        let dir = try XCTUnwrap(directory, "no built `align` beside the test bundle (\(Bundle.main.bundlePath))")
        let url = dir.appendingPathComponent(name)
        guard FileManager.default.isExecutableFile(atPath: url.path) else { throw XCTSkip("\(name) is not built in \(dir.path)") }
        return url
    }

    /// Runs `name` with `arguments`, collecting its output. A run still going after `limit` seconds
    /// is killed and reported as a hang (the limit only guards against hangs; nothing is timed).
    static func run(_ name: String, _ arguments: [String], in directory: URL, limit: TimeInterval = 600,
                    environment extra: [String: String] = [:]) throws -> RunResult {
        let process = Process()
        process.executableURL = try url(name)
        process.arguments = arguments
        process.currentDirectoryURL = directory
        var environment = ProcessInfo.processInfo.environment
        environment["TENSORCORE_NUM_THREADS"] = "1"
        environment.merge(extra) { _, new in new }
        process.environment = environment
        let out = directory.appendingPathComponent(".stdout-\(UUID().uuidString)")
        let err = directory.appendingPathComponent(".stderr-\(UUID().uuidString)")
        try Data().write(to: out)
        try Data().write(to: err)
        defer { try? FileManager.default.removeItem(at: out); try? FileManager.default.removeItem(at: err) }
        // Files, not pipes: a chatty child can never block on a full pipe.
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        try process.run()
        if finished.wait(timeout: .now() + limit) == .timedOut {
            process.terminate()
            finished.wait()
            XCTFail("\(name) \(arguments.joined(separator: " ")) hung; killed after \(Int(limit)) s")
        }
        return RunResult(reason: process.terminationReason, status: process.terminationStatus,
                         stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                         stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
    }
}
