import Foundation
import TensorCore

/// The optimizer a trainer builds, with PyTorch's semantics.
public enum OptimizerKind: String, Codable, CaseIterable, Sendable {
    case adamw, adam, rmsprop, sgd
}

/// Settings every training stage shares. Defaults follow TRL where it has one.
public struct TrainerConfig: Codable, Equatable, Sendable {
    public var learningRate: Float = 5e-5
    public var optimizer: OptimizerKind = .adamw
    public var weightDecay: Float = 0
    public var warmupSteps: Int = 0
    /// "constant", "linear" (warmup then linear decay to 0) or "cosine" (to 10%).
    public var schedule: String = "constant"
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

    public func validate() throws {
        func bad(_ s: String) -> DataError { DataError(file: "<config>", line: 0, reason: s) }
        guard learningRate > 0 else { throw bad("learning rate must be positive, got \(learningRate)") }
        guard epochs >= 1 else { throw bad("epochs must be at least 1") }
        guard batchSize >= 1, gradientAccumulation >= 1, batchSize % gradientAccumulation == 0 else {
            throw bad("batch size \(batchSize) must be a positive multiple of gradient accumulation \(gradientAccumulation)")
        }
        guard ["constant", "linear", "cosine"].contains(schedule) else { throw bad("unknown schedule '\(schedule)' (constant, linear, cosine)") }
    }

    func makeSchedule(totalSteps: Int) -> LRSchedule {
        switch schedule {
        case "linear": return .linear(warmupSteps: warmupSteps, totalSteps: totalSteps)
        case "cosine": return .cosine(warmupSteps: warmupSteps, totalSteps: totalSteps, minFactor: 0.1)
        default: return warmupSteps > 0 ? .linearWarmup(warmupSteps: warmupSteps) : .constant
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
