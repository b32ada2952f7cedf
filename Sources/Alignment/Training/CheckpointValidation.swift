import Foundation
import LanguageModels

/// What a trainer writes to `trainer_state.json` and checks when it resumes.
protocol TrainerState: Codable {
    /// "sft", "reward", "dpo", "ppo" or a custom stage's name; resuming another stage is refused.
    var stage: String { get }
    /// Steps (or rollouts) completed.
    var position: Int { get }
    /// Optimizer steps taken after `position` steps, checked against `optimizer.safetensors`.
    var optimizerSteps: Int { get }
    /// Throws `ConfigurationError` naming `file` and the field when a value is unusable.
    func validate(file: String) throws
    /// The settings of the saved run (`self`) that differ from the current run's.
    func differences(from current: Self) -> [String]
}

/// Checks of what a resume reads, each failure naming the file and the field.
enum CheckpointValidation {
    /// Decodes `T`, turning a `DecodingError` into a `ConfigurationError` naming the file and field.
    static func decode<T: Decodable>(_ type: T.Type, from data: Data, file: String) throws -> T {
        do { return try JSONDecoder().decode(T.self, from: data) } catch let error as DecodingError {
            func path(_ keys: [CodingKey]) -> String {
                keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            }
            switch error {
            case .keyNotFound(let key, let context):
                throw ConfigurationError("\(file): \(path(context.codingPath + [key]))", "is missing")
            case .valueNotFound(let type, let context):
                throw ConfigurationError("\(file): \(path(context.codingPath))", "is null, expected \(type)")
            case .typeMismatch(let type, let context):
                throw ConfigurationError("\(file): \(path(context.codingPath))", "has the wrong type, expected \(type)")
            case .dataCorrupted(let context) where context.codingPath.isEmpty:
                throw ConfigurationError(file, "is not valid JSON")
            case .dataCorrupted(let context):
                throw ConfigurationError("\(file): \(path(context.codingPath))", "has an invalid value")
            @unknown default:
                throw ConfigurationError(file, "cannot be read")
            }
        }
    }

    /// A xoshiro256 state: four words, not all zero (the all-zero state only ever yields zeros).
    static func generatorState(_ state: [UInt64], _ field: String, file: String) throws {
        guard state.count == 4, state.contains(where: { $0 != 0 }) else {
            throw ConfigurationError("\(file): \(field)", "must be four 64-bit words, not all zero; got \(state)")
        }
    }

    static func randomStates(_ states: [String: [UInt64]], file: String) throws {
        for (name, state) in states.sorted(by: { $0.key < $1.key }) {
            try generatorState(state, "randomState.\(name)", file: file)
        }
    }

    /// "name: checkpoint X, this run Y" for every stored property of two values of one type that
    /// differs, skipping `ignoring` (settings that do not change what is trained, like saveEvery).
    static func differences<T>(_ saved: T, _ current: T, prefix: String = "", ignoring: Set<String> = []) -> [String] {
        let a = Mirror(reflecting: saved).children, b = Mirror(reflecting: current).children
        return zip(a, b).compactMap { x, y in
            guard let label = x.label, !ignoring.contains(label) else { return nil }
            let old = describe(x.value), new = describe(y.value)
            return old == new ? nil : "\(prefix)\(label): checkpoint \(old), this run \(new)"
        }
    }

    static func differences(_ saved: [String: String], _ current: [String: String], prefix: String) -> [String] {
        Set(saved.keys).union(current.keys).sorted().compactMap { key in
            let old = saved[key] ?? "none", new = current[key] ?? "none"
            return old == new ? nil : "\(prefix)\(key): checkpoint \(old), this run \(new)"
        }
    }

    /// Optionals as their wrapped value or "none".
    static func describe(_ value: Any) -> String {
        let mirror = Mirror(reflecting: value)
        guard mirror.displayStyle == .optional else { return "\(value)" }
        return mirror.children.first.map { describe($0.value) } ?? "none"
    }

    /// Every tensor finite; `step` a whole number equal to the optimizer steps of the trainer state.
    static func optimizerState(_ tensors: [String: Tensor], file: String, expectedSteps: Int) throws {
        for (name, tensor) in tensors.sorted(by: { $0.key < $1.key }) where !tensor.scalars.allSatisfy(\.isFinite) {
            throw ConfigurationError("\(file): \(name)", "contains NaN or infinite values")
        }
        guard let step = tensors["step"], step.count == 1 else { throw ConfigurationError("\(file): step", "is missing") }
        let value = step.scalars[0]
        guard value == Float(expectedSteps) else {
            throw ConfigurationError("\(file): step", "is \(value), but trainer_state.json implies \(expectedSteps) optimizer steps")
        }
    }

    static func finiteParameters(_ model: any CausalLanguageModel, file: String) throws {
        for (name, tensor) in model.namedParameters() where !tensor.scalars.allSatisfy(\.isFinite) {
            throw ConfigurationError("\(file): \(name)", "contains NaN or infinite values")
        }
    }
}
