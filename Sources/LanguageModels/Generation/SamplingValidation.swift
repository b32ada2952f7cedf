import NN
/// Sampling could not go on: a row of logits was NaN or infinite. Names the new token being sampled
/// and the sequence; a caller that knows where the model came from sets `model`.
public struct SamplingError: Error, CustomStringConvertible, Equatable, Sendable {
    public var model: String?
    /// Index of the new token being sampled (0 for the first after the prompt).
    public var step: Int?
    /// Index of the sequence (prompt) in the batch.
    public var sequence: Int?
    public let reason: String

    public init(model: String? = nil, step: Int? = nil, sequence: Int? = nil, reason: String) {
        self.model = model
        self.step = step
        self.sequence = sequence
        self.reason = reason
    }

    public var description: String {
        var place = "sampling"
        if let step { place += " new token \(step)" }
        if let sequence { place += " of sequence \(sequence)" }
        return (model.map { "model \($0): " } ?? "") + "\(place): \(reason)"
    }
}

extension SamplingOptions {
    /// Throws `ConfigurationError` unless temperature is finite and >= 0, topK (if set) >= 1, topP in
    /// (0, 1], maxNewTokens >= 0, eosToken (if set) in the vocabulary, and every prompt is non-empty,
    /// holds only vocabulary ids and fits the context, and (unless `stopAtContext`) leaves room for
    /// maxNewTokens in it (prompt + maxNewTokens <= contextLength, as transformers counts max_length):
    /// either way every generated sequence fits the context, so the model can score it afterwards.
    public func validate(prompts: [[Int]], vocabSize: Int, contextLength: Int) throws {
        try Validate.nonNegative(temperature, "SamplingOptions.temperature")
        if let topK { try Validate.positive(topK, "SamplingOptions.topK") }
        try Validate.inRange(topP, 0, 1, "SamplingOptions.topP", includeLower: false)
        try Validate.nonNegative(maxNewTokens, "SamplingOptions.maxNewTokens")
        if let eosToken { try Validate.inRange(eosToken, 0...(vocabSize - 1), "SamplingOptions.eosToken") }
        guard !prompts.isEmpty else { throw ConfigurationError("prompts", "must hold at least one prompt") }
        for (i, prompt) in prompts.enumerated() {
            guard !prompt.isEmpty else { throw ConfigurationError("prompts[\(i)]", "is empty; every prompt needs at least one token") }
            if let j = prompt.firstIndex(where: { $0 < 0 || $0 >= vocabSize }) {
                throw ConfigurationError("prompts[\(i)]", "token \(prompt[j]) at position \(j) is outside the vocabulary 0..<\(vocabSize)")
            }
            guard prompt.count <= contextLength else {
                throw ConfigurationError("prompts[\(i)]", "has \(prompt.count) tokens, more than the context length \(contextLength)")
            }
        }
        // The longest prompt is the one that must leave room; compared as a difference so a huge
        // maxNewTokens cannot overflow.
        let longest = prompts.indices.max { prompts[$0].count < prompts[$1].count }!
        guard stopAtContext || maxNewTokens <= contextLength - prompts[longest].count else {
            throw ConfigurationError("SamplingOptions.maxNewTokens", "\(maxNewTokens) new tokens after the \(prompts[longest].count)-token "
                                     + "prompts[\(longest)] exceed the context length \(contextLength)")
        }
    }

    /// `validate(prompts:vocabSize:contextLength:)` for a GPT configuration.
    public func validate(prompts: [[Int]], config: GPTConfig) throws {
        try validate(prompts: prompts, vocabSize: config.vocabSize, contextLength: config.contextLength)
    }
}
