extension Unicode.Scalar {
    /// Python's `str.isspace()`: what Jinja's `trim` filter and `str.strip()` remove, which is not
    /// Foundation's whitespace set (it includes U+001C...U+001F and excludes U+200B).
    var isPythonWhitespace: Bool {
        switch value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000: return true
        default: return false
        }
    }
}

extension String {
    /// `self.strip()` in Python.
    var pythonStripped: String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.isPythonWhitespace }),
              let last = scalars.lastIndex(where: { !$0.isPythonWhitespace }) else { return "" }
        return String(scalars[first...last])
    }
}
