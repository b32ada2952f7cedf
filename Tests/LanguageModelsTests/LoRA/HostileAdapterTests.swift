import XCTest
import TestSupport
import LanguageModels

/// Damaged or unsupported PEFT adapters: each is a thrown error naming the file and the field or
/// key, and the model is left without adapters.
final class HostileAdapterTests: XCTestCase {
    /// Loads a copy of adapter-c_attn after `edit` changed its config JSON, returning the error text.
    func loadError(editConfig edit: (inout [String: Any]) -> Void = { _ in },
                   editWeights: ((inout [String: Tensor]) -> Void)? = nil,
                   file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let dir = try LoRAFixtures.copy("adapter-c_attn")
        defer { try? FileManager.default.removeItem(at: dir) }
        let configURL = dir.appendingPathComponent("adapter_config.json")
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as! [String: Any]
        edit(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: configURL)
        if let editWeights {
            let url = dir.appendingPathComponent("adapter_model.safetensors")
            var tensors = try SafeTensors.read(url).tensors
            editWeights(&tensors)
            try SafeTensors.write(tensors, to: url)
        }
        let model = try GPT.loadHuggingFace(directory: LoRAFixtures.base)
        do {
            try model.loadLoRAAdapter(directory: dir)
        } catch {
            XCTAssertFalse(model.hasLoRA, "a refused adapter leaves the model untouched", file: file, line: line)
            XCTAssertEqual(model.trainableParameters().count, model.parameters().count, file: file, line: line)
            return "\(error)"
        }
        XCTFail("loaded a damaged adapter", file: file, line: line)
        return ""
    }

    func check(_ message: String, _ expected: [String], file: StaticString = #filePath, line: UInt = #line) {
        for part in expected { XCTAssertTrue(message.contains(part), "'\(message)' lacks '\(part)'", file: file, line: line) }
    }

    let key = "base_model.model.transformer.h.0.attn.c_attn.lora_A.weight"

    func testUnsupportedOptions() throws {
        let cases: [(String, Any, [String])] = [
            ("use_rslora", true, ["adapter_config.json: use_rslora", "rank-stabilised LoRA"]),
            ("use_dora", true, ["adapter_config.json: use_dora", "DoRA is not supported"]),
            ("bias", "all", ["adapter_config.json: bias", "must be \"none\""]),
            ("peft_type", "IA3", ["adapter_config.json: peft_type", "must be \"LORA\""]),
            ("task_type", "SEQ_CLS", ["adapter_config.json: task_type", "\"CAUSAL_LM\""]),
            ("modules_to_save", ["score"], ["adapter_config.json: modules_to_save", "not supported"]),
            ("rank_pattern", ["h.0.attn.c_attn": 8], ["adapter_config.json: rank_pattern"]),
            ("layers_to_transform", [0], ["adapter_config.json: layers_to_transform"]),
            ("some_future_option", 3, ["adapter_config.json: some_future_option", "this option is not supported"]),
            ("fan_in_fan_out", false, ["adapter_config.json: fan_in_fan_out", "must be true for this model"]),
            ("r", 0, ["adapter_config.json: r", "must be in 1..."]),
            ("r", "4", ["adapter_config.json: r", "must be an integer"]),
            ("lora_alpha", -1, ["adapter_config.json: lora_alpha", "> 0"]),
            ("lora_dropout", 1.5, ["adapter_config.json: lora_dropout", "[0, 1)"]),
            ("target_modules", ["q_proj"], ["adapter_config.json: target_modules", "'q_proj' matches no module", "transformer.h.0.attn.c_attn"]),
            ("target_modules", [], ["adapter_config.json: target_modules", "at least one module"]),
            ("target_modules", 7, ["adapter_config.json: target_modules", "a string or a list of strings"]),
        ]
        for (field, value, expected) in cases {
            check(try loadError(editConfig: { $0[field] = value }), expected)
        }
        check(try loadError(editConfig: { $0["r"] = nil }), ["adapter_config.json: r", "is missing"])
        check(try loadError(editConfig: { $0["target_modules"] = nil }), ["adapter_config.json: target_modules", "is missing"])
        // Off values of options this reader does not implement are fine.
        let dir = try LoRAFixtures.copy("adapter-c_attn")
        defer { try? FileManager.default.removeItem(at: dir) }
        XCTAssertNoThrow(try GPT.loadHuggingFace(directory: LoRAFixtures.base).loadLoRAAdapter(directory: dir))
    }

    func testWeightsThatDoNotFit() throws {
        check(try loadError(editConfig: { $0["r"] = 8 }),
              ["adapter_model.safetensors: tensor '\(key)'", "has shape [4, 16], expected [8, 16] from r = 8"])
        check(try loadError(editWeights: { $0[self.key] = nil }), ["adapter_model.safetensors: tensor '\(key)'", "is missing"])
        check(try loadError(editWeights: { $0["base_model.model.transformer.h.0.mlp.c_fc.lora_A.weight"] = Tensor.zeros([4, 16]) }),
              ["tensor 'base_model.model.transformer.h.0.mlp.c_fc.lora_A.weight'", "is not expected"])
        check(try loadError(editWeights: { $0[self.key.replacingOccurrences(of: ".weight", with: ".default.weight")] = $0.removeValue(forKey: self.key) }),
              ["is missing"])
        check(try loadError(editWeights: { $0[self.key] = Tensor.full([4, 16], .nan) }), ["tensor '\(key)'", "non-finite"])
        check(try loadError(editWeights: { $0[self.key] = Tensor.zeros([16, 4]) }), ["has shape [16, 4], expected [4, 16]"])
    }

    func testMissingFilesAndBrokenJSON() throws {
        let dir = try LoRAFixtures.copy("adapter-c_attn")
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try GPT.loadHuggingFace(directory: LoRAFixtures.base)
        try FileManager.default.removeItem(at: dir.appendingPathComponent("adapter_model.safetensors"))
        XCTAssertThrowsError(try model.loadLoRAAdapter(directory: dir)) { check("\($0)", ["adapter_model.safetensors", "cannot read"]) }
        try Data("{\"r\": ".utf8).write(to: dir.appendingPathComponent("adapter_config.json"))
        XCTAssertThrowsError(try model.loadLoRAAdapter(directory: dir)) { check("\($0)", ["adapter_config.json", "not a JSON object"]) }
        XCTAssertFalse(model.hasLoRA)
    }

    func testSavingNonFiniteOrMissingAdaptersIsRefused() throws {
        let model = try GPT.loadHuggingFace(directory: LoRAFixtures.base)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("adapter-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        XCTAssertThrowsError(try model.saveLoRAAdapter(directory: dir)) { check("\($0)", ["the model has none"]) }
        try model.loadLoRAAdapter(directory: LoRAFixtures.adapter("adapter-c_attn"))
        withNoGrad { model.loraLayers()[1].adapter.loraB.assign(Tensor.full(model.loraLayers()[1].adapter.loraB.shape, .infinity)) }
        XCTAssertThrowsError(try model.saveLoRAAdapter(directory: dir)) {
            check("\($0)", ["base_model.model.transformer.h.1.attn.c_attn.lora_B.weight", "non-finite"])
        }
    }
}
