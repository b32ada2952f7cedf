import Foundation

/// A loss, gradient norm or other metric that is NaN or infinite: training stops before the
/// optimizer applies the step, and nothing non-finite is written to the checkpoint.
public struct NonFiniteMetricError: Error, CustomStringConvertible, Equatable, Sendable {
    /// "step" or "rollout".
    public let unit: String
    /// The step (or rollout) that produced the value, counted from 1.
    public let position: Int
    /// The metric's name as in metrics.jsonl: "loss", "grad_norm", "objective/scores", ...
    public let metric: String
    public let value: Double

    public var description: String {
        "\(unit) \(position): \(metric) is \(value.isNaN ? "nan" : "\(value)"); training stopped (the checkpoint, if any, is from before this \(unit)). "
            + "Lower the learning rate or check the settings and data."
    }
}

/// A checkpoint written by a run with other settings than the current one: resuming it would
/// silently train something else, so it is refused with the list of differences.
public struct CheckpointMismatchError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The checkpoint directory.
    public let checkpoint: String
    /// One entry per setting: "learningRate: checkpoint 0.001, this run 0.002".
    public let differences: [String]

    public var description: String {
        "\(checkpoint) was written with other settings; rerun with the checkpoint's settings or use another output directory:\n"
            + differences.map { "  \($0)" }.joined(separator: "\n")
    }
}
