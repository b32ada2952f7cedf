import Foundation
import NN

/// Reading and writing transformers' config.json for `LlamaForCausalLM`, `MistralForCausalLM` and
/// `Qwen2ForCausalLM`, range-checked: every problem is a thrown error naming the file and the field,
/// raised before anything is allocated. Reads both the rotary layout of transformers 5
/// (`rope_parameters`) and the older one (`rope_theta` plus `rope_scaling`).
enum LlamaHuggingFaceConfig {
    static func read(_ url: URL) throws -> LlamaConfig { try parse(ConfigJSON.read(url), file: url.path) }

    static func parse(_ json: [String: Any], file: String) throws -> LlamaConfig {
        func setting(_ key: String) -> String { "\(file): \(key)" }
        func value(_ key: String, in object: [String: Any] = json) -> Any? { ConfigJSON.value(key, in: object) }
        func integer(_ key: String, in object: [String: Any] = json, prefix: String = "") throws -> Int? {
            guard let raw = value(key, in: object) else { return nil }
            guard let i = JSONValue.integer(raw) else {
                throw ConfigurationError(setting(prefix + key), "must be an integer in 1...\(LlamaConfig.maxDimension), got \(JSONValue.describe(raw))")
            }
            return i
        }
        func required(_ key: String) throws -> Int {
            guard let i = try integer(key) else { throw ConfigurationError(setting(key), "is missing; a Llama-family config.json needs it") }
            return i
        }
        func number(_ key: String, in object: [String: Any] = json, prefix: String = "") throws -> Double? {
            guard let raw = value(key, in: object) else { return nil }
            guard let n = JSONValue.number(raw) else {
                throw ConfigurationError(setting(prefix + key), "must be a number, got \(JSONValue.describe(raw))")
            }
            return n
        }
        func flag(_ key: String) throws -> Bool? { try ConfigJSON.flag(key, in: json, setting: setting(key)) }

        // Architecture.
        let families = LlamaConfig.Family.allCases.map(\.rawValue).map { "\"\($0)\"" }.joined(separator: ", ")
        guard let rawType = value("model_type") else {
            throw ConfigurationError(setting("model_type"), "is missing; must be one of \(families)")
        }
        guard let typeName = rawType as? String, let family = LlamaConfig.Family(rawValue: typeName) else {
            throw ConfigurationError(setting("model_type"), "must be one of \(families), got \(JSONValue.describe(rawType))")
        }
        if let raw = value("architectures") {
            guard let list = raw as? [Any], list.count == 1, let name = list[0] as? String, name == family.architecture else {
                let shown = (try? JSONSerialization.data(withJSONObject: raw, options: [.fragmentsAllowed]))
                    .flatMap { String(data: $0, encoding: .utf8) } ?? JSONValue.describe(raw)
                throw ConfigurationError(setting("architectures"), "must be [\"\(family.architecture)\"] for model_type \"\(typeName)\", got \(shown)")
            }
        }
        if let raw = value("hidden_act"), raw as? String != "silu" {
            throw ConfigurationError(setting("hidden_act"), "must be \"silu\" (SwiGLU); got \(JSONValue.describe(raw))")
        }
        if let dropout = try number("attention_dropout"), dropout != 0 {
            throw ConfigurationError(setting("attention_dropout"), "must be 0: attention dropout is not implemented, got \(dropout)")
        }

        // Sizes.
        let vocab = try required("vocab_size"), hidden = try required("hidden_size"), inter = try required("intermediate_size")
        let layers = try required("num_hidden_layers"), heads = try required("num_attention_heads")
        let kvHeads = try integer("num_key_value_heads") ?? heads
        try Validate.inRange(heads, 1...LlamaConfig.maxDimension, setting("num_attention_heads"))
        let headDim: Int
        if let explicit = try integer("head_dim") { headDim = explicit } else {
            guard hidden % heads == 0 else {
                throw ConfigurationError(setting("hidden_size"), "must be divisible by num_attention_heads = \(heads) when head_dim is absent, got \(hidden)")
            }
            headDim = hidden / heads
        }
        let defaultPositions = [LlamaConfig.Family.llama: 2048, .mistral: 4096 * 32, .qwen2: 32768][family]!
        let maxPositions = try integer("max_position_embeddings") ?? defaultPositions
        let eps = try number("rms_norm_eps") ?? 1e-6
        guard eps.isFinite && eps > 0 && Float(eps) > 0 else {
            throw ConfigurationError(setting("rms_norm_eps"), "must be finite and > 0, got \(eps)")
        }

        // Biases: Qwen2 always has q/k/v biases; Llama's attention_bias covers q/k/v/o, mlp_bias the MLP.
        let attentionBias = try flag("attention_bias") ?? false, mlpBias = try flag("mlp_bias") ?? false
        if family != .llama {
            if attentionBias { throw ConfigurationError(setting("attention_bias"), "must be false or absent for model_type \"\(typeName)\"") }
            if mlpBias { throw ConfigurationError(setting("mlp_bias"), "must be false or absent for model_type \"\(typeName)\"") }
        }

        // Sliding windows: Mistral's limits the context to the window; Qwen2's per-layer windows are not implemented.
        var slidingWindow: Int?
        if family == .qwen2 {
            if try flag("use_sliding_window") == true {
                throw ConfigurationError(setting("use_sliding_window"), "must be false: Qwen2's per-layer sliding windows are not implemented")
            }
        } else {
            slidingWindow = try integer("sliding_window")
            // transformers' MistralConfig defaults an absent sliding_window to 4096 (null means none).
            if family == .mistral && json["sliding_window"] == nil { slidingWindow = 4096 }
        }
        if let raw = value("layer_types") {
            guard let list = raw as? [Any], list.allSatisfy({ $0 as? String == "full_attention" }) else {
                throw ConfigurationError(setting("layer_types"), "must list only \"full_attention\": other layer types are not implemented")
            }
        }

        // Rotary embeddings. transformers 5 lets a legacy rope_scaling override rope_parameters, and
        // takes rope_theta from the top level when the dictionary lacks it.
        var ropeKey = "rope_parameters"
        var rope: [String: Any] = [:]
        for key in ["rope_parameters", "rope_scaling"] {
            guard let raw = value(key) else { continue }
            guard let object = raw as? [String: Any] else { throw ConfigurationError(setting(key), "must be an object or null, got \(JSONValue.describe(raw))") }
            rope = object
            ropeKey = key
        }
        let prefix = ropeKey + "."
        let nestedTheta = try number("rope_theta", in: rope, prefix: prefix)
        let theta = try nestedTheta ?? number("rope_theta") ?? 10_000
        guard theta.isFinite && theta > 0 else {
            throw ConfigurationError(setting(nestedTheta == nil ? "rope_theta" : prefix + "rope_theta"), "must be finite and > 0, got \(theta)")
        }
        for key in ["partial_rotary_factor"] {
            if let f = try number(key, in: rope, prefix: prefix) ?? number(key), f != 1 {
                throw ConfigurationError(setting(key), "must be 1: partial rotary embeddings are not implemented, got \(f)")
            }
        }
        let ropeType = value("rope_type", in: rope) ?? value("type", in: rope) ?? "default"
        func ropeNumber(_ key: String) throws -> Double {
            guard let n = try number(key, in: rope, prefix: prefix) else {
                throw ConfigurationError(setting(prefix + key), "is missing; rope_type \(JSONValue.describe(ropeType)) needs it")
            }
            return n
        }
        let scaling: LlamaConfig.RopeScaling?
        switch ropeType as? String {
        case "default": scaling = nil
        case "linear": scaling = .linear(factor: try ropeNumber("factor"))
        case "llama3":
            guard let original = try integer("original_max_position_embeddings", in: rope, prefix: prefix) else {
                throw ConfigurationError(setting(prefix + "original_max_position_embeddings"), "is missing; rope_type \"llama3\" needs it")
            }
            scaling = .llama3(factor: try ropeNumber("factor"), lowFreqFactor: try ropeNumber("low_freq_factor"),
                              highFreqFactor: try ropeNumber("high_freq_factor"), originalMaxPositionEmbeddings: original)
        default:
            throw ConfigurationError(setting(prefix + "rope_type"), "must be \"default\", \"linear\" or \"llama3\" (the types implemented here), "
                                     + "got \(JSONValue.describe(ropeType))")
        }

        let config = LlamaConfig(
            family: family, vocabSize: vocab, hiddenSize: hidden, intermediateSize: inter, layers: layers, heads: heads,
            kvHeads: kvHeads, headDim: headDim, maxPositionEmbeddings: maxPositions, rmsNormEps: Float(eps), ropeTheta: theta,
            ropeScaling: scaling, qkvBias: family == .qwen2 || attentionBias, outputBias: attentionBias, mlpBias: mlpBias,
            tieWordEmbeddings: try flag("tie_word_embeddings") ?? false, slidingWindow: slidingWindow,
            scalarHead: try flag("scalar_head") ?? false, initializerRange: Float(try number("initializer_range") ?? 0.02))
        try config.validate(in: file)
        return config
    }

    /// A Float as the Double of its shortest decimal form (1e-06, not 9.99999997e-07), as a Python user wrote it.
    static func shortest(_ x: Float) -> Double { Double("\(x)") ?? Double(x) }

    /// config.json for `config`, readable by transformers 4.4x and 5.
    static func json(_ c: LlamaConfig) -> [String: Any] {
        var rope: [String: Any] = ["rope_type": "default", "rope_theta": c.ropeTheta]
        switch c.ropeScaling {
        case nil: break
        case .linear(let factor): rope.merge(["rope_type": "linear", "factor": factor]) { _, b in b }
        case let .llama3(factor, low, high, original):
            rope.merge(["rope_type": "llama3", "factor": factor, "low_freq_factor": low, "high_freq_factor": high,
                        "original_max_position_embeddings": original]) { _, b in b }
        }
        var out: [String: Any] = [
            "model_type": c.family.rawValue, "architectures": [c.family.architecture], "hidden_act": "silu",
            "vocab_size": c.vocabSize, "hidden_size": c.hiddenSize, "intermediate_size": c.intermediateSize,
            "num_hidden_layers": c.layers, "num_attention_heads": c.heads, "num_key_value_heads": c.kvHeads, "head_dim": c.headDim,
            "max_position_embeddings": c.maxPositionEmbeddings, "rms_norm_eps": shortest(c.rmsNormEps),
            "rope_theta": c.ropeTheta, "rope_parameters": rope, "rope_scaling": c.ropeScaling == nil ? NSNull() : rope,
            "tie_word_embeddings": c.tieWordEmbeddings, "attention_dropout": 0.0, "initializer_range": shortest(c.initializerRange),
            "scalar_head": c.scalarHead, "torch_dtype": "float32",
        ]
        switch c.family {
        case .llama:
            out["attention_bias"] = c.qkvBias
            out["mlp_bias"] = c.mlpBias
        case .mistral: out["sliding_window"] = c.slidingWindow.map { $0 as Any } ?? NSNull()
        case .qwen2: out["use_sliding_window"] = false
        }
        return out
    }
}
