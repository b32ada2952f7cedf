import Foundation
@testable import LanguageModels
import XCTest

final class ChatTemplateRecognitionTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("chat-recognition-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func writeConfig(_ object: [String: Any], name: String = "tokenizer_config.json") throws -> URL {
        let url = directory.appendingPathComponent(name)
        try JSONSerialization.data(withJSONObject: object).write(to: url)
        return url
    }

    /// The special tokens each model's tokenizer_config.json sets.
    func config(_ template: ChatTemplate, _ jinja: Any) -> [String: Any] {
        var c: [String: Any] = ["chat_template": jinja]
        for (key, value) in template.specialTokens { c[key] = value }
        return c
    }

    func testCanonicalStringsAreTheFixtureFiles() throws {
        for template in ChatTemplate.allCases {
            let file = ChatFixtures.directory.appendingPathComponent("templates/\(template.rawValue).jinja")
            XCTAssertEqual(template.canonicalJinja, try String(contentsOf: file, encoding: .utf8), template.rawValue)
        }
    }

    func testEachCanonicalTemplateIsRecognised() throws {
        for template in ChatTemplate.allCases {
            XCTAssertEqual(ChatTemplate.matching(jinja: template.canonicalJinja), template)
            let url = try writeConfig(config(template, template.canonicalJinja), name: "\(template.rawValue).json")
            XCTAssertEqual(try ChatTemplate(tokenizerConfig: url), template)
        }
    }

    func testWhitespaceThatJinjaDoesNotPrintIsIgnored() throws {
        // Llama-3 written over several indented lines with trim markers, '\n' escapes as newlines, and a comment.
        let llama3 = """
        {%- set loop_messages = messages %}
        {# one line per statement #}
        {%- for message in loop_messages %}
            {%- set content = "<|start_header_id|>" + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' %}
            {%- if loop.index0 == 0 %}
                {%- set content = bos_token + content %}
            {%- endif %}
            {{- content }}
        {%- endfor %}
        {%- if add_generation_prompt %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}
        {%- endif %}

        """
        XCTAssertEqual(ChatTemplate.matching(jinja: llama3), .llama3)
        // CRLF line endings and a trailing newline.
        XCTAssertEqual(ChatTemplate.matching(jinja: ChatTemplate.zephyr.canonicalJinja.replacingOccurrences(of: "\n", with: "\r\n") + "\n"), .zephyr)
    }

    func testPrintedDifferencesAreNotIgnored() {
        let changes: [(ChatTemplate, String, String)] = [
            (.zephyr, "}}\n{%", "}}{%"),                          // no newline printed after each turn
            (.mistral, "eos_token}}", "eos_token + ' '}}"),         // Mistral v0.1's first template: a space after each answer
            (.qwen2, "helpful", "harmless"),                        // another default system prompt
            (.llama2, "'[INST] '", "'[INST]'"),                     // a space inside a string literal
            (.humanAssistant, "{% if add_generation_prompt %}", " {% if add_generation_prompt %}"),  // a printed space between tags
        ]
        for (template, from, to) in changes {
            let changed = template.canonicalJinja.replacingOccurrences(of: from, with: to)
            XCTAssertNotEqual(changed, template.canonicalJinja, "\(template): the change must apply")
            XCTAssertNil(ChatTemplate.matching(jinja: changed), "\(template): \(from) -> \(to)")
        }
    }

    /// Recognition never accepts an edit that Jinja renders differently, and accepts every edit of
    /// whitespace, comments or quoting that Jinja renders the same (fixture edits made by the script).
    func testRecognitionAgreesWithJinjaOnEditedTemplates() throws {
        let edits = try ChatFixtures.load().edits
        let harmless: Set<String> = ["reindented", "comment", "trailing_newline", "crlf", "double_quotes"]
        var accepted = 0, refused = 0
        for e in edits {
            let template = try ChatTemplate(name: e.template)
            let matched = ChatTemplate.matching(jinja: e.source) == template
            if matched { XCTAssertTrue(e.renders_same, "\(e.template) \(e.edit): recognised, but Jinja renders it differently") }
            if harmless.contains(e.edit) {
                XCTAssertTrue(e.renders_same, "\(e.template) \(e.edit): the script's edit is not harmless")
                XCTAssertTrue(matched, "\(e.template) \(e.edit): not recognised")
            }
            if matched { accepted += 1 } else { refused += 1 }
        }
        XCTAssertGreaterThan(accepted, 40)
        XCTAssertGreaterThan(refused, 15)
    }

    func testListOfNamedTemplatesUsesDefault() throws {
        let url = try writeConfig(["chat_template": [["name": "tool_use", "template": "{{ tools }}"],
                                                     ["name": "default", "template": ChatTemplate.smollm2.canonicalJinja]]])
        XCTAssertEqual(try ChatTemplate(tokenizerConfig: url), .smollm2)
        let noDefault = try writeConfig(["chat_template": [["name": "tool_use", "template": ChatTemplate.smollm2.canonicalJinja]]], name: "b.json")
        assertRefused(noDefault, mentioning: "default")
    }

    func testSpecialTokensAsAddedTokenObjects() throws {
        let url = try writeConfig(["chat_template": ChatTemplate.llama2.canonicalJinja,
                                   "bos_token": ["content": "<s>", "lstrip": false], "eos_token": ["content": "</s>"]])
        XCTAssertEqual(try ChatTemplate(tokenizerConfig: url), .llama2)
    }

    func testUnsupportedMissingAndMismatchedAreClearErrors() throws {
        assertRefused(try writeConfig(["bos_token": "<s>"], name: "missing.json"), mentioning: "no \"chat_template\"")
        assertRefused(try writeConfig(["chat_template": NSNull()], name: "null.json"), mentioning: "no \"chat_template\"")
        assertRefused(try writeConfig(["chat_template": "{% for m in messages %}{{ m.content }}{% endfor %}"], name: "other.json"),
                      mentioning: "not one of the supported")
        assertRefused(try writeConfig(["chat_template": 3], name: "number.json"), mentioning: "neither a string")
        // Zephyr's template with a tokenizer whose EOS is not </s> renders other text.
        assertRefused(try writeConfig(["chat_template": ChatTemplate.zephyr.canonicalJinja, "eos_token": "<|endoftext|>"], name: "eos.json"),
                      mentioning: "eos_token")
        assertRefused(directory.appendingPathComponent("absent.json"), mentioning: "cannot be read")
        let notJSON = directory.appendingPathComponent("bad.json")
        try Data("{chat_template".utf8).write(to: notJSON)
        assertRefused(notJSON, mentioning: "not a JSON object")
    }

    func assertRefused(_ url: URL, mentioning: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try ChatTemplate(tokenizerConfig: url), file: file, line: line) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains(url.path), text, file: file, line: line)
            XCTAssertTrue(text.contains("--chat-template"), text, file: file, line: line)
            XCTAssertTrue(text.contains(mentioning), text, file: file, line: line)
        }
    }
}
