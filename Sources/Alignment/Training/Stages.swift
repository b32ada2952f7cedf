import Foundation
import LanguageModels

/// Supervised fine-tuning on completions: NLL of completion tokens (EOS included).
public struct SFTStage: TrainingStage {
    public let model: any CausalLanguageModel
    public let padToken: Int
    public let reduction: SFTLossReduction

    public init(model: any CausalLanguageModel, padToken: Int, reduction: SFTLossReduction = .sequenceSum) {
        self.model = model
        self.padToken = padToken
        self.reduction = reduction
    }

    public var stageName: String { "sft" }
    public var stageSettings: [String: String] { ["lossReduction": reduction.rawValue] }

    public func units(_ examples: [TokenizedPair]) -> Int {
        reduction == .sequenceSum ? examples.count : examples.reduce(0) { $0 + $1.scoredTargetCount }
    }

    public func lossSum(_ examples: [TokenizedPair]) -> (loss: Tensor, metrics: [String: Double]) {
        let batch = Batch(examples, padToken: padToken)
        let logps = SequenceLogProbs.compute(model: model, batch: batch)
        let tokens = Double(batch.completionLengths.reduce(0, +))
        return (-logps.sum(), ["logps": Double(logps.sum().item), "completion_tokens": tokens])
    }
}

/// A prompt with a preferred and a dispreferred completion, tokenised, with optional precomputed
/// reference log-probs.
public struct PreferencePair: Equatable, Sendable {
    public var chosen: TokenizedPair
    public var rejected: TokenizedPair
    public var referenceChosen: Float?
    public var referenceRejected: Float?
    /// Margin for the reward model's Bradley-Terry loss (0 when absent).
    public var margin: Float

    public init(chosen: TokenizedPair, rejected: TokenizedPair, margin: Float = 0) {
        self.chosen = chosen
        self.rejected = rejected
        self.margin = margin
    }

    /// Tokenises a preference example; nil (counted in `report`) when either side must be skipped.
    public init?(_ example: PreferenceExample, tokenization: Tokenization, report: inout DataReport) {
        var sub = DataReport()
        guard let c = tokenization.pair(prompt: example.prompt, completion: example.chosen, report: &sub),
              let r = tokenization.pair(prompt: example.prompt, completion: example.rejected, report: &sub) else {
            report.examples += 1
            report.skipped += 1
            return nil
        }
        report.examples += 1
        if sub.truncated > 0 { report.truncated += 1 }
        self.init(chosen: c, rejected: r)
    }
}

/// Chosen and rejected sequences of `pairs` in one right-padded batch: rows 0..<B chosen, B..<2B rejected.
func concatenatedBatch(_ pairs: [PreferencePair], padToken: Int) -> Batch {
    Batch(pairs.map(\.chosen) + pairs.map(\.rejected), padToken: padToken)
}

/// Reward model training: Bradley-Terry on the scalar head read at each sequence's last token.
public struct RewardStage: TrainingStage {
    public let model: any CausalLanguageModel
    public let padToken: Int

    public init(model: any CausalLanguageModel, padToken: Int) {
        precondition(model.hasScalarHead, "RewardStage: the model needs a scalar head")
        self.model = model
        self.padToken = padToken
    }

    /// Scores [N] of each row of `batch` at its last real token.
    public static func scores(_ model: any CausalLanguageModel, _ batch: Batch) -> Tensor {
        let perToken = model.scores(fromHidden: model.hiddenStates(batch.inputIDs))  // [N, T]
        return perToken.gather(axis: 1, indices: batch.lastTokenIndices, shape: [batch.batchSize, 1]).reshaped([batch.batchSize])
    }

    public var stageName: String { "reward" }

    public func units(_ examples: [PreferencePair]) -> Int { examples.count }

    public func lossSum(_ examples: [PreferencePair]) -> (loss: Tensor, metrics: [String: Double]) {
        let n = examples.count
        let r = RewardStage.scores(model, concatenatedBatch(examples, padToken: padToken))
        let chosen = r.slice(axis: 0, 0..<n), rejected = r.slice(axis: 0, n..<(2 * n))
        let loss = bradleyTerryLoss(chosen: chosen, rejected: rejected, margin: Tensor(examples.map(\.margin))) * Float(n)
        let c = chosen.scalars, j = rejected.scalars
        return (loss, ["accuracy": Double(zip(c, j).filter { $0 > $1 }.count),
                       "margin": zip(c, j).reduce(0.0) { $0 + Double($1.0 - $1.1) }])
    }
}

/// DPO and its family. The reference is a frozen copy of the SFT model run in eval mode without
/// gradients, the model itself with its LoRA adapters disabled, or log-probs precomputed once
/// with `precomputeReference`.
public struct DPOStage: TrainingStage {
    public let model: any CausalLanguageModel
    public let referenceModel: ReferenceModel?
    public let padToken: Int
    public let loss: PreferenceLossConfig

    public init(model: any CausalLanguageModel, reference: (any CausalLanguageModel)?, padToken: Int, loss: PreferenceLossConfig) {
        self.init(model: model, referenceModel: reference.map { .separate($0) }, padToken: padToken, loss: loss)
    }

    public init(model: any CausalLanguageModel, referenceModel: ReferenceModel?, padToken: Int, loss: PreferenceLossConfig) {
        self.model = model
        self.referenceModel = referenceModel
        self.padToken = padToken
        self.loss = loss
    }

    /// The separate reference model, if that is the reference.
    public var reference: (any CausalLanguageModel)? { referenceModel?.separateModel }

    var logProbReduction: SequenceLogProbs.Reduction { loss.type.lengthNormalised ? .mean : .sum }

    /// Reference log-probs of chosen and rejected, each [B], without building a graph.
    func referenceLogProbs(_ pairs: [PreferencePair], batch: Batch) -> (Tensor, Tensor)? {
        guard loss.type.needsReference else { return nil }
        let c = pairs.compactMap(\.referenceChosen), r = pairs.compactMap(\.referenceRejected)
        if c.count == pairs.count && r.count == pairs.count { return (Tensor(c), Tensor(r)) }
        guard let referenceModel else { preconditionFailure("DPO loss '\(loss.type.rawValue)' needs a reference model or precomputed reference log-probs") }
        let lp = referenceModel.run { reference in
            SequenceLogProbs.compute(model: reference, batch: batch, reduction: logProbReduction)
        }
        let n = pairs.count
        return (lp.slice(axis: 0, 0..<n).contiguous(), lp.slice(axis: 0, n..<(2 * n)).contiguous())
    }

    /// Fills `referenceChosen/Rejected` with the reference model's log-probs, computed in batches of
    /// `batchSize` pairs laid out exactly as training lays them out.
    public func precomputeReference(_ pairs: [PreferencePair], batchSize: Int) -> [PreferencePair] {
        var out = pairs
        for start in stride(from: 0, to: pairs.count, by: batchSize) {
            let chunk = Array(pairs[start..<min(start + batchSize, pairs.count)])
            guard let (c, r) = referenceLogProbs(chunk, batch: concatenatedBatch(chunk, padToken: padToken)) else { return out }
            for (i, (a, b)) in zip(c.scalars, r.scalars).enumerated() {
                out[start + i].referenceChosen = a
                out[start + i].referenceRejected = b
            }
        }
        return out
    }

    public var stageName: String { "dpo" }
    public var stageSettings: [String: String] {
        ["lossType": loss.type.rawValue, "beta": "\(loss.beta)", "labelSmoothing": "\(loss.labelSmoothing)",
         "simpoGamma": "\(loss.simpoGamma)"]
    }

    public func units(_ examples: [PreferencePair]) -> Int { examples.count }

    public func lossSum(_ examples: [PreferencePair]) -> (loss: Tensor, metrics: [String: Double]) {
        let n = examples.count
        let batch = concatenatedBatch(examples, padToken: padToken)
        let lp = SequenceLogProbs.compute(model: model, batch: batch, reduction: logProbReduction)
        let policyChosen = lp.slice(axis: 0, 0..<n), policyRejected = lp.slice(axis: 0, n..<(2 * n))
        var chosenNLL: Tensor? = nil
        if loss.type == .orpo {
            let meanLp = loss.type.lengthNormalised ? policyChosen : policyChosen / Tensor(batch.completionLengths.prefix(n).map { Float($0) })
            chosenNLL = -meanLp
        }
        let ref = referenceLogProbs(examples, batch: batch)
        let out = PreferenceLoss.compute(loss, policyChosen: policyChosen, policyRejected: policyRejected,
                                         referenceChosen: ref?.0, referenceRejected: ref?.1, chosenNLL: chosenNLL)
        let rc = out.chosenRewards.scalars, rr = out.rejectedRewards.scalars
        let pc = withNoGrad { policyChosen.sum().item }, pr = withNoGrad { policyRejected.sum().item }
        return (out.loss * Float(n), [
            "rewards/chosen": Double(rc.reduce(0, +)),
            "rewards/rejected": Double(rr.reduce(0, +)),
            "rewards/accuracies": Double(zip(rc, rr).filter { $0 > $1 }.count),
            "rewards/margins": Double(zip(rc, rr).reduce(0) { $0 + $1.0 - $1.1 }),
            "logps/chosen": Double(pc),
            "logps/rejected": Double(pr),
        ])
    }
}
