import Alignment
import Foundation
import LanguageModels
import XCTest

/// TRL's conversational formats in every stage's reader, rendered with a chat template.
final class ConversationalJSONLTests: XCTestCase {
    var files: [String] = []

    override func tearDown() { for f in files { try? FileManager.default.removeItem(atPath: f) } }

    func file(_ lines: [String]) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("conv-\(UUID().uuidString).jsonl").path
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        files.append(path)
        return path
    }

    let chatml = ChatTemplate.chatml

    func testSFTMessagesAndPromptCompletionLists() throws {
        let path = try file([
            #"{"messages": [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}"#,
            #"{"prompt": [{"role": "user", "content": "Hi"}], "completion": [{"role": "assistant", "content": "Hello"}]}"#,
            #"{"prompt": "plain ", "completion": "text"}"#,
        ])
        let examples = try JSONL.sftExamples(at: path, chatTemplate: chatml)
        XCTAssertEqual(examples, [
            SFTExample(prompt: "<|im_start|>system\nBe terse.<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n",
                       completion: "4<|im_end|>\n"),
            SFTExample(prompt: "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", completion: "Hello<|im_end|>\n"),
            SFTExample(prompt: "plain ", completion: "text"),
        ])
        // The paper's format gives the project's strings.
        let paper = try JSONL.sftExamples(at: try file([#"{"messages": [{"role": "user", "content": "reverse ab"}, {"role": "assistant", "content": "ba"}]}"#]),
                                          chatTemplate: .humanAssistant)
        XCTAssertEqual(paper, [SFTExample(prompt: "Human: reverse ab\n\nAssistant: ", completion: "ba")])
    }

    func testPreferenceExplicitAndImplicitPrompt() throws {
        let user = #"{"role": "user", "content": "Pick"}"#
        let path = try file([
            #"{"prompt": [\#(user)], "chosen": [{"role": "assistant", "content": "A"}], "rejected": [{"role": "assistant", "content": "B"}]}"#,
            #"{"chosen": [\#(user), {"role": "assistant", "content": "A"}], "rejected": [\#(user), {"role": "assistant", "content": "B"}]}"#,
            #"{"prompt": "p", "chosen": "c", "rejected": "r"}"#,
        ])
        let examples = try JSONL.preferenceExamples(at: path, chatTemplate: .llama3)
        let prompt = "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nPick<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
        let expected = PreferenceExample(prompt: prompt, chosen: "A<|eot_id|>", rejected: "B<|eot_id|>")
        XCTAssertEqual(examples, [expected, expected, PreferenceExample(prompt: "p", chosen: "c", rejected: "r")])
    }

    func testImplicitPromptOfMultiTurnPairsIsTheSharedPrefix() throws {
        let path = try file([#"{"chosen": [{"role": "user", "content": "q1"}, {"role": "assistant", "content": "a1"}, {"role": "user", "content": "q2"}, {"role": "assistant", "content": "good"}], "rejected": [{"role": "user", "content": "q1"}, {"role": "assistant", "content": "a1"}, {"role": "user", "content": "q2"}, {"role": "assistant", "content": "bad"}]}"#])
        let e = try XCTUnwrap(JSONL.preferenceExamples(at: path, chatTemplate: .zephyr).first)
        XCTAssertEqual(e.prompt, "<|user|>\nq1</s>\n<|assistant|>\na1</s>\n<|user|>\nq2</s>\n<|assistant|>\n")
        XCTAssertEqual(e.chosen, "good</s>\n")
        XCTAssertEqual(e.rejected, "bad</s>\n")
    }

    func testPPOPrompts() throws {
        let path = try file([#"{"prompt": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]}"#, #"{"prompt": "text"}"#])
        XCTAssertEqual(try JSONL.prompts(at: path, chatTemplate: .qwen25),
                       ["<|im_start|>system\ns<|im_end|>\n<|im_start|>user\nu<|im_end|>\n<|im_start|>assistant\n", "text"])
    }

    func testStringFilesReadTheSameWithATemplate() throws {
        let path = try file([#"{"prompt": "a", "completion": "b"}"#])
        XCTAssertEqual(try JSONL.sftExamples(at: path, chatTemplate: .llama2), try JSONL.sftExamples(at: path))
    }

    /// Each bad line names the file, its line (the second: the first is good) and the field.
    func assertRefused(_ badLine: String, stage: (String) throws -> Void, field: String, phrase: String,
                       file: StaticString = #filePath, line: UInt = #line) throws {
        let good = #"{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], "prompt": [{"role": "user", "content": "q"}], "chosen": [{"role": "assistant", "content": "a"}], "rejected": [{"role": "assistant", "content": "b"}]}"#
        let path = try self.file([good, badLine])
        XCTAssertThrowsError(try stage(path), file: file, line: line) { error in
            let text = "\(error)"
            XCTAssertTrue(error is DataError, text, file: file, line: line)
            XCTAssertTrue(text.contains("\(path):2: field \"\(field)\""), text, file: file, line: line)
            XCTAssertTrue(text.contains(phrase), text, file: file, line: line)
        }
    }

    func testMalformedLinesAreDataErrorsNamingFileLineAndField() throws {
        let sft: (String) throws -> Void = { _ = try JSONL.sftExamples(at: $0, chatTemplate: .chatml) }
        let pref: (String) throws -> Void = { _ = try JSONL.preferenceExamples(at: $0, chatTemplate: .chatml) }
        let ppo: (String) throws -> Void = { _ = try JSONL.prompts(at: $0, chatTemplate: .chatml) }
        try assertRefused(#"{"messages": [{"role": "tool", "content": "x"}, {"role": "assistant", "content": "a"}]}"#, stage: sft,
                          field: "messages", phrase: "message 1 has role \"tool\"; allowed: system, user, assistant")
        try assertRefused(#"{"messages": [{"role": "user", "content": 5}, {"role": "assistant", "content": "a"}]}"#, stage: sft,
                          field: "messages", phrase: "\"content\" is not a string")
        try assertRefused(#"{"messages": [{"role": "user", "content": "q"}, "a"]}"#, stage: sft, field: "messages", phrase: "message 2 is not an object")
        try assertRefused(#"{"messages": [{"content": "q"}]}"#, stage: sft, field: "messages", phrase: "no string \"role\"")
        try assertRefused(#"{"messages": []}"#, stage: sft, field: "messages", phrase: "empty list")
        try assertRefused(#"{"messages": "Human: hi"}"#, stage: sft, field: "messages", phrase: "not a list of messages")
        try assertRefused(#"{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}, {"role": "user", "content": "q2"}]}"#,
                          stage: sft, field: "messages", phrase: "must end with an assistant message")
        try assertRefused(#"{"messages": [{"role": "assistant", "content": "a"}]}"#, stage: sft, field: "messages", phrase: "needs a prompt message")
        try assertRefused(#"{"prompt": [{"role": "user", "content": "q"}], "completion": "a"}"#, stage: sft, field: "completion", phrase: "not a list of messages")
        try assertRefused(#"{"prompt": [{"role": "user", "content": "q"}], "completion": [{"role": "user", "content": "q"}]}"#, stage: sft,
                          field: "completion", phrase: "must end with an assistant message")
        try assertRefused(#"{"chosen": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "a"}], "rejected": [{"role": "user", "content": "y"}, {"role": "assistant", "content": "b"}]}"#,
                          stage: pref, field: "chosen", phrase: "must start with the same prompt messages")
        try assertRefused(#"{"prompt": [{"role": "user", "content": "q"}], "chosen": [{"role": "assistant", "content": "a"}], "rejected": [{"role": "user", "content": "b"}]}"#,
                          stage: pref, field: "rejected", phrase: "must end with an assistant message")
        try assertRefused(#"{"prompt": [{"role": "user", "content": "q"}], "chosen": [{"role": "assistant", "content": "a"}], "rejected": []}"#,
                          stage: pref, field: "rejected", phrase: "empty list")
        try assertRefused(#"{"prompt": "q", "chosen": [{"role": "assistant", "content": "a"}], "rejected": [{"role": "assistant", "content": "b"}]}"#,
                          stage: pref, field: "prompt", phrase: "not a list of messages")
        try assertRefused(#"{"prompt": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}"#, stage: ppo,
                          field: "prompt", phrase: "ends with an assistant message")
        try assertRefused(#"{"prompt": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}], "chosen": [{"role": "assistant", "content": "a"}], "rejected": [{"role": "assistant", "content": "b"}]}"#,
                          stage: { _ = try JSONL.preferenceExamples(at: $0, chatTemplate: .mistral) }, field: "prompt", phrase: "mistral")
        // The human-assistant format ends a turn with the tokenizer's EOS only: an empty answer is an empty completion.
        try assertRefused(#"{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": ""}]}"#,
                          stage: { _ = try JSONL.sftExamples(at: $0, chatTemplate: .humanAssistant) }, field: "messages", phrase: "empty completion")
    }

    func testMessageListsWithoutATemplateAskForOne() throws {
        let line = #"{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}"#
        let path = try file([#"{"prompt": "a", "completion": "b"}"#, line])
        XCTAssertThrowsError(try JSONL.sftExamples(at: path)) { error in
            XCTAssertTrue("\(error)".contains("\(path):2: field \"messages\""), "\(error)")
            XCTAssertTrue("\(error)".contains("--chat-template"), "\(error)")
        }
        let prefs = try file([#"{"chosen": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], "rejected": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "b"}]}"#])
        XCTAssertThrowsError(try JSONL.preferenceExamples(at: prefs)) { XCTAssertTrue("\($0)".contains("--chat-template"), "\($0)") }
        let prompts = try file([#"{"prompt": [{"role": "user", "content": "q"}]}"#])
        XCTAssertThrowsError(try JSONL.prompts(at: prompts)) { XCTAssertTrue("\($0)".contains("\(prompts):1: field \"prompt\""), "\($0)") }
    }
}

extension ConversationalJSONLTests {
    func testTheMissingTemplateErrorNamesTheListField() throws {
        let implicit = try file([#"{"chosen": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], "rejected": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "b"}]}"#])
        XCTAssertThrowsError(try JSONL.preferenceExamples(at: implicit)) { XCTAssertTrue("\($0)".contains("\(implicit):1: field \"chosen\""), "\($0)") }
        let promptList = try file([#"{"prompt": [{"role": "user", "content": "q"}], "completion": [{"role": "assistant", "content": "a"}]}"#])
        XCTAssertThrowsError(try JSONL.sftExamples(at: promptList)) { XCTAssertTrue("\($0)".contains("\(promptList):1: field \"prompt\""), "\($0)") }
    }
}
