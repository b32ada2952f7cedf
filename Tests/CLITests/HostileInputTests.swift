import Foundation
import XCTest

/// Runs the built executables with bad options and checks that each ends with a one-line error
/// naming the option, a non-zero exit status and no signal, and writes no checkpoint.
final class HostileInputTests: XCTestCase {
    func testTrainingOptions() throws { try check(HostileCases.training) }
    func testPPOOptions() throws { try check(HostileCases.ppo) }
    func testGenerateAndScoreOptions() throws { try check(HostileCases.inference) }
    func testExampleAndBenchmarkOptions() throws { try check(HostileCases.examples) }

    /// TENSORCORE_ variables with values the library does not read are refused by every program,
    /// naming the variable and what it accepts (they used to fall back to defaults silently).
    func testMistypedEnvironmentVariables() throws {
        let fixtures = try Fixtures.shared()
        let programs = [("align", ["sft", "--data", "x.jsonl", "--output", "out-env"]), ("align", ["score", "--model", "m", "--input", "i"]),
                        ("tiny-train", []), ("matmul-bench", []), ("sft-vs-rlaif", ["--preset", "quick", "--output", "out-env"])]
        let settings = [("TENSORCORE_KERNELS", "avx512"), ("TENSORCORE_NUM_THREADS", "0"), ("TENSORCORE_NUM_THREADS", "two"), ("TENSORCORE_GEMM", "mkl")]
        for (program, arguments) in programs {
            for (name, value) in settings {
                let result = try Executables.run(program, arguments, in: fixtures.directory, environment: [name: value])
                let label = "\(name)=\(value) \(program) \(arguments.first ?? "")"
                XCTAssertEqual(result.reason, .exit, label)
                XCTAssertNotEqual(result.status, 0, label)
                XCTAssertTrue(result.stderr.contains("environment variable \(name)=\(value): must be"), "\(label): \(result.stderr.suffix(400))")
            }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: fixtures.directory.appendingPathComponent("out-env").path))
    }

    func check(_ cases: [HostileCase]) throws {
        let fixtures = try Fixtures.shared()
        for (i, c) in cases.enumerated() {
            let output = fixtures.directory.appendingPathComponent("out-\(name.filter(\.isLetter))-\(i)")
            let result = try Executables.run(c.executable, c.resolved(fixtures, output: output.path), in: fixtures.directory)
            XCTAssertEqual(result.reason, .exit, "\(c.label): killed by signal \(result.status)")
            XCTAssertNotEqual(result.status, 0, "\(c.label): exit status 0; stdout: \(result.stdout.suffix(300))")
            XCTAssertTrue(result.stderr.contains(c.names), "\(c.label): stderr does not name \(c.names): \(result.stderr.suffix(600))")
            XCTAssertFalse(result.stderr.contains("Fatal error"), "\(c.label): \(result.stderr.suffix(600))")
            for written in ["checkpoint", "model.safetensors"] {
                XCTAssertFalse(FileManager.default.fileExists(atPath: output.appendingPathComponent(written).path), "\(c.label): wrote \(written)")
            }
        }
    }
}
