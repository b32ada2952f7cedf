import Foundation
import NN

/// Grouped-query causal self-attention with rotary position embeddings (transformers'
/// `LlamaAttention`, `MistralAttention`, `Qwen2Attention`).
public final class LlamaAttention: Module {
    public let qProj: Linear
    public let kProj: Linear
    public let vProj: Linear
    public let oProj: Linear
    let heads: Int, kvHeads: Int, headDim: Int
    override public var parameterKeys: [String: String] { ["qProj": "q_proj", "kProj": "k_proj", "vProj": "v_proj", "oProj": "o_proj"] }

    init(_ c: LlamaConfig, generator: inout RandomGenerator) {
        let q = c.heads * c.headDim, kv = c.kvHeads * c.headDim
        qProj = Llama.initLinear(c.hiddenSize, q, bias: c.qkvBias, c, &generator)
        kProj = Llama.initLinear(c.hiddenSize, kv, bias: c.qkvBias, c, &generator)
        vProj = Llama.initLinear(c.hiddenSize, kv, bias: c.qkvBias, c, &generator)
        oProj = Llama.initLinear(q, c.hiddenSize, bias: c.outputBias, c, &generator)
        heads = c.heads
        kvHeads = c.kvHeads
        headDim = c.headDim
    }

    /// x [B, T, d] -> [B, T, d]. With a cache, x holds the new tokens only and attends to the cached
    /// prefix too; the caller advances `cache.length` once all layers have run.
    func callAsFunction(_ x: Tensor, cos: Tensor, sin: Tensor, layer: Int, cache: KVCache?) -> Tensor {
        let b = x.shape[0], t = x.shape[1]
        let q = rotaryEmbedding(qProj(x).reshaped([b, t, heads, headDim]), cos: cos, sin: sin).transposed(1, 2)
        var k = rotaryEmbedding(kProj(x).reshaped([b, t, kvHeads, headDim]), cos: cos, sin: sin).transposed(1, 2)
        var v = vProj(x).reshaped([b, t, kvHeads, headDim]).transposed(1, 2)
        if let cache {
            let start = cache.length
            precondition(start + t <= cache.capacity, "attention: \(start + t) tokens exceed the KV cache capacity \(cache.capacity)")
            withNoGrad {
                cache.keys[layer].slice(axis: 2, start..<(start + t)).assign(k)
                cache.values[layer].slice(axis: 2, start..<(start + t)).assign(v)
            }
            k = cache.keys[layer].slice(axis: 2, 0..<(start + t))
            v = cache.values[layer].slice(axis: 2, 0..<(start + t))
        }
        let group = heads / kvHeads
        let y = scaledDotProductAttention(q, k.repeatInterleaved(group, axis: 1), v.repeatInterleaved(group, axis: 1), causal: true)
        return oProj(y.transposed(1, 2).reshaped([b, t, heads * headDim]))
    }
}

/// The SwiGLU feed-forward block: down_proj(silu(gate_proj(x)) * up_proj(x)).
public final class LlamaMLP: Module {
    public let gateProj: Linear
    public let upProj: Linear
    public let downProj: Linear
    override public var parameterKeys: [String: String] { ["gateProj": "gate_proj", "upProj": "up_proj", "downProj": "down_proj"] }

    init(_ c: LlamaConfig, generator: inout RandomGenerator) {
        gateProj = Llama.initLinear(c.hiddenSize, c.intermediateSize, bias: c.mlpBias, c, &generator)
        upProj = Llama.initLinear(c.hiddenSize, c.intermediateSize, bias: c.mlpBias, c, &generator)
        downProj = Llama.initLinear(c.intermediateSize, c.hiddenSize, bias: c.mlpBias, c, &generator)
    }

    func callAsFunction(_ x: Tensor) -> Tensor { downProj(swiGLU(gate: gateProj(x), up: upProj(x))) }
}

/// A fused RMSNorm layer (the `rmsNorm` op) with a learned scale initialised to 1.
public final class LlamaRMSNorm: Module {
    public let weight: Tensor
    public let eps: Float

    public init(_ dim: Int, eps: Float) {
        weight = Tensor.ones([dim], requiresGrad: true)
        self.eps = eps
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { rmsNorm(x, weight: weight, eps: eps) }
}

/// A pre-norm decoder layer: x + attn(input_layernorm(x)), then + mlp(post_attention_layernorm(x)).
public final class LlamaDecoderLayer: Module {
    public let inputLayernorm: LlamaRMSNorm
    public let selfAttn: LlamaAttention
    public let postAttentionLayernorm: LlamaRMSNorm
    public let mlp: LlamaMLP
    override public var parameterKeys: [String: String] {
        ["inputLayernorm": "input_layernorm", "selfAttn": "self_attn", "postAttentionLayernorm": "post_attention_layernorm"]
    }

    init(_ c: LlamaConfig, generator: inout RandomGenerator) {
        inputLayernorm = LlamaRMSNorm(c.hiddenSize, eps: c.rmsNormEps)
        selfAttn = LlamaAttention(c, generator: &generator)
        postAttentionLayernorm = LlamaRMSNorm(c.hiddenSize, eps: c.rmsNormEps)
        mlp = LlamaMLP(c, generator: &generator)
    }

    func callAsFunction(_ x: Tensor, cos: Tensor, sin: Tensor, layer: Int, cache: KVCache?) -> Tensor {
        let h = x + selfAttn(inputLayernorm(x), cos: cos, sin: sin, layer: layer, cache: cache)
        return h + mlp(postAttentionLayernorm(h))
    }
}

/// The decoder stack under `model.` in transformers' state dict: token embedding, layers, final norm.
public final class LlamaBackbone: Module {
    public let embedTokens: Embedding
    public let layers: [LlamaDecoderLayer]
    public let norm: LlamaRMSNorm
    override public var parameterKeys: [String: String] { ["embedTokens": "embed_tokens"] }

    init(_ c: LlamaConfig, generator: inout RandomGenerator) {
        embedTokens = Embedding(c.vocabSize, c.hiddenSize, std: c.initializerRange, generator: &generator)
        layers = (0..<c.layers).map { _ in LlamaDecoderLayer(c, generator: &generator) }
        norm = LlamaRMSNorm(c.hiddenSize, eps: c.rmsNormEps)
    }
}

/// A Llama-family causal language model that matches transformers' `LlamaForCausalLM`,
/// `MistralForCausalLM` and `Qwen2ForCausalLM`: RMSNorm, rotary position embeddings, SwiGLU MLP,
/// grouped-query attention, optional q/k/v biases, tied or untied LM head. Parameter names are
/// transformers' state-dict names (`model.layers.0.self_attn.q_proj.weight`, `lm_head.weight`, ...).
/// Same interface as `GPT`.
public final class Llama: Module {
    public let config: LlamaConfig
    public let model: LlamaBackbone
    /// The untied LM head; nil when `tieWordEmbeddings` (the logits then use the token embedding).
    public let lmHead: Linear?
    /// Scalar head on the hidden states (value or reward), when `config.scalarHead` is set.
    public let scoreHead: Linear?
    let rotary: LlamaRotary
    /// Recompute each decoder layer's activations in backward instead of keeping them (less memory,
    /// one more forward per step).
    public var gradientCheckpointing = false
    override public var parameterKeys: [String: String] { ["lmHead": "lm_head", "scoreHead": "score"] }

    /// A randomly initialised model (weights N(0, initializer_range), biases 0, norms 1). The config
    /// must pass `validate()`: a config from user input is checked by the caller first.
    public init(_ config: LlamaConfig, seed: UInt64 = 0) {
        do { try config.validate() } catch { preconditionFailure("Llama: invalid config: \(error)") }
        var g = RandomGenerator(seed: seed)
        self.config = config
        model = LlamaBackbone(config, generator: &g)
        lmHead = config.tieWordEmbeddings ? nil : Llama.initLinear(config.hiddenSize, config.vocabSize, bias: false, config, &g)
        scoreHead = config.scalarHead ? Llama.initLinear(config.hiddenSize, 1, bias: true, config, &g) : nil
        rotary = LlamaRotary(config)
    }

    /// Final hidden states [B, T, d] for ids [B, T]. With a cache, the ids are the next tokens after
    /// the cached ones, and the cache advances by T.
    public func hiddenStates(_ ids: IndexTensor, cache: KVCache? = nil) -> Tensor {
        precondition(ids.rank == 2 && ids.shape[0] > 0, "Llama: ids must be [B, T] with B > 0, got shape \(ids.shape)")
        let batch = ids.shape[0], t = ids.shape[1]
        let start = cache?.length ?? 0
        precondition(start + t <= config.contextLength, "Llama: \(start + t) positions exceed the context length \(config.contextLength)")
        if let cache { precondition(cache.batch == batch, "Llama: cache batch \(cache.batch) differs from input batch \(batch)") }
        let (cos, sin) = rotary.tables(start..<(start + t))
        var x = model.embedTokens(ids)
        for (i, layer) in model.layers.enumerated() {
            if gradientCheckpointing && cache == nil {
                x = layer.checkpointed(x) { layer($0, cos: cos, sin: sin, layer: i, cache: nil) }
            } else {
                x = layer(x, cos: cos, sin: sin, layer: i, cache: cache)
            }
        }
        cache?.length += t
        return model.norm(x)
    }

    /// Next-token logits [B, T, vocab].
    public func logits(fromHidden hidden: Tensor) -> Tensor {
        if let lmHead { return lmHead(hidden) }
        return linear(hidden, weight: model.embedTokens.weight)
    }

    /// The scalar head on hidden states: [B, T, d] -> [B, T].
    public func scores(fromHidden hidden: Tensor) -> Tensor {
        guard let scoreHead else { preconditionFailure("Llama.scores: the model was built without config.scalarHead") }
        return scoreHead(hidden).squeezed(axis: -1)
    }

    /// An empty KV cache for `batch` sequences of up to `capacity` tokens (default: the context).
    public func makeCache(batch: Int, capacity: Int?) -> KVCache {
        let cap = capacity ?? config.contextLength
        precondition(cap <= config.contextLength, "Llama: cache capacity \(cap) exceeds the context length \(config.contextLength)")
        return KVCache(layers: config.layers, kvHeads: config.kvHeads, headDim: config.headDim, batch: batch, capacity: cap)
    }

    /// A copy with the same weights that requires no gradients: the frozen reference model of DPO/PPO.
    public func frozenCopy() -> Llama {
        let copy = Llama(config)
        copy.copyParameters(from: self)
        copy.freeze()
        copy.eval()
        return copy
    }

    /// A linear layer initialised as transformers' `_init_weights`: weight ~ N(0, initializer_range), bias 0.
    static func initLinear(_ inFeatures: Int, _ outFeatures: Int, bias: Bool, _ c: LlamaConfig,
                           _ generator: inout RandomGenerator) -> Linear {
        let weight = Tensor.normal([outFeatures, inFeatures], std: c.initializerRange, generator: &generator, requiresGrad: true)
        return Linear(weight: weight, bias: bias ? Tensor.zeros([outFeatures], requiresGrad: true) : nil)
    }
}
