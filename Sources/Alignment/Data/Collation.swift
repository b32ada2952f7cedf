import TensorCore

/// Token sequences for one prompt + completion, after truncation.
public struct TokenizedPair: Equatable, Sendable {
    public var prompt: [Int]
    /// Completion tokens, ending with EOS unless truncation removed it.
    public var completion: [Int]

    public init(prompt: [Int], completion: [Int]) {
        self.prompt = prompt
        self.completion = completion
    }
}

/// How over-long examples are shortened: the prompt is cut from the left (keeping its end, next to
/// the completion) down to `maxPromptLength`; if prompt + completion still exceed `maxLength`, the
/// completion is cut from the right. An example whose prompt alone leaves no room for a single
/// completion token is skipped (and counted).
public struct TruncationPolicy: Codable, Equatable, Sendable {
    public var maxLength: Int
    public var maxPromptLength: Int

    public init(maxLength: Int, maxPromptLength: Int) {
        precondition(maxPromptLength < maxLength, "TruncationPolicy: maxPromptLength \(maxPromptLength) must be below maxLength \(maxLength)")
        self.maxLength = maxLength
        self.maxPromptLength = maxPromptLength
    }

    /// The truncated pair and whether anything was cut.
    public func apply(prompt: [Int], completion: [Int]) -> (TokenizedPair, truncated: Bool) {
        let p = prompt.count > maxPromptLength ? Array(prompt.suffix(maxPromptLength)) : prompt
        let room = maxLength - p.count
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
/// `inputIDs` is [B, T] row-major. `lossMask[b * T + t]` is 1 where token t is a completion token
/// (EOS included) and 0 for prompt and padding. The label shift lives in `targets`: position t of the
/// logits predicts token t + 1, so `targets[b * (T-1) + t]` is token t + 1 where that token is in
/// the loss, and -100 (ignored) elsewhere.
public struct Batch: Sendable {
    public let batchSize: Int
    public let length: Int
    public let inputIDs: [Int]
    public let lossMask: [Float]
    public let targets: [Int]
    /// Real tokens per row (prompt + completion, before padding).
    public let lengths: [Int]
    public let completionLengths: [Int]

    public static let ignoreIndex = -100

    /// `padTo` fixes the padded length (at least the longest sequence), so that sub-batches of one
    /// batch compute exactly what the whole batch computes for their rows.
    public init(_ pairs: [TokenizedPair], padToken: Int, padTo: Int? = nil) {
        precondition(!pairs.isEmpty, "Batch: no sequences")
        let b = pairs.count
        let longest = pairs.map { $0.prompt.count + $0.completion.count }.max()!
        precondition(padTo.map { $0 >= longest } ?? true, "Batch: padTo \(padTo!) is shorter than the longest sequence \(longest)")
        let t = max(2, padTo ?? longest)
        var ids = [Int](repeating: padToken, count: b * t)
        var mask = [Float](repeating: 0, count: b * t)
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
        inputIDs = ids
        lossMask = mask
        self.targets = targets
        lengths = pairs.map { $0.prompt.count + $0.completion.count }
        completionLengths = pairs.map(\.completion.count)
    }

    /// Index of each row's last real token (where a reward head is read).
    public var lastTokenIndices: [Int] { lengths.map { max($0 - 1, 0) } }
}

/// Tokenises prompt/completion text the way the paper formats it, appends EOS to completions and
/// applies the truncation policy.
public struct Tokenization: Sendable {
    public let tokenizer: any Tokenizer
    public let policy: TruncationPolicy

    public init(tokenizer: any Tokenizer, policy: TruncationPolicy) {
        self.tokenizer = tokenizer
        self.policy = policy
    }

    /// nil when the example must be skipped; `report` counts truncations and skips.
    public func pair(prompt: String, completion: String, report: inout DataReport) -> TokenizedPair? {
        report.examples += 1
        let p = tokenizer.encode(prompt)
        let c = tokenizer.encode(completion) + [tokenizer.eosToken]
        let (pair, truncated) = policy.apply(prompt: p, completion: c)
        if pair.completion.isEmpty || pair.prompt.isEmpty {
            report.skipped += 1
            return nil
        }
        if truncated { report.truncated += 1 }
        return pair
    }
}
