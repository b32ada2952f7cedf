/// One turn of a conversation, as in TRL's conversational datasets (`{"role", "content"}`).
public struct ChatMessage: Equatable, Hashable, Sendable, CustomStringConvertible {
    public enum Role: String, CaseIterable, Sendable {
        case system, user, assistant
    }

    public var role: Role
    public var content: String

    public init(role: Role, content: String) {
        self.role = role
        self.content = content
    }

    public static func system(_ content: String) -> ChatMessage { ChatMessage(role: .system, content: content) }
    public static func user(_ content: String) -> ChatMessage { ChatMessage(role: .user, content: content) }
    public static func assistant(_ content: String) -> ChatMessage { ChatMessage(role: .assistant, content: content) }

    public var description: String { "\(role.rawValue): \(content)" }
}

/// A conversation a chat template cannot render, a template name that is not supported, or a
/// tokenizer_config.json whose template is not recognised.
public struct ChatTemplateError: Error, CustomStringConvertible, Equatable, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
