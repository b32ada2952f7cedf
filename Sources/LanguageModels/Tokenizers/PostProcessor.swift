/// Post-processors of tokenizer.json, for single sequences (pairs are not supported).
indirect enum PostProcessor: Sendable {
    /// TemplateProcessing's `single` template: fixed ids around the sequence.
    case template(before: [Int], after: [Int])
    /// ByteLevel only adjusts offsets, which this package does not report.
    case none
    case sequence([PostProcessor])

    static let supported = "TemplateProcessing, ByteLevel, RobertaProcessing, BertProcessing, Sequence"

    init(_ j: JSONField) throws {
        switch try j.typeName() {
        case "ByteLevel": self = .none
        case "Sequence": self = .sequence(try j["processors"].array().map(PostProcessor.init))
        case "RobertaProcessing", "BertProcessing":
            func id(_ key: String) throws -> Int {
                let f = j[key]
                let a = try f.array()
                guard a.count == 2 else { throw f.error("must be [token, id]") }
                _ = try a[0].string()
                return try a[1].int()
            }
            self = .template(before: [try id("cls")], after: [try id("sep")])
        case "TemplateProcessing":
            var before: [Int] = [], after: [Int] = []
            var seenSequence = false
            let specials = j["special_tokens"]
            try specials.requireObject()
            for piece in try j["single"].array() {
                try piece.requireObject()
                if piece.has("Sequence") {
                    let id = try piece["Sequence"]["id"].string()
                    guard id == "A", !seenSequence else { throw piece["Sequence"]["id"].error("a single-sequence template must hold sequence A once, not \(id.debugDescription)") }
                    seenSequence = true
                } else if piece.has("SpecialToken") {
                    let name = try piece["SpecialToken"]["id"].string()
                    let entry = specials[name]
                    guard !entry.isNull else { throw piece["SpecialToken"]["id"].error("\(name.debugDescription) is not in special_tokens") }
                    let ids = try entry["ids"].array().map { try $0.int() }
                    if seenSequence { after += ids } else { before += ids }
                } else {
                    throw piece.error("must be {\"Sequence\": ...} or {\"SpecialToken\": ...}")
                }
            }
            guard seenSequence else { throw j["single"].error("must contain {\"Sequence\": {\"id\": \"A\"}}") }
            self = .template(before: before, after: after)
        case let other:
            throw j["type"].error("post-processor \(other.debugDescription) is not supported (supported: \(Self.supported))")
        }
    }

    var allIDs: [Int] {
        switch self {
        case .none: return []
        case .template(let b, let a): return b + a
        case .sequence(let list): return list.flatMap(\.allIDs)
        }
    }

    func process(_ ids: [Int]) -> [Int] {
        switch self {
        case .none: return ids
        case .template(let before, let after): return before + ids + after
        case .sequence(let list): return list.reduce(ids) { $1.process($0) }
        }
    }
}
