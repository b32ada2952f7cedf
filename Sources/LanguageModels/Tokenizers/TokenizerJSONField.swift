import Foundation

/// A value inside a parsed JSON file together with its path, so every error names file and field.
struct JSONField {
    /// nil when the field is absent.
    let value: TokenizerJSON?
    let path: String
    let file: String

    static func parse(_ url: URL) throws -> JSONField {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw TokenizerFileError(file: url.path, field: "", reason: "no such file")
        }
        guard !isDirectory.boolValue else { throw TokenizerFileError(file: url.path, field: "", reason: "is a directory, not a JSON file") }
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw TokenizerFileError(file: url.path, field: "", reason: "cannot be read (permissions?)")
        }
        do { return JSONField(value: try TokenizerJSONParser.parse(Array(data)), path: "", file: url.path) } catch let e as TokenizerJSONSyntaxError {
            throw TokenizerFileError(file: "\(url.path):\(e.line)", field: "", reason: "not valid JSON: \(e.reason)")
        }
    }

    func error(_ reason: String) -> TokenizerFileError { TokenizerFileError(file: file, field: path, reason: reason) }

    var isNull: Bool {
        if case .null = value ?? .null { return true }
        return false
    }

    func has(_ key: String) -> Bool {
        if case .object(let o) = value, o[key] != nil { return true }
        return false
    }

    subscript(key: String) -> JSONField {
        var child: TokenizerJSON? = nil
        if case .object(let o) = value { child = o[key] }
        return JSONField(value: child, path: path.isEmpty ? key : "\(path).\(key)", file: file)
    }

    /// The members of an object, in file order, each with its own path.
    func members() throws -> [(key: String, field: JSONField)] {
        guard case .object(let o) = value else { throw error(isNull ? "is missing" : "must be a JSON object") }
        return o.members.map { ($0.key, JSONField(value: $0.value, path: path.isEmpty ? $0.key : "\(path).\($0.key)", file: file)) }
    }

    func requireObject() throws {
        guard case .object = value else { throw error(isNull ? "is missing" : "must be a JSON object") }
    }

    func array() throws -> [JSONField] {
        guard case .array(let a) = value else { throw error(isNull ? "is missing" : "must be a JSON array") }
        return a.enumerated().map { JSONField(value: $1, path: "\(path)[\($0)]", file: file) }
    }

    var stringValue: String? {
        if case .string(let s) = value { return s }
        return nil
    }

    func string() throws -> String {
        guard let s = stringValue else { throw error(isNull ? "is missing" : "must be a string") }
        return s
    }

    func optionalString() throws -> String? { isNull ? nil : try string() }

    func bool(default fallback: Bool) throws -> Bool {
        if isNull { return fallback }
        guard case .bool(let b) = value else { throw error("must be true or false") }
        return b
    }

    func int() throws -> Int {
        guard case .number(let d, let integer) = value else { throw error(isNull ? "is missing" : "must be an integer") }
        if let integer { return integer }
        guard d == d.rounded(), abs(d) < 1e15 else { throw error("must be an integer, not \(d)") }
        return Int(d)
    }

    var doubleValue: Double? {
        if case .number(let d, _) = value { return d }
        return nil
    }

    /// The `type` field of a tagged component (normalizer, pre-tokenizer, decoder, ...).
    func typeName() throws -> String {
        try requireObject()
        return try self["type"].string()
    }
}
