import Foundation
import XCTest

/// `align tokenize` on the committed tokenizer fixtures (ids pinned against Python `tokenizers`
/// in TensorCoreTests), and its errors for bad tokenizers and inputs.
final class TokenizeCommandTests: XCTestCase {
    static let tokenizers = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("LanguageModelsTests/Fixtures/tokenizers")

    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("swiftalign-tokenize-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Data(("\u{FEFF}" + #"{"text": "Hello world"}"# + "\r\n\n" + #"{"text": ""}"# + "\n").utf8).write(to: file("texts.jsonl"))
        try Data((#"{"text": "ok"}"# + "\n" + #"{"prompt": "no text"}"# + "\n").utf8).write(to: file("no-text.jsonl"))
        try Data((#"{"text": 12}"# + "\n").utf8).write(to: file("number.jsonl"))
        try FileManager.default.createDirectory(at: file("unigram"), withIntermediateDirectories: true)
        try Data(#"{"model": {"type": "Unigram", "vocab": []}}"#.utf8).write(to: file("unigram/tokenizer.json"))
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func file(_ name: String) -> URL { directory.appendingPathComponent(name) }

    func run(_ arguments: [String]) throws -> RunResult {
        try Executables.run("align", ["tokenize"] + arguments, in: directory)
    }

    func testPrintsInputIDsPerLineWithAndWithoutBOS() throws {
        let llama2 = Self.tokenizers.appendingPathComponent("llama2").path
        let with = try run(["--tokenizer", llama2, "--input", file("texts.jsonl").path])
        XCTAssertEqual(with.reason, .exit)
        XCTAssertEqual(with.status, 0, with.summary)
        let rows = with.stdout.split(separator: "\n").map { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: [Int]] }
        XCTAssertEqual(rows.count, 2)
        XCTAssertEqual(rows.first??["input_ids"]?.first, 1, "BOS first")
        XCTAssertEqual(rows.last??["input_ids"], [1], "an empty text is BOS alone")
        let without = try run(["--tokenizer", llama2, "--input", file("texts.jsonl").path, "--no-add-special-tokens"])
        XCTAssertEqual(without.status, 0, without.summary)
        XCTAssertEqual(without.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init),
                       [#"{"input_ids":\#(rows.first??["input_ids"]?.dropFirst().map { $0 } ?? [])}"#.replacingOccurrences(of: " ", with: ""),
                        #"{"input_ids":[]}"#, ""])
    }

    func testBadTokenizersAndInputsNameFileAndLine() throws {
        let gpt2 = Self.tokenizers.appendingPathComponent("gpt2").path
        let cases: [([String], String)] = [
            (["--tokenizer", file("nowhere").path, "--input", file("texts.jsonl").path], "--tokenizer"),
            (["--tokenizer", file("unigram").path, "--input", file("texts.jsonl").path], "model.type"),
            (["--tokenizer", gpt2, "--input", file("missing.jsonl").path], "missing.jsonl"),
            (["--tokenizer", gpt2, "--input", file("no-text.jsonl").path], "no-text.jsonl:2: missing field \"text\""),
            (["--tokenizer", gpt2, "--input", file("number.jsonl").path], "number.jsonl:1: field \"text\" is not a string"),
            (["--tokenizer", gpt2], "--input"),
        ]
        for (arguments, names) in cases {
            let r = try run(arguments)
            XCTAssertEqual(r.reason, .exit, "\(arguments): killed by signal \(r.status)")
            XCTAssertNotEqual(r.status, 0, "\(arguments)")
            XCTAssertTrue(r.stderr.contains(names), "\(arguments): stderr does not name \(names): \(r.stderr.suffix(600))")
            XCTAssertTrue(r.stdout.isEmpty, "\(arguments): \(r.stdout.prefix(200))")
        }
    }
}
