import Foundation

// Each function follows its model's Jinja template statement by statement (the canonical strings
// are in CanonicalChatTemplates.swift); `trim` and `.strip()` there are Python's strip.

extension ChatTemplate {
    static let alternationError = "Conversation roles must alternate user/assistant/user/assistant/..."

    /// (role is user) must equal (index is even), as the `raise_exception` check in the Llama-2 and Mistral templates.
    static func requireAlternation(_ message: ChatMessage, at index: Int, _ reason: String) throws {
        if (message.role == .user) != (index % 2 == 0) {
            throw ChatTemplateError("\(reason) (message \(index + 1) is \(message.role.rawValue))")
        }
    }

    static func humanAssistant(_ messages: [ChatMessage], _ generation: Bool) throws -> String {
        var out = ""
        var turns = messages[...]
        if messages[0].role == .system {
            turns = messages.dropFirst()
            if !messages[0].content.isEmpty { out += messages[0].content + "\n\n" }
        }
        for (i, m) in turns.enumerated() {
            try requireAlternation(m, at: i, "human-assistant: after an optional first system message, roles must alternate user/assistant/user/...")
            switch m.role {
            case .user: out += (i == 0 ? "" : "\n\n") + "Human: " + m.content + "\n\n"
            case .assistant: out += "Assistant: " + m.content
            case .system: throw ChatTemplateError("human-assistant: a system message may only come first")
            }
        }
        if generation { out += "Assistant: " }
        return out
    }

    static func chatMLBlock(_ role: String, _ content: String) -> String { "<|im_start|>" + role + "\n" + content + "<|im_end|>\n" }

    /// ChatML, with `defaultSystem` before the first message when the conversation does not start with a system message.
    static func chatML(_ messages: [ChatMessage], _ generation: Bool, defaultSystem: String?) -> String {
        var out = ""
        if let defaultSystem, messages[0].role != .system { out += chatMLBlock("system", defaultSystem) }
        for m in messages { out += chatMLBlock(m.role.rawValue, m.content) }
        if generation { out += "<|im_start|>assistant\n" }
        return out
    }

    /// Qwen2.5 writes its default system block before the loop (so also for a conversation of one
    /// assistant message), and renders later system messages as blocks of their own.
    static func qwen25(_ messages: [ChatMessage], _ generation: Bool) -> String {
        var out = messages[0].role == .system ? chatMLBlock("system", messages[0].content)
            : chatMLBlock("system", "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.")
        for (i, m) in messages.enumerated() where !(m.role == .system && i == 0) { out += chatMLBlock(m.role.rawValue, m.content) }
        if generation { out += "<|im_start|>assistant\n" }
        return out
    }

    static func llamaHeader(_ role: String) -> String { "<|start_header_id|>" + role + "<|end_header_id|>\n\n" }

    static func llama3(_ messages: [ChatMessage], _ generation: Bool) -> String {
        var out = "<|begin_of_text|>"
        for m in messages { out += llamaHeader(m.role.rawValue) + m.content.pythonStripped + "<|eot_id|>" }
        if generation { out += llamaHeader("assistant") }
        return out
    }

    /// Llama-3.1 and 3.2 always write a system header with the knowledge date and "Today Date:"
    /// (3.1: the template's fixed "26 Jul 2024"; 3.2: today); a first system message follows, trimmed.
    static func llama31(_ messages: [ChatMessage], _ generation: Bool, date: String) -> String {
        var rest = messages[...]
        var system = ""
        if messages[0].role == .system {
            system = messages[0].content.pythonStripped
            rest = messages.dropFirst()
        }
        var out = "<|begin_of_text|>" + llamaHeader("system") + "Cutting Knowledge Date: December 2023\nToday Date: " + date + "\n\n"
            + system + "<|eot_id|>"
        for m in rest { out += llamaHeader(m.role.rawValue) + m.content.pythonStripped + "<|eot_id|>" }
        if generation { out += llamaHeader("assistant") }
        return out
    }

    /// Llama-2-chat has no generation prompt: a prompt ends with " [/INST]". A system message at an
    /// odd position after the first passes the alternation check and is dropped, as in the template.
    static func llama2(_ messages: [ChatMessage]) throws -> String {
        var turns = messages[...]
        var system: String?
        if messages[0].role == .system {
            system = messages[0].content
            turns = messages.dropFirst()
        }
        var out = ""
        for (i, m) in turns.enumerated() {
            try requireAlternation(m, at: i, "llama2: " + alternationError)
            let content = i == 0 && system != nil ? "<<SYS>>\n" + system! + "\n<</SYS>>\n\n" + m.content : m.content
            switch m.role {
            case .user: out += "<s>[INST] " + content.pythonStripped + " [/INST]"
            case .assistant: out += " " + content.pythonStripped + " </s>"
            case .system: break
            }
        }
        return out
    }

    static func mistral(_ messages: [ChatMessage]) throws -> String {
        var out = "<s>"
        for (i, m) in messages.enumerated() {
            try requireAlternation(m, at: i, "mistral: " + alternationError)
            switch m.role {
            case .user: out += "[INST] " + m.content + " [/INST]"
            case .assistant: out += m.content + "</s>"
            case .system: throw ChatTemplateError("mistral: only user and assistant roles are supported (no system message)")
            }
        }
        return out
    }

    static func zephyr(_ messages: [ChatMessage], _ generation: Bool) -> String {
        var out = ""
        for m in messages { out += "<|\(m.role.rawValue)|>\n" + m.content + "</s>\n" }
        if generation { out += "<|assistant|>\n" }
        return out
    }
}

extension ChatTemplate {
    /// Python's `datetime.now().strftime("%d %b %Y")` for `date`: "01 Dec 2026", in the local time zone.
    static func strftimeDate(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = .current
        formatter.dateFormat = "dd MMM yyyy"
        return formatter.string(from: date)
    }
}
