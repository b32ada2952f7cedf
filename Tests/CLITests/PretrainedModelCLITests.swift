import Foundation
import LanguageModels
import XCTest

/// `align` on a Llama-family checkpoint with its Hugging Face tokenizer: SFT with gradient
/// checkpointing, then LoRA DPO on the result (the tokenizer travels with each saved model), then
/// sampling from the merged model; and the errors when tokenizer and model do not fit.
final class PretrainedModelCLITests: XCTestCase {
    static let tokenizerFixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("LanguageModelsTests/Fixtures/tokenizers/llama3")
    var directory: URL!
    var model: String { directory.appendingPathComponent("llama").path }

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("align-llama-\(UUID().uuidString)")
        let modelDir = directory.appendingPathComponent("llama")
        try FileManager.default.createDirectory(at: modelDir, withIntermediateDirectories: true)
        let tokenizer = try PretrainedTokenizer(directory: Self.tokenizerFixture)
        let config = LlamaConfig(family: .llama, vocabSize: tokenizer.vocabSize, hiddenSize: 16, intermediateSize: 32, layers: 2, heads: 4,
                                 kvHeads: 2, maxPositionEmbeddings: 96)
        try Llama(config, seed: 1).saveHuggingFace(directory: modelDir)
        for name in ["tokenizer.json", "tokenizer_config.json"] {
            try FileManager.default.copyItem(at: Self.tokenizerFixture.appendingPathComponent(name), to: modelDir.appendingPathComponent(name))
        }
        try lines("sft.jsonl", (0..<4).map { #"{"prompt": "Frage \#($0): wie geht's? ", "completion": "gut, danke 👍 \#($0)"}"# })
        try lines("prefs.jsonl", (0..<4).map { #"{"prompt": "q\#($0) ", "chosen": "good answer \#($0)", "rejected": "bad"}"# })
        try lines("ids.jsonl", [#"{"input_ids": [1, 2, 3]}"#])
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func lines(_ name: String, _ content: [String]) throws {
        try Data((content.joined(separator: "\n") + "\n").utf8).write(to: directory.appendingPathComponent(name))
    }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    @discardableResult
    func align(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> RunResult {
        let result = try Executables.run("align", arguments, in: directory)
        XCTAssertEqual(result.reason, .exit, "align \(arguments): \(result.summary)", file: file, line: line)
        XCTAssertEqual(result.status, 0, "align \(arguments): \(result.summary)", file: file, line: line)
        return result
    }

    func testSFTThenLoRADPOThenSamplingOnALlamaCheckpoint() throws {
        try align(["sft", "--model", model, "--batch-size", "2", "--max-length", "64", "--gradient-checkpointing",
                   "--data", path("sft.jsonl"), "--output", path("sft")])
        let checkpoint = path("sft/checkpoint")
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: checkpoint + "/config.json"))) as! [String: Any]
        XCTAssertEqual(config["model_type"] as? String, "llama")
        XCTAssertTrue(FileManager.default.fileExists(atPath: checkpoint + "/tokenizer.json"), "the tokenizer travels with the checkpoint")

        try align(["dpo", "--model", checkpoint, "--batch-size", "2", "--max-length", "64", "--lora-rank", "2", "--merge-lora",
                   "--data", path("prefs.jsonl"), "--output", path("dpo")])
        let adapter = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("dpo/adapter/adapter_config.json")))) as! [String: Any]
        XCTAssertEqual(Set(adapter["target_modules"] as? [String] ?? []), ["q_proj", "v_proj"], "PEFT's default targets for Llama")
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("dpo/merged/tokenizer.json")))
        // Running the finished command again resumes from checkpoint/ (base weights plus adapter/) and ends at once.
        let again = try align(["dpo", "--model", checkpoint, "--batch-size", "2", "--max-length", "64", "--lora-rank", "2", "--merge-lora",
                               "--data", path("prefs.jsonl"), "--output", path("dpo")])
        XCTAssertTrue(again.stderr.contains("resumed at step"), again.summary)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("dpo/checkpoint/tokenizer.json")))

        let sampled = try align(["generate", "--model", path("dpo/merged"), "--input", path("ids.jsonl"), "--max-new-tokens", "3"])
        XCTAssertEqual(sampled.stdout.split(separator: "\n").count, 1)
    }

    func testATokenizerLargerThanTheModelVocabularyIsRefused() throws {
        // A new GPT-2-style model built for the byte tokenizer, then trained on with the Llama tokenizer.
        try align(["sft", "--d-model", "16", "--layers", "1", "--heads", "2", "--batch-size", "2", "--context", "64",
                   "--data", path("sft.jsonl"), "--output", path("byte")])
        let refused = try Executables.run("align", ["sft", "--model", path("byte/checkpoint"), "--tokenizer", model, "--batch-size", "2",
                                                     "--data", path("sft.jsonl"), "--output", path("mismatch")], in: directory)
        XCTAssertEqual(refused.reason, .exit)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("--model") && refused.stderr.contains("vocabulary 258 is smaller than the tokenizer's"), refused.summary)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("mismatch/checkpoint")))
    }

    func testATokenizerDirectoryWithoutTokenizerJSONIsNamed() throws {
        let refused = try Executables.run("align", ["sft", "--model", model, "--tokenizer", directory.path, "--batch-size", "2",
                                                     "--data", path("sft.jsonl"), "--output", path("none")], in: directory)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("--tokenizer") && refused.stderr.contains("has no tokenizer.json"), refused.summary)
    }

    func testAModelWithoutATokenizerIsNotDrivenByTheByteTokenizer() throws {
        for name in ["tokenizer.json", "tokenizer_config.json"] { try FileManager.default.removeItem(atPath: model + "/" + name) }
        let refused = try Executables.run("align", ["sft", "--model", model, "--batch-size", "2", "--data", path("sft.jsonl"),
                                                     "--output", path("no-tokenizer")], in: directory)
        XCTAssertEqual(refused.reason, .exit)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("--model") && refused.stderr.contains("pass --tokenizer"), refused.summary)
    }

    func testGenerateRefusesAKVCacheThatCannotFit() throws {
        let url = URL(fileURLWithPath: model + "/config.json")
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        config["max_position_embeddings"] = 2_147_483_647
        try JSONSerialization.data(withJSONObject: config).write(to: url)
        let refused = try Executables.run("align", ["generate", "--model", model, "--input", path("ids.jsonl"),
                                                     "--max-new-tokens", "2000000000"], in: directory)
        XCTAssertEqual(refused.reason, .exit, refused.summary)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("--batch-size, --max-new-tokens"), refused.summary)
    }

    func testAChatTemplateWhoseMarkersTheTokenizerLacksIsRefused() throws {
        // The fixture tokenizer has <|im_end|> but not Llama-3's <|eot_id|>.
        let refused = try Executables.run("align", ["sft", "--model", model, "--chat-template", "llama3", "--batch-size", "2",
                                                     "--max-length", "64", "--data", path("sft.jsonl"), "--output", path("llama3")], in: directory)
        XCTAssertEqual(refused.reason, .exit)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("--chat-template") && refused.stderr.contains("<|eot_id|>"), refused.summary)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("llama3/checkpoint")))
        try align(["sft", "--model", model, "--chat-template", "chatml", "--batch-size", "2", "--max-length", "64",
                   "--data", path("sft.jsonl"), "--output", path("chatml")])
    }
}
