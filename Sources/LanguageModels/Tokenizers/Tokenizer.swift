import NN
/// Maps text to token ids and back.
public protocol Tokenizer: Sendable {
    var vocabSize: Int { get }
    var eosToken: Int { get }
    var padToken: Int { get }
    func encode(_ text: String) -> [Int]
    /// Ids of `text`; `addSpecialTokens` adds what the tokenizer's template asks (e.g. Llama's BOS).
    func encode(_ text: String, addSpecialTokens: Bool) -> [Int]
    /// Decodes ids; special tokens are dropped.
    func decode(_ ids: [Int]) -> String
    /// The text of the BOS token that `encode(_:addSpecialTokens: true)` puts first, if any.
    var bosText: String? { get }
    /// The text of the EOS token, when it has one (a chat template may write it).
    var eosText: String? { get }
}

extension Tokenizer {
    /// Tokenizers without special-token templates encode the same either way.
    public func encode(_ text: String, addSpecialTokens: Bool) -> [Int] { encode(text) }
    public var bosText: String? { nil }
    public var eosText: String? { nil }

    /// Ids of a prompt: with the tokenizer's special tokens (Llama's BOS), unless the text already
    /// starts with the BOS text, as a chat template that writes BOS leaves it (no second BOS).
    public func encodePrompt(_ text: String) -> [Int] {
        let hasBOS = bosText.map { !$0.isEmpty && text.hasPrefix($0) } ?? false
        return encode(text, addSpecialTokens: !hasBOS)
    }
}

/// UTF-8 bytes as tokens 0...255, then EOS (256) and PAD (257).
public struct ByteTokenizer: Tokenizer, Codable, Equatable {
    public init() {}
    public var vocabSize: Int { 258 }
    public var eosToken: Int { 256 }
    public var padToken: Int { 257 }
    public func encode(_ text: String) -> [Int] { text.utf8.map(Int.init) }
    public func decode(_ ids: [Int]) -> String {
        String(decoding: ids.filter { $0 < 256 }.map(UInt8.init), as: UTF8.self)
    }
}

/// One token per distinct character of a corpus (sorted, so the same corpus gives the same ids),
/// then EOS and PAD. Characters outside the alphabet are an error at encode time.
public struct CharTokenizer: Tokenizer, Codable, Equatable {
    public let alphabet: [Character]
    private let index: [Character: Int]

    public init(corpus: String) { self.init(alphabet: Array(Set(corpus)).sorted()) }

    public init(alphabet: [Character]) {
        self.alphabet = alphabet
        index = Dictionary(uniqueKeysWithValues: alphabet.enumerated().map { ($1, $0) })
    }

    public var vocabSize: Int { alphabet.count + 2 }
    public var eosToken: Int { alphabet.count }
    public var padToken: Int { alphabet.count + 1 }

    /// Ids of `text`, or nil naming the first character outside the alphabet.
    public func encodeChecked(_ text: String) -> Result<[Int], UnknownCharacter> {
        var ids: [Int] = []
        for (offset, c) in text.enumerated() {
            guard let i = index[c] else { return .failure(UnknownCharacter(character: c, offset: offset)) }
            ids.append(i)
        }
        return .success(ids)
    }

    public func encode(_ text: String) -> [Int] {
        switch encodeChecked(text) {
        case .success(let ids): return ids
        case .failure(let e): preconditionFailure("CharTokenizer: \(e)")
        }
    }

    public func decode(_ ids: [Int]) -> String { String(ids.filter { $0 < alphabet.count }.map { alphabet[$0] }) }

    public struct UnknownCharacter: Error, CustomStringConvertible {
        public let character: Character
        public let offset: Int
        public var description: String { "character \(character.debugDescription) at offset \(offset) is not in the alphabet" }
    }

    enum CodingKeys: CodingKey { case alphabet }
    public init(from decoder: Decoder) throws {
        let strings = try decoder.container(keyedBy: CodingKeys.self).decode([String].self, forKey: .alphabet)
        self.init(alphabet: strings.compactMap(\.first))
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(alphabet.map(String.init), forKey: .alphabet)
    }
    public static func == (a: Self, b: Self) -> Bool { a.alphabet == b.alphabet }
}
