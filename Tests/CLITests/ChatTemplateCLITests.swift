import Foundation
import XCTest

/// TRL's conversational JSONL (message lists) through `align` with `--chat-template`.
extension Fixtures {
    func writeChatData() throws {
        func message(_ role: String, _ content: String) -> String { #"{"role": "\#(role)", "content": "\#(content)"}"# }
        func write(_ name: String, _ lines: [String]) throws {
            try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: directory.appendingPathComponent(name))
        }
        try write("chat-sft.jsonl", (0..<4).map {
            #"{"messages": [\#(message("system", "Be brief.")), \#(message("user", "question \($0)")), \#(message("assistant", "answer \($0)"))]}"#
        })
        try write("chat-prefs.jsonl", (0..<4).map {
            #"{"chosen": [\#(message("user", "q\($0)")), \#(message("assistant", "good \($0)"))], "rejected": [\#(message("user", "q\($0)")), \#(message("assistant", "bad"))]}"#
        })
        try write("chat-prompts.jsonl", (0..<2).map { #"{"prompt": [\#(message("user", "hello \($0)"))]}"# })
        try write("chat-bad-role.jsonl", [#"{"messages": [\#(message("user", "q")), \#(message("assistant", "a"))]}"#,
                                          #"{"messages": [\#(message("tool", "q")), \#(message("assistant", "a"))]}"#])
        try write("chat-no-shared-prompt.jsonl", [
            #"{"chosen": [\#(message("user", "q")), \#(message("assistant", "a"))], "rejected": [\#(message("user", "other")), \#(message("assistant", "b"))]}"#])
    }
}

extension HostileCases {
    static let chat: [HostileCase] = [
        HostileCase("align", ["sft", "--data", "$DIR/chat-sft.jsonl", "--output", "$OUT"], names: "chat-sft.jsonl:1: field \"messages\""),
        HostileCase("align", ["sft", "--data", "$DIR/chat-sft.jsonl", "--output", "$OUT"], names: "--chat-template"),
        sft(["--chat-template", "vicuna"], names: "--chat-template"),
        sft(["--chat-template", ""], names: "--chat-template"),
        HostileCase("align", ["sft", "--data", "$DIR/chat-bad-role.jsonl", "--output", "$OUT", "--chat-template", "chatml"],
                    names: "chat-bad-role.jsonl:2: field \"messages\": message 1 has role \"tool\""),
        HostileCase("align", ["sft", "--data", "$DIR/chat-bad-role.jsonl", "--output", "$OUT", "--chat-template", "chatml"], names: "--data"),
        HostileCase("align", ["sft", "--data", "$DIR/sft.jsonl", "--eval-data", "$DIR/chat-bad-role.jsonl", "--output", "$OUT",
                              "--chat-template", "chatml"], names: "--eval-data"),
        HostileCase("align", ["reward", "--data", "$DIR/chat-prefs.jsonl", "--output", "$OUT"], names: "chat-prefs.jsonl:1: field \"chosen\""),
        HostileCase("align", ["dpo", "--model", "$BASE", "--data", "$DIR/chat-no-shared-prompt.jsonl", "--output", "$OUT", "--chat-template", "zephyr"],
                    names: "chat-no-shared-prompt.jsonl:1: field \"chosen\""),
        HostileCase("align", ["dpo", "--model", "$BASE", "--data", "$DIR/chat-prefs.jsonl", "--output", "$OUT", "--chat-template", "mistral2"],
                    names: "--chat-template"),
        ppo(["--chat-template", "llama9"], names: "--chat-template"),
        HostileCase("align", ["ppo", "--model", "$BASE", "--reward-model", "$RM", "--prompts", "$DIR/chat-prompts.jsonl", "--output", "$OUT"],
                    names: "chat-prompts.jsonl:1: field \"prompt\""),
    ]
}

extension HostileInputTests {
    func testChatTemplateOptions() throws { try check(HostileCases.chat) }
}

extension GoodInvocationTests {
    /// A new tiny model trained by SFT, then DPO (implicit prompts) and PPO, on message lists with a named template.
    func testConversationalJSONLWithANamedTemplate() throws {
        let f = try Fixtures.shared()
        let sft = try output("chat-sft")
        let trained = try succeed("align", ["sft"] + Fixtures.tinyModel + ["--context", "256", "--chat-template", "chatml",
                                                                          "--data", f.path("chat-sft.jsonl"), "--output", sft])
        XCTAssertTrue(trained.stderr.contains("4 examples, 0 truncated, 0 skipped"), trained.stderr.suffix(400).description)
        XCTAssertTrue(FileManager.default.fileExists(atPath: sft + "/checkpoint/model.safetensors"))
        // Resuming under another template would train on other text.
        let other = try Executables.run("align", ["sft"] + Fixtures.tinyModel + ["--context", "256", "--chat-template", "zephyr",
                                                                                 "--data", f.path("chat-sft.jsonl"), "--output", sft], in: f.directory)
        XCTAssertNotEqual(other.status, 0, other.summary)
        XCTAssertTrue(other.stderr.contains("chatTemplate: checkpoint"), other.stderr.suffix(400).description)
        _ = try succeed("align", ["dpo", "--model", sft + "/checkpoint", "--batch-size", "2", "--chat-template", "chatml",
                                  "--data", f.path("chat-prefs.jsonl"), "--output", try output("chat-dpo")])
        _ = try succeed("align", ["ppo", "--model", sft + "/checkpoint", "--reward-model", f.rewardModel, "--prompts", f.path("chat-prompts.jsonl"),
                                  "--chat-template", "chatml", "--rollouts", "1", "--rollout-batch", "2", "--mini-batch", "2", "--ppo-epochs", "1",
                                  "--max-new-tokens", "4", "--output", try output("chat-ppo")])
    }

    func testHelpListsChatTemplates() throws {
        for command in ["sft", "reward", "dpo", "ppo"] {
            // Collapsed whitespace: --help wraps long lines.
            let text = try help("align", command).split(whereSeparator: \.isWhitespace).joined(separator: " ")
            XCTAssertTrue(text.contains("--chat-template"), "align \(command) --help lacks --chat-template")
            XCTAssertTrue(text.contains("human-assistant, chatml, qwen2, qwen2.5, smollm2, llama3, llama3.1, llama3.2, llama2, mistral, zephyr"),
                          "align \(command) --help lacks the template names")
        }
    }
}

extension GoodInvocationTests {
    /// A copy of the base checkpoint with a tokenizer_config.json holding `chatTemplate`.
    func baseWithTokenizerConfig(_ chatTemplate: String, eos: String = "</s>") throws -> String {
        let f = try Fixtures.shared()
        let dir = f.path("base-with-template-\(UUID().uuidString)")
        try FileManager.default.copyItem(atPath: f.base, toPath: dir)
        try JSONSerialization.data(withJSONObject: ["chat_template": chatTemplate, "eos_token": eos])
            .write(to: URL(fileURLWithPath: dir).appendingPathComponent("tokenizer_config.json"))
        return dir
    }

    func testTheModelsTokenizerConfigNamesTheTemplate() throws {
        let f = try Fixtures.shared()
        let zephyr = "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}"
        let recognised = try baseWithTokenizerConfig(zephyr)
        _ = try succeed("align", ["sft", "--model", recognised, "--batch-size", "2", "--data", f.path("chat-sft.jsonl"), "--output", try output("cfg-sft")])

        let unsupported = try baseWithTokenizerConfig("{% for m in messages %}{{ m.content }}{% endfor %}")
        // String data needs no template, so an unsupported one does not matter.
        _ = try succeed("align", ["sft", "--model", unsupported, "--batch-size", "2", "--data", f.path("sft.jsonl"), "--output", try output("cfg-str")])
        let refused = try Executables.run("align", ["sft", "--model", unsupported, "--batch-size", "2", "--data", f.path("chat-sft.jsonl"),
                                                    "--output", try output("cfg-bad")], in: f.directory)
        XCTAssertNotEqual(refused.status, 0, refused.summary)
        XCTAssertTrue(refused.stderr.contains(unsupported + "/tokenizer_config.json"), refused.summary)
        XCTAssertTrue(refused.stderr.contains("--chat-template NAME"), refused.summary)
        // --chat-template overrides the file.
        _ = try succeed("align", ["sft", "--model", unsupported, "--batch-size", "2", "--chat-template", "chatml",
                                  "--data", f.path("chat-sft.jsonl"), "--output", try output("cfg-override")])
    }
}
