import LanguageModels

/// Token sequences for one prompt + completion, after truncation.
public struct TokenizedPair: Equatable, Sendable {
    public var prompt: [Int]
    /// Completion tokens, ending with EOS unless truncation removed it.
    public var completion: [Int]

    public init(prompt: [Int], completion: [Int]) {
        self.prompt = prompt
        self.completion = completion
    }

    /// Completion tokens that are predicted, and so scored: all of them, except the first when the
    /// prompt is empty (nothing precedes it).
    public var scoredTargetCount: Int { prompt.isEmpty ? Swift.max(completion.count - 1, 0) : completion.count }
}

/// How over-long examples are shortened: the prompt is cut from the left (keeping its end, next to
/// the completion) down to `maxPromptLength`; if prompt + completion still exceed `maxLength`, the
/// completion is cut from the right. An example whose prompt alone leaves no room for a single
/// completion token is skipped (and counted).
///
/// The settings are checked by `validate()` (or the validating initialiser), not by `init`: a policy
/// that was not validated never traps, but may skip every example.
public struct TruncationPolicy: Codable, Equatable, Sendable {
    public var maxLength: Int
    public var maxPromptLength: Int

    public init(maxLength: Int, maxPromptLength: Int) {
        self.maxLength = maxLength
        self.maxPromptLength = maxPromptLength
    }

    /// A policy whose settings passed `validate()`.
    public init(validatingMaxLength maxLength: Int, maxPromptLength: Int) throws {
        self.init(maxLength: maxLength, maxPromptLength: maxPromptLength)
        try validate()
    }

    /// Throws `ConfigurationError` naming the setting unless 1 <= maxPromptLength < maxLength, so that
    /// every example keeps a prompt token and room for a completion token.
    public func validate() throws {
        try Validate.positive(maxPromptLength, "TruncationPolicy.maxPromptLength")
        guard maxPromptLength < maxLength else {
            throw ConfigurationError("TruncationPolicy.maxPromptLength",
                                     "must be < maxLength (\(maxLength)), got \(maxPromptLength)")
        }
    }

    /// The truncated pair and whether anything was cut.
    public func apply(prompt: [Int], completion: [Int]) -> (TokenizedPair, truncated: Bool) {
        // Clamped so that unvalidated settings cannot trap or exceed maxLength; a no-op for valid ones.
        let promptLimit = Swift.max(Swift.min(maxPromptLength, maxLength), 0)
        let p = prompt.count > promptLimit ? Array(prompt.suffix(promptLimit)) : prompt
        let room = Swift.max(maxLength - p.count, 0)
        let c = completion.count > room ? Array(completion.prefix(room)) : completion
        return (TokenizedPair(prompt: p, completion: c), p.count != prompt.count || c.count != completion.count)
    }
}

/// Counts of what data preparation changed, for the log.
public struct DataReport: Codable, Equatable, Sendable, CustomStringConvertible {
    public var examples = 0
    public var truncated = 0
    public var skipped = 0
    public init() {}
    public var description: String { "\(examples) examples, \(truncated) truncated, \(skipped) skipped" }
}

/// A right-padded batch of prompt + completion sequences.
///
/// `inputIDs` is [B, T]. `lossMask` [B, T] is 1 where a token is a completion token (EOS included)
/// and 0 for prompt and padding. The label shift lives in `targets` [B, T-1]: position t of the
/// logits predicts token t + 1, so targets[b, t] is token t + 1 where that token is in the loss,
/// and -100 (ignored) elsewhere.
public struct Batch: Sendable {
    public let batchSize: Int
    public let length: Int
    public let inputIDs: IndexTensor
    public let lossMask: IndexTensor
    public let targets: IndexTensor
    /// Real tokens per row (prompt + completion, before padding).
    public let lengths: [Int]
    public let completionLengths: [Int]
    /// Targets in the loss per row (`TokenizedPair.scoredTargetCount`): what a per-token mean divides by.
    public let scoredTargetCounts: [Int]

    public static let ignoreIndex = -100

    /// `padTo` fixes the padded length (at least the longest sequence), so that sub-batches of one
    /// batch compute exactly what the whole batch computes for their rows. `pairs` is never empty from
    /// user input: TrainingLoop and PPOTrainer refuse data or settings that would give an empty batch.
    public init(_ pairs: [TokenizedPair], padToken: Int, padTo: Int? = nil) {
        precondition(!pairs.isEmpty, "Batch: no sequences")
        let b = pairs.count
        let longest = pairs.map { $0.prompt.count + $0.completion.count }.max()!
        precondition(padTo.map { $0 >= longest } ?? true, "Batch: padTo \(padTo!) is shorter than the longest sequence \(longest)")
        let t = max(2, padTo ?? longest)
        var ids = [Int](repeating: padToken, count: b * t)
        var mask = [Int](repeating: 0, count: b * t)
        var targets = [Int](repeating: Batch.ignoreIndex, count: b * (t - 1))
        for (r, pair) in pairs.enumerated() {
            let seq = pair.prompt + pair.completion
            for (i, tok) in seq.enumerated() { ids[r * t + i] = tok }
            for i in pair.prompt.count..<seq.count {
                mask[r * t + i] = 1
                if i >= 1 { targets[r * (t - 1) + i - 1] = seq[i] }
            }
        }
        batchSize = b
        length = t
        inputIDs = IndexTensor(ids, shape: [b, t])
        lossMask = IndexTensor(mask, shape: [b, t])
        self.targets = IndexTensor(targets, shape: [b, t - 1])
        lengths = pairs.map { $0.prompt.count + $0.completion.count }
        completionLengths = pairs.map(\.completion.count)
        scoredTargetCounts = pairs.map(\.scoredTargetCount)
    }

    /// Index of each row's last real token (where a reward head is read).
    public var lastTokenIndices: [Int] { lengths.map { max($0 - 1, 0) } }
}

/// Tokenises prompt/completion text the way the paper formats it, appends EOS to completions and
/// applies the truncation policy. The tokenizer's own special tokens (Llama's BOS) go before the
/// prompt only, and not when the prompt text already starts with BOS (a chat template wrote it).
///
/// `jointly` encodes prompt + completion as one text and splits it after the prompt's own token
/// count, as TRL's SFT does (a SentencePiece tokenizer then gives the completion no spurious
/// leading "▁"); otherwise the completion is encoded on its own, as TRL's DPO does. The byte
/// tokenizer gives the same ids either way.
public struct Tokenization: Sendable {
    public let tokenizer: any Tokenizer
    public let policy: TruncationPolicy
    public let jointly: Bool

    public init(tokenizer: any Tokenizer, policy: TruncationPolicy, jointly: Bool = false) {
        self.tokenizer = tokenizer
        self.policy = policy
        self.jointly = jointly
    }

    /// nil when the example must be skipped; `report` counts truncations and skips.
    public func pair(prompt: String, completion: String, report: inout DataReport) -> TokenizedPair? {
        report.examples += 1
        var p = tokenizer.encodePrompt(prompt)
        // EOS ends every completion, once: not again when the text already ends with it (a chat
        // template's end of turn), as TRL's SFT checks.
        let eos = (tokenizer.eosText.map { !$0.isEmpty && completion.hasSuffix($0) } ?? false) ? [] : [tokenizer.eosToken]
        let c: [Int]
        if jointly {
            let full = tokenizer.encodePrompt(prompt + completion)
            let split = Swift.min(p.count, full.count)
            (p, c) = (Array(full[..<split]), Array(full[split...]) + eos)
        } else {
            c = tokenizer.encode(completion, addSpecialTokens: false) + eos
        }
        let (pair, truncated) = policy.apply(prompt: p, completion: c)
        if pair.completion.isEmpty || pair.prompt.isEmpty {
            report.skipped += 1
            return nil
        }
        if truncated { report.truncated += 1 }
        return pair
    }
}
