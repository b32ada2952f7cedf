import Foundation
import XCTest
@testable import LanguageModels

/// Unknown-token handling, byte fallback and subword affixes on tiny hand-written models; expected
/// ids from Python tokenizers 0.23.3 on the same JSON.
final class BPEModelTests: XCTestCase {
    func tokenizer(_ model: String) throws -> PretrainedTokenizer {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tok-\(UUID().uuidString).json")
        try Data(#"{"model": {"type": "BPE", "unk_token": "<unk>", \#(model)}}"#.utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        return try PretrainedTokenizer(tokenizerJSON: url)
    }

    static let vocab = #""vocab": {"<unk>": 0, "a": 1, "b": 2, "ab": 3, "<0x7A>": 4}, "merges": ["a b"]"#

    func testUnknownCharactersFuseOnlyWhenAsked() throws {
        XCTAssertEqual(try tokenizer(Self.vocab + #", "fuse_unk": true"#).encode("xyab zz"), [0, 3, 0])
        XCTAssertEqual(try tokenizer(Self.vocab + #", "fuse_unk": false"#).encode("xyab zz"), [0, 0, 3, 0, 0, 0])
    }

    /// Byte tokens are appended before a pending unknown token is flushed, as tokenizers does.
    func testByteFallbackAndItsOrderAgainstUnknownTokens() throws {
        XCTAssertEqual(try tokenizer(Self.vocab + #", "fuse_unk": true, "byte_fallback": true"#).encode("xzab z\u{E9}"), [4, 0, 3, 4, 0])
    }

    func testContinuingSubwordPrefixAndEndOfWordSuffix() throws {
        let tok = try tokenizer(#"""
        "continuing_subword_prefix": "##", "end_of_word_suffix": "</w>",
        "vocab": {"<unk>": 0, "a": 1, "##b": 2, "##c</w>": 3, "a##b": 4, "ab": 5, "##b##c</w>": 6, "c</w>": 7, "##bc</w>": 8},
        "merges": ["a ##b", "##b ##c</w>"]
        """#)
        XCTAssertEqual(tok.encode("abc"), [5, 3])
        XCTAssertEqual(tok.encode("ab"), [1, 0])
        XCTAssertEqual(tok.encode("c"), [7])
    }

    func testMergesApplyLowestRankFirstThenLeftmost() throws {
        // "aaa" with a+a: the leftmost pair merges first; with a lower-ranked b+a, it wins over a+a.
        let tok = try tokenizer(#""vocab": {"<unk>": 0, "a": 1, "b": 2, "aa": 3, "ba": 4, "baa": 5}, "merges": ["b a", "a a", "ba a"]"#)
        XCTAssertEqual(tok.encode("aaa"), [3, 1])
        XCTAssertEqual(tok.encode("baa"), [5])
        XCTAssertEqual(tok.encode("aaba"), [3, 4])
    }
}
