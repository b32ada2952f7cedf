import Foundation
import XCTest

/// sft-vs-rlaif checks the run directory's preset.json before it trains or reuses anything.
final class RunProvenanceCLITests: XCTestCase {
    func testAnUnreadablePresetFileIsNamedAndNothingRuns() throws {
        let f = try Fixtures.shared()
        let out = f.directory.appendingPathComponent("provenance-\(UUID().uuidString)")
        let run = out.appendingPathComponent("quick")
        try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true)
        try Data(#"{"x": 1}"#.utf8).write(to: run.appendingPathComponent("preset.json"))
        let result = try Executables.run("sft-vs-rlaif", ["--preset", "quick", "--output", out.path], in: f.directory)
        XCTAssertEqual(result.reason, .exit, result.summary)
        XCTAssertNotEqual(result.status, 0, result.summary)
        XCTAssertTrue(result.stderr.contains(run.appendingPathComponent("preset.json").path), result.summary)
        XCTAssertFalse(FileManager.default.fileExists(atPath: run.appendingPathComponent("cache").path), "trained despite the refusal")
        XCTAssertTrue(try Executables.run("sft-vs-rlaif", ["--help"], in: f.directory).stdout.contains("--allow-stale-cache"))
    }
}
