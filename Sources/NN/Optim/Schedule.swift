import TensorCore
import Foundation

/// Learning rate as a function of the step (0-based), as multipliers of a base rate.
public enum LRSchedule: Codable, Equatable, Sendable {
    case constant
    /// Linear ramp from 0 (at step 0) to the base rate over `warmupSteps`, then constant
    /// (the warmup of Hugging Face's schedules).
    case linearWarmup(warmupSteps: Int)
    /// Linear warmup, then linear decay to 0 at `totalSteps` (Hugging Face's default schedule).
    case linear(warmupSteps: Int, totalSteps: Int)
    /// Linear warmup, then cosine decay to `minFactor` x base at `totalSteps`.
    case cosine(warmupSteps: Int, totalSteps: Int, minFactor: Float)

    public func factor(at step: Int) -> Float {
        func warm(_ w: Int) -> Float? { step < w ? Float(step) / Float(w) : nil }
        switch self {
        case .constant:
            return 1
        case .linearWarmup(let w):
            return warm(w) ?? 1
        case .linear(let w, let total):
            if let f = warm(w) { return f }
            return Swift.max(0, Float(total - step) / Float(Swift.max(1, total - w)))
        case .cosine(let w, let total, let minFactor):
            if let f = warm(w) { return f }
            let progress = Swift.min(1, Float(step - w) / Float(Swift.max(1, total - w)))
            return minFactor + (1 - minFactor) * 0.5 * (1 + Foundation.cos(Float.pi * progress))
        }
    }

    public func learningRate(base: Float, step: Int) -> Float { base * factor(at: step) }
}
