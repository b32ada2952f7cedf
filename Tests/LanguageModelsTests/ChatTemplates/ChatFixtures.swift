import Foundation
import LanguageModels

/// Fixtures/chat/chat_fixtures.json, made by Fixtures/chat/make_chat_fixtures.py with transformers'
/// `apply_chat_template` and the models' real Jinja templates.
struct ChatFixtures: Decodable {
    struct Message: Decodable { let role: String; let content: String }
    struct Case: Decodable {
        let template: String
        let conversation: String
        let add_generation_prompt: Bool?
        let split: Bool?
        let text: String?
        let prompt: String?
        let completion: String?
        let error: String?
    }

    /// An edit of a template's source and whether transformers renders every fixture case as the original does.
    struct Edit: Decodable {
        let template: String
        let edit: String
        let source: String
        let renders_same: Bool
    }

    let conversations: [String: [Message]]
    let cases: [Case]
    let edits: [Edit]

    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/chat")

    static func load() throws -> ChatFixtures {
        try JSONDecoder().decode(ChatFixtures.self, from: Data(contentsOf: directory.appendingPathComponent("chat_fixtures.json")))
    }

    func messages(_ name: String) throws -> [ChatMessage] {
        guard let list = conversations[name] else { throw ChatTemplateError("fixture has no conversation \(name)") }
        return try list.map { m in
            guard let role = ChatMessage.Role(rawValue: m.role) else { throw ChatTemplateError("fixture role \(m.role)") }
            return ChatMessage(role: role, content: m.content)
        }
    }
}
