import Foundation

extension GPT {
    /// Reads a directory written by transformers' `save_pretrained` for GPT-2 (`config.json` and
    /// `model.safetensors`). Conv1D weights, stored [in, out], are transposed to [out, in]; the tied
    /// `lm_head.weight` may be absent; the attention-mask buffers of older versions are ignored.
    public static func loadHuggingFace(directory: URL) throws -> GPT {
        let configURL = directory.appendingPathComponent("config.json")
        let configData: Data
        do { configData = try Data(contentsOf: configURL) } catch {
            throw SafeTensorsError(file: configURL.path, reason: "cannot read: \(error.localizedDescription)")
        }
        guard let json = try? JSONSerialization.jsonObject(with: configData) as? [String: Any] else {
            throw SafeTensorsError(file: configURL.path, reason: "not a JSON object")
        }
        func int(_ key: String) throws -> Int {
            guard let v = json[key] as? NSNumber else { throw SafeTensorsError(file: configURL.path, reason: "missing integer '\(key)'") }
            return v.intValue
        }
        let config = GPTConfig(vocabSize: try int("vocab_size"), contextLength: try int("n_positions"), dModel: try int("n_embd"),
                               layers: try int("n_layer"), heads: try int("n_head"),
                               layerNormEps: (json["layer_norm_epsilon"] as? NSNumber)?.floatValue ?? 1e-5,
                               scalarHead: (json["scalar_head"] as? Bool) ?? false)
        if let act = json["activation_function"] as? String, act != "gelu_new" && act != "gelu_pytorch_tanh" {
            throw SafeTensorsError(file: configURL.path, reason: "activation_function '\(act)' is not GPT-2's tanh GELU")
        }
        let weightsURL = directory.appendingPathComponent("model.safetensors")
        let contents = try SafeTensors.read(weightsURL)
        var named: [String: Tensor] = [:]
        for (rawName, t) in contents.tensors {
            var name = rawName
            if name.hasPrefix("transformer.") { name.removeFirst("transformer.".count) }
            if name == "lm_head.weight" || name.hasSuffix(".attn.bias") || name.hasSuffix(".attn.masked_bias") { continue }
            let isConv1D = name.hasSuffix(".weight") && [".c_attn.", ".c_proj.", ".c_fc."].contains { name.contains($0) }
            named[name] = isConv1D && t.rank == 2 ? t.T.contiguous() : t
        }
        let model = GPT(config)
        try model.load(named, source: weightsURL.path)
        model.eval()
        return model
    }

    /// Writes `config.json` and `model.safetensors` in the layout of transformers' GPT-2
    /// (`transformer.`-prefixed names, Conv1D weights [in, out]), so `GPT2LMHeadModel.from_pretrained`
    /// opens it; a scalar head is stored as `score.weight`/`score.bias` with `"scalar_head": true`.
    /// `metadata` goes into the safetensors header. Both files are written atomically.
    public func saveHuggingFace(directory: URL, metadata: [String: String] = [:]) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let c = config
        let configJSON: [String: Any] = [
            "model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "activation_function": "gelu_new",
            "vocab_size": c.vocabSize, "n_positions": c.contextLength, "n_ctx": c.contextLength, "n_embd": c.dModel,
            "n_layer": c.layers, "n_head": c.heads, "layer_norm_epsilon": Double(c.layerNormEps),
            "resid_pdrop": Double(c.dropout), "embd_pdrop": Double(c.dropout), "attn_pdrop": 0.0,
            "tie_word_embeddings": true, "scale_attn_weights": true, "scalar_head": c.scalarHead,
        ]
        let data = try JSONSerialization.data(withJSONObject: configJSON, options: [.prettyPrinted, .sortedKeys])
        var tensors: [String: Tensor] = [:]
        for (name, t) in namedParameters() {
            if name.hasPrefix("score.") { tensors[name] = t; continue }
            let isConv1D = name.hasSuffix(".weight") && [".c_attn.", ".c_proj.", ".c_fc."].contains { name.contains($0) }
            tensors["transformer." + name] = isConv1D ? t.T : t
        }
        try SafeTensors.write(tensors, metadata: metadata.merging(["format": "pt"]) { a, _ in a },
                              to: directory.appendingPathComponent("model.safetensors"))
        try SafeTensors.atomicWrite(data, to: directory.appendingPathComponent("config.json"))
    }
}
