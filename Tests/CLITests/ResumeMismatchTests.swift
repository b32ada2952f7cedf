import Foundation
import XCTest

/// A resumed run must train on what the checkpoint was trained on: another data file (even one with
/// as many examples), other truncation lengths or another reference model are refused, listing the
/// differences, and the checkpoint is left as it was.
final class ResumeMismatchTests: XCTestCase {
    private func run(_ arguments: [String]) throws -> RunResult {
        try Executables.run("align", arguments, in: try Fixtures.shared().directory)
    }

    private func assertRefused(_ arguments: [String], naming setting: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let result = try run(arguments)
        XCTAssertEqual(result.reason, .exit, result.summary, file: file, line: line)
        XCTAssertNotEqual(result.status, 0, "resumed: \(result.summary)", file: file, line: line)
        XCTAssertTrue(result.stderr.contains("\(setting): checkpoint"), "stderr does not list \(setting): \(result.stderr.suffix(600))",
                      file: file, line: line)
    }

    func testSFTResumeWithOtherDataOrTruncationIsRefused() throws {
        let f = try Fixtures.shared()
        let out = f.path("resume-sft-\(UUID().uuidString)")
        let other = f.path("sft-other-\(UUID().uuidString).jsonl")
        // As many examples as sft.jsonl, other text.
        try Data((0..<4).map { #"{"prompt": "other \#($0): ", "completion": "text \#($0)"}"# }.joined(separator: "\n").utf8)
            .write(to: URL(fileURLWithPath: other))
        let common = ["sft", "--model", f.base, "--batch-size", "2", "--output", out]
        let first = try run(common + ["--data", f.path("sft.jsonl")])
        XCTAssertEqual(first.status, 0, first.summary)
        let saved = try Data(contentsOf: URL(fileURLWithPath: out + "/checkpoint/model.safetensors"))
        try assertRefused(common + ["--data", other], naming: "data")
        try assertRefused(common + ["--data", f.path("sft.jsonl"), "--max-length", "48"], naming: "maxLength")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: out + "/checkpoint/model.safetensors")), saved, "checkpoint changed")
        // The same command resumes (at its last step, so it has nothing left to do).
        XCTAssertEqual(try run(common + ["--data", f.path("sft.jsonl")]).status, 0)
    }

    func testDPOResumeWithAnotherReferenceIsRefused() throws {
        let f = try Fixtures.shared()
        let out = f.path("resume-dpo-\(UUID().uuidString)")
        let common = ["dpo", "--model", f.base, "--batch-size", "2", "--data", f.path("prefs.jsonl"), "--output", out]
        XCTAssertEqual(try run(common).status, 0)
        try assertRefused(common + ["--reference", f.rewardModel], naming: "reference")
    }
}
