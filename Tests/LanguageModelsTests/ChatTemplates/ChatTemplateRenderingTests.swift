import Foundation
@testable import LanguageModels
import XCTest

/// Every template on every fixture conversation, with and without the generation prompt, and
/// every prompt/completion split, compared exactly with transformers' rendering.
final class ChatTemplateRenderingTests: XCTestCase {
    /// The fixtures render llama3.2 with date_string="26 Jul 2024": noon that day, local time.
    let fixtureDay = Calendar.current.date(from: DateComponents(year: 2024, month: 7, day: 26, hour: 12))!

    func testEveryTemplateRendersAsTransformers() throws {
        let fixtures = try ChatFixtures.load()
        var rendered = 0, refused = 0
        for c in fixtures.cases where c.split != true {
            let template = try ChatTemplate(name: c.template)
            let messages = try fixtures.messages(c.conversation)
            let label = "\(c.template) \(c.conversation) generation prompt \(c.add_generation_prompt!)"
            if let expected = c.text {
                XCTAssertEqual(try template.render(messages, addGenerationPrompt: c.add_generation_prompt!, today: fixtureDay), expected, label)
                rendered += 1
            } else {
                XCTAssertThrowsError(try template.render(messages, addGenerationPrompt: c.add_generation_prompt!, today: fixtureDay), "\(label): \(c.error ?? "")")
                refused += 1
            }
        }
        XCTAssertEqual(ChatTemplate.allCases.count, 11)
        XCTAssertEqual(rendered + refused, 11 * 14 * 2)
        XCTAssertGreaterThan(refused, 10)
    }

    func testEverySplitMatchesTRL() throws {
        let fixtures = try ChatFixtures.load()
        var count = 0
        for c in fixtures.cases where c.split == true {
            let template = try ChatTemplate(name: c.template)
            let messages = try fixtures.messages(c.conversation)
            let label = "\(c.template) \(c.conversation)"
            if let prompt = c.prompt, let completion = c.completion {
                let split = try template.split(messages, today: fixtureDay)
                XCTAssertEqual(split.prompt, prompt, label)
                XCTAssertEqual(split.completion, completion, label)
                XCTAssertEqual(try template.prompt(Array(messages.dropLast()), today: fixtureDay), prompt, label)
                count += 1
            } else {
                XCTAssertThrowsError(try template.split(messages, today: fixtureDay), "\(label): \(c.error ?? "")")
            }
        }
        XCTAssertGreaterThan(count, 80)
    }

    func testCompletionEndsWithTheEndOfTurnMarker() throws {
        let conversation: [ChatMessage] = [.user("2+2?"), .assistant("4")]
        for template in ChatTemplate.allCases {
            let (prompt, completion) = try template.split(conversation)
            XCTAssertTrue(completion.contains("4"), "\(template): \(completion)")
            XCTAssertTrue(completion.hasSuffix(template.endOfTurn) || completion.hasSuffix(template.endOfTurn + "\n"), "\(template): \(completion)")
            if let bos = template.bosText {
                XCTAssertTrue(prompt.hasPrefix(bos), "\(template)")
                XCTAssertFalse(completion.contains(bos), "\(template)")
            }
        }
        XCTAssertEqual(try ChatTemplate.humanAssistant.split(conversation).prompt, "Human: 2+2?\n\nAssistant: ")
        XCTAssertEqual(try ChatTemplate.humanAssistant.split(conversation).completion, "4")
    }

    func testTheProjectsFormatIsUnchanged() throws {
        // Examples/RLAIFLab/World.swift: "Human: \(instruction)\n\nAssistant: " + response + EOS.
        XCTAssertEqual(try ChatTemplate.humanAssistant.prompt([.user("reverse abc")]), "Human: reverse abc\n\nAssistant: ")
    }

    func testNamesAndErrors() throws {
        XCTAssertEqual(ChatTemplate.names, ["human-assistant", "chatml", "qwen2", "qwen2.5", "smollm2", "llama3", "llama3.1", "llama3.2", "llama2", "mistral", "zephyr"])
        for name in ChatTemplate.names { XCTAssertEqual(try ChatTemplate(name: name).rawValue, name) }
        XCTAssertThrowsError(try ChatTemplate(name: "vicuna")) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("\"vicuna\""), text)
            for name in ChatTemplate.names { XCTAssertTrue(text.contains(name), text) }
        }
        XCTAssertThrowsError(try ChatTemplate.chatml.render([], addGenerationPrompt: true))
        XCTAssertThrowsError(try ChatTemplate.chatml.prompt([.user("q"), .assistant("a")]))
        XCTAssertThrowsError(try ChatTemplate.chatml.split([.assistant("a")]))
        XCTAssertThrowsError(try ChatTemplate.chatml.split(prompt: [.user("q")], completion: [.user("no")]))
        XCTAssertThrowsError(try ChatTemplate.chatml.split(prompt: [.user("q")], completion: []))
    }

    func testLlama32WritesTodaysDateAsStrftime() throws {
        let day = Calendar.current.date(from: DateComponents(year: 2026, month: 3, day: 5, hour: 9))!
        XCTAssertEqual(ChatTemplate.strftimeDate(day), "05 Mar 2026")
        let text = try ChatTemplate.llama32.render([.user("hi")], addGenerationPrompt: false, today: day)
        XCTAssertTrue(text.contains("Today Date: 05 Mar 2026\n\n"), text)
        XCTAssertTrue(try ChatTemplate.llama31.render([.user("hi")], addGenerationPrompt: false).contains("Today Date: 26 Jul 2024\n\n"))
    }

    func testPythonStripIsNotFoundationTrimming() {
        XCTAssertEqual("\u{1C}\u{85} a \u{3000}".pythonStripped, "a")
        XCTAssertEqual("\u{200B}a\u{200B}".pythonStripped, "\u{200B}a\u{200B}")  // zero-width space is not whitespace in Python
        XCTAssertEqual(" \t\n ".pythonStripped, "")
    }
}
