import Foundation
import LanguageModels

/// A JSONL line that cannot be used, named by file and 1-based line number (0 when the problem is
/// the file as a whole).
public struct DataError: Error, CustomStringConvertible, Equatable, Sendable {
    public let file: String
    public let line: Int
    public let reason: String
    public var description: String { line > 0 ? "\(file):\(line): \(reason)" : "\(file): \(reason)" }

    public init(file: String, line: Int, reason: String) {
        self.file = file
        self.line = line
        self.reason = reason
    }
}

/// `{"prompt", "completion"}`, TRL's prompt-completion format for SFT.
public struct SFTExample: Equatable, Sendable {
    public var prompt: String
    public var completion: String
    public init(prompt: String, completion: String) { self.prompt = prompt; self.completion = completion }
}

/// `{"prompt", "chosen", "rejected"}`, TRL's preference format.
public struct PreferenceExample: Equatable, Sendable {
    public var prompt: String
    public var chosen: String
    public var rejected: String
    public init(prompt: String, chosen: String, rejected: String) { self.prompt = prompt; self.chosen = chosen; self.rejected = rejected }
}

/// Reads TRL-style JSONL files. Blank lines are skipped; every other line must be a JSON object
/// with the required string fields (or, with a chat template, message lists: ConversationalJSONL.swift),
/// and completions must not be empty. LF and CRLF line endings and a leading UTF-8 byte-order mark
/// are accepted.
public enum JSONL {
    /// Each non-blank line as a JSON object with its 1-based line number; a file without any is an error.
    public static func objects(at path: String) throws -> [(line: Int, object: [String: Any])] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw DataError(file: path, line: 0, reason: "no such file")
        }
        guard !isDirectory.boolValue else { throw DataError(file: path, line: 0, reason: "is a directory, not a JSONL file") }
        guard var data = FileManager.default.contents(atPath: path) else {
            throw DataError(file: path, line: 0, reason: "cannot be read (permissions?)")
        }
        if data.starts(with: [0xEF, 0xBB, 0xBF]) { data.removeFirst(3) }
        var out: [(Int, [String: Any])] = []
        for (i, raw) in data.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            guard let text = String(data: Data(raw), encoding: .utf8) else {
                throw DataError(file: path, line: i + 1, reason: "not UTF-8 text")
            }
            let line = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty { continue }
            guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
                throw DataError(file: path, line: i + 1, reason: "not a JSON object")
            }
            out.append((i + 1, object))
        }
        guard !out.isEmpty else { throw DataError(file: path, line: 0, reason: "has no JSON lines (the file is empty)") }
        return out
    }

    static func string(_ object: [String: Any], _ key: String, file: String, line: Int, allowEmpty: Bool = true) throws -> String {
        guard let value = object[key] else { throw DataError(file: file, line: line, reason: "missing field \"\(key)\"") }
        guard let s = value as? String else { throw DataError(file: file, line: line, reason: "field \"\(key)\" is not a string") }
        if !allowEmpty && s.isEmpty { throw DataError(file: file, line: line, reason: "field \"\(key)\" is empty") }
        return s
    }

    /// Writes one JSON object per line (sorted keys), atomically.
    public static func write(_ rows: [[String: Any]], to path: String) throws {
        var data = Data()
        for (i, row) in rows.enumerated() {
            guard JSONSerialization.isValidJSONObject(row),
                  let line = try? JSONSerialization.data(withJSONObject: row, options: [.sortedKeys]) else {
                throw DataError(file: path, line: i + 1, reason: "row cannot be written as JSON (a NaN or infinite number?)")
            }
            data.append(line)
            data.append(0x0A)
        }
        try SafeTensors.atomicWrite(data, to: URL(fileURLWithPath: path))
    }
}
