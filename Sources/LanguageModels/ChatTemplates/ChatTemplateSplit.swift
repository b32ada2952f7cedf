import Foundation

/// Conversations as training text, the way TRL turns conversational examples into prompt and
/// completion: the prompt is rendered with the generation prompt, the whole conversation without
/// it, and the completion is what the whole adds after the prompt (the assistant's text and the
/// template's end-of-turn marker, e.g. "4<|im_end|>\n", "4<|eot_id|>", " 4 </s>").
extension ChatTemplate {
    /// The prompt text for generation: `messages` rendered with the generation prompt. The last
    /// message must not be an assistant turn (the model would answer after its own answer).
    public func prompt(_ messages: [ChatMessage]) throws -> String { try prompt(messages, today: Date()) }

    func prompt(_ messages: [ChatMessage], today: Date) throws -> String {
        guard let last = messages.last else { throw ChatTemplateError("the prompt has no messages") }
        guard last.role != .assistant else { throw ChatTemplateError("the prompt ends with an assistant message; it must end with a user or system message") }
        return try render(messages, addGenerationPrompt: true, today: today)
    }

    /// `prompt` followed by the assistant turn(s) of `completion`, split into prompt and completion
    /// text. `completion` must end with an assistant message.
    public func split(prompt: [ChatMessage], completion: [ChatMessage]) throws -> (prompt: String, completion: String) {
        try split(prompt: prompt, completion: completion, today: Date())
    }

    /// One `today` for both renderings, so that `llama3.2` cannot write two dates across midnight.
    func split(prompt: [ChatMessage], completion: [ChatMessage], today: Date) throws -> (prompt: String, completion: String) {
        guard let last = completion.last else { throw ChatTemplateError("the completion has no messages") }
        guard last.role == .assistant else {
            throw ChatTemplateError("the completion ends with a \(last.role.rawValue) message; it must end with an assistant message")
        }
        let promptText = try self.prompt(prompt, today: today)
        let full = try render(prompt + completion, addGenerationPrompt: false, today: today)
        // Compared as UTF-8 bytes: a completion may begin with a combining character.
        guard full.utf8.starts(with: promptText.utf8) else {
            throw ChatTemplateError("\(rawValue) does not render this conversation as its prompt followed by a completion")
        }
        return (promptText, String(decoding: full.utf8.dropFirst(promptText.utf8.count), as: UTF8.self))
    }

    /// A whole conversation (`{"messages": [...]}`) split before its final assistant message.
    public func split(_ conversation: [ChatMessage]) throws -> (prompt: String, completion: String) {
        try split(conversation, today: Date())
    }

    func split(_ conversation: [ChatMessage], today: Date) throws -> (prompt: String, completion: String) {
        guard conversation.count >= 2 else {
            throw ChatTemplateError("a conversation needs a prompt message before the final assistant message, got \(conversation.count) message(s)")
        }
        return try split(prompt: Array(conversation.dropLast()), completion: [conversation[conversation.count - 1]], today: today)
    }
}
