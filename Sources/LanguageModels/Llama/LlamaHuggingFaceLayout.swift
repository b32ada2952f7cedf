import Foundation
import NN

/// The tensors of a transformers Llama-family checkpoint, and the checks that the headers of its
/// safetensors files (one file, or the shards of `model.safetensors.index.json`) hold them with the
/// shapes config.json implies, made before any tensor is allocated.
enum LlamaHuggingFaceLayout {
    /// Tensors for `config` with their shapes, in the order of `Llama.namedParameters()`.
    static func expectedShapes(_ c: LlamaConfig) -> [(name: String, shape: [Int])] {
        let d = c.hiddenSize, q = c.heads * c.headDim, kv = c.kvHeads * c.headDim, m = c.intermediateSize
        var out: [(name: String, shape: [Int])] = [("model.embed_tokens.weight", [c.vocabSize, d])]
        for i in 0..<c.layers {
            let p = "model.layers.\(i)."
            out.append((p + "input_layernorm.weight", [d]))
            for (proj, rows, cols, bias) in [("q_proj", q, d, c.qkvBias), ("k_proj", kv, d, c.qkvBias), ("v_proj", kv, d, c.qkvBias),
                                             ("o_proj", d, q, c.outputBias)] {
                out.append((p + "self_attn.\(proj).weight", [rows, cols]))
                if bias { out.append((p + "self_attn.\(proj).bias", [rows])) }
            }
            out.append((p + "post_attention_layernorm.weight", [d]))
            for (proj, rows, cols) in [("gate_proj", m, d), ("up_proj", m, d), ("down_proj", d, m)] {
                out.append((p + "mlp.\(proj).weight", [rows, cols]))
                if c.mlpBias { out.append((p + "mlp.\(proj).bias", [rows])) }
            }
        }
        out.append(("model.norm.weight", [d]))
        if !c.tieWordEmbeddings { out.append(("lm_head.weight", [c.vocabSize, d])) }
        if c.scalarHead { out += [("score.weight", [1, d]), ("score.bias", [1])] }
        return out
    }

    /// Tensors a checkpoint may hold that the model does not use: the copy of a tied LM head and the
    /// rotary inverse frequencies older transformers versions saved.
    static func isIgnorable(_ name: String, _ c: LlamaConfig) -> Bool {
        (c.tieWordEmbeddings && name == "lm_head.weight") || name.hasSuffix(".rotary_emb.inv_freq")
    }

    /// 3 for "model.layers.3.mlp.up_proj.weight"; nil for names outside the layers.
    static func layerIndex(_ name: String) -> Int? {
        guard name.hasPrefix("model.layers.") else { return nil }
        return Int(name.dropFirst("model.layers.".count).prefix { $0 != "." })
    }

    /// Throws unless the tensors `located` (name -> file and header entry) are exactly those of
    /// `config` with their shapes, up to ignorable extras. A config field that disagrees with the
    /// weights is reported against config.json.
    static func check(_ located: [String: (file: String, info: SafeTensors.TensorInfo)], against c: LlamaConfig, configFile: String) throws {
        func mismatch(_ key: String, _ value: Int, _ tensor: String, _ found: [Int]) -> ConfigurationError {
            ConfigurationError("\(configFile): \(key)", "is \(value) but \(located[tensor]!.file) has \(tensor) of shape \(found)")
        }
        if let e = located["model.embed_tokens.weight"]?.info.shape, e.count == 2 {
            if e[0] != c.vocabSize { throw mismatch("vocab_size", c.vocabSize, "model.embed_tokens.weight", e) }
            if e[1] != c.hiddenSize { throw mismatch("hidden_size", c.hiddenSize, "model.embed_tokens.weight", e) }
        }
        let blocks = Set(located.keys.filter { !isIgnorable($0, c) }.compactMap(layerIndex)).sorted()
        // Compared by count and ends: Array(0..<layers) would allocate gigabytes for a hostile layer count.
        if blocks.count != c.layers || blocks.first != 0 || blocks.last != c.layers - 1 {
            let listed = blocks.prefix(8).map(String.init).joined(separator: ", ") + (blocks.count > 8 ? ", ..." : "")
            throw ConfigurationError("\(configFile): num_hidden_layers", "is \(c.layers) but the weights hold \(blocks.count) "
                                     + "layer\(blocks.count == 1 ? "" : "s")\(blocks.isEmpty ? "" : " (model.layers.\(listed))")")
        }
        let expected = expectedShapes(c)
        let expectedNames = Set(expected.map(\.name))
        for (name, shape) in expected {
            guard let found = located[name] else {
                throw SafeTensorsError(file: configFile, tensor: name, reason: "is missing from the weights (config.json implies shape \(shape))")
            }
            guard found.info.shape == shape else {
                throw SafeTensorsError(file: found.file, tensor: name, reason: "has shape \(found.info.shape), \(configFile) implies \(shape)")
            }
        }
        for name in located.keys.sorted() where !expectedNames.contains(name) && !isIgnorable(name, c) {
            throw SafeTensorsError(file: located[name]!.file, tensor: name,
                                   reason: "is not a tensor of a \(c.family.architecture) with this config.json (\(configFile))")
        }
    }
}
