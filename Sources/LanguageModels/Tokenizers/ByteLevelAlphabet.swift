/// GPT-2's reversible map from the 256 byte values to printable characters (`bytes_to_unicode`):
/// printable Latin-1 bytes map to themselves, the others to U+0100 upwards in byte order.
enum ByteLevelAlphabet {
    static let scalars: [Unicode.Scalar] = {
        var printable = Set<Int>()
        for r in [0x21...0x7E, 0xA1...0xAC, 0xAE...0xFF] { printable.formUnion(r) }
        var out = [Unicode.Scalar](repeating: " ", count: 256)
        var next = 256
        for b in 0..<256 {
            if printable.contains(b) {
                out[b] = Unicode.Scalar(UInt8(b))
            } else {
                out[b] = Unicode.Scalar(UInt32(next))!
                next += 1
            }
        }
        return out
    }()

    /// UTF-8 of each byte's character, to build byte-level pieces without going through String.
    static let utf8: [[UInt8]] = scalars.map { Array(String($0).utf8) }

    static let byteOf: [UInt32: UInt8] = Dictionary(uniqueKeysWithValues: scalars.enumerated().map { ($1.value, UInt8($0)) })

    static func encode(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes { out.append(contentsOf: utf8[Int(b)]) }
        return out
    }
}
