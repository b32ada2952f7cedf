import Foundation
import TestSupport
import XCTest
@testable import LanguageModels

/// Hostile Llama-family checkpoint directories: each must be refused with a thrown error naming the
/// file and the field or tensor, before any tensor is allocated.
final class LlamaHostileInputTests: XCTestCase {
    let config = LlamaConfig(vocabSize: 9, hiddenSize: 8, intermediateSize: 12, layers: 1, heads: 2, kvHeads: 1, maxPositionEmbeddings: 16)
    var directory: URL!
    var configURL: URL { directory.appendingPathComponent("config.json") }
    var weightsURL: URL { directory.appendingPathComponent("model.safetensors") }

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("llama-hostile-\(UUID().uuidString)")
        try Llama(config, seed: 1).saveHuggingFace(directory: directory)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    /// Writes config.json with `key` set to the raw JSON text `value` (nil removes the key).
    func setConfig(_ key: String, _ value: String?) throws {
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as! [String: Any]
        json.removeValue(forKey: key)
        var text = String(decoding: try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys]), as: UTF8.self)
        if let value { text = "{\"\(key)\": \(value), " + text.dropFirst() }
        try Data(text.utf8).write(to: configURL)
    }

    func assertRefused(naming parts: [String], _ context: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try Llama.loadHuggingFace(directory: directory), context, file: file, line: line) { error in
            XCTAssertTrue(error is ConfigurationError || error is SafeTensorsError, "\(context): \(type(of: error)) \(error)", file: file, line: line)
            for part in parts where !part.isEmpty {
                XCTAssertTrue("\(error)".contains(part), "\(context): '\(error)' does not mention '\(part)'", file: file, line: line)
            }
        }
    }

    func testTheUnmodifiedDirectoryLoads() throws {
        XCTAssertEqual(try Llama.loadHuggingFace(directory: directory).config, config)
    }

    func testHostileConfigFieldsAreRefusedNamingFileAndField() throws {
        let original = try Data(contentsOf: configURL)
        let cases: [(String, String?, String)] = [
            ("model_type", "\"gpt2\"", "must be one of \"llama\", \"mistral\", \"qwen2\""),
            ("model_type", nil, "is missing"),
            ("architectures", "[\"Qwen2ForCausalLM\"]", "must be [\"LlamaForCausalLM\"]"),
            ("hidden_act", "\"gelu\"", "must be \"silu\""),
            ("num_key_value_heads", "3", "must divide num_attention_heads = 2"),
            ("num_key_value_heads", "0", "must be in 1...2147483647, got 0"),
            ("num_attention_heads", "0", "must be in 1...2147483647, got 0"),
            ("head_dim", "5", "must be even"),
            ("head_dim", "8", "implies [16, 8]"),                              // q_proj [8, 8] in the file
            ("hidden_size", "-8", "got -8"),
            ("vocab_size", "1e12", "must be in 1...2147483647, got 1000000000000"),
            ("vocab_size", "1e300", "must be an integer"),
            ("vocab_size", "10", "model.embed_tokens.weight of shape [9, 8]"),
            ("intermediate_size", "13", "implies [13, 8]"),
            ("num_hidden_layers", "2147483647", "is 2147483647 but the weights hold 1 layer (model.layers.0)"),
            ("num_hidden_layers", "2", "is 2 but the weights hold 1 layer"),
            ("num_hidden_layers", "\"1\"", "the string \"1\""),
            ("rms_norm_eps", "0", "must be finite and > 0"),
            ("rms_norm_eps", "1e-50", "must be finite and > 0"),                // 0 as a Float
            ("rope_parameters", "{\"rope_type\": \"default\", \"rope_theta\": -1}", "rope_theta: must be finite and > 0"),
            ("rope_scaling", "{\"rope_type\": \"yarn\", \"factor\": 2}", "rope_scaling.rope_type: must be \"default\", \"linear\" or \"llama3\""),
            ("rope_scaling", "{\"type\": \"dynamic\", \"factor\": 2}", "got the string \"dynamic\""),
            ("rope_scaling", "{\"rope_type\": \"linear\"}", "rope_scaling.factor: is missing"),
            ("rope_scaling", "{\"rope_type\": \"linear\", \"factor\": 0}", "rope_scaling.factor: must be finite and > 0"),
            ("rope_scaling", "{\"rope_type\": \"llama3\", \"factor\": 8, \"low_freq_factor\": 4, \"high_freq_factor\": 1, "
                + "\"original_max_position_embeddings\": 8}", "must be greater than low_freq_factor"),
            ("rope_scaling", "{\"rope_type\": \"llama3\", \"factor\": 8, \"low_freq_factor\": 1, \"high_freq_factor\": 4}",
             "original_max_position_embeddings: is missing"),
            ("rope_scaling", "[1]", "must be an object or null"),
            ("partial_rotary_factor", "0.5", "partial rotary embeddings are not implemented"),
            ("attention_dropout", "0.1", "attention dropout is not implemented"),
            ("tie_word_embeddings", "1", "must be true or false"),
            ("attention_bias", "true", "q_proj.bias"),                        // missing bias tensors
            ("layer_types", "[\"sliding_attention\"]", "must list only \"full_attention\""),
            ("sliding_window", "0", "sliding_window: must be in 1...2147483647"),
        ]
        for (key, value, phrase) in cases {
            try original.write(to: configURL)
            try setConfig(key, value)
            assertRefused(naming: [configURL.path, key == "head_dim" || key == "intermediate_size" || key == "tie_word_embeddings"
                                   || key == "attention_bias" ? "" : key, phrase], "\(key) = \(value ?? "absent")")
        }
        // Qwen2: its sliding windows, and Llama-only bias flags, are refused.
        for (key, value, phrase) in [("use_sliding_window", "true", "per-layer sliding windows are not implemented"),
                                     ("mlp_bias", "true", "must be false or absent for model_type \"qwen2\"")] {
            try original.write(to: configURL)
            try setConfig("architectures", nil)
            try setConfig("model_type", "\"qwen2\"")
            try setConfig(key, value)
            assertRefused(naming: [configURL.path, key, phrase], "qwen2 \(key)")
        }
        try original.write(to: configURL)
        try Data("[1, 2]".utf8).write(to: configURL)
        assertRefused(naming: [configURL.path, "not a JSON object"], "config.json an array")
    }

    func testHostileWeightsAreRefusedNamingFileAndTensor() throws {
        var tensors = try SafeTensors.read(weightsURL).tensors
        let good = tensors
        // A missing tensor, a wrong shape, an unexpected tensor, a non-finite weight.
        tensors.removeValue(forKey: "model.layers.0.mlp.up_proj.weight")
        try SafeTensors.write(tensors, to: weightsURL)
        assertRefused(naming: ["model.layers.0.mlp.up_proj.weight", "is missing"], "missing tensor")
        tensors = good
        tensors["model.norm.weight"] = Tensor.ones([7])
        try SafeTensors.write(tensors, to: weightsURL)
        assertRefused(naming: [weightsURL.path, "model.norm.weight", "has shape [7]", "implies [8]"], "wrong shape")
        tensors = good
        tensors["model.layers.0.self_attn.q_norm.weight"] = Tensor.ones([8])
        try SafeTensors.write(tensors, to: weightsURL)
        assertRefused(naming: [weightsURL.path, "q_norm.weight", "is not a tensor of a LlamaForCausalLM"], "extra tensor")
        tensors = good
        let bad = Tensor.ones([8])
        bad.withUnsafeMutableBufferPointer { $0[3] = .nan }
        tensors["model.norm.weight"] = bad
        try SafeTensors.write(tensors, to: weightsURL)
        assertRefused(naming: [weightsURL.path, "model.norm.weight", "non-finite value nan at flat index 3"], "NaN weight")
        // Ignorable extras load: old rotary buffers.
        tensors = good
        tensors["model.layers.0.self_attn.rotary_emb.inv_freq"] = Tensor.ones([2])
        try SafeTensors.write(tensors, to: weightsURL)
        XCTAssertNoThrow(try Llama.loadHuggingFace(directory: directory))
        try FileManager.default.removeItem(at: weightsURL)
        assertRefused(naming: [directory.path, "neither model.safetensors nor model.safetensors.index.json"], "no weights")
    }

    /// Writes the model's tensors as two shards and an index whose weight_map `edit` may change.
    func writeShards(edit: (inout [String: Any]) -> Void = { _ in }) throws {
        let tensors = try SafeTensors.read(weightsURL).tensors
        try FileManager.default.removeItem(at: weightsURL)
        let names = tensors.keys.sorted()
        var map: [String: Any] = [:]
        for (i, part) in [Array(names.prefix(4)), Array(names.dropFirst(4))].enumerated() {
            let file = "model-0000\(i + 1)-of-00002.safetensors"
            try SafeTensors.write(Dictionary(uniqueKeysWithValues: part.map { ($0, tensors[$0]!) }), to: directory.appendingPathComponent(file))
            for n in part { map[n] = file }
        }
        edit(&map)
        let index: [String: Any] = ["metadata": ["total_size": 0], "weight_map": map]
        try JSONSerialization.data(withJSONObject: index).write(to: directory.appendingPathComponent("model.safetensors.index.json"))
    }

    func testShardedCheckpointsLoadAndHostileIndexesAreRefused() throws {
        let model = try Llama.loadHuggingFace(directory: directory)
        try writeShards()
        let sharded = try Llama.loadHuggingFace(directory: directory)
        XCTAssertEqual(withNoGrad { sharded([1, 2, 3], batch: 1) }.scalars, withNoGrad { model([1, 2, 3], batch: 1) }.scalars)
        let index = directory.appendingPathComponent("model.safetensors.index.json")
        let cases: [(String, (inout [String: Any]) -> Void, String)] = [
            ("path outside the directory", { $0["model.norm.weight"] = "../model-00001-of-00002.safetensors" }, "must be a file name in the same directory"),
            ("absent shard", { m in
                for (k, v) in m where v as? String == "model-00002-of-00002.safetensors" { m[k] = "model-00003-of-00003.safetensors" }
            }, "cannot read"),
            ("tensor placed in the wrong shard", { m in
                let name = m.keys.sorted()[0]
                m[name] = "model-00002-of-00002.safetensors"
            }, "is not listed for this file in the weight_map"),
            ("listed but absent", { $0["model.extra.weight"] = "model-00001-of-00002.safetensors" }, "is missing, but the weight_map"),
            ("not a string", { $0["model.norm.weight"] = 3 }, "must be a file name"),
        ]
        for (context, edit, phrase) in cases {
            for file in try FileManager.default.contentsOfDirectory(atPath: directory.path) where file.hasSuffix(".safetensors") {
                try FileManager.default.removeItem(at: directory.appendingPathComponent(file))
            }
            try model.saveHuggingFace(directory: directory)
            try writeShards(edit: edit)
            assertRefused(naming: [phrase], context)
        }
        try Data("{\"weight_map\": []}".utf8).write(to: index)
        assertRefused(naming: [index.path, "weight_map"], "weight_map an array")
    }

    /// Configs built in code are checked by `validate()`, naming config.json's keys.
    func testValidateNamesTheKey() {
        var c = config
        c.qkvBias = true
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("attention_bias")) }
        c = config
        c.family = .qwen2
        XCTAssertThrowsError(try c.validate(in: "x/config.json")) { XCTAssertTrue("\($0)".hasPrefix("x/config.json: attention_bias")) }
        c = config
        c.slidingWindow = 8
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("sliding_window")) }
        c.family = .mistral
        XCTAssertNoThrow(try c.validate())
        XCTAssertEqual(c.contextLength, 8)
        c.hiddenSize = Int(Int32.max)
        c.intermediateSize = Int(Int32.max)
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("more than 2^60"), "\($0)") }
    }
}
