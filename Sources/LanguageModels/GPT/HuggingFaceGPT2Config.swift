import NN
import Foundation

/// Reading a transformers GPT-2 `config.json` into a `GPTConfig`, range-checked: every problem is a
/// thrown error naming the file and the field, raised before anything is allocated.
enum HuggingFaceGPT2Config {
    /// config.json keys of the `GPTConfig` properties.
    static let keys = ["vocabSize": "vocab_size", "contextLength": "n_positions", "dModel": "n_embd", "layers": "n_layer",
                       "heads": "n_head", "layerNormEps": "layer_norm_epsilon"]

    static func read(_ url: URL) throws -> GPTConfig { try parse(ConfigJSON.read(url), file: url.path) }

    static func parse(_ json: [String: Any], file: String) throws -> GPTConfig {
        func setting(_ key: String) -> String { "\(file): \(key)" }
        func value(_ key: String) -> Any? { ConfigJSON.value(key, in: json) }
        func integer(_ key: String) throws -> Int {
            guard let raw = json[key] else { throw ConfigurationError(setting(key), "is missing; GPT-2's config.json needs it") }
            guard let i = JSONValue.integer(raw) else {
                throw ConfigurationError(setting(key), "must be an integer in 1...\(GPTConfig.maxDimension), got \(JSONValue.describe(raw))")
            }
            return i
        }
        func flag(_ key: String) throws -> Bool? { try ConfigJSON.flag(key, in: json, setting: setting(key)) }

        var layerNormEps: Float = 1e-5
        if let raw = value("layer_norm_epsilon") {
            guard let n = raw as? NSNumber, !JSONValue.isBoolean(n) else {
                throw ConfigurationError(setting("layer_norm_epsilon"), "must be a number > 0, got \(JSONValue.describe(raw))")
            }
            layerNormEps = n.floatValue
        }
        if let raw = value("activation_function"), !["gelu_new", "gelu_pytorch_tanh"].contains(raw as? String) {
            throw ConfigurationError(setting("activation_function"), "must be \"gelu_new\" or \"gelu_pytorch_tanh\" (GPT-2's tanh GELU), "
                                     + "got \(JSONValue.describe(raw))")
        }
        // Variants of the architecture this model does not implement: refused rather than run differently.
        if try flag("scale_attn_weights") == false {
            throw ConfigurationError(setting("scale_attn_weights"), "must be true: attention here is always scaled by 1/sqrt(head dim)")
        }
        if try flag("scale_attn_by_inverse_layer_idx") == true {
            throw ConfigurationError(setting("scale_attn_by_inverse_layer_idx"), "must be false: not implemented")
        }
        if try flag("tie_word_embeddings") == false {
            throw ConfigurationError(setting("tie_word_embeddings"), "must be true: the LM head is always tied to wte")
        }
        let config = try GPTConfig.validated(
            vocabSize: try integer("vocab_size"), contextLength: try integer("n_positions"), dModel: try integer("n_embd"),
            layers: try integer("n_layer"), heads: try integer("n_head"), layerNormEps: layerNormEps,
            scalarHead: try flag("scalar_head") ?? false, naming: { keys[$0] ?? $0 }, in: file)
        if let raw = value("n_inner"), JSONValue.integer(raw) != 4 * config.dModel {
            throw ConfigurationError(setting("n_inner"), "must be null or 4 x n_embd = \(4 * config.dModel), got \(JSONValue.describe(raw))")
        }
        return config
    }
}
