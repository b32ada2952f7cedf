import Foundation
import NN

extension Llama {
    /// Reads a directory written by transformers' `save_pretrained` for `LlamaForCausalLM`,
    /// `MistralForCausalLM` or `Qwen2ForCausalLM`: config.json plus `model.safetensors` or a sharded
    /// `model.safetensors.index.json` with its shards. F32, F16 and BF16 tensors are computed in F32.
    /// config.json is range-checked and every file's header compared with it before any tensor or
    /// parameter is allocated; weights must be finite. Every problem is a thrown error naming the
    /// file and the field or tensor.
    public static func loadHuggingFace(directory: URL) throws -> Llama {
        let configURL = directory.appendingPathComponent("config.json")
        let config = try LlamaHuggingFaceConfig.read(configURL)
        let files = try weightFiles(directory)
        // Map every file and check every header (and the index against them) before decoding any data.
        var mapped: [(url: URL, data: Data, header: SafeTensors.Header)] = []
        var located: [String: (file: String, info: SafeTensors.TensorInfo)] = [:]
        for (url, listed) in files {
            let data: Data
            do { data = try Data(contentsOf: url, options: .mappedIfSafe) } catch {
                throw SafeTensorsError(file: url.path, reason: "cannot read: \(SafeTensors.systemReason(error))")
            }
            let header = try SafeTensors.decodeHeader(data, source: url.path)
            for (name, info) in header.tensors {
                if let listed, !listed.contains(name) {
                    throw SafeTensorsError(file: url.path, tensor: name, reason: "is not listed for this file in the weight_map of \(indexName)")
                }
                if let other = located[name] {
                    throw SafeTensorsError(file: url.path, tensor: name, reason: "is also in \(other.file)")
                }
                located[name] = (url.path, info)
            }
            if let listed, let absent = listed.sorted().first(where: { header.tensors[$0] == nil }) {
                throw SafeTensorsError(file: url.path, tensor: absent, reason: "is missing, but the weight_map of \(indexName) places it in this file")
            }
            mapped.append((url, data, header))
        }
        try LlamaHuggingFaceLayout.check(located, against: config, configFile: configURL.path)

        var named: [String: Tensor] = [:]
        for (url, data, _) in mapped {
            let contents = try SafeTensors.decode(data, source: url.path)
            for (name, t) in contents.tensors where !LlamaHuggingFaceLayout.isIgnorable(name, config) {
                if let bad = t.withUnsafeBufferPointer({ $0.firstIndex { !$0.isFinite } }) {
                    throw SafeTensorsError(file: url.path, tensor: name, reason: "holds the non-finite value \(t.scalars[bad]) at flat index \(bad)")
                }
                named[name] = t
            }
        }
        let model = Llama(config)
        try model.load(named, source: directory.path)
        model.eval()
        return model
    }

    static let indexName = "model.safetensors.index.json"

    /// The safetensors files of a checkpoint: `model.safetensors` alone, or the shards of the index
    /// with the tensor names the index places in each.
    static func weightFiles(_ directory: URL) throws -> [(URL, Set<String>?)] {
        let single = directory.appendingPathComponent("model.safetensors")
        if FileManager.default.fileExists(atPath: single.path) { return [(single, nil)] }
        let indexURL = directory.appendingPathComponent(indexName)
        guard FileManager.default.fileExists(atPath: indexURL.path) else {
            throw SafeTensorsError(file: directory.path, reason: "has neither model.safetensors nor \(indexName)")
        }
        let data: Data
        do { data = try Data(contentsOf: indexURL) } catch {
            throw SafeTensorsError(file: indexURL.path, reason: "cannot read: \(SafeTensors.systemReason(error))")
        }
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw SafeTensorsError(file: indexURL.path, reason: "not a JSON object")
        }
        guard let map = json["weight_map"] as? [String: Any] else {
            throw ConfigurationError("\(indexURL.path): weight_map", "must be an object of tensor name -> shard file name")
        }
        var byFile: [String: Set<String>] = [:]
        for (tensor, raw) in map {
            // A shard is a plain file name beside the index: no paths that could reach elsewhere.
            guard let file = raw as? String, !file.isEmpty, !file.contains("/"), !file.contains("\\"), file != ".", file != ".." else {
                throw ConfigurationError("\(indexURL.path): weight_map.\(tensor)", "must be a file name in the same directory, got \(JSONValue.describe(raw))")
            }
            byFile[file, default: []].insert(tensor)
        }
        guard !byFile.isEmpty else { throw ConfigurationError("\(indexURL.path): weight_map", "is empty") }
        return byFile.keys.sorted().map { (directory.appendingPathComponent($0), byFile[$0]) }
    }

    /// Writes config.json and an F32 `model.safetensors` in transformers' layout (a tied LM head is
    /// not stored), so `AutoModelForCausalLM.from_pretrained` opens it; a scalar head is stored as
    /// `score.weight`/`score.bias` with `"scalar_head": true`. `metadata` goes into the safetensors
    /// header. Both files are written atomically.
    public func saveHuggingFace(directory: URL, metadata: [String: String] = [:]) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let data = try JSONSerialization.data(withJSONObject: LlamaHuggingFaceConfig.json(config), options: [.prettyPrinted, .sortedKeys])
        // The base weights only: LoRA adapters are saved apart, in PEFT's layout.
        try SafeTensors.write(Dictionary(uniqueKeysWithValues: baseNamedParameters().map { ($0.name, $0.tensor) }),
                              metadata: metadata.merging(["format": "pt"]) { a, _ in a },
                              to: directory.appendingPathComponent("model.safetensors"))
        try SafeTensors.atomicWrite(data, to: directory.appendingPathComponent("config.json"))
    }
}
