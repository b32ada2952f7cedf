import Foundation
import XCTest
@testable import LanguageModels

/// Ids and decodes against Python `tokenizers` for the five fixture tokenizers (GPT-2, Llama-3,
/// Qwen2 byte-level BPE; Llama-2 normalizers and Mistral Metaspace with byte fallback).
final class PretrainedTokenizerParityTests: XCTestCase {
    func testEncodeAndDecodeMatchPythonTokenizers() throws {
        let expected = try TokenizerFixtures.expected()
        XCTAssertEqual(Set(expected.tokenizers.keys), Set(TokenizerFixtures.names))
        for name in TokenizerFixtures.names {
            let tok = try TokenizerFixtures.load(name)
            let e = try XCTUnwrap(expected.tokenizers[name])
            XCTAssertEqual(tok.vocabSize, e.vocab_size, name)
            XCTAssertEqual(e.cases.count, expected.texts.count)
            for (text, c) in zip(expected.texts, e.cases) {
                let label = "\(name) \(text.debugDescription)"
                XCTAssertEqual(tok.encode(text, addSpecialTokens: true), c.ids, label)
                XCTAssertEqual(tok.encode(text), c.ids, label)
                XCTAssertEqual(tok.encode(text, addSpecialTokens: false), c.ids_no_special, label)
                XCTAssertEqual(tok.decode(c.ids, skipSpecialTokens: false), c.decoded, label)
                XCTAssertEqual(tok.decode(c.ids, skipSpecialTokens: true), c.decoded_skip_special, label)
                XCTAssertEqual(tok.decode(c.ids), c.decoded_skip_special, label)
            }
        }
    }

    func testLlamaTemplatesAddBOSOnlyWithSpecialTokens() throws {
        let llama2 = try TokenizerFixtures.load("llama2")
        XCTAssertEqual(llama2.encode("", addSpecialTokens: true), [1])
        XCTAssertEqual(llama2.encode("", addSpecialTokens: false), [])
        let llama3 = try TokenizerFixtures.load("llama3")
        let bos = try XCTUnwrap(llama3.id(of: "<|begin_of_text|>"))
        XCTAssertEqual(llama3.encode("hi", addSpecialTokens: true).first, bos)
        XCTAssertNotEqual(llama3.encode("hi", addSpecialTokens: false).first, bos)
    }

    func testSpecialIDsComeFromTokenizerConfig() throws {
        let gpt2 = try TokenizerFixtures.load("gpt2")
        let eot = try XCTUnwrap(gpt2.id(of: "<|endoftext|>"))
        XCTAssertEqual([gpt2.bosTokenID, gpt2.eosTokenID, gpt2.unkTokenID, gpt2.padTokenID], [eot, eot, eot, nil])  // eos as {"content": ...}
        XCTAssertEqual(gpt2.padToken, eot, "without a pad token, padding uses EOS")

        let llama2 = try TokenizerFixtures.load("llama2")
        XCTAssertEqual([llama2.bosTokenID, llama2.eosTokenID, llama2.unkTokenID, llama2.padTokenID], [1, 2, 0, nil])

        let qwen2 = try TokenizerFixtures.load("qwen2")
        XCTAssertNil(qwen2.bosTokenID)
        XCTAssertEqual(qwen2.eosTokenID, qwen2.id(of: "<|im_end|>"))
        XCTAssertEqual(qwen2.padTokenID, qwen2.id(of: "<|endoftext|>"))
        XCTAssertEqual(qwen2.padToken, qwen2.padTokenID)

        let bare = try PretrainedTokenizer(tokenizerJSON: TokenizerFixtures.directory.appendingPathComponent("llama2/tokenizer.json"))
        XCTAssertNil(bare.bosTokenID)
        XCTAssertNil(bare.eosTokenID)
        XCTAssertEqual(bare.eosToken, -1)
    }

    /// Byte-level BPE without a normalizer loses nothing: decode(encode(x)) == x for any text
    /// free of added tokens, including invalid-looking mixes of marks, ZWJ and lone surrogate-free scalars.
    func testByteLevelRoundTripsRandomText() throws {
        let alphabet = Array("aZ 9'sS\t\n\r  é\u{301}\u{200D}日本😀👍🏽🇫🇷٣½ſ<|>.,!_\u{3000}\u{A0}\u{85}".unicodeScalars)
        var g = RandomGenerator(seed: 7)
        for name in ["gpt2", "llama3"] {
            let tok = try TokenizerFixtures.load(name)
            for _ in 0..<300 {
                let n = Int(g.nextUniform() * 40)
                var s = String.UnicodeScalarView()
                for _ in 0..<n { s.append(alphabet[Swift.min(alphabet.count - 1, Int(g.nextUniform() * Float(alphabet.count)))]) }
                let text = String(s)
                XCTAssertEqual(tok.decode(tok.encode(text, addSpecialTokens: false), skipSpecialTokens: false), text, "\(name) \(text.debugDescription)")
            }
        }
    }

    func testDecodeSkipsIDsOutsideTheVocabularyAndNeverTrapsOnByteTokens() throws {
        let llama2 = try TokenizerFixtures.load("llama2")
        XCTAssertEqual(llama2.decode([-5, 1_000_000, Int.max, Int.min], skipSpecialTokens: false), "")
        // <0xE6> alone is an incomplete UTF-8 sequence: one replacement character per byte, as tokenizers does.
        let e6 = try XCTUnwrap(llama2.id(of: "<0xE6>")), x97 = try XCTUnwrap(llama2.id(of: "<0x97>"))
        XCTAssertEqual(llama2.decode([e6, x97], skipSpecialTokens: false), "\u{FFFD}\u{FFFD}")
        let gpt2 = try TokenizerFixtures.load("gpt2")
        XCTAssertEqual(gpt2.decode(Array(0..<gpt2.vocabSize), skipSpecialTokens: true).isEmpty, false)
    }

    func testTokenizerProtocolDefaultKeepsByteAndCharTokenizers() {
        let bytes: any Tokenizer = ByteTokenizer()
        XCTAssertEqual(bytes.encode("hi", addSpecialTokens: true), [104, 105])
        let chars: any Tokenizer = CharTokenizer(corpus: "hi")
        XCTAssertEqual(chars.encode("ih", addSpecialTokens: false), [1, 0])
    }
}
