import Foundation
import LanguageModels

/// The example readers, for TRL's standard (string) and conversational (message-list) formats:
///
/// | stage | standard | conversational |
/// |---|---|---|
/// | SFT | `{"prompt", "completion"}` | `{"messages": [...]}` (last message: assistant), `{"prompt": [...], "completion": [...]}` |
/// | reward, DPO family | `{"prompt", "chosen", "rejected"}` | the same with lists, or `{"chosen": [...], "rejected": [...]}` (implicit prompt) |
/// | PPO | `{"prompt"}` | `{"prompt": [...]}` |
///
/// A message is `{"role": "system" | "user" | "assistant", "content": string}` (other keys are
/// ignored). Message lists are rendered with `chatTemplate` into the same prompt and completion
/// text TRL gives (`ChatTemplate.split`); without a template they are an error asking for one.
/// An implicit prompt is the messages chosen and rejected share at the start, as TRL's
/// `extract_prompt`. String fields are read exactly as before, with or without a template.
extension JSONL {
    public static func sftExamples(at path: String, chatTemplate: ChatTemplate? = nil) throws -> [SFTExample] {
        try objects(at: path).map { line, o in
            let reader = LineReader(file: path, line: line, object: o, template: chatTemplate)
            if o["messages"] != nil {
                let (prompt, completion) = try reader.rendering("messages") { try $0.split(reader.messages("messages")) }
                return SFTExample(prompt: prompt, completion: try reader.nonEmpty(completion, "messages"))
            }
            if let field = ["prompt", "completion"].first(where: reader.isList) {
                _ = try reader.requireTemplate(field)
                let prompt = try reader.messages("prompt"), completion = try reader.messages("completion")
                let split = try reader.rendering("completion") { try $0.split(prompt: prompt, completion: completion) }
                return SFTExample(prompt: split.prompt, completion: try reader.nonEmpty(split.completion, "completion"))
            }
            return SFTExample(prompt: try string(o, "prompt", file: path, line: line),
                              completion: try string(o, "completion", file: path, line: line, allowEmpty: false))
        }
    }

    public static func preferenceExamples(at path: String, chatTemplate: ChatTemplate? = nil) throws -> [PreferenceExample] {
        try objects(at: path).map { line, o in
            let reader = LineReader(file: path, line: line, object: o, template: chatTemplate)
            guard let listField = ["prompt", "chosen", "rejected"].first(where: reader.isList) else {
                return PreferenceExample(prompt: try string(o, "prompt", file: path, line: line),
                                         chosen: try string(o, "chosen", file: path, line: line, allowEmpty: false),
                                         rejected: try string(o, "rejected", file: path, line: line, allowEmpty: false))
            }
            _ = try reader.requireTemplate(listField)
            var chosen = try reader.messages("chosen"), rejected = try reader.messages("rejected")
            let prompt: [ChatMessage]
            if o["prompt"] != nil {
                prompt = try reader.messages("prompt")
            } else {
                let shared = zip(chosen, rejected).prefix { $0 == $1 }.count
                // TRL's extract_prompt: when one list is a prefix of the other, the prompt stops before the last shared message.
                let end = shared < min(chosen.count, rejected.count) ? shared : min(chosen.count, rejected.count) - 1
                guard end > 0 else {
                    throw reader.error("chosen", "without a \"prompt\" field, \"chosen\" and \"rejected\" must start with the same prompt messages; their first messages differ")
                }
                prompt = Array(chosen[..<end])
                chosen.removeFirst(end)
                rejected.removeFirst(end)
            }
            _ = try reader.rendering("prompt") { try $0.prompt(prompt) }  // a prompt the template refuses is the prompt's fault
            let c = try reader.rendering("chosen") { try $0.split(prompt: prompt, completion: chosen) }
            let r = try reader.rendering("rejected") { try $0.split(prompt: prompt, completion: rejected) }
            return PreferenceExample(prompt: c.prompt, chosen: try reader.nonEmpty(c.completion, "chosen"),
                                     rejected: try reader.nonEmpty(r.completion, "rejected"))
        }
    }

    public static func prompts(at path: String, chatTemplate: ChatTemplate? = nil) throws -> [String] {
        try objects(at: path).map { line, o in
            let reader = LineReader(file: path, line: line, object: o, template: chatTemplate)
            if reader.isList("prompt") {
                let messages = try reader.messages("prompt")
                return try reader.rendering("prompt") { try $0.prompt(messages) }
            }
            return try string(o, "prompt", file: path, line: line, allowEmpty: false)
        }
    }
}

extension JSONL {
    /// Whether `error` is a reader's refusal of message lists for want of a chat template, so that a
    /// caller can find one (e.g. in a model's tokenizer_config.json) and read again.
    public static func needsChatTemplate(_ error: Error) -> Bool {
        (error as? DataError)?.reason.contains(missingTemplateReason) ?? false
    }

    static let missingTemplateReason = "a list of messages needs a chat template"
}

/// One JSONL line's message-list fields, with errors naming file, line and field.
private struct LineReader {
    let file: String
    let line: Int
    let object: [String: Any]
    let template: ChatTemplate?

    func error(_ field: String, _ reason: String) -> DataError {
        DataError(file: file, line: line, reason: "field \"\(field)\": \(reason)")
    }

    func isList(_ field: String) -> Bool { object[field] is [Any] }

    func messages(_ field: String) throws -> [ChatMessage] {
        guard let value = object[field] else { throw DataError(file: file, line: line, reason: "missing field \"\(field)\"") }
        guard let list = value as? [Any] else {
            throw error(field, "not a list of messages (\(value is String ? "a string" : "another JSON value")), unlike this line's other message fields")
        }
        guard !list.isEmpty else { throw error(field, "an empty list of messages") }
        return try list.enumerated().map { i, element in
            let n = i + 1
            guard let m = element as? [String: Any] else { throw error(field, "message \(n) is not an object {\"role\", \"content\"}") }
            guard let roleName = m["role"] as? String else { throw error(field, "message \(n) has no string \"role\"") }
            guard let role = ChatMessage.Role(rawValue: roleName) else {
                throw error(field, "message \(n) has role \"\(roleName)\"; allowed: \(ChatMessage.Role.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard let content = m["content"] as? String else { throw error(field, "message \(n) (\(roleName)): \"content\" is not a string") }
            return ChatMessage(role: role, content: content)
        }
    }

    /// The chat template, or an error for `field` asking for one.
    func requireTemplate(_ field: String) throws -> ChatTemplate {
        guard let template else {
            throw error(field, JSONL.missingTemplateReason + ": pass --chat-template NAME (\(ChatTemplate.names.joined(separator: ", ")))")
        }
        return template
    }

    /// Runs `body` with the chat template, or asks for one; a template's refusal names the field.
    func rendering<T>(_ field: String, _ body: (ChatTemplate) throws -> T) throws -> T {
        let template = try requireTemplate(field)
        do { return try body(template) } catch let e as ChatTemplateError { throw error(field, e.description) }
    }

    func nonEmpty(_ completion: String, _ field: String) throws -> String {
        guard !completion.isEmpty else { throw error(field, "the final assistant message renders to an empty completion") }
        return completion
    }
}
