/// A Jinja template reduced to what decides its output, so that templates differing only in
/// whitespace that Jinja does not print compare equal (indentation, line breaks between tags,
/// `{%-` trim markers, `'\n'` escapes versus newlines inside a string literal, quote style,
/// comments), while any difference in printed text still counts.
///
/// Text between tags is kept exactly as transformers' Jinja environment prints it
/// (`trim_blocks`, `lstrip_blocks`, trim markers, no trailing newline); inside tags, whitespace
/// outside string literals is dropped and string literals are decoded.
enum JinjaNormalization {
    enum Piece: Equatable {
        case text(String)
        case tag(kind: Character, body: String)
    }

    static func pieces(_ source: String) -> [Piece] {
        let s = Array(source.replacingOccurrences(of: "\r\n", with: "\n").unicodeScalars)
        // Raw pieces: text, or tags with their trim markers.
        struct RawTag { var kind: Character; var body: String; var trimBefore: Bool; var trimAfter: Bool }
        var raw: [Either] = []
        enum Either { case text(String), tag(RawTag) }
        var i = 0
        var text = String.UnicodeScalarView()
        while i < s.count {
            if s[i] == "{", i + 1 < s.count, "{%#".unicodeScalars.contains(s[i + 1]) {
                let open = s[i + 1]
                let close: Unicode.Scalar = open == "{" ? "}" : open
                var j = i + 2
                var body = String.UnicodeScalarView()
                var quote: Unicode.Scalar?
                var closed = false
                while j < s.count {
                    let c = s[j]
                    if let q = quote {
                        body.append(c)
                        if c == "\\", j + 1 < s.count { body.append(s[j + 1]); j += 2; continue }
                        if c == q { quote = nil }
                    } else if open != "#" && (c == "'" || c == "\"") {
                        quote = c
                        body.append(c)
                    } else if c == close, j + 1 < s.count, s[j + 1] == "}" {
                        closed = true
                        break
                    } else {
                        body.append(c)
                    }
                    j += 1
                }
                guard closed else { text.append(contentsOf: s[i...]); break }  // unterminated: compared as text
                raw.append(.text(String(text)))
                text = String.UnicodeScalarView()
                var b = String(body)
                let trimBefore = b.hasPrefix("-")
                if trimBefore || b.hasPrefix("+") { b.removeFirst() }
                let trimAfter = b.hasSuffix("-")
                if trimAfter || b.hasSuffix("+") { b.removeLast() }
                raw.append(.tag(RawTag(kind: Character(open), body: b, trimBefore: trimBefore, trimAfter: trimAfter)))
                i = j + 2
            } else {
                text.append(s[i])
                i += 1
            }
        }
        raw.append(.text(String(text)))

        var out: [Piece] = []
        for (k, piece) in raw.enumerated() {
            switch piece {
            case .tag(let t):
                if t.kind != "#" { out.append(.tag(kind: t.kind, body: normalisedTagBody(t.body))) }
            case .text(var t):
                let previous: RawTag? = k > 0 ? { if case .tag(let p) = raw[k - 1] { return p } else { return nil } }() : nil
                let next: RawTag? = k + 1 < raw.count ? { if case .tag(let n) = raw[k + 1] { return n } else { return nil } }() : nil
                // The end next to the following tag first: lstrip_blocks looks for the line start in the source.
                if let n = next {
                    if n.trimBefore {
                        t = String(String.UnicodeScalarView(t.unicodeScalars.reversed().drop(while: { $0.isPythonWhitespace }).reversed()))
                    } else if n.kind != "{" {  // lstrip_blocks: spaces and tabs from the line's start to the tag
                        let scalars = Array(t.unicodeScalars)
                        let lineStart = scalars.lastIndex(of: "\n").map { $0 + 1 } ?? (previous == nil ? 0 : nil)
                        if let start = lineStart, scalars[start...].allSatisfy({ $0 == " " || $0 == "\t" }) {
                            t = String(String.UnicodeScalarView(scalars[..<start]))
                        }
                    }
                } else if t.hasSuffix("\n") {
                    t.removeLast()  // keep_trailing_newline is off
                }
                if let p = previous {
                    if p.trimAfter { t = String(t.unicodeScalars.drop(while: { $0.isPythonWhitespace })) }
                    else if p.kind != "{" && t.hasPrefix("\n") { t.removeFirst() }  // trim_blocks
                }
                if t.isEmpty { continue }
                if case .text(let before)? = out.last {
                    out[out.count - 1] = .text(before + t)  // text on both sides of a comment
                } else {
                    out.append(.text(t))
                }
            }
        }
        return out
    }

    /// The tag body without whitespace outside string literals, each literal decoded and re-quoted one way.
    static func normalisedTagBody(_ body: String) -> String {
        var out = ""
        let s = Array(body.unicodeScalars)
        var i = 0
        while i < s.count {
            let c = s[i]
            if c == "'" || c == "\"" {
                var value = ""
                var j = i + 1
                while j < s.count, s[j] != c {
                    if s[j] == "\\", j + 1 < s.count {
                        switch s[j + 1] {
                        case "n": value += "\n"
                        case "t": value += "\t"
                        case "r": value += "\r"
                        default: value.unicodeScalars.append(s[j + 1])
                        }
                        j += 2
                    } else {
                        value.unicodeScalars.append(s[j])
                        j += 1
                    }
                }
                out += "\u{1}" + value + "\u{1}"
                i = j + 1
            } else {
                if !c.isPythonWhitespace { out.unicodeScalars.append(c) }
                i += 1
            }
        }
        return out
    }
}
