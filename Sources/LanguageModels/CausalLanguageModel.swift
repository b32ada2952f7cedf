import Foundation
import NN

/// A decoder-only language model: token ids in, next-token logits out, with an optional scalar
/// head and a KV cache for generation. Everything in Alignment (stages, PPO, sequence log-probs,
/// sampling) is written against this protocol; GPT-2 and the Llama family implement it.
public protocol CausalLanguageModel: Module {
    /// Token ids run over 0..<vocabSize.
    var vocabSize: Int { get }
    /// The most positions one sequence may use.
    var contextLength: Int { get }
    /// Whether the model carries a scalar head (reward and value models).
    var hasScalarHead: Bool { get }
    /// Whether training recomputes each block's activations in backward instead of keeping them.
    var gradientCheckpointing: Bool { get set }
    /// The transformers `model_type` written to config.json ("gpt2", "llama", ...).
    var modelType: String { get }

    /// Final hidden states [B, T, d] for `ids` [B, T]. With a cache, `ids` are the tokens after the
    /// cached ones and the cache advances by T.
    func hiddenStates(_ ids: IndexTensor, cache: KVCache?) -> Tensor
    /// Next-token logits [B, T, vocab] from hidden states [B, T, d].
    func logits(fromHidden hidden: Tensor) -> Tensor
    /// The LM head's weight [vocab, d] (tied to the token embedding or not): logits = hidden · Wᵀ.
    var lmHeadWeight: Tensor { get }
    /// False while the LM head carries something besides its weight (a LoRA adapter): the fused
    /// head then cannot stand in for `logits(fromHidden:)`.
    var lmHeadIsPlainLinear: Bool { get }
    /// The scalar head on hidden states, [B, T, d] -> [B, T]; only for models with `hasScalarHead`.
    func scores(fromHidden hidden: Tensor) -> Tensor
    /// An empty cache for `batch` sequences of up to `capacity` tokens (default: the context length).
    func makeCache(batch: Int, capacity: Int?) -> KVCache
    /// A copy with the same weights that needs no gradients, in eval mode: a frozen reference.
    func frozenCopy() -> Self
    /// This model with a scalar head (new, initialised from `seed`) or without one; every other
    /// weight copied. Returns `self` when it already is so.
    func withScalarHead(_ scalarHead: Bool, seed: UInt64) -> Self

    /// Estimated bytes a training step keeps for backward over `rows` sequences of `length` tokens,
    /// so that a batch that cannot fit is refused before it aborts in malloc.
    func trainingActivationBytes(rows: Double, length: Int) -> Double
    /// Estimated bytes of sampling `rows` sequences of up to `length` tokens (KV cache, logits).
    func samplingBytes(rows: Double, length: Int) -> Double

    /// Reads a transformers checkpoint directory (config.json + safetensors) of this architecture.
    static func loadHuggingFace(directory: URL) throws -> Self
    /// Writes config.json and model.safetensors that transformers loads.
    func saveHuggingFace(directory: URL, metadata: [String: String]) throws
    /// How a checkpoint's config.json differs from this model's architecture, one line per setting
    /// ("model n_layer: checkpoint 4, this run 2"); empty when it describes this model.
    func architectureDifferences(configFile: URL) throws -> [String]
}

/// The vocabulary size from which `nextTokenNLL` fuses the LM head with cross-entropy.
public let fusedHeadMinimumVocabulary = 4096

extension CausalLanguageModel {
    /// Next-token logits [B, T, vocab] for `ids` [B, T].
    public func callAsFunction(_ ids: IndexTensor, cache: KVCache? = nil) -> Tensor {
        logits(fromHidden: hiddenStates(ids, cache: cache))
    }

    /// Final hidden states [B, T, d] for `ids` [B, T], without a cache.
    public func hiddenStates(_ ids: IndexTensor) -> Tensor { hiddenStates(ids, cache: nil) }

    /// Hidden states for ids laid out row-major as [batch, ids.count / batch].
    public func hiddenStates(_ ids: [Int], batch: Int, cache: KVCache? = nil) -> Tensor {
        precondition(batch > 0 && ids.count % batch == 0, "\(modelType): \(ids.count) ids do not split into batch \(batch)")
        return hiddenStates(IndexTensor(ids, shape: [batch, ids.count / batch]), cache: cache)
    }

    /// Next-token logits for ids laid out row-major as [batch, ids.count / batch].
    public func callAsFunction(_ ids: [Int], batch: Int, cache: KVCache? = nil) -> Tensor {
        logits(fromHidden: hiddenStates(ids, batch: batch, cache: cache))
    }

    /// Negative log-likelihood [B, T-1] of each next token: position t of `hidden` [B, T, d] scored
    /// on `targets` [B, T-1] (0 where a target is `ignoreIndex`). From a vocabulary of
    /// `fusedHeadMinimumVocabulary` up, the LM head and cross-entropy run fused in row chunks
    /// (`linearCrossEntropy`), so no [B, T, vocab] tensor of logits exists (backward keeps the
    /// probabilities only when they fit in 256 MB); below it, through the logits.
    /// `temperature` divides the logits first (PPO scores its samples at the sampling temperature).
    public func nextTokenNLL(fromHidden hidden: Tensor, targets: IndexTensor, ignoreIndex: Int = -100,
                             temperature: Float = 1) -> Tensor {
        precondition(hidden.rank == 3 && targets.shape == [hidden.shape[0], hidden.shape[1] - 1],
                     "\(modelType): targets \(targets.shape) do not match hidden states \(hidden.shape) (expected [B, T-1])")
        let t = hidden.shape[1]
        if vocabSize >= fusedHeadMinimumVocabulary && lmHeadIsPlainLinear {
            let weight = temperature == 1 ? lmHeadWeight : lmHeadWeight * (1 / temperature)
            return linearCrossEntropy(hidden.slice(axis: 1, 0..<(t - 1)), weight: weight, targets: targets, ignoreIndex: ignoreIndex)
        }
        var logits = logits(fromHidden: hidden)
        if temperature != 1 { logits = logits * (1 / temperature) }
        return crossEntropy(logits: logits.slice(axis: 1, 0..<(t - 1)), targets: targets, ignoreIndex: ignoreIndex, reduction: .none)
    }

    public func makeCache(batch: Int) -> KVCache { makeCache(batch: batch, capacity: nil) }

    public func saveHuggingFace(directory: URL) throws { try saveHuggingFace(directory: directory, metadata: [:]) }
}
