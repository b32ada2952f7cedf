import Foundation

/// The normalizers of tokenizer.json this package supports.
indirect enum Normalizer: Sendable {
    case nfc, nfd, nfkc, nfkd, lowercase
    case prepend([UInt8])
    case replace(pattern: [UInt8], content: [UInt8])
    case sequence([Normalizer])

    static let supported = "NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace (with a String pattern), Sequence"

    init(_ j: JSONField) throws {
        switch try j.typeName() {
        case "NFC": self = .nfc
        case "NFD": self = .nfd
        case "NFKC": self = .nfkc
        case "NFKD": self = .nfkd
        case "Lowercase": self = .lowercase
        case "Prepend": self = .prepend(Array(try j["prepend"].string().utf8))
        case "Replace": self = .replace(pattern: try literalPattern(j["pattern"]), content: Array(try j["content"].string().utf8))
        case "Sequence": self = .sequence(try j["normalizers"].array().map(Normalizer.init))
        case let other: throw j["type"].error("normalizer \(other.debugDescription) is not supported (supported: \(Self.supported))")
        }
    }

    func normalize(_ bytes: [UInt8]) -> [UInt8] {
        func viaString(_ f: (String) -> String) -> [UInt8] { Array(f(String(decoding: bytes, as: UTF8.self)).utf8) }
        switch self {
        case .nfc: return viaString { $0.precomposedStringWithCanonicalMapping }
        case .nfd: return viaString { $0.decomposedStringWithCanonicalMapping }
        case .nfkc: return viaString { $0.precomposedStringWithCompatibilityMapping }
        case .nfkd: return viaString { $0.decomposedStringWithCompatibilityMapping }
        case .lowercase: return viaString { $0.lowercased() }
        case .prepend(let p): return bytes.isEmpty ? bytes : p + bytes
        case .replace(let pattern, let content): return replacing(pattern, with: content, in: bytes)
        case .sequence(let list): return list.reduce(bytes) { $1.normalize($0) }
        }
    }
}

/// A `{"String": ...}` pattern; the `{"Regex": ...}` form is refused where only literals are supported.
func literalPattern(_ j: JSONField) throws -> [UInt8] {
    try j.requireObject()
    guard !j.has("Regex") else { throw j.error("a Regex pattern is not supported here (only {\"String\": ...})") }
    let s = try j["String"].string()
    guard !s.isEmpty else { throw j["String"].error("must not be empty") }
    return Array(s.utf8)
}

/// Byte-wise, so a space followed by a combining mark is still a space (Swift String would compare graphemes).
func replacing(_ pattern: [UInt8], with content: [UInt8], in bytes: [UInt8]) -> [UInt8] {
    let hits = SplitPattern.occurrences(of: pattern, in: bytes)
    if hits.isEmpty { return bytes }
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count + hits.count * content.count)
    var previous = 0
    for h in hits {
        out.append(contentsOf: bytes[previous..<h.lowerBound])
        out.append(contentsOf: content)
        previous = h.upperBound
    }
    out.append(contentsOf: bytes[previous...])
    return out
}
