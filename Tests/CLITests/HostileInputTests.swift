import Foundation
import XCTest

/// Runs the built executables with bad options and checks that each ends with a one-line error
/// naming the option, a non-zero exit status and no signal, and writes no checkpoint.
final class HostileInputTests: XCTestCase {
    func testTrainingOptions() throws { try check(HostileCases.training) }
    func testPPOOptions() throws { try check(HostileCases.ppo) }
    func testGenerateAndScoreOptions() throws { try check(HostileCases.inference) }
    func testExampleAndBenchmarkOptions() throws { try check(HostileCases.examples) }

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
