import Foundation
import LanguageModels

// The math of PPO for language models (Ziegler et al. 2019; Stiennon et al. 2020), as TRL's
// PPOTrainer computes it: per-token KL penalties against a reference model, per-token rewards with
// the sequence score at the last response token, KL-coefficient controllers, GAE, masked
// whitening, and the clipped policy and value losses.
//
// Every token-level tensor is [B, T] with a same-shaped 0/1 `mask` of valid response tokens.
// Masked entries may hold anything finite or not (padding log-probs, garbage values): they are
// selected away with `where`, never multiplied by 0, so they cannot leak NaN into the results.

/// Per-token estimators of KL(π || π_ref) from the sampled token's log-probs (Schulman, "Approximating
/// KL divergence"). With r = π_ref(x) / π(x) and x ~ π: k1 = -log r (unbiased, can be negative),
/// k2 = ½(log r)² (biased, non-negative, TRL's "mse"), k3 = (r - 1) - log r (unbiased, non-negative).
public enum KLEstimator: String, Codable, CaseIterable, Sendable {
    case k1
    case k2
    case k3
}

/// The KL coefficient β of the reward r_t = -β·KL_t (+ score at the last token).
public protocol KLController {
    var value: Float { get }
    /// Called once per PPO batch with the batch's mean sequence KL and the number of samples seen.
    mutating func update(currentKL: Float, nSteps: Int)
}

/// A constant KL coefficient (TRL `FixedKLController`).
public struct FixedKLController: KLController, Codable, Equatable, Sendable {
    public private(set) var value: Float
    public init(klCoef: Float) { value = klCoef }
    /// Throws `ConfigurationError` unless the coefficient is finite and >= 0.
    public func validate() throws { try Validate.nonNegative(value, "FixedKLController.klCoef") }
    public mutating func update(currentKL: Float, nSteps: Int) {}
}

/// The adaptive controller of Ziegler et al. (TRL `AdaptiveKLController`): steers the KL toward
/// `target` by value *= 1 + clip(KL / target - 1, -0.2, 0.2) · nSteps / horizon.
/// Construction does not check the settings (they may come from a command line or a checkpoint):
/// call `validate()` before use.
public struct AdaptiveKLController: KLController, Codable, Equatable, Sendable {
    public private(set) var value: Float
    public let target: Float
    public let horizon: Float

    public init(initKLCoef: Float, target: Float, horizon: Float) {
        value = initKLCoef
        self.target = target
        self.horizon = horizon
    }

    /// Throws `ConfigurationError` unless the coefficient is finite and >= 0 and target and horizon are finite and > 0.
    public func validate() throws {
        try Validate.nonNegative(value, "AdaptiveKLController.initKLCoef")
        try Validate.positive(target, "AdaptiveKLController.target")
        try Validate.positive(horizon, "AdaptiveKLController.horizon")
    }

    public mutating func update(currentKL: Float, nSteps: Int) {
        let proportionalError = Swift.min(Swift.max(currentKL / target - 1, -0.2), 0.2)
        let mult = 1 + proportionalError * Float(nSteps) / horizon
        value *= mult
    }
}

/// The clipped policy surrogate and the statistics TRL logs with it.
public struct PPOPolicyLossOutput {
    /// Masked mean of max(-A·ratio, -A·clip(ratio, 1-ε, 1+ε)); differentiable in the new log-probs.
    public let loss: Tensor
    /// `policy/clipfrac`: fraction of valid tokens where the clipped term is the larger one.
    public let clipFraction: Float
    /// `policy/approxkl`: ½ · masked mean of (new - old)².
    public let approxKL: Float
    /// `policy/policykl`: masked mean of (old - new).
    public let policyKL: Float
    /// `val/ratio`: masked mean of the probability ratio.
    public let meanRatio: Float

    public var stats: [String: Float] {
        ["policy/clipfrac": clipFraction, "policy/approxkl": approxKL, "policy/policykl": policyKL, "val/ratio": meanRatio]
    }
}

/// The clipped value loss and the statistics TRL logs with it.
public struct PPOValueLossOutput {
    /// ½ · masked mean of max((v - R)², (v_clipped - R)²); differentiable in the predicted values.
    public let loss: Tensor
    /// `val/clipfrac`: fraction of valid tokens where the clipped error is the larger one.
    public let clipFraction: Float
    /// `val/error`: masked mean of (v - R)².
    public let meanSquaredError: Float

    public var stats: [String: Float] { ["val/clipfrac": clipFraction, "val/error": meanSquaredError] }
}

public enum PPO {
    // MARK: Masked statistics (TRL `masked_mean`, `masked_var`, `masked_whiten`)

    /// `x` where `mask != 0`, else 0 (differentiable in `x`; masked entries get no gradient).
    public static func masked(_ x: Tensor, _ mask: Tensor) -> Tensor {
        precondition(x.shape == mask.shape, "PPO: tensor \(x.shape) and mask \(mask.shape) must have the same shape")
        return Tensor.where(mask, x, Tensor(scalar: 0))
    }

    /// Number of valid entries of a 0/1 mask.
    public static func validCount(_ mask: Tensor) -> Int { mask.scalars.reduce(0) { $0 + ($1 != 0 ? 1 : 0) } }

    /// Mean over the entries where `mask != 0` (a 0-D tensor, differentiable). NaN when none are valid.
    public static func maskedMean(_ x: Tensor, mask: Tensor) -> Tensor {
        let n = validCount(mask)
        return masked(x, mask).sum() / Float(n)
    }

    /// Variance over the valid entries; with `unbiased` the Bessel correction n / (n - 1), TRL's default.
    /// NaN with no valid entry, and when unbiased with a single one (TRL raises in both cases).
    public static func maskedVariance(_ x: Tensor, mask: Tensor, unbiased: Bool = true) -> Tensor {
        let n = validCount(mask)
        // Centred values are masked before squaring: (NaN)² · 0 would reach the gradient.
        let centered = masked(x - maskedMean(x, mask: mask), mask)
        let variance = (centered * centered).sum() / Float(n)
        return unbiased ? variance * (Float(n) / Float(n - 1)) : variance
    }

    /// (x - mean) / sqrt(var + eps) with the masked mean and unbiased masked variance (TRL `masked_whiten`,
    /// which multiplies by rsqrt instead of dividing by sqrt); without `shiftMean` the mean is added back
    /// (TRL's reward whitening). Masked entries of the result are 0, as TRL's PPOTrainer fills them after
    /// whitening, and get no gradient whatever they held.
    public static func maskedWhiten(_ x: Tensor, mask: Tensor, shiftMean: Bool = true, eps: Float = 1e-8) -> Tensor {
        let mean = maskedMean(x, mask: mask)
        let variance = maskedVariance(x, mask: mask)
        var whitened = masked(x - mean, mask) / (variance + eps).sqrt()
        if !shiftMean { whitened = whitened + mean }
        return masked(whitened, mask)
    }

    // MARK: KL penalty and rewards

    /// The per-token KL estimate between the policy and the reference on the sampled tokens, [B, T];
    /// differentiable in both. Entries outside `mask` (when given) are 0 and get no gradient.
    public static func klPenalty(_ estimator: KLEstimator, logProbs: Tensor, referenceLogProbs: Tensor, mask: Tensor? = nil) -> Tensor {
        precondition(logProbs.shape == referenceLogProbs.shape,
                     "PPO.klPenalty: log-prob shapes \(logProbs.shape) and \(referenceLogProbs.shape) differ")
        // Masked before the arithmetic: k2's and k3's backward rules would multiply the zero gradient of
        // a masked entry by its (possibly NaN) log-ratio.
        var logRatio = logProbs - referenceLogProbs            // -log r, r = π_ref / π
        if let mask { logRatio = masked(logRatio, mask) }
        switch estimator {
        case .k1: return logRatio
        case .k2: return logRatio * logRatio * 0.5
        case .k3:
            let logR = -logRatio
            return (logR.exp() - 1) - logR
        }
    }

    /// Index of the last valid token of each row of a [B, T] mask (-1 for a row without one).
    public static func lastValidIndices(mask: Tensor) -> [Int] {
        precondition(mask.rank == 2, "PPO.lastValidIndices: mask must be [B, T], got \(mask.shape)")
        let b = mask.shape[0], t = mask.shape[1], m = mask.scalars
        return (0..<b).map { row in (0..<t).last { m[row * t + $0] != 0 } ?? -1 }
    }

    /// Per-token rewards [B, T] (a constant): -klCoef · kl on valid tokens, 0 elsewhere, plus each row's
    /// `scores[i]` at `lastIndices[i]` (default: the row's last valid token), as TRL's `compute_rewards`.
    /// A row without valid tokens (last index -1) gets no score: it has no token to train.
    public static func tokenRewards(scores: Tensor, kl: Tensor, mask: Tensor, klCoef: Float, lastIndices: [Int]? = nil) -> Tensor {
        precondition(kl.rank == 2 && kl.shape == mask.shape, "PPO.tokenRewards: kl \(kl.shape) and mask \(mask.shape) must be the same [B, T]")
        let b = kl.shape[0], t = kl.shape[1]
        precondition(scores.count == b, "PPO.tokenRewards: \(scores.count) scores for a batch of \(b)")
        let last = lastIndices ?? lastValidIndices(mask: mask)
        precondition(last.count == b, "PPO.tokenRewards: \(last.count) last indices for a batch of \(b)")
        var rewards = withNoGrad { masked(kl * -klCoef, mask) }.scalars
        for (row, (score, index)) in zip(scores.scalars, last).enumerated() where index != -1 {
            precondition(index >= 0 && index < t, "PPO.tokenRewards: row \(row) has last index \(index) outside 0..<\(t)")
            rewards[row * t + index] += score
        }
        return Tensor(rewards, shape: [b, t])
    }

    /// `tokenRewards` with the KL estimated from policy and reference log-probs.
    public static func tokenRewards(scores: Tensor, logProbs: Tensor, referenceLogProbs: Tensor, mask: Tensor, klCoef: Float,
                                    estimator: KLEstimator = .k1, lastIndices: [Int]? = nil) -> Tensor {
        let kl = withNoGrad { klPenalty(estimator, logProbs: logProbs, referenceLogProbs: referenceLogProbs, mask: mask) }
        return tokenRewards(scores: scores, kl: kl, mask: mask, klCoef: klCoef, lastIndices: lastIndices)
    }

    /// TRL's `objective/kl` and the KL fed to the adaptive controller: the per-sequence sum of the
    /// valid tokens' KL, averaged over the batch.
    public static func meanSequenceKL(_ kl: Tensor, mask: Tensor) -> Float {
        precondition(kl.rank == 2, "PPO.meanSequenceKL: kl must be [B, T], got \(kl.shape)")
        return withNoGrad { masked(kl, mask).sum(axis: 1).mean() }.item
    }

    // MARK: Generalized advantage estimation

    /// GAE over [B, T] rewards and values (constants). Rewards and values outside the mask are taken
    /// as 0, so a row's steps after its last valid token contribute nothing and the value after it
    /// is 0; going backwards, δ_t = r_t + γ V_{t+1} - V_t and A_t = δ_t + γλ A_{t+1}.
    /// Returns = advantages + values. Both outputs are 0 outside the mask; advantages are not whitened.
    public static func gae(rewards: Tensor, values: Tensor, mask: Tensor, gamma: Float, lambda: Float) -> (advantages: Tensor, returns: Tensor) {
        precondition(rewards.rank == 2 && rewards.shape == values.shape && rewards.shape == mask.shape,
                     "PPO.gae: rewards \(rewards.shape), values \(values.shape) and mask \(mask.shape) must be the same [B, T]")
        let b = rewards.shape[0], t = rewards.shape[1]
        let r = rewards.scalars, v = values.scalars, m = mask.scalars
        var advantages = [Float](repeating: 0, count: b * t), returns = advantages
        for row in 0..<b {
            var lastGAE: Float = 0, nextValue: Float = 0
            for step in stride(from: t - 1, through: 0, by: -1) {
                let i = row * t + step
                let valid = m[i] != 0
                let reward: Float = valid ? r[i] : 0, value: Float = valid ? v[i] : 0
                let delta = reward + gamma * nextValue - value
                lastGAE = delta + gamma * lambda * lastGAE
                if valid {
                    advantages[i] = lastGAE
                    returns[i] = lastGAE + value
                }
                nextValue = value
            }
        }
        return (Tensor(advantages, shape: [b, t]), Tensor(returns, shape: [b, t]))
    }

    // MARK: Losses

    /// The clipped surrogate: ratio = exp(new - old), loss = masked mean of
    /// max(-A·ratio, -A·clip(ratio, 1 - clipRange, 1 + clipRange)). Gradients flow into `newLogProbs` only.
    public static func policyLoss(newLogProbs: Tensor, oldLogProbs: Tensor, advantages: Tensor, mask: Tensor,
                                  clipRange: Float = 0.2) -> PPOPolicyLossOutput {
        precondition(newLogProbs.shape == oldLogProbs.shape && newLogProbs.shape == advantages.shape && newLogProbs.shape == mask.shape,
                     "PPO.policyLoss: shapes \(newLogProbs.shape), \(oldLogProbs.shape), \(advantages.shape), \(mask.shape) differ")
        let old = oldLogProbs.detach(), adv = masked(advantages.detach(), mask)
        // Padding may hold anything: compute the ratio only where valid.
        let logRatio = masked(newLogProbs - old, mask)
        let ratio = logRatio.exp()
        let unclipped = -adv * ratio
        let clipped = -adv * ratio.clamped(min: 1 - clipRange, max: 1 + clipRange)
        let loss = maskedMean(unclipped.maximum(clipped), mask: mask)
        return withNoGrad {
            PPOPolicyLossOutput(loss: loss,
                                clipFraction: maskedMean(clipped.gt(unclipped), mask: mask).item,
                                approxKL: 0.5 * maskedMean(logRatio * logRatio, mask: mask).item,
                                policyKL: maskedMean(-logRatio, mask: mask).item,
                                meanRatio: maskedMean(ratio, mask: mask).item)
        }
    }

    /// The clipped value loss: v_clipped = clamp(v, old - clipRange, old + clipRange),
    /// loss = ½ · masked mean of max((v - R)², (v_clipped - R)²). Gradients flow into `values` only.
    public static func valueLoss(values: Tensor, oldValues: Tensor, returns: Tensor, mask: Tensor,
                                 clipRange: Float = 0.2) -> PPOValueLossOutput {
        precondition(values.shape == oldValues.shape && values.shape == returns.shape && values.shape == mask.shape,
                     "PPO.valueLoss: shapes \(values.shape), \(oldValues.shape), \(returns.shape), \(mask.shape) differ")
        let old = oldValues.detach(), ret = masked(returns.detach(), mask)
        let v = masked(values, mask)
        // min(max(v, lo), hi) as torch.clamp: v itself, bit for bit, wherever it is inside the band.
        let vClipped = v.maximum(masked(old - clipRange, mask)).minimum(masked(old + clipRange, mask))
        let errUnclipped = (v - ret) * (v - ret)
        let errClipped = (vClipped - ret) * (vClipped - ret)
        let loss = maskedMean(errUnclipped.maximum(errClipped), mask: mask) * 0.5
        return withNoGrad {
            PPOValueLossOutput(loss: loss,
                               clipFraction: maskedMean(errClipped.gt(errUnclipped), mask: mask).item,
                               meanSquaredError: maskedMean(errUnclipped, mask: mask).item)
        }
    }
}
