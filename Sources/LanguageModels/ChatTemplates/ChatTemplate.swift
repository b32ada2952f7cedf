import Foundation

/// The chat formats of the supported model families, rendered exactly as transformers'
/// `tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt:)` renders them
/// with each model's own Jinja template (Tests/LanguageModelsTests/Fixtures/chat pins every case).
///
/// | name | models | default system prompt |
/// |---|---|---|
/// | `human-assistant` | this project's (the paper's) format | none |
/// | `chatml` | ChatML as TRL's `setup_chat_format`, SmolLM (v1) instruct | none |
/// | `qwen2` | Qwen2 / Qwen1.5 instruct | "You are a helpful assistant." |
/// | `qwen2.5` | Qwen2.5 instruct | "You are Qwen, created by Alibaba Cloud. You are a helpful assistant." |
/// | `smollm2` | SmolLM2 instruct | "You are a helpful AI assistant named SmolLM, trained by Hugging Face" |
/// | `llama3` | Meta-Llama-3 instruct (3.0) | none |
/// | `llama3.1` | Llama-3.1 instruct | a knowledge-date header, "Today Date: 26 Jul 2024" |
/// | `llama3.2` | Llama-3.2 (1B, 3B) instruct | the same header with today's date, as transformers' `strftime_now("%d %b %Y")` (local time) |
/// | `llama2` | Llama-2-chat (`<s>[INST] <<SYS>>...`) | none |
/// | `mistral` | Mistral-7B-Instruct v0.1 / v0.2 (`[INST]`, no system message allowed) | none |
/// | `zephyr` | zephyr-7b-beta, TinyLlama-1.1B-Chat-v1.0 | none |
///
/// The ChatML variants are separate names because their default system prompts differ, and a
/// model trained with one sees that text in every conversation without a system message.
///
/// `human-assistant` is "Human: {user}\n\nAssistant: {assistant}", the string
/// Examples/RLAIFLab/World.swift builds. Its choices for what the paper does not define: a system
/// message, if first and non-empty, is a leading paragraph ("{system}\n\n"); turns are separated
/// by a blank line ("Human: u1\n\nAssistant: a1\n\nHuman: u2\n\nAssistant: "); roles must
/// alternate user/assistant after the optional system message. An assistant turn has no end marker
/// in the text: the tokenizer's EOS ends it, as in the project's SFT data.
///
/// **BOS and EOS.** `llama3`, `llama3.1`, `llama2` and `mistral` write the BOS token into the
/// text (`bosText`), and every template but `human-assistant` ends an assistant turn with a marker
/// (`endOfTurn`: `<|im_end|>`, `<|eot_id|>` or `</s>`). Tokenize rendered text without the
/// tokenizer's own special tokens (transformers: `add_special_tokens=False`, which is what TRL does
/// for conversational data), or a Llama prompt starts with two BOS tokens. With the byte tokenizer
/// the markers are plain bytes and `Tokenization` still appends the byte EOS (256) to a completion,
/// which is the token that stops sampling.
public enum ChatTemplate: String, CaseIterable, Sendable {
    case humanAssistant = "human-assistant"
    case chatml
    case qwen2
    case qwen25 = "qwen2.5"
    case smollm2
    case llama3
    case llama31 = "llama3.1"
    case llama32 = "llama3.2"
    case llama2
    case mistral
    case zephyr

    /// The names `--chat-template` accepts.
    public static var names: [String] { allCases.map(\.rawValue) }

    /// The template called `name`, or an error listing the supported names.
    public init(name: String) throws {
        guard let t = ChatTemplate(rawValue: name) else {
            throw ChatTemplateError("unknown chat template \"\(name)\"; supported: \(ChatTemplate.names.joined(separator: ", "))")
        }
        self = t
    }

    /// The BOS token text the template writes at the start of a conversation, if it writes one.
    public var bosText: String? {
        switch self {
        case .llama3, .llama31, .llama32: return "<|begin_of_text|>"
        case .llama2, .mistral: return "<s>"
        default: return nil
        }
    }

    /// The text that ends an assistant turn (and so every completion), "" for `human-assistant`.
    /// Zephyr and ChatML follow it with a newline.
    public var endOfTurn: String {
        switch self {
        case .humanAssistant: return ""
        case .chatml, .qwen2, .qwen25, .smollm2: return "<|im_end|>"
        case .llama3, .llama31, .llama32: return "<|eot_id|>"
        case .llama2, .mistral, .zephyr: return "</s>"
        }
    }

    /// The special tokens the model's template reads from tokenizer_config.json (`bos_token`,
    /// `eos_token`), with the values this rendering assumes.
    var specialTokens: [(key: String, value: String)] {
        switch self {
        case .llama3, .llama31, .llama32: return [("bos_token", "<|begin_of_text|>")]
        case .llama2, .mistral: return [("bos_token", "<s>"), ("eos_token", "</s>")]
        case .zephyr: return [("eos_token", "</s>")]
        default: return []
        }
    }

    /// The conversation as text. Throws where the model's template raises (roles that do not
    /// alternate for `llama2`, `mistral` and `human-assistant`; a system message for `mistral`)
    /// and for an empty conversation.
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool) throws -> String {
        try render(messages, addGenerationPrompt: addGenerationPrompt, today: Date())
    }

    /// `today` is the date `llama3.2` writes; the other templates ignore it.
    func render(_ messages: [ChatMessage], addGenerationPrompt: Bool, today: Date) throws -> String {
        guard !messages.isEmpty else { throw ChatTemplateError("an empty conversation has nothing to render") }
        switch self {
        case .humanAssistant: return try Self.humanAssistant(messages, addGenerationPrompt)
        case .chatml: return Self.chatML(messages, addGenerationPrompt, defaultSystem: nil)
        case .qwen2: return Self.chatML(messages, addGenerationPrompt, defaultSystem: "You are a helpful assistant.")
        case .smollm2:
            return Self.chatML(messages, addGenerationPrompt, defaultSystem: "You are a helpful AI assistant named SmolLM, trained by Hugging Face")
        case .qwen25: return Self.qwen25(messages, addGenerationPrompt)
        case .llama3: return Self.llama3(messages, addGenerationPrompt)
        case .llama31: return Self.llama31(messages, addGenerationPrompt, date: "26 Jul 2024")
        case .llama32: return Self.llama31(messages, addGenerationPrompt, date: Self.strftimeDate(today))
        case .llama2: return try Self.llama2(messages)
        case .mistral: return try Self.mistral(messages)
        case .zephyr: return Self.zephyr(messages, addGenerationPrompt)
        }
    }
}
