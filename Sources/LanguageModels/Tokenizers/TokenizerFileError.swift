/// A tokenizer.json or tokenizer_config.json that cannot be used: names the file, the JSON field path
/// (e.g. `model.merges[12]`) and what is wrong or what is allowed.
public struct TokenizerFileError: Error, CustomStringConvertible, Equatable, Sendable {
    public let file: String
    public let field: String
    public let reason: String

    public init(file: String, field: String, reason: String) {
        self.file = file
        self.field = field
        self.reason = reason
    }

    public var description: String { field.isEmpty ? "\(file): \(reason)" : "\(file): \(field): \(reason)" }
}
