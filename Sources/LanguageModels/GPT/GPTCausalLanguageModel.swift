import Foundation
import NN

extension GPT: CausalLanguageModel {
    public var vocabSize: Int { config.vocabSize }
    public var contextLength: Int { config.contextLength }
    public var hasScalarHead: Bool { config.scalarHead }
    public var modelType: String { "gpt2" }
    public var lmHeadWeight: Tensor { wte.weight }
    public var lmHeadIsPlainLinear: Bool { true }  // tied to the embedding, which LoRA does not adapt

    public func withScalarHead(_ scalarHead: Bool, seed: UInt64) -> GPT {
        guard scalarHead != config.scalarHead else { return self }
        var c = config
        c.scalarHead = scalarHead
        let converted = GPT(c, seed: seed)
        converted.copyParameters(from: self, skippingMissing: true)
        return converted
    }

    public func makeCache(batch: Int, capacity: Int?) -> KVCache { KVCache(config: config, batch: batch, capacity: capacity) }

    public func trainingActivationBytes(rows: Double, length: Int) -> Double { config.trainingActivationBytes(rows: rows, length: length) }
    public func samplingBytes(rows: Double, length: Int) -> Double { config.samplingBytes(rows: rows, length: length) }

    /// Compares the GPT-2 keys of config.json (sizes, dropout, the scalar head) before any weights are
    /// read, so that another model size is a listed difference, not a shape failure.
    public func architectureDifferences(configFile: URL) throws -> [String] {
        let json = try ConfigJSON.read(configFile)
        let c = config
        var out: [String] = []
        if let type = json["model_type"] as? String, type != modelType {
            out.append("model model_type: checkpoint \(type), this run \(modelType)")
        }
        let expected: [(String, Double)] = [
            ("vocab_size", Double(c.vocabSize)), ("n_positions", Double(c.contextLength)), ("n_embd", Double(c.dModel)),
            ("n_layer", Double(c.layers)), ("n_head", Double(c.heads)), ("resid_pdrop", Double(c.dropout)),
        ]
        out += expected.compactMap { key, now -> String? in
            let saved = json[key] as? NSNumber
            // resid_pdrop is a Float written as a Double; compare at Float precision.
            let same = key == "resid_pdrop" ? saved.map { Float($0.doubleValue) == Float(now) } : saved.map { $0.doubleValue == now }
            guard same != true else { return nil }
            return "model \(key): checkpoint \(saved.map { "\($0)" } ?? "none"), this run \(key == "resid_pdrop" ? "\(Float(now))" : "\(Int(now))")"
        }
        let head = (json["scalar_head"] as? Bool) ?? false
        if head != c.scalarHead { out.append("model scalar_head: checkpoint \(head), this run \(c.scalarHead)") }
        return out
    }
}
