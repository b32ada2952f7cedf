/// A piece of text on its way to the model, as UTF-8, and whether it starts at the beginning of the
/// input (Metaspace's `prepend_scheme: "first"` only prepends there).
struct TextPiece {
    var bytes: [UInt8]
    var atStart: Bool
}

/// The pre-tokenizers of tokenizer.json this package supports.
indirect enum PreTokenizer: Sendable {
    case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    case split(SplitPattern, SplitBehavior, invert: Bool)
    case metaspace(replacement: [UInt8], prependScheme: PrependScheme, split: Bool)
    case sequence([PreTokenizer])

    enum PrependScheme: String, Sendable { case always, first, never }

    static let supported = "ByteLevel, Split, Metaspace, Sequence"

    init(_ j: JSONField) throws {
        switch try j.typeName() {
        case "ByteLevel":
            self = .byteLevel(addPrefixSpace: try j["add_prefix_space"].bool(default: true), useRegex: try j["use_regex"].bool(default: true))
        case "Split":
            let p = j["pattern"]
            try p.requireObject()
            let pattern: SplitPattern
            if p.has("Regex") { pattern = try .regex(try p["Regex"].string(), field: p["Regex"]) } else { pattern = .literal(try literalPattern(p)) }
            let name = try j["behavior"].string()
            guard let behavior = SplitBehavior(rawValue: name) else {
                throw j["behavior"].error("\(name.debugDescription) is not one of Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous")
            }
            self = .split(pattern, behavior, invert: try j["invert"].bool(default: false))
        case "Metaspace":
            let replacement = try j["replacement"].string()
            guard replacement.unicodeScalars.count == 1 else { throw j["replacement"].error("must be a single character") }
            var scheme = PrependScheme.always
            if !j["prepend_scheme"].isNull {
                let name = try j["prepend_scheme"].string()
                guard let s = PrependScheme(rawValue: name) else { throw j["prepend_scheme"].error("\(name.debugDescription) is not one of always, first, never") }
                scheme = s
            } else if !(try j["add_prefix_space"].bool(default: true)) {
                scheme = .never  // files written before prepend_scheme existed
            }
            self = .metaspace(replacement: Array(replacement.utf8), prependScheme: scheme, split: try j["split"].bool(default: true))
        case "Sequence":
            self = .sequence(try j["pretokenizers"].array().map(PreTokenizer.init))
        case let other:
            throw j["type"].error("pre-tokenizer \(other.debugDescription) is not supported (supported: \(Self.supported))")
        }
    }

    /// Splits (and for ByteLevel/Metaspace rewrites) each piece; empty pieces are dropped as in `tokenizers`.
    func apply(_ pieces: [TextPiece]) -> [TextPiece] {
        if case .sequence(let list) = self { return list.reduce(pieces) { $1.apply($0) } }
        var out: [TextPiece] = []
        for piece in pieces {
            for p in apply(piece) where !p.bytes.isEmpty { out.append(p) }
        }
        return out
    }

    private func apply(_ piece: TextPiece) -> [TextPiece] {
        func cut(_ bytes: [UInt8], _ ranges: [Range<Int>], atStart: Bool) -> [TextPiece] {
            ranges.map { TextPiece(bytes: Array(bytes[$0]), atStart: atStart && $0.lowerBound == 0) }
        }
        switch self {
        case .sequence: return apply([piece])
        case .byteLevel(let addPrefixSpace, let useRegex):
            var bytes = piece.bytes
            if addPrefixSpace && bytes.first != UInt8(ascii: " ") { bytes.insert(UInt8(ascii: " "), at: 0) }
            let parts = useRegex ? cut(bytes, SplitPattern.known(.gpt2).findMatches(bytes).map(\.range), atStart: piece.atStart)
                                 : [TextPiece(bytes: bytes, atStart: piece.atStart)]
            return parts.map { TextPiece(bytes: ByteLevelAlphabet.encode($0.bytes), atStart: $0.atStart) }
        case .split(let pattern, let behavior, let invert):
            var matches = pattern.findMatches(piece.bytes)
            if invert { matches = matches.map { ($0.range, !$0.isMatch) } }
            return cut(piece.bytes, behavior.apply(matches), atStart: piece.atStart)
        case .metaspace(let replacement, let scheme, let split):
            var bytes = replacing([UInt8(ascii: " ")], with: replacement, in: piece.bytes)
            let startsWithReplacement = bytes.starts(with: replacement)
            if !startsWithReplacement && (scheme == .always || (scheme == .first && piece.atStart)) {
                bytes = replacement + bytes
            }
            guard split else { return [TextPiece(bytes: bytes, atStart: piece.atStart)] }
            let matches = SplitPattern.literal(replacement).findMatches(bytes)
            return cut(bytes, SplitBehavior.mergedWithNext.apply(matches), atStart: piece.atStart)
        }
    }
}
