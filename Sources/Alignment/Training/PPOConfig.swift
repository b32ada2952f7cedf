import Foundation
import LanguageModels

/// Settings of PPO for language models (names and defaults after TRL's PPOConfig).
public struct PPOConfig: Codable, Equatable, Sendable {
    /// Prompts sampled per rollout.
    public var rolloutBatchSize = 16
    /// Prompts sampled and scored together (TRL's local_rollout_forward_batch_size); nil: the whole
    /// rollout at once. Each chunk has its own random stream, so the streams depend on this size but
    /// not on the number of data-parallel ranks, which share the chunks out: set it to the rollout
    /// batch divided by the ranks (or less) for sampling to spread over them.
    public var rolloutChunkSize: Int? = nil
    /// Sequences per gradient step inside a rollout.
    public var miniBatchSize = 4
    /// Passes over each rollout.
    public var ppoEpochs = 4
    public var rollouts = 20
    public var learningRate: Float = 1e-5
    public var maxGradNorm: Float? = 1
    public var clipRange: Float = 0.2
    public var clipRangeValue: Float = 0.2
    public var valueCoef: Float = 0.1
    public var gamma: Float = 1
    public var lambda: Float = 0.95
    public var klCoef: Float = 0.05
    public var klEstimator: KLEstimator = .k1
    /// When set, the KL coefficient adapts towards this per-sequence KL (Ziegler et al.).
    public var targetKL: Float? = nil
    public var klHorizon: Float = 10_000
    public var whitenAdvantages = true
    /// Sampling of responses; log-probs are recomputed at this temperature.
    public var temperature: Float = 1
    public var maxNewTokens = 32
    public var seed: UInt64 = 0

    public init() {}

    /// Throws `ConfigurationError` naming the first field out of range.
    public func validate() throws {
        try Validate.positive(rolloutBatchSize, "rolloutBatchSize")
        guard !whitenAdvantages || rolloutBatchSize >= 2 else {
            throw ConfigurationError("rolloutBatchSize", "must be >= 2 when advantages are whitened (their variance needs two response tokens), "
                                     + "got \(rolloutBatchSize)")
        }
        try Validate.positive(miniBatchSize, "miniBatchSize")
        guard rolloutBatchSize % miniBatchSize == 0 else {
            throw ConfigurationError("miniBatchSize", "must divide the rollout batch size \(rolloutBatchSize), got \(miniBatchSize)")
        }
        if let rolloutChunkSize { try Validate.positive(rolloutChunkSize, "rolloutChunkSize") }
        try Validate.positive(ppoEpochs, "ppoEpochs")
        try Validate.positive(rollouts, "rollouts")
        try Validate.positive(maxNewTokens, "maxNewTokens")
        try Validate.positive(learningRate, "learningRate")
        if let maxGradNorm { try Validate.positive(maxGradNorm, "maxGradNorm") }
        try Validate.positive(clipRange, "clipRange")
        try Validate.positive(clipRangeValue, "clipRangeValue")
        try Validate.nonNegative(valueCoef, "valueCoef")
        try Validate.inRange(gamma, 0, 1, "gamma")
        try Validate.inRange(lambda, 0, 1, "lambda")
        try Validate.nonNegative(klCoef, "klCoef")
        if let targetKL { try Validate.positive(targetKL, "targetKL") }
        try Validate.positive(klHorizon, "klHorizon")
        // Log-probs are taken at the sampling temperature, so greedy sampling (0) has none.
        try Validate.positive(temperature, "temperature")
        // Prompt indices run to rollouts * rolloutBatchSize, optimizer steps to rollouts * stepsPerRollout.
        let sequences = rollouts.multipliedReportingOverflow(by: rolloutBatchSize)
        guard !sequences.overflow, !sequences.partialValue.multipliedReportingOverflow(by: ppoEpochs).overflow else {
            throw ConfigurationError("rollouts", "\(rollouts) rollouts of \(rolloutBatchSize) sequences and \(ppoEpochs) epochs overflow the step count")
        }
    }

    /// Optimizer steps per rollout.
    var stepsPerRollout: Int { ppoEpochs * (rolloutBatchSize / miniBatchSize) }
}
