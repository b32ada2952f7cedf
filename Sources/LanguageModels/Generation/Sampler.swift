import NN
import Foundation

/// How `generate` picks each next token.
public struct SamplingOptions: Codable, Equatable, Sendable {
    /// Logits are divided by this; 0 means greedy decoding (log-probs then at temperature 1).
    public var temperature: Float = 1
    /// Keep only the k most likely tokens (nil: all).
    public var topK: Int? = nil
    /// Keep the smallest set of most likely tokens whose probability reaches topP (1: all).
    public var topP: Float = 1
    public var maxNewTokens: Int = 64
    /// Generation of a sequence stops after it samples this token (it is included in the output).
    public var eosToken: Int? = nil
    /// Off (the default): a prompt with no room for `maxNewTokens` in the context is an error. On: a
    /// sequence that fills the context stops there, as if it had reached `maxNewTokens`, so a batch
    /// can mix prompts of any length up to the context (PPO rollouts, the toy world's sampling).
    public var stopAtContext = false

    public init(temperature: Float = 1, topK: Int? = nil, topP: Float = 1, maxNewTokens: Int = 64, eosToken: Int? = nil,
                stopAtContext: Bool = false) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.maxNewTokens = maxNewTokens
        self.eosToken = eosToken
        self.stopAtContext = stopAtContext
    }

    private enum CodingKeys: String, CodingKey { case temperature, topK, topP, maxNewTokens, eosToken, stopAtContext }

    /// Options encoded before `stopAtContext` existed decode with it off.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        temperature = try c.decode(Float.self, forKey: .temperature)
        topK = try c.decodeIfPresent(Int.self, forKey: .topK)
        topP = try c.decode(Float.self, forKey: .topP)
        maxNewTokens = try c.decode(Int.self, forKey: .maxNewTokens)
        eosToken = try c.decodeIfPresent(Int.self, forKey: .eosToken)
        stopAtContext = try c.decodeIfPresent(Bool.self, forKey: .stopAtContext) ?? false
    }
}

/// Sampled continuations, one per prompt.
public struct Generation: Equatable, Sendable {
    /// New tokens of each sequence, ending with EOS when it was sampled.
    public var tokens: [[Int]]
    /// Log-probability of each sampled token under the temperature-scaled softmax over the whole
    /// vocabulary (before top-k/top-p filtering), which is what PPO's policy ratio compares against.
    public var logProbs: [[Float]]

    public init(tokens: [[Int]], logProbs: [[Float]]) {
        self.tokens = tokens
        self.logProbs = logProbs
    }
}

extension CausalLanguageModel {
    /// Batched autoregressive sampling with a KV cache: the prompts are fed once, then one token per
    /// step. Prompts may differ in length: shorter ones are fed their remaining prompt tokens while
    /// longer ones are still being read, so no padding or position shifting is needed.
    ///
    /// Throws `ConfigurationError` for options or prompts out of range (checked before anything runs,
    /// see `SamplingOptions.validate(prompts:vocabSize:contextLength:)`) and `SamplingError` when a row of logits is not
    /// finite.
    public func generate(prompts: [[Int]], options: SamplingOptions, generator: inout RandomGenerator) throws -> Generation {
        try options.validate(prompts: prompts, vocabSize: vocabSize, contextLength: contextLength)
        let b = prompts.count
        let lengths = prompts.map(\.count)
        // Validation leaves room for maxNewTokens after the longest prompt unless stopAtContext is on;
        // compared as a difference so that a huge maxNewTokens cannot overflow.
        let longest = lengths.max()!
        let total = options.maxNewTokens <= contextLength - longest ? longest + options.maxNewTokens : contextLength
        let wasTraining = isTraining
        eval()
        defer { train(wasTraining) }

        let cache = makeCache(batch: b, capacity: total)
        var tokens = [[Int]](repeating: [], count: b)
        var logProbs = [[Float]](repeating: [], count: b)
        var done = lengths.map { options.maxNewTokens == 0 || $0 >= contextLength }
        let common = lengths.min()!
        var feed = prompts.flatMap { Array($0.prefix(common)) }
        var position = common
        let vocab = vocabSize
        var scratch = [Float](repeating: 0, count: vocab)
        try withNoGrad {
            while !done.allSatisfy({ $0 }) {
                let logits = self(feed, batch: b, cache: cache)  // [B, T, V]; row r's last position predicts token `position`
                let t = logits.shape[1]
                let last = logits.slice(axis: 1, (t - 1)..<t).contiguous()
                let lp = last.pointer
                var next = [Int](repeating: 0, count: b)
                for r in 0..<b {
                    if position < lengths[r] { next[r] = prompts[r][position]; continue }
                    if done[r] { next[r] = options.eosToken ?? 0; continue }
                    let row = UnsafeBufferPointer(start: lp + r * vocab, count: vocab)
                    let sampled: (Int, Float)
                    do {
                        sampled = try Sampling.sample(row, options: options, scratch: &scratch, generator: &generator)
                    } catch var e as SamplingError {
                        e.step = tokens[r].count
                        e.sequence = r
                        throw e
                    }
                    let (token, logProb) = sampled
                    next[r] = token
                    tokens[r].append(token)
                    logProbs[r].append(logProb)
                    if token == options.eosToken || tokens[r].count >= options.maxNewTokens
                        || lengths[r] + tokens[r].count >= contextLength { done[r] = true }
                }
                // Feeding `next` needs room for one more position in the cache.
                if position + 1 > total { break }
                feed = next
                position += 1
            }
        }
        return Generation(tokens: tokens, logProbs: logProbs)
    }
}

/// Temperature, top-k and top-p sampling from one row of logits.
public enum Sampling {
    /// Returns the chosen token and its log-probability under softmax(logits / temperature). Throws
    /// `SamplingError` when a logit, or a logit divided by the temperature, is not finite; the options
    /// are expected to be valid (`SamplingOptions.validate`).
    public static func sample(_ logits: UnsafeBufferPointer<Float>, options: SamplingOptions,
                              scratch: inout [Float], generator: inout RandomGenerator) throws -> (Int, Float) {
        let n = logits.count
        if scratch.count < n { scratch = [Float](repeating: 0, count: n) }
        let greedy = options.temperature <= 0
        let invT = greedy ? 1 : 1 / options.temperature
        try checkSamplable(logits, invT: invT, temperature: options.temperature)
        var m = -Float.infinity
        for j in 0..<n { m = max(m, logits[j] * invT) }
        var sum: Double = 0
        for j in 0..<n { sum += Double(exp(logits[j] * invT - m)) }
        let logZ = Float(log(sum)) + m
        if greedy {
            var best = 0
            for j in 1..<n where logits[j] > logits[best] { best = j }
            return (best, logits[best] - logZ)
        }
        // Probabilities, then filtering by top-k / top-p on a sorted copy of the indices.
        for j in 0..<n { scratch[j] = exp(logits[j] * invT - logZ) }
        if options.topK != nil || options.topP < 1 {
            let order = (0..<n).sorted { scratch[$0] > scratch[$1] }
            var kept = min(options.topK ?? n, n)
            if options.topP < 1 {
                var cumulative: Float = 0
                for (i, j) in order.prefix(kept).enumerated() {
                    cumulative += scratch[j]
                    if cumulative >= options.topP { kept = i + 1; break }
                }
            }
            // Like Hugging Face's warpers, tokens tied with the last kept one stay in.
            let keepBelow = scratch[order[kept - 1]]
            for j in 0..<n where scratch[j] < keepBelow { scratch[j] = 0 }
        }
        let token = scratch.withUnsafeBufferPointer { generator.nextCategorical(UnsafeBufferPointer(rebasing: $0.prefix(n))) }
        return (token, logits[token] * invT - logZ)
    }

    /// NaN or +inf logits (or ones the temperature scales to +inf) would reach the categorical draw as
    /// NaN probabilities. -inf is a masked token, as in transformers' warpers, so long as one token is left.
    static func checkSamplable(_ logits: UnsafeBufferPointer<Float>, invT: Float, temperature: Float) throws {
        var anyAboveMinusInfinity = false
        for j in logits.indices {
            let logit = logits[j]
            if logit.isNaN || logit == .infinity {
                throw SamplingError(reason: "logit of token \(j) is \(logit); the model's weights or activations are not finite")
            }
            let scaled = logit * invT
            if scaled.isNaN || scaled == .infinity {
                throw SamplingError(reason: "logit \(logit) of token \(j) divided by the temperature \(temperature) overflows")
            }
            if scaled > -.infinity { anyAboveMinusInfinity = true }
        }
        if !anyAboveMinusInfinity { throw SamplingError(reason: "every logit is -inf: no token can be sampled") }
    }
}
