/// A setting outside what it allows: a command-line option, a field of config.json or of a
/// checkpoint's trainer state, a field of a configuration struct. Thrown before the setting is
/// used, so no precondition is ever reached from user input.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable, Sendable {
    /// Where the setting came from, as the user would find it: "--lr", "config.json: n_head",
    /// "checkpoint/trainer_state.json: step", "TrainerConfig.batchSize".
    public let setting: String
    /// What is wrong and what is allowed: "must be finite and > 0, got nan".
    public let reason: String

    public init(_ setting: String, _ reason: String) {
        self.setting = setting
        self.reason = reason
    }

    public var description: String { "\(setting): \(reason)" }
}

/// Range checks that throw `ConfigurationError` naming the setting and the allowed range.
public enum Validate {
    /// `value >= 1`.
    public static func positive(_ value: Int, _ setting: String) throws {
        guard value >= 1 else { throw ConfigurationError(setting, "must be >= 1, got \(value)") }
    }

    /// `value >= 0`.
    public static func nonNegative(_ value: Int, _ setting: String) throws {
        guard value >= 0 else { throw ConfigurationError(setting, "must be >= 0, got \(value)") }
    }

    /// `range.contains(value)`.
    public static func inRange(_ value: Int, _ range: ClosedRange<Int>, _ setting: String) throws {
        guard range.contains(value) else {
            throw ConfigurationError(setting, "must be in \(range.lowerBound)...\(range.upperBound), got \(value)")
        }
    }

    /// Finite.
    public static func finite(_ value: Float, _ setting: String) throws {
        guard value.isFinite else { throw ConfigurationError(setting, "must be finite, got \(value)") }
    }

    /// Finite and `> 0`.
    public static func positive(_ value: Float, _ setting: String) throws {
        guard value.isFinite && value > 0 else { throw ConfigurationError(setting, "must be finite and > 0, got \(value)") }
    }

    /// Finite and `>= 0`.
    public static func nonNegative(_ value: Float, _ setting: String) throws {
        guard value.isFinite && value >= 0 else { throw ConfigurationError(setting, "must be finite and >= 0, got \(value)") }
    }

    /// Finite and in `lower ... upper` (each end included or not as asked).
    public static func inRange(_ value: Float, _ lower: Float, _ upper: Float, _ setting: String,
                               includeLower: Bool = true, includeUpper: Bool = true) throws {
        let aboveLower = includeLower ? value >= lower : value > lower
        let belowUpper = includeUpper ? value <= upper : value < upper
        guard value.isFinite && aboveLower && belowUpper else {
            let interval = "\(includeLower ? "[" : "(")\(lower), \(upper)\(includeUpper ? "]" : ")")"
            throw ConfigurationError(setting, "must be in \(interval), got \(value)")
        }
    }
}
