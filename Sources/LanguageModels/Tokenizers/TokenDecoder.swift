/// Decoders of tokenizer.json. Each maps the list of token strings to a new list
/// (`decode_chain` in tokenizers); the final list is concatenated.
indirect enum TokenDecoder: Sendable {
    case byteLevel
    case replace(pattern: [UInt8], content: [UInt8])
    case byteFallback
    case fuse
    case strip(content: Unicode.Scalar, start: Int, stop: Int)
    case metaspace(replacement: Unicode.Scalar, prependScheme: PreTokenizer.PrependScheme)
    case sequence([TokenDecoder])

    static let supported = "ByteLevel, Replace (with a String pattern), ByteFallback, Fuse, Strip, Metaspace, Sequence"

    init(_ j: JSONField) throws {
        switch try j.typeName() {
        case "ByteLevel": self = .byteLevel
        case "Replace": self = .replace(pattern: try literalPattern(j["pattern"]), content: Array(try j["content"].string().utf8))
        case "ByteFallback": self = .byteFallback
        case "Fuse": self = .fuse
        case "Strip":
            let content = try j["content"].string()
            guard content.unicodeScalars.count == 1, let c = content.unicodeScalars.first else { throw j["content"].error("must be a single character") }
            let start = try j["start"].int(), stop = try j["stop"].int()
            guard start >= 0 else { throw j["start"].error("must be >= 0") }
            guard stop >= 0 else { throw j["stop"].error("must be >= 0") }
            self = .strip(content: c, start: start, stop: stop)
        case "Metaspace":
            guard case .metaspace(let r, let scheme, _) = try PreTokenizer(j), let scalar = String(decoding: r, as: UTF8.self).unicodeScalars.first else {
                throw j.error("is not a valid Metaspace decoder")
            }
            self = .metaspace(replacement: scalar, prependScheme: scheme)
        case "Sequence": self = .sequence(try j["decoders"].array().map(TokenDecoder.init))
        case let other: throw j["type"].error("decoder \(other.debugDescription) is not supported (supported: \(Self.supported))")
        }
    }

    func decode(_ tokens: [String]) -> String { decodeChain(tokens).joined() }

    func decodeChain(_ tokens: [String]) -> [String] {
        switch self {
        case .sequence(let list): return list.reduce(tokens) { $1.decodeChain($0) }
        case .byteLevel:
            var bytes: [UInt8] = []
            for t in tokens {
                var mapped: [UInt8] = []
                var ok = true
                for s in t.unicodeScalars {
                    guard let b = ByteLevelAlphabet.byteOf[s.value] else { ok = false; break }
                    mapped.append(b)
                }
                bytes += ok ? mapped : Array(t.utf8)
            }
            return [String(decoding: bytes, as: UTF8.self)]
        case .replace(let pattern, let content):
            return tokens.map { String(decoding: replacing(pattern, with: content, in: Array($0.utf8)), as: UTF8.self) }
        case .byteFallback:
            var out: [String] = [], pending: [UInt8] = []
            func flush() {
                guard !pending.isEmpty else { return }
                if let s = String(validatingUTF8: pending) {
                    out.append(s)
                } else {
                    out += Array(repeating: "\u{FFFD}", count: pending.count)
                }
                pending = []
            }
            for t in tokens {
                if let b = Self.fallbackByte(t) {
                    pending.append(b)
                } else {
                    flush()
                    out.append(t)
                }
            }
            flush()
            return out
        case .fuse: return [tokens.joined()]
        case .strip(let content, let start, let stop):
            return tokens.map { t in
                let scalars = Array(t.unicodeScalars)
                var lower = 0
                while lower < Swift.min(start, scalars.count) && scalars[lower] == content { lower += 1 }
                var upper = scalars.count
                while scalars.count - upper < stop && upper > lower && scalars[upper - 1] == content { upper -= 1 }
                var s = String.UnicodeScalarView()
                s.append(contentsOf: scalars[lower..<upper])
                return String(s)
            }
        case .metaspace(let replacement, let scheme):
            return tokens.enumerated().map { i, t in
                var s = String.UnicodeScalarView()
                for c in t.unicodeScalars {
                    if c == replacement {
                        if i == 0 && scheme != .never { continue }
                        s.append(" ")
                    } else {
                        s.append(c)
                    }
                }
                return String(s)
            }
        }
    }

    /// `<0xNN>` as tokenizers reads it: six bytes, and Rust's `u8::from_str_radix` of the middle two.
    static func fallbackByte(_ t: String) -> UInt8? {
        let u = Array(t.utf8)
        guard u.count == 6, u[0] == UInt8(ascii: "<"), u[1] == UInt8(ascii: "0"), u[2] == UInt8(ascii: "x"), u[5] == UInt8(ascii: ">") else { return nil }
        let digits = String(decoding: u[3..<5], as: UTF8.self)
        let body = digits.hasPrefix("+") ? String(digits.dropFirst()) : digits
        guard !body.isEmpty, body.allSatisfy(\.isHexDigit) else { return nil }
        return UInt8(body, radix: 16)
    }
}

private extension String {
    init?(validatingUTF8 bytes: [UInt8]) {
        var it = bytes.makeIterator()
        var decoder = UTF8()
        var scalars = String.UnicodeScalarView()
        loop: while true {
            switch decoder.decode(&it) {
            case .scalarValue(let s): scalars.append(s)
            case .emptyInput: break loop
            case .error: return nil
            }
        }
        self = String(scalars)
    }
}
