import TensorCore
import Foundation

/// Reading numbers out of `JSONSerialization` results, which hands booleans, integers and
/// floating-point numbers all back as `NSNumber`.
package enum JSONValue {
    /// The value as an `Int` when it is a JSON integer (or an integral float such as `2.0`) that
    /// fits; nil for booleans, fractions, out-of-range numbers and non-numbers.
    package static func integer(_ any: Any) -> Int? {
        guard let n = any as? NSNumber, !isBoolean(n) else { return nil }
        return n as? Int
    }

    /// The value as a `Double` when it is a JSON number (not a boolean).
    package static func number(_ any: Any) -> Double? {
        guard let n = any as? NSNumber, !isBoolean(n) else { return nil }
        return n.doubleValue
    }

    package static func isBoolean(_ n: NSNumber) -> Bool { String(cString: n.objCType) == "c" }

    /// How a value looks in the file, for error messages: `"12"` for a string, `null`, `1.5`, `true`.
    package static func describe(_ any: Any) -> String {
        switch any {
        case let s as String: return "the string \"\(s)\""
        case is NSNull: return "null"
        case let n as NSNumber: return isBoolean(n) ? (n.boolValue ? "true" : "false") : "\(n)"
        case is [Any]: return "an array"
        default: return "an object"
        }
    }
}
