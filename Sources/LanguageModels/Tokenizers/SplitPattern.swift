import Foundation

/// What a Split pre-tokenizer (or ByteLevel with `use_regex`) splits on.
enum SplitPattern: @unchecked Sendable {  // NSRegularExpression is immutable once built
    case literal([UInt8])
    case known(KnownSplitPattern)
    /// Any other regex, through ICU. Oniguruma (what `tokenizers` uses) and ICU agree on common
    /// syntax, but not guaranteed on every construct.
    case icu(NSRegularExpression)

    static func regex(_ pattern: String, field: JSONField) throws -> SplitPattern {
        if let known = KnownSplitPattern(regex: pattern) { return .known(known) }
        do { return .icu(try NSRegularExpression(pattern: pattern)) } catch {
            throw field.error("regex \(pattern.debugDescription) does not compile")
        }
    }

    /// Byte ranges of `bytes` (valid UTF-8) with whether each is a match; together they cover the input.
    func findMatches(_ bytes: [UInt8]) -> [(range: Range<Int>, isMatch: Bool)] {
        if bytes.isEmpty { return [(0..<0, false)] }
        let matches: [Range<Int>]
        switch self {
        case .literal(let needle): matches = Self.occurrences(of: needle, in: bytes)
        case .known(let known):
            let scalars = Array(String(decoding: bytes, as: UTF8.self).unicodeScalars)
            var offsets = [0]
            offsets.reserveCapacity(scalars.count + 1)
            for s in scalars { offsets.append(offsets[offsets.count - 1] + UTF8.width(s)) }
            matches = known.matches(scalars).map { offsets[$0.lowerBound]..<offsets[$0.upperBound] }
        case .icu(let regex):
            let string = String(decoding: bytes, as: UTF8.self)
            var byteAtUTF16 = [Int](repeating: 0, count: string.utf16.count + 1)
            var u16 = 0, u8 = 0
            for s in string.unicodeScalars {
                let w16 = UTF16.width(s)
                for k in 0..<w16 { byteAtUTF16[u16 + k] = u8 }
                u16 += w16
                u8 += UTF8.width(s)
            }
            byteAtUTF16[u16] = u8
            matches = regex.matches(in: string, range: NSRange(location: 0, length: u16)).compactMap { m in
                guard m.range.location != NSNotFound, m.range.length > 0 else { return nil }
                return byteAtUTF16[m.range.location]..<byteAtUTF16[m.range.location + m.range.length]
            }
        }
        var out: [(range: Range<Int>, isMatch: Bool)] = []
        var previous = 0
        for m in matches {
            if previous < m.lowerBound { out.append((previous..<m.lowerBound, false)) }
            out.append((m, true))
            previous = m.upperBound
        }
        if previous < bytes.count { out.append((previous..<bytes.count, false)) }
        return out
    }

    static func occurrences(of needle: [UInt8], in bytes: [UInt8]) -> [Range<Int>] {
        guard !needle.isEmpty, needle.count <= bytes.count else { return [] }
        var out: [Range<Int>] = []
        var i = 0
        while i + needle.count <= bytes.count {
            if bytes[i] == needle[0] && bytes[i..<(i + needle.count)].elementsEqual(needle) {
                out.append(i..<(i + needle.count))
                i += needle.count
            } else {
                i += 1
            }
        }
        return out
    }
}

/// How matches of a split pattern become pieces (tokenizers' `SplitDelimiterBehavior`).
enum SplitBehavior: String, Sendable {
    case removed = "Removed", isolated = "Isolated", mergedWithPrevious = "MergedWithPrevious",
         mergedWithNext = "MergedWithNext", contiguous = "Contiguous"

    func apply(_ matches: [(range: Range<Int>, isMatch: Bool)]) -> [Range<Int>] {
        var acc: [(range: Range<Int>, isMatch: Bool)] = []
        var previousMatch = false
        switch self {
        case .isolated: return matches.map(\.range)
        case .removed: return matches.filter { !$0.isMatch }.map(\.range)
        case .mergedWithPrevious:
            for m in matches {
                if m.isMatch && !previousMatch, let last = acc.last {
                    acc[acc.count - 1].range = last.range.lowerBound..<m.range.upperBound
                } else {
                    acc.append((m.range, false))
                }
                previousMatch = m.isMatch
            }
        case .mergedWithNext:
            for m in matches.reversed() {
                if m.isMatch && !previousMatch, let last = acc.last {
                    acc[acc.count - 1].range = m.range.lowerBound..<last.range.upperBound
                } else {
                    acc.append((m.range, false))
                }
                previousMatch = m.isMatch
            }
            acc.reverse()
        case .contiguous:
            for m in matches {
                if m.isMatch == previousMatch, let last = acc.last {
                    acc[acc.count - 1].range = last.range.lowerBound..<m.range.upperBound
                } else {
                    acc.append((m.range, false))
                }
                previousMatch = m.isMatch
            }
        }
        return acc.map(\.range)
    }
}
