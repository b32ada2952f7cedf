import LanguageModels

/// Per-sequence log-probabilities of completion tokens under a causal LM's logits.
public enum SequenceLogProbs {
    public enum Reduction: String, Codable, Sendable { case sum, mean }

    /// logits [B, T, V] for `batch` -> [B]: the sum (or mean) over completion tokens (EOS included,
    /// prompt and padding excluded) of log p(token t+1 | tokens ...t). Differentiable; the fused
    /// cross-entropy kernel computes the softmax once. The mean divides by the row's scored targets
    /// (TRL's `loss_mask.sum(-1)`), one fewer than its completion tokens when the prompt is empty.
    public static func compute(logits: Tensor, batch: Batch, reduction: Reduction = .sum) -> Tensor {
        precondition(logits.rank == 3 && logits.shape[0] == batch.batchSize && logits.shape[1] == batch.length,
                     "sequence_logprobs: logits \(logits.shape) do not match batch [\(batch.batchSize), \(batch.length)]")
        let t = batch.length
        let shifted = logits.slice(axis: 1, 0..<(t - 1))
        let nll = crossEntropy(logits: shifted, targets: batch.targets, ignoreIndex: Batch.ignoreIndex, reduction: .none)  // [B, T-1]
        return reduce(nll: nll, batch: batch, reduction: reduction)
    }

    /// The same log-probs straight from `model`: from large vocabularies up the LM head and the
    /// cross-entropy run fused in row chunks, so no [B, T, vocab] logits are held
    /// (`CausalLanguageModel.nextTokenNLL`).
    public static func compute(model: any CausalLanguageModel, batch: Batch, reduction: Reduction = .sum) -> Tensor {
        let hidden = model.hiddenStates(batch.inputIDs)
        return reduce(nll: model.nextTokenNLL(fromHidden: hidden, targets: batch.targets, ignoreIndex: Batch.ignoreIndex),
                      batch: batch, reduction: reduction)
    }

    /// Per-row sum (or mean over scored targets) of -nll [B, T-1].
    static func reduce(nll: Tensor, batch: Batch, reduction: Reduction) -> Tensor {
        let total = -nll.sum(axis: 1)
        switch reduction {
        case .sum: return total
        case .mean: return total / Tensor(batch.scoredTargetCounts.map { Float(max($0, 1)) })
        }
    }

    /// Per-token log-probs [B, T-1] of the next token (0 where masked), for PPO's per-token terms.
    public static func perToken(logits: Tensor, batch: Batch) -> Tensor {
        let t = batch.length
        return -crossEntropy(logits: logits.slice(axis: 1, 0..<(t - 1)), targets: batch.targets,
                             ignoreIndex: Batch.ignoreIndex, reduction: .none)
    }
}
