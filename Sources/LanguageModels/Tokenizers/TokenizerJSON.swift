/// A parsed JSON value. Tokenizer files are parsed by this small parser rather than
/// JSONSerialization because Swift dictionaries with String keys merge canonically equivalent
/// keys ("é" and "e\u{301}"), which silently drops vocabulary entries; objects here keep every
/// key, in file order, exactly as written.
enum TokenizerJSON {
    case null
    case bool(Bool)
    case number(Double, integer: Int?)
    case string(String)
    case array([TokenizerJSON])
    case object(TokenizerJSONObject)
}

struct TokenizerJSONObject {
    /// Every member in file order, keys exactly as written.
    let members: [(key: String, value: TokenizerJSON)]
    /// For looking up field names; with equivalent or repeated keys the last one wins.
    let lookup: [String: Int]

    subscript(key: String) -> TokenizerJSON? { lookup[key].map { members[$0].value } }
}

/// Where and why a file is not JSON: a byte offset and line number.
struct TokenizerJSONSyntaxError: Error {
    let line: Int
    let reason: String
}

struct TokenizerJSONParser {
    private let bytes: [UInt8]
    private var i = 0
    static let maxDepth = 256

    static func parse(_ bytes: [UInt8]) throws -> TokenizerJSON {
        var p = TokenizerJSONParser(bytes: bytes)
        if p.bytes.starts(with: [0xEF, 0xBB, 0xBF]) { p.i = 3 }
        let v = try p.value(depth: 0)
        p.skipWhitespace()
        guard p.i == p.bytes.count else { throw p.error("unexpected text after the JSON value") }
        return v
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    private func error(_ reason: String) -> TokenizerJSONSyntaxError {
        TokenizerJSONSyntaxError(line: bytes[..<Swift.min(i, bytes.count)].reduce(1) { $0 + ($1 == 0x0A ? 1 : 0) }, reason: reason)
    }

    private mutating func skipWhitespace() {
        while i < bytes.count {
            switch bytes[i] {
            case 0x20, 0x09, 0x0A, 0x0D: i += 1
            default: return
            }
        }
    }

    private mutating func expect(_ literal: String, _ v: TokenizerJSON) throws -> TokenizerJSON {
        let l = Array(literal.utf8)
        guard bytes[i...].starts(with: l) else { throw error("invalid literal") }
        i += l.count
        return v
    }

    private mutating func value(depth: Int) throws -> TokenizerJSON {
        guard depth < Self.maxDepth else { throw error("nested deeper than \(Self.maxDepth) levels") }
        skipWhitespace()
        guard i < bytes.count else { throw error("unexpected end of file") }
        switch bytes[i] {
        case UInt8(ascii: "{"):
            i += 1
            var members: [(key: String, value: TokenizerJSON)] = []
            var lookup: [String: Int] = [:]
            skipWhitespace()
            if i < bytes.count && bytes[i] == UInt8(ascii: "}") { i += 1; return .object(TokenizerJSONObject(members: [], lookup: [:])) }
            while true {
                skipWhitespace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw error("expected a string key") }
                let key = try string()
                skipWhitespace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw error("expected ':'") }
                i += 1
                let v = try value(depth: depth + 1)
                lookup[key] = members.count
                members.append((key, v))
                skipWhitespace()
                guard i < bytes.count else { throw error("unexpected end of file in an object") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "}") { i += 1; break }
                throw error("expected ',' or '}'")
            }
            return .object(TokenizerJSONObject(members: members, lookup: lookup))
        case UInt8(ascii: "["):
            i += 1
            var items: [TokenizerJSON] = []
            skipWhitespace()
            if i < bytes.count && bytes[i] == UInt8(ascii: "]") { i += 1; return .array([]) }
            while true {
                items.append(try value(depth: depth + 1))
                skipWhitespace()
                guard i < bytes.count else { throw error("unexpected end of file in an array") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "]") { i += 1; break }
                throw error("expected ',' or ']'")
            }
            return .array(items)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): return try expect("true", .bool(true))
        case UInt8(ascii: "f"): return try expect("false", .bool(false))
        case UInt8(ascii: "n"): return try expect("null", .null)
        default: return try number()
        }
    }

    private mutating func number() throws -> TokenizerJSON {
        let start = i
        func isNumberByte(_ b: UInt8) -> Bool {
            (b >= 0x30 && b <= 0x39) || b == UInt8(ascii: "-") || b == UInt8(ascii: "+") || b == UInt8(ascii: ".") || b == UInt8(ascii: "e") || b == UInt8(ascii: "E")
        }
        while i < bytes.count && isNumberByte(bytes[i]) { i += 1 }
        let text = String(decoding: bytes[start..<i], as: UTF8.self)
        guard !text.isEmpty, let d = Double(text), d.isFinite else { throw error("invalid value") }
        return .number(d, integer: Int(text))
    }

    private mutating func hex4() throws -> UInt32 {
        guard i + 4 <= bytes.count, let v = UInt32(String(decoding: bytes[i..<(i + 4)], as: UTF8.self), radix: 16) else {
            throw error("invalid \\u escape")
        }
        i += 4
        return v
    }

    /// A string starting at the opening quote; raw bytes must be valid UTF-8, escapes as in RFC 8259.
    private mutating func string() throws -> String {
        i += 1
        var out: [UInt8] = []
        while true {
            guard i < bytes.count else { throw error("unterminated string") }
            let b = bytes[i]
            if b == UInt8(ascii: "\"") { i += 1; break }
            guard b >= 0x20 else { throw error("control character in a string") }
            if b != UInt8(ascii: "\\") { out.append(b); i += 1; continue }
            i += 1
            guard i < bytes.count else { throw error("unterminated string") }
            let e = bytes[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var v = try hex4()
                if (0xD800..<0xDC00).contains(v) {
                    guard i + 6 <= bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else { throw error("unpaired surrogate escape") }
                    i += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw error("unpaired surrogate escape") }
                    v = 0x10000 + ((v - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let scalar = Unicode.Scalar(v) else { throw error("unpaired surrogate escape") }
                out.append(contentsOf: String(scalar).utf8)
            default: throw error("invalid escape")
            }
        }
        guard let s = String(validating: out, as: UTF8.self) else { throw error("a string is not valid UTF-8") }
        return s
    }
}
