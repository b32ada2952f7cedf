import NN
import Foundation

/// Hyperparameters of a GPT-2-architecture decoder (names as in Hugging Face's `GPT2Config`).
public struct GPTConfig: Codable, Equatable, Sendable {
    public var vocabSize: Int
    public var contextLength: Int
    public var dModel: Int
    public var layers: Int
    public var heads: Int
    public var layerNormEps: Float = 1e-5
    /// Dropout on embeddings, attention-output and MLP-output residual branches (GPT-2's
    /// embd/resid pdrop); 0 disables it.
    public var dropout: Float = 0
    /// Adds a scalar head (d_model -> 1) on the last hidden state: a value head (PPO) or a reward head.
    public var scalarHead: Bool = false

    public init(vocabSize: Int, contextLength: Int, dModel: Int, layers: Int, heads: Int,
                layerNormEps: Float = 1e-5, dropout: Float = 0, scalarHead: Bool = false) {
        precondition(heads > 0 && dModel % heads == 0, "GPTConfig: d_model \(dModel) is not divisible by heads \(heads)")
        self.vocabSize = vocabSize
        self.contextLength = contextLength
        self.dModel = dModel
        self.layers = layers
        self.heads = heads
        self.layerNormEps = layerNormEps
        self.dropout = dropout
        self.scalarHead = scalarHead
    }

    public var headDim: Int { dModel / heads }
}

/// Keys and values of every layer for the tokens seen so far, so generation never recomputes the prefix.
public final class KVCache {
    /// Per layer, [B, H, capacity, hd].
    let keys: [Tensor]
    let values: [Tensor]
    public let batch: Int
    public let capacity: Int
    /// Tokens already cached per sequence.
    public internal(set) var length = 0

    public convenience init(config: GPTConfig, batch: Int, capacity: Int? = nil) {
        let cap = capacity ?? config.contextLength
        precondition(cap <= config.contextLength, "KVCache: capacity \(cap) exceeds the context length \(config.contextLength)")
        self.init(layers: config.layers, kvHeads: config.heads, headDim: config.headDim, batch: batch, capacity: cap)
    }

    /// A cache of `layers` layers, each holding [batch, kvHeads, capacity, headDim] keys and values
    /// (kvHeads is below the query heads in grouped-query attention).
    public init(layers: Int, kvHeads: Int, headDim: Int, batch: Int, capacity: Int) {
        precondition(layers >= 0 && kvHeads >= 1 && headDim >= 1 && batch >= 1 && capacity >= 0,
                     "KVCache: layers \(layers), kvHeads \(kvHeads), headDim \(headDim), batch \(batch), capacity \(capacity) out of range")
        self.batch = batch
        self.capacity = capacity
        let shape = [batch, kvHeads, capacity, headDim]
        keys = (0..<layers).map { _ in Tensor.zeros(shape) }
        values = (0..<layers).map { _ in Tensor.zeros(shape) }
    }

    public func reset() { length = 0 }
}

/// Causal multi-head self-attention with a fused qkv projection (GPT-2's `c_attn`, `c_proj`).
public final class CausalSelfAttention: Module {
    public let cAttn: Linear
    public let cProj: Linear
    public let heads: Int
    let residDropout: Dropout
    override public var parameterKeys: [String: String] { ["cAttn": "c_attn", "cProj": "c_proj"] }

    init(_ c: GPTConfig, generator: inout RandomGenerator, projStd: Float) {
        cAttn = Linear(c.dModel, 3 * c.dModel, generator: &generator)
        cProj = Linear(c.dModel, c.dModel, generator: &generator)
        heads = c.heads
        residDropout = Dropout(c.dropout, seed: generator.next())
        super.init()
        GPT.initGPT2(cAttn, std: 0.02, generator: &generator)
        GPT.initGPT2(cProj, std: projStd, generator: &generator)
    }

    /// x [B, T, d] -> [B, T, d]. With a cache, x holds the new tokens only and attends to the cached
    /// prefix as well; the caller advances `cache.length` once all layers have run.
    func callAsFunction(_ x: Tensor, layer: Int, cache: KVCache?) -> Tensor {
        let b = x.shape[0], t = x.shape[1], d = x.shape[2], hd = d / heads
        let qkv = cAttn(x)
        // Training and full-sequence scoring: one fused op from qkv to merged heads.
        guard let cache else { return residDropout(cProj(causalSelfAttention(qkv: qkv, heads: heads))) }
        // Cached generation: append this step's keys and values, attend to the whole prefix.
        func split(_ i: Int) -> Tensor {
            qkv.slice(axis: 2, (i * d)..<((i + 1) * d)).reshaped([b, t, heads, hd]).transposed(1, 2)
        }
        let start = cache.length
        precondition(start + t <= cache.capacity, "attention: \(start + t) tokens exceed the KV cache capacity \(cache.capacity)")
        withNoGrad {
            cache.keys[layer].slice(axis: 2, start..<(start + t)).assign(split(1))
            cache.values[layer].slice(axis: 2, start..<(start + t)).assign(split(2))
        }
        let k = cache.keys[layer].slice(axis: 2, 0..<(start + t))
        let v = cache.values[layer].slice(axis: 2, 0..<(start + t))
        let y = scaledDotProductAttention(split(0), k, v, causal: true)
        return residDropout(cProj(y.transposed(1, 2).reshaped([b, t, d])))
    }
}

/// GPT-2's position-wise MLP: c_fc (d -> 4d), GELU (tanh approximation), c_proj (4d -> d).
public final class MLP: Module {
    public let cFc: Linear
    public let cProj: Linear
    let dropout: Dropout
    override public var parameterKeys: [String: String] { ["cFc": "c_fc", "cProj": "c_proj"] }

    init(_ c: GPTConfig, generator: inout RandomGenerator, projStd: Float) {
        cFc = Linear(c.dModel, 4 * c.dModel, generator: &generator)
        cProj = Linear(4 * c.dModel, c.dModel, generator: &generator)
        dropout = Dropout(c.dropout, seed: generator.next())
        super.init()
        GPT.initGPT2(cFc, std: 0.02, generator: &generator)
        GPT.initGPT2(cProj, std: projStd, generator: &generator)
    }

    func callAsFunction(_ x: Tensor) -> Tensor { dropout(cProj(cFc(x).gelu(approximate: .tanh))) }
}

/// A pre-LayerNorm decoder block: x + attn(ln_1(x)), then + mlp(ln_2(x)).
public final class Block: Module {
    public let ln1: LayerNorm
    public let attn: CausalSelfAttention
    public let ln2: LayerNorm
    public let mlp: MLP
    override public var parameterKeys: [String: String] { ["ln1": "ln_1", "ln2": "ln_2"] }

    init(_ c: GPTConfig, generator: inout RandomGenerator) {
        let projStd = 0.02 / Float(2 * c.layers).squareRoot()
        ln1 = LayerNorm(c.dModel, eps: c.layerNormEps)
        attn = CausalSelfAttention(c, generator: &generator, projStd: projStd)
        ln2 = LayerNorm(c.dModel, eps: c.layerNormEps)
        mlp = MLP(c, generator: &generator, projStd: projStd)
    }

    func callAsFunction(_ x: Tensor, layer: Int, cache: KVCache?) -> Tensor {
        let h = x + attn(ln1(x), layer: layer, cache: cache)
        return h + mlp(ln2(h))
    }
}

/// A decoder-only transformer that matches Hugging Face GPT-2: learned positional embeddings,
/// pre-LN blocks, GELU (tanh) MLP of width 4d, final LayerNorm and an LM head tied to the token
/// embedding. Parameter names follow GPT-2's state dict (`wte.weight`, `h.0.attn.c_attn.weight`,
/// ...); linear weights are [out, in] as in PyTorch's `nn.Linear` (GPT-2's Conv1D stores them
/// transposed, which the Hugging Face loader undoes).
public final class GPT: Module {
    public let config: GPTConfig
    public let wte: Embedding
    public let wpe: Embedding
    public let h: [Block]
    public let lnF: LayerNorm
    /// Scalar head on the last hidden state (value or reward), when `config.scalarHead` is set.
    public let scoreHead: Linear?
    let embedDropout: Dropout
    override public var parameterKeys: [String: String] { ["lnF": "ln_f", "scoreHead": "score"] }
    /// Recompute each block's activations in backward instead of keeping them (less memory, one
    /// more forward per step).
    public var gradientCheckpointing = false

    public init(_ config: GPTConfig, seed: UInt64 = 0) {
        var g = RandomGenerator(seed: seed)
        self.config = config
        wte = Embedding(config.vocabSize, config.dModel, std: 0.02, generator: &g)
        wpe = Embedding(config.contextLength, config.dModel, std: 0.02, generator: &g)
        h = (0..<config.layers).map { _ in Block(config, generator: &g) }
        lnF = LayerNorm(config.dModel, eps: config.layerNormEps)
        scoreHead = config.scalarHead ? Linear(config.dModel, 1, generator: &g) : nil
        embedDropout = Dropout(config.dropout, seed: g.next())
        super.init()
        if let scoreHead { GPT.initGPT2(scoreHead, std: 0.02, generator: &g) }
    }

    /// Final hidden states [B, T, d] for ids [B, T]. With a cache, the ids are the next tokens after
    /// the cached ones, and the cache advances by T.
    public func hiddenStates(_ ids: IndexTensor, cache: KVCache? = nil) -> Tensor {
        precondition(ids.rank == 2 && ids.shape[0] > 0, "GPT: ids must be [B, T] with B > 0, got shape \(ids.shape)")
        let batch = ids.shape[0], t = ids.shape[1]
        let start = cache?.length ?? 0
        precondition(start + t <= config.contextLength, "GPT: \(start + t) positions exceed the context length \(config.contextLength)")
        if let cache { precondition(cache.batch == batch, "GPT: cache batch \(cache.batch) differs from input batch \(batch)") }
        var x = embedDropout(wte(ids) + wpe(Array(start..<(start + t))))
        for (i, block) in h.enumerated() {
            if gradientCheckpointing && cache == nil {
                x = block.checkpointed(x) { block($0, layer: i, cache: nil) }
            } else {
                x = block(x, layer: i, cache: cache)
            }
        }
        cache?.length += t
        return lnF(x)
    }

    /// Next-token logits [B, T, vocab] through the tied LM head.
    public func logits(fromHidden hidden: Tensor) -> Tensor { linear(hidden, weight: wte.weight) }

    /// The scalar head on hidden states: [B, T, d] -> [B, T].
    public func scores(fromHidden hidden: Tensor) -> Tensor {
        guard let scoreHead else { preconditionFailure("GPT.scores: the model was built without config.scalarHead") }
        return scoreHead(hidden).squeezed(axis: -1)
    }

    /// A copy with the same weights that requires no gradients: the frozen reference model of DPO/PPO.
    public func frozenCopy() -> GPT {
        let copy = GPT(config)
        copy.copyParameters(from: self)
        copy.freeze()
        copy.eval()
        return copy
    }

    /// GPT-2's initialisation of a linear layer: weight ~ N(0, std), bias 0.
    static func initGPT2(_ l: Linear, std: Float, generator: inout RandomGenerator) {
        withNoGrad {
            l.weight.assign(Tensor.normal(l.weight.shape, std: std, generator: &generator))
            l.bias?.assign(Tensor.zeros(l.bias!.shape))
        }
    }
}
