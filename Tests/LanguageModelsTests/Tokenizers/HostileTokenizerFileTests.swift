import Foundation
import XCTest
@testable import LanguageModels

/// Unsupported or malformed tokenizer files are thrown errors naming the file, the JSON field and
/// what is allowed; none of them may trap.
final class HostileTokenizerFileTests: XCTestCase {
    func assertRefused(_ name: String = "gpt2", config: [String: Any]? = nil, field: String, orField: String? = nil, says: String,
                       file: StaticString = #filePath, line: UInt = #line, _ edit: (inout [String: Any]) -> Void) throws {
        let dir = try TokenizerFixtures.edited(name, config: config, edit)
        defer { try? FileManager.default.removeItem(at: dir) }
        XCTAssertThrowsError(try PretrainedTokenizer(directory: dir), file: file, line: line) { error in
            guard let e = error as? TokenizerFileError else { return XCTFail("\(error)", file: file, line: line) }
            XCTAssertTrue(e.field == field || e.field == orField, "\(e)", file: file, line: line)
            XCTAssertTrue(e.reason.contains(says), "\(e)", file: file, line: line)
            XCTAssertTrue(e.file.hasPrefix(dir.path) && e.file.hasSuffix(config == nil ? "tokenizer.json" : ".json"), e.file, file: file, line: line)
        }
    }

    func model(_ json: inout [String: Any], _ edit: (inout [String: Any]) -> Void) {
        var m = json["model"] as! [String: Any]
        edit(&m)
        json["model"] = m
    }

    func testUnsupportedComponentsNameWhatIsSupported() throws {
        try assertRefused(field: "model.type", says: "supported: BPE") { j in self.model(&j) { $0["type"] = "Unigram" } }
        try assertRefused(field: "model.type", says: "supported: BPE") { j in self.model(&j) { $0["type"] = "WordPiece" } }
        try assertRefused(field: "normalizer.type", says: "supported: NFC") { $0["normalizer"] = ["type": "BertNormalizer"] }
        try assertRefused(field: "normalizer.normalizers[1].pattern", says: "Regex pattern is not supported") {
            $0["normalizer"] = ["type": "Sequence", "normalizers": [["type": "NFC"], ["type": "Replace", "pattern": ["Regex": " +"], "content": " "]]]
        }
        try assertRefused(field: "pre_tokenizer.type", says: "supported: ByteLevel") { $0["pre_tokenizer"] = ["type": "Whitespace"] }
        try assertRefused(field: "pre_tokenizer.behavior", says: "Isolated") {
            $0["pre_tokenizer"] = ["type": "Split", "pattern": ["String": " "], "behavior": "Sideways", "invert": false]
        }
        try assertRefused(field: "pre_tokenizer.pattern.Regex", says: "does not compile") {
            $0["pre_tokenizer"] = ["type": "Split", "pattern": ["Regex": "(unclosed"], "behavior": "Isolated"]
        }
        try assertRefused(field: "decoder.decoders[0].type", says: "supported: ByteLevel") { $0["decoder"] = ["type": "Sequence", "decoders": [["type": "WordPiece"]]] }
        try assertRefused(field: "post_processor.type", says: "supported: TemplateProcessing") { $0["post_processor"] = ["type": "Fancy"] }
        try assertRefused(field: "post_processor.single[0].Sequence.id", says: "sequence A") {
            $0["post_processor"] = ["type": "TemplateProcessing", "single": [["Sequence": ["id": "B", "type_id": 0]]], "special_tokens": [:]]
        }
        try assertRefused(field: "model.dropout", says: "random") { j in self.model(&j) { $0["dropout"] = 0.1 } }
    }

    func testMalformedModelsAreRefused() throws {
        try assertRefused(field: "model.vocab", says: "missing") { j in self.model(&j) { $0["vocab"] = nil } }
        try assertRefused(field: "model.vocab", says: "empty") { j in self.model(&j) { $0["vocab"] = [String: Int]() } }
        try assertRefused(field: "model.merges", says: "missing") { j in self.model(&j) { $0["merges"] = nil } }
        try assertRefused(field: "model.merges[0]", says: "not in model.vocab") { j in self.model(&j) { $0["merges"] = ["Ġ nonexistent"] } }
        try assertRefused(field: "model.merges[0]", says: "merged token") { j in self.model(&j) { $0["merges"] = ["{ }"] } }  // "{}" is not a token
        try assertRefused(field: "model.merges[0]", says: "one space") { j in self.model(&j) { $0["merges"] = ["a b c"] } }
        try assertRefused(field: "model.merges[344]", says: "must be a string") { j in self.model(&j) { $0["merges"] = ($0["merges"] as! [Any]) + [7] } }
        try assertRefused(field: "model.unk_token", says: "not in model.vocab") { j in self.model(&j) { $0["unk_token"] = "<nope>" } }
        try assertRefused(field: "model.vocab.a", orField: "model.vocab.b", says: "also the id of") { j in  // whichever is read second
            self.model(&j) { m in
                var v = m["vocab"] as! [String: Any]
                v["a"] = v["b"]
                m["vocab"] = v
            }
        }
        try assertRefused(field: "model.vocab.a", says: "out of range") { j in
            self.model(&j) { m in
                var v = m["vocab"] as! [String: Any]
                v["a"] = -3
                m["vocab"] = v
            }
        }
        try assertRefused(field: "model.vocab.a", says: "integer") { j in
            self.model(&j) { m in
                var v = m["vocab"] as! [String: Any]
                v["a"] = "12"
                m["vocab"] = v
            }
        }
        try assertRefused(field: "added_tokens[0].id", says: "model.vocab") { j in
            var a = j["added_tokens"] as! [[String: Any]]
            a[0]["id"] = 5
            j["added_tokens"] = a
        }
        try assertRefused(field: "post_processor.single[0].SpecialToken.id", says: "not in special_tokens") { j in
            j["post_processor"] = ["type": "TemplateProcessing", "single": [["SpecialToken": ["id": "<s>", "type_id": 0]], ["Sequence": ["id": "A", "type_id": 0]]],
                                   "special_tokens": [:]]
        }
    }

    func testTokenizerConfigNamesTokensOfTheVocabulary() throws {
        try assertRefused(config: ["eos_token": "</missing>"], field: "eos_token", says: "is not a token") { _ in }
        try assertRefused(config: ["bos_token": ["lstrip": false]], field: "bos_token.content", says: "missing") { _ in }
        try assertRefused(config: ["pad_token": 3], field: "pad_token.content", says: "missing") { _ in }
    }

    func testUnreadableFilesAreErrors() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        XCTAssertThrowsError(try PretrainedTokenizer(directory: dir)) { XCTAssertTrue("\($0)".contains("tokenizer.json: no such file"), "\($0)") }
        XCTAssertThrowsError(try PretrainedTokenizer(directory: dir.appendingPathComponent("absent"))) {
            XCTAssertTrue("\($0)".contains("not a directory"), "\($0)")
        }
        for contents in ["", "{", "[1, 2]", "\"text\"", "{\"model\": 3}"] {
            try Data(contents.utf8).write(to: dir.appendingPathComponent("tokenizer.json"))
            XCTAssertThrowsError(try PretrainedTokenizer(directory: dir), contents) { XCTAssertTrue($0 is TokenizerFileError, "\($0)") }
        }
    }
}

/// Vocabulary keys are compared as bytes: Swift String keys would merge canonically equivalent
/// tokens. Expected ids from Python tokenizers 0.23.3 on the same file.
final class TokenizerJSONTests: XCTestCase {
    func write(_ text: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tok-\(UUID().uuidString).json")
        try Data(text.utf8).write(to: url)
        return url
    }

    func testCanonicallyEquivalentTokensStayDistinct() throws {
        let url = try write(#"""
        {"model": {"type": "BPE", "unk_token": "<unk>", "vocab": {"<unk>": 0, "e": 1, "\u0301": 2, "\u00e9": 3, "e\u0301": 4},
                   "merges": [["e", "\u0301"]]}}
        """#)
        defer { try? FileManager.default.removeItem(at: url) }
        let tok = try PretrainedTokenizer(tokenizerJSON: url)
        XCTAssertEqual(tok.vocabSize, 5)
        XCTAssertEqual(tok.encode("\u{E9}"), [3])
        XCTAssertEqual(tok.encode("e\u{301}"), [4])
        XCTAssertEqual(tok.encode("\u{E9}e\u{301}x"), [3, 4, 0])
        XCTAssertEqual(tok.decode([3, 4, 0], skipSpecialTokens: false), "\u{E9} e\u{301} <unk>")  // no decoder: joined by spaces
    }

    func testSyntaxErrorsNameTheLineAndDeepNestingDoesNotOverflow() throws {
        for (text, says) in [("{\n\"model\": [1,\n 2,,]}", ":3: not valid JSON"), (String(repeating: "[", count: 100_000), "nested deeper"),
                             ("{\"a\": \"\\ud800\"}", "surrogate"), ("{\"a\": 1} x", "after the JSON value"), ("\"a\u{1}\"", "control character")] {
            let url = try write(text)
            defer { try? FileManager.default.removeItem(at: url) }
            XCTAssertThrowsError(try PretrainedTokenizer(tokenizerJSON: url)) { XCTAssertTrue("\($0)".contains(says), "\($0)") }
        }
    }

    func testRepeatedVocabularyKeyIsRefused() throws {
        let url = try write(#"{"model": {"type": "BPE", "vocab": {"a": 0, "a": 1}, "merges": []}}"#)
        defer { try? FileManager.default.removeItem(at: url) }
        XCTAssertThrowsError(try PretrainedTokenizer(tokenizerJSON: url)) { XCTAssertTrue("\($0)".contains("model.vocab.a: \"a\" appears twice"), "\($0)") }
    }

    /// tokenizer.json's truncation and padding sections do not change encode, as in transformers,
    /// which resets them on every call.
    func testTruncationAndPaddingSectionsAreIgnored() throws {
        let plainDir = try TokenizerFixtures.edited("gpt2", config: nil) { _ in }
        let editedDir = try TokenizerFixtures.edited("gpt2", config: nil) {
            $0["truncation"] = ["direction": "Right", "max_length": 2, "strategy": "LongestFirst", "stride": 0]
            $0["padding"] = ["strategy": ["Fixed": 64], "direction": "Right", "pad_id": 0, "pad_type_id": 0, "pad_token": "<pad>"]
        }
        defer { for dir in [plainDir, editedDir] { try? FileManager.default.removeItem(at: dir) } }
        let plain = try PretrainedTokenizer(directory: plainDir), edited = try PretrainedTokenizer(directory: editedDir)
        let text = "a longer text than two tokens"
        XCTAssertEqual(edited.encode(text), plain.encode(text))
        XCTAssertGreaterThan(edited.encode(text).count, 2)
    }
}
