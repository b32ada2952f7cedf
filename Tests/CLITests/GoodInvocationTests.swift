import Foundation
import XCTest

/// Valid invocations still work, including the defaults that used to crash with a loaded model.
final class GoodInvocationTests: XCTestCase {
    func succeed(_ executable: String, _ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> RunResult {
        let fixtures = try Fixtures.shared()
        let result = try Executables.run(executable, arguments, in: fixtures.directory)
        XCTAssertEqual(result.reason, .exit, "\(executable) \(arguments): \(result.summary)", file: file, line: line)
        XCTAssertEqual(result.status, 0, "\(executable) \(arguments): \(result.summary)", file: file, line: line)
        return result
    }

    func output(_ name: String) throws -> String {
        try Fixtures.shared().directory.appendingPathComponent("good-\(name)-\(UUID().uuidString)").path
    }

    func testSFTOnALoadedModelDefaultsMaxLengthToItsContext() throws {
        let f = try Fixtures.shared()
        let out = try output("sft")
        _ = try succeed("align", ["sft", "--model", f.base, "--batch-size", "2", "--data", f.path("sft.jsonl"), "--output", out])
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/checkpoint/model.safetensors"))
    }

    func testNewTinySFTModel() throws {
        let f = try Fixtures.shared()
        _ = try succeed("align", ["sft"] + Fixtures.tinyModel + ["--context", "32", "--max-length", "32", "--max-prompt-length", "16",
                                                                 "--schedule", "cosine", "--optimizer", "sgd", "--loss-reduction", "token_mean",
                                                                 "--data", f.path("sft.jsonl"), "--output", try output("tiny")])
    }

    /// --stop-after ends the invocation early with a checkpoint; the same command then finishes the run.
    func testStopAfterLeavesACheckpointTheSameCommandResumes() throws {
        let f = try Fixtures.shared()
        let out = try output("stop-after")
        let command = ["sft"] + Fixtures.tinyModel + ["--context", "32", "--epochs", "2", "--data", f.path("sft.jsonl"), "--output", out]
        _ = try succeed("align", command + ["--stop-after", "1"])
        XCTAssertEqual(try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").count, 1)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/checkpoint/optimizer.safetensors"))
        let rest = try succeed("align", command)
        XCTAssertTrue(rest.stderr.contains("resumed at step 1"), rest.summary)
        XCTAssertEqual(try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").count, 4)
    }

    func testDPOWithIPO() throws {
        let f = try Fixtures.shared()
        _ = try succeed("align", ["dpo", "--model", f.base, "--batch-size", "2", "--loss-type", "ipo", "--precompute-reference",
                                  "--data", f.path("prefs.jsonl"), "--output", try output("dpo")])
    }

    func testPPOTruncatesPromptsLongerThanTheContext() throws {
        let f = try Fixtures.shared()
        _ = try succeed("align", ["ppo", "--model", f.base, "--reward-model", f.rewardModel, "--prompts", f.path("prompts.jsonl"),
                                  "--rollouts", "1", "--rollout-batch", "2", "--mini-batch", "2", "--ppo-epochs", "1", "--max-new-tokens", "4",
                                  "--kl-estimator", "k3", "--output", try output("ppo")])
    }

    func testGenerateAndScoreReadCRLFInput() throws {
        let f = try Fixtures.shared()
        let generated = try succeed("align", ["generate", "--model", f.base, "--input", f.path("ids.jsonl"), "--max-new-tokens", "3",
                                              "--eos", "256", "--top-p", "0.9"])
        XCTAssertEqual(generated.stdout.split(separator: "\n").count, 2)
        let scored = try succeed("align", ["score", "--model", f.base, "--input", f.path("ids.jsonl")])
        XCTAssertEqual(scored.stdout.split(separator: "\n").count, 2)
    }

    func testHelpListsEnumValuesAndRanges() throws {
        let sft = try help("align", "sft")
        for text in ["adamw, adam, rmsprop, sgd", "constant, linear, cosine", "sequence_sum, token_mean", "dividing --d-model"] {
            XCTAssertTrue(sft.contains(text), "align sft --help lacks \(text)")
        }
        XCTAssertTrue(try help("align", "dpo").contains("values: sigmoid, conservative, ipo"))
        XCTAssertTrue(try help("align", "ppo").contains("values: k1, k2, k3"))
        XCTAssertTrue(try help("align", "generate").contains("in (0, 1]"))
        XCTAssertTrue(try help("sft-vs-rlaif").contains("values: quick, default, full"))
    }

    /// --help of `executable` with line wrapping undone.
    func help(_ executable: String, _ subcommand: String...) throws -> String {
        let text = try succeed(executable, subcommand + ["--help"]).stdout
        return text.split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }

    func testTinyTrainAndTrainBench() throws {
        _ = try succeed("tiny-train", ["--steps", "2", "--every", "1", "--points", "10", "--hidden", "4"])
        _ = try succeed("train-bench", ["--steps", "1", "--layers", "1", "--d-model", "16", "--heads", "2", "--seq", "8", "--batch", "2"])
    }

    /// A text without the characters of the default prompt "Shall I" used to trap in the tokenizer.
    func testCharLMOnATextWithoutThePromptCharacters() throws {
        let f = try Fixtures.shared()
        _ = try succeed("char-lm", ["--text", f.path("sonnet.txt"), "--steps", "1", "--batch", "1", "--context", "16", "--d-model", "16",
                                    "--layers", "1", "--heads", "2", "--sample-length", "4", "--out", try output("char-lm")])
    }
}

/// `align dpo` with LoRA: adapters in PEFT's layout, the merged model, and resume.
final class LoRAInvocationTests: XCTestCase {
    func testDPOWithLoRAWritesAdapterAndMergedModelAndResumes() throws {
        let f = try Fixtures.shared()
        let out = f.path("good-dpo-lora-\(UUID().uuidString)")
        let common = ["dpo", "--model", f.base, "--batch-size", "2", "--lr", "1e-2", "--lora-rank", "2", "--lora-alpha", "4",
                      "--lora-dropout", "0.1", "--lora-targets", "c_attn,mlp.c_fc", "--data", f.path("prefs.jsonl"), "--output", out]
        let first = try Executables.run("align", common + ["--epochs", "1", "--save-every", "1", "--merge-lora"], in: f.directory)
        XCTAssertEqual(first.status, 0, first.summary)
        let fm = FileManager.default
        for file in ["adapter/adapter_config.json", "adapter/adapter_model.safetensors", "merged/config.json", "merged/model.safetensors",
                     "checkpoint/adapter/adapter_model.safetensors", "checkpoint/optimizer.safetensors"] {
            XCTAssertTrue(fm.fileExists(atPath: out + "/" + file), file)
        }
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/adapter/adapter_config.json"))) as! [String: Any]
        XCTAssertEqual(config["r"] as? Int, 2)
        XCTAssertEqual(config["target_modules"] as? [String], ["c_attn", "mlp.c_fc"])
        XCTAssertEqual(config["base_model_name_or_path"] as? String, f.base)
        // The same command resumes from the checkpoint (adapters, optimizer, step: here the last one).
        let second = try Executables.run("align", common + ["--epochs", "1"], in: f.directory)
        XCTAssertEqual(second.status, 0, second.summary)
        XCTAssertTrue(second.stderr.contains("resumed at step 2"), second.stderr.suffix(400).description)
        // Other LoRA settings are refused on resume.
        var other = common + ["--epochs", "1"]
        other[other.firstIndex(of: "--lora-rank")! + 1] = "3"
        let refused = try Executables.run("align", other, in: f.directory)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("lora: checkpoint"), refused.stderr.suffix(400).description)
    }
}
