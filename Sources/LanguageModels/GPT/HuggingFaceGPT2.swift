import NN
import Foundation

extension GPT {
    /// Reads a directory written by transformers' `save_pretrained` for GPT-2 (`config.json` and
    /// `model.safetensors`). Conv1D weights, stored [in, out], are transposed to [out, in]; the tied
    /// `lm_head.weight` may be absent; the attention-mask buffers of older versions are ignored.
    /// config.json is range-checked and compared with the safetensors header before any tensor or
    /// parameter is allocated; every problem is a thrown error naming the file and field or tensor.
    public static func loadHuggingFace(directory: URL) throws -> GPT {
        let configURL = directory.appendingPathComponent("config.json")
        let config = try HuggingFaceGPT2Config.read(configURL)
        let weightsURL = directory.appendingPathComponent("model.safetensors")
        let contents = try SafeTensors.read(weightsURL) { header in
            try HuggingFaceGPT2Layout.check(header, against: config, configFile: configURL.path, weightsFile: weightsURL.path)
        }
        var named: [String: Tensor] = [:]
        for (rawName, t) in contents.tensors {
            let name = HuggingFaceGPT2Layout.canonicalName(rawName)
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
        for (name, t) in baseNamedParameters() {  // LoRA adapters are saved on their own (saveLoRAAdapter)
            let isConv1D = name.hasSuffix(".weight") && [".c_attn.", ".c_proj.", ".c_fc."].contains { name.contains($0) }
            tensors[HuggingFaceGPT2Layout.transformersName(name)] = isConv1D ? t.T : t
        }
        try SafeTensors.write(tensors, metadata: metadata.merging(["format": "pt"]) { a, _ in a },
                              to: directory.appendingPathComponent("model.safetensors"))
        try SafeTensors.atomicWrite(data, to: directory.appendingPathComponent("config.json"))
    }
}
