import Foundation
import NN

/// Hyperparameters of a Llama-family decoder (Llama, Mistral, Qwen2), named after transformers'
/// `LlamaConfig` fields. Build one in code and `validate()` it, or read it from a checkpoint's
/// config.json with `Llama.loadHuggingFace(directory:)`.
public struct LlamaConfig: Codable, Equatable, Sendable {
    /// The transformers architecture: decides the names written to config.json and which bias flags
    /// its config.json can carry.
    public enum Family: String, Codable, Sendable, CaseIterable {
        case llama, mistral, qwen2

        public var architecture: String {
            switch self {
            case .llama: "LlamaForCausalLM"
            case .mistral: "MistralForCausalLM"
            case .qwen2: "Qwen2ForCausalLM"
            }
        }
    }

    /// `rope_scaling` of the types implemented here (others are refused when config.json is read).
    public enum RopeScaling: Codable, Equatable, Sendable {
        /// Positions divided by `factor` (every inverse frequency divided by it).
        case linear(factor: Double)
        /// Llama 3.1's frequency-dependent scaling.
        case llama3(factor: Double, lowFreqFactor: Double, highFreqFactor: Double, originalMaxPositionEmbeddings: Int)
    }

    public var family: Family
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var layers: Int
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    /// `max_position_embeddings`: the longest sequence the model accepts.
    public var maxPositionEmbeddings: Int
    public var rmsNormEps: Float
    public var ropeTheta: Double
    public var ropeScaling: RopeScaling?
    /// Biases on q_proj, k_proj and v_proj (Qwen2; Llama's `attention_bias`).
    public var qkvBias: Bool
    /// Bias on o_proj (Llama's `attention_bias` sets it together with the q/k/v biases).
    public var outputBias: Bool
    /// Biases on gate_proj, up_proj and down_proj (Llama's `mlp_bias`).
    public var mlpBias: Bool
    public var tieWordEmbeddings: Bool
    /// Mistral's sliding-window attention span. Sequences are limited to it (see `contextLength`),
    /// where sliding-window attention equals full causal attention.
    public var slidingWindow: Int?
    /// Adds a scalar head (hidden -> 1, `score.weight`/`score.bias`) on the hidden states: a value
    /// head (PPO) or a reward head.
    public var scalarHead: Bool
    /// Standard deviation of the normal initialisation of weights (`initializer_range`).
    public var initializerRange: Float

    public init(family: Family = .llama, vocabSize: Int, hiddenSize: Int, intermediateSize: Int, layers: Int, heads: Int,
                kvHeads: Int? = nil, headDim: Int? = nil, maxPositionEmbeddings: Int = 2048, rmsNormEps: Float = 1e-6,
                ropeTheta: Double = 10_000, ropeScaling: RopeScaling? = nil, qkvBias: Bool? = nil, outputBias: Bool = false,
                mlpBias: Bool = false, tieWordEmbeddings: Bool = false, slidingWindow: Int? = nil, scalarHead: Bool = false,
                initializerRange: Float = 0.02) {
        self.family = family
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.layers = layers
        self.heads = heads
        self.kvHeads = kvHeads ?? heads
        self.headDim = headDim ?? (heads > 0 ? hiddenSize / heads : 0)
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.rmsNormEps = rmsNormEps
        self.ropeTheta = ropeTheta
        self.ropeScaling = ropeScaling
        self.qkvBias = qkvBias ?? (family == .qwen2)
        self.outputBias = outputBias
        self.mlpBias = mlpBias
        self.tieWordEmbeddings = tieWordEmbeddings
        self.slidingWindow = slidingWindow
        self.scalarHead = scalarHead
        self.initializerRange = initializerRange
    }

    /// The longest sequence (prompt plus generated tokens) the model runs: `max_position_embeddings`,
    /// or the sliding window when that is shorter.
    public var contextLength: Int { min(maxPositionEmbeddings, slidingWindow ?? Int.max) }

    /// Query heads sharing one key/value head.
    public var groupSize: Int { heads / kvHeads }

    public static let maxDimension = Int(Int32.max)

    /// Throws `ConfigurationError` unless every size is in 1...`maxDimension`, the key/value heads
    /// divide the heads, the head dimension is even, eps, rope_theta and the scaling factors are finite
    /// and > 0 and the model has fewer than 2^60 parameters. Settings are named by their config.json
    /// keys, prefixed with `source` when given ("model/config.json: num_key_value_heads").
    public func validate(in source: String? = nil) throws {
        func setting(_ key: String) -> String { source.map { "\($0): \(key)" } ?? key }
        for (key, value) in [("vocab_size", vocabSize), ("hidden_size", hiddenSize), ("intermediate_size", intermediateSize),
                             ("num_hidden_layers", layers), ("num_attention_heads", heads), ("num_key_value_heads", kvHeads),
                             ("head_dim", headDim), ("max_position_embeddings", maxPositionEmbeddings)] {
            try Validate.inRange(value, 1...Self.maxDimension, setting(key))
        }
        if let slidingWindow { try Validate.inRange(slidingWindow, 1...Self.maxDimension, setting("sliding_window")) }
        guard heads % kvHeads == 0 else {
            throw ConfigurationError(setting("num_key_value_heads"), "must divide num_attention_heads = \(heads), got \(kvHeads)")
        }
        guard headDim % 2 == 0 else {
            throw ConfigurationError(setting("head_dim"), "must be even (rotary embeddings rotate pairs), got \(headDim)")
        }
        try Validate.positive(rmsNormEps, setting("rms_norm_eps"))
        guard ropeTheta.isFinite && ropeTheta > 0 else { throw ConfigurationError(setting("rope_theta"), "must be finite and > 0, got \(ropeTheta)") }
        guard initializerRange.isFinite && initializerRange >= 0 else {
            throw ConfigurationError(setting("initializer_range"), "must be finite and >= 0, got \(initializerRange)")
        }
        switch ropeScaling {
        case nil: break
        case .linear(let factor):
            guard factor.isFinite && factor > 0 else { throw ConfigurationError(setting("rope_scaling.factor"), "must be finite and > 0, got \(factor)") }
        case let .llama3(factor, low, high, original):
            for (key, v) in [("factor", factor), ("low_freq_factor", low), ("high_freq_factor", high)] where !(v.isFinite && v > 0) {
                throw ConfigurationError(setting("rope_scaling.\(key)"), "must be finite and > 0, got \(v)")
            }
            guard high > low else {
                throw ConfigurationError(setting("rope_scaling.high_freq_factor"), "must be greater than low_freq_factor = \(low), got \(high)")
            }
            try Validate.inRange(original, 1...Self.maxDimension, setting("rope_scaling.original_max_position_embeddings"))
        }
        // Each family's config.json can express only some bias combinations; refusing the others here
        // keeps every valid config saveable.
        switch family {
        case .llama:
            guard qkvBias == outputBias else {
                throw ConfigurationError(setting("attention_bias"), "covers q/k/v_proj and o_proj together in Llama: qkvBias \(qkvBias) and outputBias \(outputBias) must agree")
            }
        case .mistral:
            guard !qkvBias && !outputBias && !mlpBias else { throw ConfigurationError(setting("attention_bias"), "Mistral has no biases") }
        case .qwen2:
            guard qkvBias && !outputBias && !mlpBias else {
                throw ConfigurationError(setting("attention_bias"), "Qwen2 always has q/k/v_proj biases and no o_proj or MLP biases")
            }
        }
        if slidingWindow != nil && family != .mistral {
            throw ConfigurationError(setting("sliding_window"), "is implemented for Mistral only (as a limit on the context length)")
        }
        let parameters = Self.parameterCount(self)
        guard parameters < 0x1p60 else {
            throw ConfigurationError(setting("hidden_size"), "\(hiddenSize) with vocab_size = \(vocabSize), intermediate_size = \(intermediateSize) "
                                     + "and num_hidden_layers = \(layers) gives \(parameters) parameters, more than 2^60")
        }
    }

    /// Parameters of a model of this configuration, in Double so that no size can overflow it.
    public static func parameterCount(_ c: LlamaConfig) -> Double {
        let d = Double(c.hiddenSize), q = Double(c.heads * c.headDim), kv = Double(c.kvHeads) * Double(c.headDim)
        let inter = Double(c.intermediateSize)
        var perLayer = 2 * d + d * q + 2 * d * kv + q * d + 3 * d * inter
        if c.qkvBias { perLayer += q + 2 * kv }
        if c.outputBias { perLayer += d }
        if c.mlpBias { perLayer += 2 * inter + d }
        let embeddings = Double(c.vocabSize) * d * (c.tieWordEmbeddings ? 1 : 2)
        return embeddings + Double(c.layers) * perLayer + d + (c.scalarHead ? d + 1 : 0)
    }

    public var parameterCount: Double { Self.parameterCount(self) }

    /// Rough peak bytes of a training step's forward and backward pass over `rows` sequences of
    /// `length` tokens: attention probabilities (rows x heads x length² per layer), the activations
    /// kept for backward per token and layer (normed inputs, q/k/v before and after rotation and
    /// head repeat, attention output, the three MLP-wide tensors and the product), and the logits,
    /// each with a gradient of the same size.
    public func trainingActivationBytes(rows: Double, length: Int) -> Double {
        let t = Double(length), d = Double(hiddenSize), q = Double(heads * headDim)
        let perToken = 6 * d + 4 * q + 4 * Double(kvHeads) * Double(headDim) + 4 * Double(intermediateSize)
        let perLayer = Double(heads) * t * t + t * perToken
        return 2 * 4 * rows * (Double(layers) * perLayer + 3 * t * Double(vocabSize))
    }

    /// Rough peak bytes of sampling `rows` sequences up to `length` tokens without gradients: the KV
    /// cache of every layer, one layer's temporaries over the prompt, and the logits.
    public func samplingBytes(rows: Double, length: Int) -> Double {
        let t = Double(length), d = Double(hiddenSize)
        let cache = Double(layers) * 2 * t * Double(kvHeads) * Double(headDim)
        let oneLayer = Double(heads) * t * t + t * (4 * d + 3 * Double(intermediateSize))
        return 4 * rows * (cache + oneLayer + t * Double(vocabSize))
    }
}
