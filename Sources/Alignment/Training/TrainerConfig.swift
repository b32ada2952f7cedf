import Foundation
import LanguageModels

/// The optimizer a trainer builds, with PyTorch's semantics.
public enum OptimizerKind: String, Codable, CaseIterable, Sendable {
    case adamw, adam, rmsprop, sgd
}

/// The learning-rate schedule after warmup.
public enum ScheduleKind: String, Codable, CaseIterable, Sendable {
    /// Constant (after a linear warmup when warmupSteps > 0).
    case constant
    /// Warmup, then linear decay to 0.
    case linear
    /// Warmup, then cosine decay to 10%.
    case cosine
}

/// Settings every training stage shares. Defaults follow TRL where it has one.
public struct TrainerConfig: Codable, Equatable, Sendable {
    public var learningRate: Float = 5e-5
    public var optimizer: OptimizerKind = .adamw
    public var weightDecay: Float = 0
    public var warmupSteps: Int = 0
    public var schedule: ScheduleKind = .constant
    public var epochs: Int = 1
    /// Examples per optimizer step.
    public var batchSize: Int = 8
    /// Micro-batches per optimizer step (each of batchSize / gradientAccumulation examples).
    public var gradientAccumulation: Int = 1
    /// Global gradient-norm clip; nil disables it.
    public var maxGradNorm: Float? = 1
    /// Run the evaluation callback every N steps (nil: never).
    public var evalEvery: Int? = nil
    /// Save a resumable checkpoint every N steps (nil: only at the end, when an output directory is set).
    public var saveEvery: Int? = nil
    /// Seeds data order and sampling.
    public var seed: UInt64 = 0

    public init() {}

    /// Throws `ConfigurationError` naming the first field out of range.
    public func validate() throws {
        try Validate.positive(learningRate, "learningRate")
        try Validate.nonNegative(weightDecay, "weightDecay")
        try Validate.nonNegative(warmupSteps, "warmupSteps")
        try Validate.positive(epochs, "epochs")
        try Validate.positive(batchSize, "batchSize")
        try Validate.positive(gradientAccumulation, "gradientAccumulation")
        guard batchSize % gradientAccumulation == 0 else {
            throw ConfigurationError("gradientAccumulation", "must divide batchSize \(batchSize), got \(gradientAccumulation)")
        }
        if let maxGradNorm { try Validate.positive(maxGradNorm, "maxGradNorm") }
        if let evalEvery { try Validate.positive(evalEvery, "evalEvery") }
        if let saveEvery { try Validate.positive(saveEvery, "saveEvery") }
    }

    func makeSchedule(totalSteps: Int) -> LRSchedule {
        switch schedule {
        case .linear: return .linear(warmupSteps: warmupSteps, totalSteps: totalSteps)
        case .cosine: return .cosine(warmupSteps: warmupSteps, totalSteps: totalSteps, minFactor: 0.1)
        case .constant: return warmupSteps > 0 ? .linearWarmup(warmupSteps: warmupSteps) : .constant
        }
    }

    func makeOptimizer(_ parameters: [Tensor]) -> Optimizer {
        switch optimizer {
        case .adamw: return Adam.adamW(parameters, learningRate: learningRate, weightDecay: weightDecay)
        case .adam: return Adam(parameters, learningRate: learningRate, weightDecay: weightDecay)
        case .rmsprop: return RMSprop(parameters, learningRate: learningRate, weightDecay: weightDecay)
        case .sgd: return SGD(parameters, learningRate: learningRate, weightDecay: weightDecay)
        }
    }
}
