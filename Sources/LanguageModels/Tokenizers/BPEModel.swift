/// The BPE model of tokenizer.json (`model.type == "BPE"`), as `tokenizers` runs it: characters to
/// ids (byte fallback to `<0xNN>`, else the unknown token, fused if asked), then merges by rank.
struct BPEModel: Sendable {
    let tokenToID: [[UInt8]: Int]
    let idToToken: [Int: String]
    /// (left id << 32 | right id) -> (rank, merged id)
    let merges: [Int: (rank: Int, id: Int)]
    let unkID: Int?
    let fuseUnk: Bool
    let byteFallback: Bool
    let ignoreMerges: Bool
    let prefix: [UInt8]
    let suffix: [UInt8]
    private let scalarToID: [UInt32: Int]
    private let byteTokenIDs: [Int?]

    init(_ j: JSONField) throws {
        let type = try j.typeName()
        guard type == "BPE" else {
            throw j["type"].error("model type \(type.debugDescription) is not supported (supported: BPE)")
        }
        if !j["dropout"].isNull {
            let d = j["dropout"].doubleValue ?? -1
            guard d == 0 else { throw j["dropout"].error("must be null or 0: BPE dropout makes encoding random") }
        }
        let vocabField = j["vocab"]
        let vocab = try vocabField.members()
        var tokenToID: [[UInt8]: Int] = [:]
        var idToToken: [Int: String] = [:]
        tokenToID.reserveCapacity(vocab.count)
        idToToken.reserveCapacity(vocab.count)
        for (token, f) in vocab {
            let id = try f.int()
            guard (0..<Int(Int32.max)).contains(id) else { throw f.error("id \(id) is out of range 0..<\(Int32.max)") }
            if let other = idToToken[id] { throw f.error("id \(id) is also the id of \(other.debugDescription)") }
            idToToken[id] = token
            let bytes = Array(token.utf8)
            if tokenToID[bytes] != nil { throw f.error("\(token.debugDescription) appears twice in model.vocab") }
            tokenToID[bytes] = id
        }
        guard !vocab.isEmpty else { throw vocabField.error("must not be empty") }
        self.tokenToID = tokenToID
        self.idToToken = idToToken

        prefix = Array((try j["continuing_subword_prefix"].optionalString() ?? "").utf8)
        suffix = Array((try j["end_of_word_suffix"].optionalString() ?? "").utf8)
        fuseUnk = try j["fuse_unk"].bool(default: false)
        byteFallback = try j["byte_fallback"].bool(default: false)
        ignoreMerges = try j["ignore_merges"].bool(default: false)
        if let unk = try j["unk_token"].optionalString() {
            guard let id = tokenToID[Array(unk.utf8)] else { throw j["unk_token"].error("\(unk.debugDescription) is not in model.vocab") }
            unkID = id
        } else {
            unkID = nil
        }

        var merges: [Int: (rank: Int, id: Int)] = [:]
        let mergeFields = try j["merges"].array()
        merges.reserveCapacity(mergeFields.count)
        for (rank, f) in mergeFields.enumerated() {
            let pair: [String]
            if let s = f.stringValue {
                // Split on scalars: as Characters, a space followed by a combining mark or ZWJ is one grapheme.
                pair = s.unicodeScalars.split(separator: " ", omittingEmptySubsequences: false).map { String(String.UnicodeScalarView($0)) }
                guard pair.count == 2 else { throw f.error("\(s.debugDescription) must be two tokens separated by one space") }
            } else if let a = try? f.array(), a.count == 2, let l = a[0].stringValue, let r = a[1].stringValue {
                pair = [l, r]
            } else {
                throw f.error("must be a string \"left right\" or an array [\"left\", \"right\"]")
            }
            let left = Array(pair[0].utf8), right = Array(pair[1].utf8)
            guard let l = tokenToID[left] else { throw f.error("token \(pair[0].debugDescription) is not in model.vocab") }
            guard let r = tokenToID[right] else { throw f.error("token \(pair[1].debugDescription) is not in model.vocab") }
            let merged = left + (right.starts(with: prefix) ? Array(right.dropFirst(prefix.count)) : right)
            guard let m = tokenToID[merged] else {
                throw f.error("the merged token \(String(decoding: merged, as: UTF8.self).debugDescription) is not in model.vocab")
            }
            merges[l << 32 | r] = (rank, m)  // a repeated pair keeps its last rank, as tokenizers' HashMap does
        }
        self.merges = merges

        var scalarToID: [UInt32: Int] = [:]
        for (token, id) in tokenToID {
            let scalars = String(decoding: token, as: UTF8.self).unicodeScalars
            if scalars.count == 1, let s = scalars.first { scalarToID[s.value] = id }
        }
        self.scalarToID = scalarToID
        byteTokenIDs = (0..<256).map { tokenToID[Array(Self.byteToken(UInt8($0)).utf8)] }
    }

    static func byteToken(_ b: UInt8) -> String {
        let hex = String(b, radix: 16, uppercase: true)
        return "<0x\(hex.count == 1 ? "0" + hex : hex)>"
    }

    var maxID: Int { idToToken.keys.max() ?? -1 }

    func tokenize(_ word: [UInt8], into out: inout [Int]) {
        if ignoreMerges, let id = tokenToID[word] {
            out.append(id)
            return
        }
        var symbols: [Int] = []
        symbols.reserveCapacity(word.count)
        var unk: Int? = nil  // a pending unknown token (fuse_unk extends it)
        let scalars = String(decoding: word, as: UTF8.self).unicodeScalars
        let last = scalars.count - 1
        for (i, s) in scalars.enumerated() {
            let id: Int?
            var piece: [UInt8] = []
            if prefix.isEmpty && suffix.isEmpty {
                id = scalarToID[s.value]
            } else {
                piece = Array(String(s).utf8)
                if i > 0 { piece = prefix + piece }
                if i == last { piece += suffix }
                id = tokenToID[piece]
            }
            if let id {
                if let u = unk { symbols.append(u); unk = nil }
                symbols.append(id)
                continue
            }
            if byteFallback {
                let bytes = piece.isEmpty ? Array(String(s).utf8) : piece
                let ids = bytes.compactMap { byteTokenIDs[Int($0)] }
                if ids.count == bytes.count {
                    // tokenizers adds these without first flushing a pending unknown token.
                    symbols.append(contentsOf: ids)
                    continue
                }
            }
            if let unkID {
                if let u = unk, !fuseUnk { symbols.append(u) }
                unk = unkID
            }
        }
        if let u = unk { symbols.append(u) }
        mergeAll(&symbols)
        out.append(contentsOf: symbols)
    }

    /// Applies merges lowest rank first (leftmost among equal ranks), as tokenizers' `Word::merge_all`.
    private func mergeAll(_ ids: inout [Int]) {
        let n = ids.count
        guard n > 1 else { return }
        var next = Array(1...n), prev = Array(-1..<(n - 1)), alive = [Bool](repeating: true, count: n)
        next[n - 1] = -1
        var heap = MergeHeap()
        for i in 0..<(n - 1) {
            if let m = merges[ids[i] << 32 | ids[i + 1]] { heap.push(.init(rank: m.rank, pos: i, id: m.id)) }
        }
        while let top = heap.pop() {
            let p = top.pos
            guard alive[p], next[p] != -1 else { continue }
            let r = next[p]
            guard let m = merges[ids[p] << 32 | ids[r]], m.id == top.id else { continue }
            ids[p] = m.id
            alive[r] = false
            next[p] = next[r]
            if next[r] != -1 { prev[next[r]] = p }
            if prev[p] != -1, let left = merges[ids[prev[p]] << 32 | ids[p]] {
                heap.push(.init(rank: left.rank, pos: prev[p], id: left.id))
            }
            if next[p] != -1, let right = merges[ids[p] << 32 | ids[next[p]]] {
                heap.push(.init(rank: right.rank, pos: p, id: right.id))
            }
        }
        var out: [Int] = []
        out.reserveCapacity(n)
        var i = 0
        while i != -1 { out.append(ids[i]); i = next[i] }
        ids = out
    }
}

/// A binary min-heap of candidate merges ordered by (rank, position).
private struct MergeHeap {
    struct Entry { let rank: Int, pos: Int, id: Int }
    private var items: [Entry] = []

    private static func less(_ a: Entry, _ b: Entry) -> Bool { a.rank != b.rank ? a.rank < b.rank : a.pos < b.pos }

    mutating func push(_ e: Entry) {
        items.append(e)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard Self.less(items[i], items[parent]) else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> Entry? {
        guard let first = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < items.count && Self.less(items[l], items[m]) { m = l }
                if r < items.count && Self.less(items[r], items[m]) { m = r }
                if m == i { break }
                items.swapAt(i, m)
                i = m
            }
        }
        return first
    }
}
