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
}
