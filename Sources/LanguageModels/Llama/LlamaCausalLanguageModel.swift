import Foundation
import NN

extension Llama: CausalLanguageModel {
    public var vocabSize: Int { config.vocabSize }
    public var contextLength: Int { config.contextLength }
    public var hasScalarHead: Bool { config.scalarHead }
    public var modelType: String { config.family.rawValue }
    public var lmHeadWeight: Tensor { lmHead?.weight ?? model.embedTokens.weight }
    public var lmHeadIsPlainLinear: Bool { lmHead?.lora == nil }

    public func withScalarHead(_ scalarHead: Bool, seed: UInt64) -> Llama {
        guard scalarHead != config.scalarHead else { return self }
        var c = config
        c.scalarHead = scalarHead
        let converted = Llama(c, seed: seed)
        converted.copyParameters(from: self, skippingMissing: true)
        return converted
    }

    public func trainingActivationBytes(rows: Double, length: Int) -> Double { config.trainingActivationBytes(rows: rows, length: length) }
    public func samplingBytes(rows: Double, length: Int) -> Double { config.samplingBytes(rows: rows, length: length) }

    /// Compares the architecture keys of a Llama-family config.json with this model's, before any
    /// weights are read, so another model size is a listed difference, not a shape failure. An
    /// unreadable or invalid config.json is a thrown error.
    public func architectureDifferences(configFile: URL) throws -> [String] {
        let json = try ConfigJSON.read(configFile)
        if let type = json["model_type"] as? String, type != modelType {
            return ["model model_type: checkpoint \(type), this run \(modelType)"]
        }
        let saved = try LlamaHuggingFaceConfig.parse(json, file: configFile.path)
        let mine = LlamaHuggingFaceConfig.json(config), theirs = LlamaHuggingFaceConfig.json(saved)
        func text(_ value: Any?) -> String {
            guard let value else { return "none" }
            let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed])
            return data.flatMap { String(data: $0, encoding: .utf8) } ?? "\(value)"
        }
        return mine.keys.sorted().compactMap { key -> String? in
            let a = text(mine[key]), b = text(theirs[key])
            return a == b ? nil : "model \(key): checkpoint \(b), this run \(a)"
        }
    }
}
