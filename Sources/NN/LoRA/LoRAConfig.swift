import Foundation

/// Which linear layers get adapters, with PEFT's `target_modules` semantics: a list of names
/// matches a module whose dotted name equals a name or ends with `.name`; a single pattern is a
/// regular expression that must match the whole dotted name.
public enum LoRATargets: Equatable, Sendable {
    case names([String])
    case regex(String)

    /// Whether the module at `path` (dotted, as transformers names it) is a target.
    func matches(_ path: String, name: String) throws -> Bool {
        switch self {
        case .names:
            return path == name || path.hasSuffix("." + name)
        case .regex(let pattern):
            let re = try LoRATargets.compile(pattern)
            let range = NSRange(path.startIndex..., in: path)
            guard let m = re.firstMatch(in: path, options: [.anchored], range: range) else { return false }
            return m.range == range
        }
    }

    static func compile(_ pattern: String) throws -> NSRegularExpression {
        do { return try NSRegularExpression(pattern: pattern) } catch {
            throw ConfigurationError("target_modules", "'\(pattern)' is not a valid regular expression")
        }
    }

    /// The patterns, one per entry of a list or the single regex.
    public var patterns: [String] {
        switch self {
        case .names(let names): return names
        case .regex(let pattern): return [pattern]
        }
    }
}

/// Rank, scaling, dropout and targets of LoRA adapters (PEFT's `LoraConfig` for the options this
/// implementation supports: no rsLoRA, no DoRA, bias "none").
public struct LoRAConfig: Equatable, Sendable {
    public var rank: Int
    public var alpha: Float
    public var dropout: Float
    public var targets: LoRATargets

    public init(rank: Int, alpha: Float, dropout: Float = 0, targets: LoRATargets) {
        self.rank = rank
        self.alpha = alpha
        self.dropout = dropout
        self.targets = targets
    }

    /// The largest rank accepted before the layers are known (applying also bounds it by their sides).
    public static let maxRank = Int(Int32.max)

    /// alpha / r, the factor on B A x.
    public var scaling: Float { alpha / Float(rank) }

    /// Throws a `ConfigurationError` naming the setting (with `naming`, e.g. "--lora-rank") and what is allowed.
    public func validate(naming: (String) -> String = { $0 }) throws {
        guard rank >= 1 && rank <= LoRAConfig.maxRank else {
            throw ConfigurationError(naming("r"), "must be in 1...\(LoRAConfig.maxRank), got \(rank)")
        }
        guard alpha.isFinite && alpha > 0 else { throw ConfigurationError(naming("lora_alpha"), "must be finite and > 0, got \(alpha)") }
        guard dropout.isFinite && dropout >= 0 && dropout < 1 else {
            throw ConfigurationError(naming("lora_dropout"), "must be in [0, 1), got \(dropout)")
        }
        switch targets {
        case .names(let names):
            guard !names.isEmpty else { throw ConfigurationError(naming("target_modules"), "must name at least one module, got an empty list") }
            if let bad = names.first(where: { $0.isEmpty || $0.hasPrefix(".") || $0.hasSuffix(".") }) {
                throw ConfigurationError(naming("target_modules"), "'\(bad)' is not a module name (non-empty, no leading or trailing '.')")
            }
        case .regex(let pattern):
            guard !pattern.isEmpty else { throw ConfigurationError(naming("target_modules"), "must not be an empty pattern") }
            _ = try LoRATargets.compile(pattern)
        }
    }
}
