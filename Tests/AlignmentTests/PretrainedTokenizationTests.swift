import Alignment
import Foundation
import XCTest

/// Tokenization with a Hugging Face tokenizer: BOS once before the prompt (also when a chat
/// template already wrote it), and SFT's joint encoding of prompt + completion as TRL's.
final class PretrainedTokenizationTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("LanguageModelsTests/Fixtures/tokenizers")

    func tokenizer(_ name: String) throws -> PretrainedTokenizer {
        try PretrainedTokenizer(directory: Self.fixtures.appendingPathComponent(name))
    }

    func testBOSOnceBeforeThePromptAndNeverBeforeTheCompletion() throws {
        let tok = try tokenizer("llama2")
        let bos = try XCTUnwrap(tok.bosTokenID)
        let bosText = try XCTUnwrap(tok.bosText)
        let t = Tokenization(tokenizer: tok, policy: TruncationPolicy(maxLength: 200, maxPromptLength: 100))
        var report = DataReport()
        let plain = try XCTUnwrap(t.pair(prompt: "Q: what is it?\nA:", completion: " four", report: &report))
        XCTAssertEqual(plain.prompt.first, bos)
        XCTAssertEqual(plain.prompt.filter { $0 == bos }.count, 1)
        XCTAssertFalse(plain.completion.contains(bos))
        // A prompt that a chat template began with the BOS text gets no second BOS.
        let templated = try XCTUnwrap(t.pair(prompt: bosText + "[INST] hi [/INST]", completion: " yes", report: &report))
        XCTAssertEqual(templated.prompt.filter { $0 == bos }.count, 1)
        XCTAssertEqual(templated.prompt.first, bos)
    }

    func testJointEncodingSplitsTheWholeTextAfterThePrompt() throws {
        let tok = try tokenizer("llama2")
        let policy = TruncationPolicy(maxLength: 200, maxPromptLength: 100)
        var report = DataReport()
        let prompt = "Q: what is it?\nA:", completion = " four"
        let joint = try XCTUnwrap(Tokenization(tokenizer: tok, policy: policy, jointly: true).pair(prompt: prompt, completion: completion, report: &report))
        let whole = tok.encodePrompt(prompt + completion)
        XCTAssertEqual(joint.prompt + joint.completion, whole + [tok.eosToken])
        XCTAssertEqual(joint.prompt.count, tok.encodePrompt(prompt).count)
        // Encoded on its own, the completion gets the SentencePiece prefix the joint text does not have.
        XCTAssertEqual(tok.decode(joint.completion), tok.decode(Array(whole.dropFirst(joint.prompt.count))))
        let separate = try XCTUnwrap(Tokenization(tokenizer: tok, policy: policy).pair(prompt: prompt, completion: completion, report: &report))
        XCTAssertNotEqual(separate.completion, joint.completion)
    }

    func testTheByteTokenizerGivesTheSameIdsEitherWay() throws {
        let policy = TruncationPolicy(maxLength: 200, maxPromptLength: 100)
        var report = DataReport()
        let a = Tokenization(tokenizer: ByteTokenizer(), policy: policy).pair(prompt: "Human: hi\n\nAssistant: ", completion: "yo", report: &report)
        let b = Tokenization(tokenizer: ByteTokenizer(), policy: policy, jointly: true).pair(prompt: "Human: hi\n\nAssistant: ", completion: "yo", report: &report)
        XCTAssertEqual(a, b)
    }

    func testACompletionEndingWithTheEOSTextGetsNoSecondEOS() throws {
        let tok = try tokenizer("llama2")
        let eosText = try XCTUnwrap(tok.eosText)
        var report = DataReport()
        for jointly in [false, true] {
            let t = Tokenization(tokenizer: tok, policy: TruncationPolicy(maxLength: 200, maxPromptLength: 100), jointly: jointly)
            let templated = try XCTUnwrap(t.pair(prompt: "[INST] hi [/INST]", completion: " yes" + eosText, report: &report))
            XCTAssertEqual(templated.completion.filter { $0 == tok.eosToken }.count, 1, "jointly \(jointly)")
            XCTAssertEqual(templated.completion.last, tok.eosToken)
            let plain = try XCTUnwrap(t.pair(prompt: "[INST] hi [/INST]", completion: " yes", report: &report))
            XCTAssertEqual(plain.completion.last, tok.eosToken)
        }
    }
}
