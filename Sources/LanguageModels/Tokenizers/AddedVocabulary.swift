/// One entry of tokenizer.json's `added_tokens`.
public struct AddedToken: Sendable, Equatable {
    public let id: Int
    public let content: String
    public let special: Bool
    public let lstrip: Bool
    public let rstrip: Bool
    public let singleWord: Bool
    public let normalized: Bool
}

/// Finds added tokens in text before the model runs, as tokenizers' `AddedVocabulary`: leftmost-
/// longest matches on UTF-8, then `single_word` / `lstrip` / `rstrip` decide each match. Tokens with
/// `normalized: false` are matched on the raw text, the others on the normalized text.
struct AddedVocabulary: Sendable {
    let tokens: [AddedToken]
    let byID: [Int: AddedToken]
    /// What decoding shows for each id: tokenizers (0.20 on) gives a normalized token its normalized content.
    let decodedContent: [Int: String]
    let byContent: [[UInt8]: AddedToken]
    let specialContents: Set<[UInt8]>
    private let rawTrie: ByteTrie
    private let normalizedTrie: ByteTrie

    init(_ tokens: [AddedToken], normalizer: Normalizer?) {
        self.tokens = tokens
        byID = Dictionary(tokens.map { ($0.id, $0) }, uniquingKeysWith: { _, last in last })
        decodedContent = Dictionary(tokens.map { t in
            (t.id, t.normalized ? String(decoding: normalizer?.normalize(Array(t.content.utf8)) ?? Array(t.content.utf8), as: UTF8.self) : t.content)
        }, uniquingKeysWith: { _, last in last })
        byContent = Dictionary(tokens.map { (Array($0.content.utf8), $0) }, uniquingKeysWith: { _, last in last })
        specialContents = Set(tokens.filter(\.special).map { Array($0.content.utf8) })
        var raw = ByteTrie(), normalized = ByteTrie()
        for (index, t) in tokens.enumerated() {
            let bytes = Array(t.content.utf8)
            if t.normalized {
                normalized.insert(normalizer?.normalize(bytes) ?? bytes, index)
            } else {
                raw.insert(bytes, index)
            }
        }
        rawTrie = raw
        normalizedTrie = normalized
    }

    enum Split { case text(Range<Int>), token(Int) }

    func splitRaw(_ bytes: [UInt8]) -> [Split] { split(bytes, rawTrie) }
    func splitNormalized(_ bytes: [UInt8]) -> [Split] { split(bytes, normalizedTrie) }

    private func split(_ s: [UInt8], _ trie: ByteTrie) -> [Split] {
        if trie.isEmpty || s.isEmpty { return [.text(0..<s.count)] }
        var out: [Split] = []
        var startOffset = 0
        var i = 0
        while i < s.count {
            guard let (index, end) = trie.longestMatch(s, from: i) else { i += 1; continue }
            let token = tokens[index]
            var start = i, stop = end
            i = end
            if token.singleWord {
                let startSpace = start == 0 || !endsWithWordCharacter(s[..<start])
                let stopSpace = stop == s.count || !startsWithWordCharacter(s[stop...])
                if !startSpace || !stopSpace { continue }
            }
            if token.lstrip {
                var j = start
                while let (scalar, width) = lastScalar(s[..<j]), scalar.properties.isWhitespace { j -= width }
                start = Swift.max(j, startOffset)
            }
            if token.rstrip {
                // The search resumes at the match's end, not after the stripped spaces, as in tokenizers.
                while let (scalar, width) = firstScalar(s[stop...]), scalar.properties.isWhitespace { stop += width }
            }
            if startOffset < start { out.append(.text(startOffset..<start)) }
            out.append(.token(token.id))
            startOffset = stop
        }
        if startOffset < s.count { out.append(.text(startOffset..<s.count)) }
        return out
    }
}

private func firstScalar(_ s: ArraySlice<UInt8>) -> (Unicode.Scalar, Int)? {
    guard let first = s.first else { return nil }
    let width = first < 0x80 ? 1 : first >= 0xF0 ? 4 : first >= 0xE0 ? 3 : 2
    guard s.count >= width else { return nil }
    return String(decoding: s.prefix(width), as: UTF8.self).unicodeScalars.first.map { ($0, width) }
}

private func lastScalar(_ s: ArraySlice<UInt8>) -> (Unicode.Scalar, Int)? {
    guard !s.isEmpty else { return nil }
    var start = s.endIndex - 1
    while start > s.startIndex && s[start] & 0xC0 == 0x80 { start -= 1 }
    return String(decoding: s[start...], as: UTF8.self).unicodeScalars.first.map { ($0, s.endIndex - start) }
}

/// The regex crate's `\w`: alphabetic, marks, decimal digits, connector punctuation, join controls.
private func isWordCharacter(_ c: Unicode.Scalar) -> Bool {
    let p = c.properties
    switch p.generalCategory {
    case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
    default: return p.isAlphabetic || p.isJoinControl
    }
}

private func endsWithWordCharacter(_ s: ArraySlice<UInt8>) -> Bool { lastScalar(s).map { isWordCharacter($0.0) } ?? false }
private func startsWithWordCharacter(_ s: ArraySlice<UInt8>) -> Bool { firstScalar(s).map { isWordCharacter($0.0) } ?? false }

/// A byte trie for leftmost-longest matching of added tokens.
private struct ByteTrie: Sendable {
    private var children: [[UInt8: Int]] = [[:]]
    private var terminal: [Int?] = [nil]

    var isEmpty: Bool { children[0].isEmpty }

    mutating func insert(_ bytes: [UInt8], _ value: Int) {
        guard !bytes.isEmpty else { return }
        var node = 0
        for b in bytes {
            if let n = children[node][b] {
                node = n
            } else {
                children.append([:])
                terminal.append(nil)
                children[node][b] = children.count - 1
                node = children.count - 1
            }
        }
        if terminal[node] == nil { terminal[node] = value }
    }

    /// The longest token starting at `from`, with its end offset.
    func longestMatch(_ s: [UInt8], from: Int) -> (Int, Int)? {
        var node = 0, best: (Int, Int)? = nil
        var i = from
        while i < s.count, let n = children[node][s[i]] {
            node = n
            i += 1
            if let v = terminal[node] { best = (v, i) }
        }
        return best
    }
}
