/// The character classes the GPT-2 / Llama-3 / Qwen2 split patterns use: `\p{L}`, `\p{N}`, `\s`
/// (Unicode White_Space, as Oniguruma's `\s`) and everything else.
enum ScalarClass: UInt8 {
    case letter, number, space, other

    private static let ascii: [ScalarClass] = (0..<128).map { classify(Unicode.Scalar(UInt8($0))) }

    static func of(_ s: Unicode.Scalar) -> ScalarClass { s.value < 128 ? ascii[Int(s.value)] : classify(s) }

    private static func classify(_ s: Unicode.Scalar) -> ScalarClass {
        let p = s.properties
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return p.isWhitespace ? .space : .other
        }
    }
}
