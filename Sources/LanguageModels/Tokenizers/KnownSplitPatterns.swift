/// Hand-written matchers for the split regexes of GPT-2, Llama-3 and Qwen2. They follow the
/// regex's leftmost-first alternation and backtracking exactly (checked against ICU and against
/// Python `tokenizers` in the tests) and are several times faster than a regex engine.
enum KnownSplitPattern: Sendable {
    case gpt2, llama3, qwen2

    static let gpt2Regex = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    static let llama3Regex = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen2Regex = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    init?(regex: String) {
        switch regex {
        case Self.gpt2Regex: self = .gpt2
        case Self.llama3Regex: self = .llama3
        case Self.qwen2Regex: self = .qwen2
        default: return nil
        }
    }

    /// Scalar ranges of the successive matches; together they cover the whole input.
    func matches(_ s: [Unicode.Scalar]) -> [Range<Int>] {
        let c = s.map(ScalarClass.of)
        var out: [Range<Int>] = []
        var i = 0
        while i < s.count {
            let end = Swift.max(matchEnd(s, c, i), i + 1)
            out.append(i..<end)
            i = end
        }
        return out
    }

    private func matchEnd(_ s: [Unicode.Scalar], _ c: [ScalarClass], _ i: Int) -> Int {
        let n = s.count
        func run(_ from: Int, _ cls: ScalarClass) -> Int {
            var j = from
            while j < n && c[j] == cls { j += 1 }
            return j
        }
        func isNewline(_ j: Int) -> Bool { s[j] == "\r" || s[j] == "\n" }

        if let end = contraction(s, i, caseInsensitive: self != .gpt2) { return end }
        switch self {
        case .gpt2:
            //  ?\p{L}+ | ?\p{N}+ | ?[^\s\p{L}\p{N}]+ : one class after an optional space
            if s[i] == " " && i + 1 < n && c[i + 1] != .space { return run(i + 1, c[i + 1]) }
            if c[i] != .space { return run(i, c[i]) }
        case .llama3, .qwen2:
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if (c[i] == .other || (c[i] == .space && !isNewline(i))) && i + 1 < n && c[i + 1] == .letter { return run(i + 1, .letter) }
            if c[i] == .letter { return run(i, .letter) }
            // \p{N}{1,3} or \p{N}
            if c[i] == .number {
                var j = i + 1
                while self == .llama3 && j < n && j < i + 3 && c[j] == .number { j += 1 }
                return j
            }
            //  ?[^\s\p{L}\p{N}]+[\r\n]*
            var start: Int? = nil
            if s[i] == " " && i + 1 < n && c[i + 1] == .other { start = i + 1 } else if c[i] == .other { start = i }
            if let start {
                var j = run(start, .other)
                while j < n && isNewline(j) { j += 1 }
                return j
            }
            // \s*[\r\n]+ : the whitespace run up to and including its last newline
            if c[i] == .space {
                let end = run(i, .space)
                if let last = (i..<end).last(where: isNewline) { return last + 1 }
            }
        }
        // \s+(?!\S) then \s+
        if c[i] == .space {
            let end = run(i, .space)
            return end < n && end - i >= 2 ? end - 1 : end
        }
        return i + 1
    }

    /// 's 't 're 've 'm 'll 'd after an apostrophe at `i`; Llama-3 and Qwen2 match them case-insensitively
    /// (Unicode simple case folding, so the long s `ſ` matches `s` as in Oniguruma).
    private func contraction(_ s: [Unicode.Scalar], _ i: Int, caseInsensitive: Bool) -> Int? {
        guard s[i] == "'", i + 1 < s.count else { return nil }
        func fold(_ j: Int) -> Unicode.Scalar? {
            guard j < s.count else { return nil }
            let x = s[j]
            guard caseInsensitive else { return x }
            switch x {
            case "S", "\u{17F}": return "s"
            case "T": return "t"
            case "R": return "r"
            case "V": return "v"
            case "E": return "e"
            case "M": return "m"
            case "L": return "l"
            case "D": return "d"
            default: return x
            }
        }
        switch fold(i + 1) {
        case "s", "t", "m", "d": return i + 2
        case "r", "v": return fold(i + 2) == "e" ? i + 3 : nil
        case "l": return fold(i + 2) == "l" ? i + 3 : nil
        default: return nil
        }
    }
}
