import LanguageModels

/// The DPO family of preference losses, selectable by name (the names TRL uses).
public enum PreferenceLossType: String, Codable, CaseIterable, Sendable {
    /// -log σ(β·h), h = policy log-ratio minus reference log-ratio (Rafailov et al.); with label
    /// smoothing ε > 0 conservative DPO, as TRL: -(1-ε)·log σ(βh) - ε·log σ(-βh).
    case sigmoid
    /// Sigmoid DPO against labels flipped with probability `labelSmoothing` (conservative DPO, cDPO);
    /// the same loss as `sigmoid` with label smoothing.
    case conservative
    /// (h - 1/(2β))², identity preference optimisation (Azar et al.).
    case ipo
    /// max(0, 1 - β·h) (SLiC-style hinge).
    case hinge
    /// Unbiased under label noise ε: ((1-ε)·(-log σ(βh)) - ε·(-log σ(-βh))) / (1 - 2ε) (Chowdhury et al.).
    case robust
    /// Sigmoid DPO (conservative with label smoothing) with the reference log-ratio taken as 0 (TRL's `reference_free`).
    case referenceFree = "reference_free"
    /// Length-normalised, reference-free: -log σ(β·(ā_c - ā_r) - γ) (Meng et al.); conservative with
    /// label smoothing, as TRL's CPOTrainer.
    case simpo
    /// Odds-ratio preference optimisation: NLL(chosen) - β·log σ(log-odds ratio) (Hong et al.).
    case orpo

    /// Whether the loss compares against a reference model.
    public var needsReference: Bool { ![.referenceFree, .simpo, .orpo].contains(self) }
    /// Whether the loss uses mean (length-normalised) sequence log-probs, as TRL computes them.
    public var lengthNormalised: Bool { [.ipo, .simpo, .orpo].contains(self) }
    /// Whether the loss uses `labelSmoothing`. TRL ignores it, with a warning, for hinge and IPO, and
    /// ORPO has none; a nonzero value for these is refused rather than ignored.
    public var usesLabelSmoothing: Bool { ![.ipo, .hinge, .orpo].contains(self) }
}

/// Hyperparameters of a preference loss.
public struct PreferenceLossConfig: Codable, Equatable, Sendable {
    public var type: PreferenceLossType = .sigmoid
    public var beta: Float = 0.1
    /// ε of conservative and robust DPO.
    public var labelSmoothing: Float = 0
    /// γ of SimPO (a target reward margin).
    public var simpoGamma: Float = 0.5

    public init(type: PreferenceLossType = .sigmoid, beta: Float = 0.1, labelSmoothing: Float = 0, simpoGamma: Float = 0.5) {
        self.type = type
        self.beta = beta
        self.labelSmoothing = labelSmoothing
        self.simpoGamma = simpoGamma
    }

    /// Throws `ConfigurationError` naming the field unless β is finite and > 0, label smoothing is in
    /// [0, 0.5) (robust DPO divides by 1 - 2ε) and 0 for losses that do not use it, and γ is finite.
    public func validate() throws {
        try Validate.positive(beta, "PreferenceLossConfig.beta")
        try Validate.inRange(labelSmoothing, 0, 0.5, "PreferenceLossConfig.labelSmoothing", includeUpper: false)
        if labelSmoothing != 0 && !type.usesLabelSmoothing {
            throw ConfigurationError("PreferenceLossConfig.labelSmoothing",
                                     "must be 0 for loss type \(type.rawValue), which does not use it, got \(labelSmoothing)")
        }
        try Validate.finite(simpoGamma, "PreferenceLossConfig.simpoGamma")
    }
}

/// Per-example losses and the implicit rewards TRL reports.
public struct PreferenceLossOutput {
    /// Mean over the batch (the quantity to differentiate).
    public let loss: Tensor
    /// β·(policy - reference) log-prob of each chosen / rejected completion (β·policy when reference-free).
    public let chosenRewards: Tensor
    public let rejectedRewards: Tensor
}

public enum PreferenceLoss {
    /// - Parameters: policy and reference log-probs of chosen and rejected completions, each [B].
    ///   For ORPO, `chosenNLL` is the per-example mean NLL of the chosen completion.
    /// `config` is assumed valid (`validate()`); a loss that needs reference log-probs or the NLL must get
    /// them (DPOStage always passes them), otherwise that is a programming error.
    public static func compute(_ config: PreferenceLossConfig, policyChosen: Tensor, policyRejected: Tensor,
                               referenceChosen: Tensor?, referenceRejected: Tensor?, chosenNLL: Tensor? = nil) -> PreferenceLossOutput {
        let beta = config.beta, eps = config.labelSmoothing
        let policyRatio = policyChosen - policyRejected
        var h = policyRatio
        if config.type.needsReference {
            guard let rc = referenceChosen, let rr = referenceRejected else {
                preconditionFailure("PreferenceLoss.compute: loss '\(config.type.rawValue)' needs referenceChosen and referenceRejected")
            }
            h = policyRatio - (rc - rr)
        }
        let losses: Tensor
        switch config.type {
        case .sigmoid, .referenceFree, .conservative:
            losses = eps > 0 ? conservativeSigmoid(h * beta, eps) : -(h * beta).logSigmoid()
        case .robust:
            let agree: Tensor = (h * beta).logSigmoid() * (eps - 1)
            let flipped: Tensor = (h * -beta).logSigmoid() * eps
            losses = (agree + flipped) / (1 - 2 * eps)
        case .ipo:
            let d = h - 1 / (2 * beta)
            losses = d * d
        case .hinge:
            losses = (1 - h * beta).relu()
        case .simpo:
            losses = conservativeSigmoid(h * beta - config.simpoGamma, eps)
        case .orpo:
            guard let chosenNLL else { preconditionFailure("PreferenceLoss.compute: loss 'orpo' needs chosenNLL") }
            // log odds(p) = log p - log(1 - p), with p the mean per-token probability exp(logp).
            let logOdds = policyRatio - (log1mExp(policyChosen) - log1mExp(policyRejected))
            losses = chosenNLL - logOdds.logSigmoid() * beta
        }
        let chosenRewards: Tensor, rejectedRewards: Tensor
        if config.type.needsReference, let rc = referenceChosen, let rr = referenceRejected {
            chosenRewards = withNoGrad { (policyChosen - rc) * beta }
            rejectedRewards = withNoGrad { (policyRejected - rr) * beta }
        } else {
            chosenRewards = withNoGrad { policyChosen * beta }
            rejectedRewards = withNoGrad { policyRejected * beta }
        }
        return PreferenceLossOutput(loss: losses.mean(), chosenRewards: chosenRewards, rejectedRewards: rejectedRewards)
    }

    /// -(1-ε)·log σ(z) - ε·log σ(-z): the sigmoid loss against labels flipped with probability ε (TRL's cDPO form).
    static func conservativeSigmoid(_ z: Tensor, _ eps: Float) -> Tensor {
        let agree: Tensor = z.logSigmoid() * (eps - 1)
        let flipped: Tensor = (-z).logSigmoid() * eps
        return agree - flipped
    }

    /// log(1 - exp(x)) for x < 0, differentiable; expm1 keeps float32 precision for x near 0, where
    /// 1 - exp(x) cancels.
    static func log1mExp(_ x: Tensor) -> Tensor { (-x.expm1()).log() }
}

/// Bradley-Terry loss of a reward model on (chosen, rejected) scores [B]: -log σ(r_c - r_r - margin).
public func bradleyTerryLoss(chosen: Tensor, rejected: Tensor, margin: Tensor? = nil) -> Tensor {
    var diff = chosen - rejected
    if let margin { diff = diff - margin }
    return -diff.logSigmoid().mean()
}

/// SFT loss from per-sequence completion log-probs [B] and each row's scored targets (`Batch.scoredTargetCounts`).
public enum SFTLossReduction: String, Codable, Sendable {
    /// Sum of token NLL per sequence, averaged over sequences (the paper's choice).
    case sequenceSum = "sequence_sum"
    /// Mean NLL over all scored completion tokens of the batch.
    case tokenMean = "token_mean"
}

public func sftLoss(sequenceLogProbs: Tensor, scoredTargetCounts: [Int], reduction: SFTLossReduction) -> Tensor {
    switch reduction {
    case .sequenceSum: return -sequenceLogProbs.mean()
    case .tokenMean: return -sequenceLogProbs.sum() / Float(max(scoredTargetCounts.reduce(0, +), 1))
    }
}
