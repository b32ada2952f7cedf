import NN
/// The tensors of a transformers GPT-2 safetensors file, and the check that a file's header holds
/// them with the shapes its config.json implies, made before any tensor is allocated.
enum HuggingFaceGPT2Layout {
    /// Tensors for `config`, named without the `transformer.` prefix, with their shapes as stored
    /// (Conv1D weights [in, out]), in the order of `GPT.namedParameters()`.
    static func expectedShapes(_ c: GPTConfig) -> [(name: String, shape: [Int])] {
        let d = c.dModel
        var out: [(name: String, shape: [Int])] = [("wte.weight", [c.vocabSize, d]), ("wpe.weight", [c.contextLength, d])]
        for i in 0..<c.layers {
            let p = "h.\(i)."
            out += [(p + "ln_1.weight", [d]), (p + "ln_1.bias", [d]),
                    (p + "attn.c_attn.weight", [d, 3 * d]), (p + "attn.c_attn.bias", [3 * d]),
                    (p + "attn.c_proj.weight", [d, d]), (p + "attn.c_proj.bias", [d]),
                    (p + "ln_2.weight", [d]), (p + "ln_2.bias", [d]),
                    (p + "mlp.c_fc.weight", [d, 4 * d]), (p + "mlp.c_fc.bias", [4 * d]),
                    (p + "mlp.c_proj.weight", [4 * d, d]), (p + "mlp.c_proj.bias", [d])]
        }
        out += [("ln_f.weight", [d]), ("ln_f.bias", [d])]
        if c.scalarHead { out += [("score.weight", [1, d]), ("score.bias", [1])] }
        return out
    }

    /// transformers' name of a parameter or module named `name` in `GPT` (the scalar head stays `score`).
    static func transformersName(_ name: String) -> String {
        name == "score" || name.hasPrefix("score.") ? name : "transformer." + name
    }

    /// The name of a file's tensor without the `transformer.` prefix.
    static func canonicalName(_ name: String) -> String {
        name.hasPrefix("transformer.") ? String(name.dropFirst("transformer.".count)) : name
    }

    /// Throws unless `header` holds every tensor of `config` with its shape and no blocks beyond
    /// `config.layers`. A config field that disagrees with the file is reported against config.json.
    static func check(_ header: SafeTensors.Header, against config: GPTConfig, configFile: String, weightsFile: String) throws {
        var rawNames: [String: String] = [:]
        for name in header.tensors.keys.sorted() {
            if let other = rawNames.updateValue(name, forKey: canonicalName(name)) {
                throw SafeTensorsError(file: weightsFile, tensor: name, reason: "duplicates '\(other)': one name with and one without 'transformer.'")
            }
        }
        func shape(_ name: String) -> [Int]? { rawNames[name].flatMap { header.tensors[$0]?.shape } }
        func mismatch(_ key: String, _ value: Int, _ tensor: String, _ found: [Int]) -> ConfigurationError {
            ConfigurationError("\(configFile): \(key)", "is \(value) but \(weightsFile) has \(rawNames[tensor]!) of shape \(found)")
        }
        if let wte = shape("wte.weight"), wte.count == 2 {
            if wte[0] != config.vocabSize { throw mismatch("vocab_size", config.vocabSize, "wte.weight", wte) }
            if wte[1] != config.dModel { throw mismatch("n_embd", config.dModel, "wte.weight", wte) }
        }
        if let wpe = shape("wpe.weight"), wpe.count == 2, wpe[0] != config.contextLength {
            throw mismatch("n_positions", config.contextLength, "wpe.weight", wpe)
        }
        let blocks = Set(rawNames.keys.compactMap(blockIndex)).sorted()
        // `blocks` is sorted and distinct, so it is 0..<layers exactly when its count and ends match;
        // comparing with Array(0..<layers) would allocate 16 GB for n_layer = 2^31 - 1.
        if blocks.count != config.layers || blocks.first != 0 || blocks.last != config.layers - 1 {
            let listed = blocks.prefix(8).map { "h.\($0)" }.joined(separator: ", ") + (blocks.count > 8 ? ", ..." : "")
            throw ConfigurationError("\(configFile): n_layer", "is \(config.layers) but \(weightsFile) holds \(blocks.count) "
                                     + "block\(blocks.count == 1 ? "" : "s")\(blocks.isEmpty ? "" : " (\(listed))")")
        }
        let prefix = header.tensors.keys.contains { $0.hasPrefix("transformer.") } ? "transformer." : ""
        for (name, expected) in expectedShapes(config) {
            guard let found = shape(name) else {
                let stored = name.hasPrefix("score.") ? name : prefix + name
                throw SafeTensorsError(file: weightsFile, tensor: stored, reason: "is missing (\(configFile) implies shape \(expected))")
            }
            guard found == expected else {
                throw SafeTensorsError(file: weightsFile, tensor: rawNames[name]!, reason: "has shape \(found), \(configFile) implies \(expected)")
            }
        }
    }

    /// 3 for "h.3.attn.c_attn.weight"; nil for names outside the blocks.
    static func blockIndex(_ name: String) -> Int? {
        guard name.hasPrefix("h.") else { return nil }
        return Int(name.dropFirst(2).prefix { $0 != "." })
    }
}
