import Foundation

/// A tokenizer loaded from a Hugging Face `tokenizer.json` (BPE models: byte-level as in GPT-2,
/// Llama-3 and Qwen2; SentencePiece-style with byte fallback as in Llama-2 and Mistral) that encodes
/// and decodes exactly as the `tokenizers` library does for single sequences.
///
///     let tok = try PretrainedTokenizer(directory: URL(fileURLWithPath: "llama-3"))
///     let ids = tok.encode("Hello", addSpecialTokens: true)   // [bos, ...]
///     let text = tok.decode(ids, skipSpecialTokens: false)
public struct PretrainedTokenizer: Tokenizer {
    let model: BPEModel
    let normalizer: Normalizer?
    let preTokenizer: PreTokenizer?
    let postProcessor: PostProcessor?
    let decoder: TokenDecoder?
    let added: AddedVocabulary
    let cache = WordCache()

    /// One more than the largest id of the model vocabulary and the added tokens.
    public let vocabSize: Int

    /// Special ids from tokenizer_config.json beside tokenizer.json, nil when absent or null there.
    public let bosTokenID: Int?
    public let eosTokenID: Int?
    public let padTokenID: Int?
    public let unkTokenID: Int?

    public var addedTokens: [AddedToken] { added.tokens }

    /// Reads `tokenizer.json` and, when present, `tokenizer_config.json` in `directory`.
    public init(directory: URL) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw TokenizerFileError(file: directory.path, field: "", reason: "is not a directory holding tokenizer.json")
        }
        let config = directory.appendingPathComponent("tokenizer_config.json")
        try self.init(tokenizerJSON: directory.appendingPathComponent("tokenizer.json"),
                      config: FileManager.default.fileExists(atPath: config.path) ? config : nil)
    }

    public init(tokenizerJSON: URL, config: URL? = nil) throws {
        let root = try JSONField.parse(tokenizerJSON)
        try root.requireObject()
        // "truncation" and "padding" are ignored, as transformers resets them on every call; the
        // trainers truncate and pad batches themselves.
        model = try BPEModel(root["model"])
        normalizer = root["normalizer"].isNull ? nil : try Normalizer(root["normalizer"])
        preTokenizer = root["pre_tokenizer"].isNull ? nil : try PreTokenizer(root["pre_tokenizer"])
        postProcessor = root["post_processor"].isNull ? nil : try PostProcessor(root["post_processor"])
        decoder = root["decoder"].isNull ? nil : try TokenDecoder(root["decoder"])

        var tokens: [AddedToken] = []
        var seenIDs: [Int: String] = [:]
        for f in root["added_tokens"].isNull ? [] : try root["added_tokens"].array() {
            let id = try f["id"].int()
            let content = try f["content"].string()
            guard (0..<Int(Int32.max)).contains(id) else { throw f["id"].error("id \(id) is out of range 0..<\(Int32.max)") }
            guard !content.isEmpty else { throw f["content"].error("must not be empty") }
            if let other = seenIDs[id], other != content { throw f["id"].error("id \(id) is also the id of added token \(other.debugDescription)") }
            if let modelToken = model.idToToken[id], modelToken.utf8.elementsEqual(content.utf8) == false {
                throw f["id"].error("id \(id) is the id of \(modelToken.debugDescription) in model.vocab")
            }
            if let modelID = model.tokenToID[Array(content.utf8)], modelID != id {
                throw f["id"].error("\(content.debugDescription) has id \(modelID) in model.vocab")
            }
            seenIDs[id] = content
            tokens.append(AddedToken(id: id, content: content, special: try f["special"].bool(default: false),
                                     lstrip: try f["lstrip"].bool(default: false), rstrip: try f["rstrip"].bool(default: false),
                                     singleWord: try f["single_word"].bool(default: false), normalized: try f["normalized"].bool(default: true)))
        }
        added = AddedVocabulary(tokens, normalizer: normalizer)

        let size = Swift.max(model.maxID, tokens.map(\.id).max() ?? -1) + 1
        vocabSize = size
        if let post = postProcessor, let bad = post.allIDs.first(where: { !(0..<size).contains($0) }) {
            throw root["post_processor"].error("id \(bad) is outside the vocabulary 0..<\(size)")
        }

        var special: [String: Int?] = ["bos_token": nil, "eos_token": nil, "pad_token": nil, "unk_token": nil]
        if let config {
            let c = try JSONField.parse(config)
            try c.requireObject()
            for key in special.keys {
                let f = c[key]
                if f.isNull { continue }
                let content: String
                content = try f.stringValue ?? f["content"].string()
                guard let id = added.byContent[Array(content.utf8)]?.id ?? model.tokenToID[Array(content.utf8)] else {
                    throw f.error("\(content.debugDescription) is not a token of \(tokenizerJSON.path)")
                }
                special[key] = id
            }
        }
        bosTokenID = special["bos_token"] ?? nil
        eosTokenID = special["eos_token"] ?? nil
        padTokenID = special["pad_token"] ?? nil
        unkTokenID = special["unk_token"] ?? nil
    }

    /// The end-of-sequence id, or -1 (never produced by a model) when tokenizer_config.json names none.
    public var eosToken: Int { eosTokenID ?? -1 }
    public var bosText: String? { bosTokenID.flatMap(token(of:)) }
    public var eosText: String? { eosTokenID.flatMap(token(of:)) }

    /// The padding id; without one in tokenizer_config.json, the EOS id (the usual convention),
    /// else the unknown token, else 0.
    public var padToken: Int { padTokenID ?? eosTokenID ?? unkTokenID ?? 0 }

    /// The id of `token` (an added token or a model vocabulary entry).
    public func id(of token: String) -> Int? { added.byContent[Array(token.utf8)]?.id ?? model.tokenToID[Array(token.utf8)] }

    /// The token string of `id` as `id_to_token` gives it (normalized added tokens normalized), nil outside the vocabulary.
    public func token(of id: Int) -> String? { added.decodedContent[id] ?? model.idToToken[id] }

    public func encode(_ text: String) -> [Int] { encode(text, addSpecialTokens: true) }

    /// Ids of `text`, as `tokenizer.encode(text, add_special_tokens=...).ids` in `tokenizers`.
    public func encode(_ text: String, addSpecialTokens: Bool) -> [Int] {
        let bytes = Array(text.utf8)
        var ids: [Int] = []
        ids.reserveCapacity(bytes.count / 3 + 2)
        for outer in added.splitRaw(bytes) {
            guard case .text(let r) = outer else {
                if case .token(let id) = outer { ids.append(id) }
                continue
            }
            let normalized = normalizer?.normalize(Array(bytes[r])) ?? Array(bytes[r])
            if normalized.isEmpty { continue }
            for inner in added.splitNormalized(normalized) {
                switch inner {
                case .token(let id): ids.append(id)
                case .text(let r2):
                    guard !r2.isEmpty else { continue }
                    let piece = TextPiece(bytes: Array(normalized[r2]), atStart: r.lowerBound == 0 && r2.lowerBound == 0)
                    for p in preTokenizer?.apply([piece]) ?? [piece] {
                        if let cached = cache.get(p.bytes) {
                            ids += cached
                        } else {
                            var word: [Int] = []
                            model.tokenize(p.bytes, into: &word)
                            cache.set(p.bytes, word)
                            ids += word
                        }
                    }
                }
            }
        }
        if addSpecialTokens, let postProcessor { ids = postProcessor.process(ids) }
        return ids
    }

    /// Decodes with special tokens skipped.
    public func decode(_ ids: [Int]) -> String { decode(ids, skipSpecialTokens: true) }

    /// Text of `ids` as `tokenizer.decode(ids, skip_special_tokens=...)`; ids outside the vocabulary are skipped.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
        var tokens: [String] = []
        tokens.reserveCapacity(ids.count)
        for id in ids {
            guard let t = token(of: id) else { continue }
            if skipSpecialTokens && added.specialContents.contains(Array(t.utf8)) { continue }
            tokens.append(t)
        }
        return decoder?.decode(tokens) ?? tokens.joined(separator: " ")
    }
}
