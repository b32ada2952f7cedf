import Foundation
import NN

/// A transformers config.json as a JSON object; an unreadable file or anything but an object is a
/// thrown error naming the file.
enum ConfigJSON {
    static func read(_ url: URL) throws -> [String: Any] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw SafeTensorsError(file: url.path, reason: "cannot read: \(SafeTensors.systemReason(error))")
        }
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw SafeTensorsError(file: url.path, reason: "not a JSON object")
        }
        return json
    }

    /// The field's value, nil when it is absent or null (transformers' default then applies).
    static func value(_ key: String, in object: [String: Any]) -> Any? { object[key].flatMap { $0 is NSNull ? nil : $0 } }

    /// A boolean field, nil when absent or null; anything else is an error naming `setting`.
    static func flag(_ key: String, in object: [String: Any], setting: String) throws -> Bool? {
        guard let raw = value(key, in: object) else { return nil }
        guard let n = raw as? NSNumber, JSONValue.isBoolean(n) else {
            throw ConfigurationError(setting, "must be true or false, got \(JSONValue.describe(raw))")
        }
        return n.boolValue
    }
}
