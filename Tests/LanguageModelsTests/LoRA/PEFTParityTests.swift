import XCTest
import TestSupport
import LanguageModels

/// Base + PEFT adapter made by transformers/PEFT (Fixtures/lora) against PEFT's own log-probs.
final class PEFTParityTests: XCTestCase {
    let adapters = ["adapter-c_attn", "adapter-all", "adapter-regex"]

    func testBaseAndAdapterMatchPEFTLogProbs() throws {
        let records = try LoRAFixtures.records()
        for name in adapters {
            let model = try GPT.loadHuggingFace(directory: LoRAFixtures.base)
            XCTAssertLessThan(LoRAFixtures.maxDifference(LoRAFixtures.logProbs(model, records.inputs), records.base), 1e-4)
            try model.loadLoRAAdapter(directory: LoRAFixtures.adapter(name))
            let diff = LoRAFixtures.maxDifference(LoRAFixtures.logProbs(model, records.inputs), records.adapters[name]!.with_adapter)
            XCTAssertLessThan(diff, 1e-4, name)
            // The adapter changes the output a lot, so matching is not matching the base.
            XCTAssertGreaterThan(LoRAFixtures.maxDifference(records.base, records.adapters[name]!.with_adapter), 0.1, name)
        }
    }

    func testAdaptedLayersFollowTargetModules() throws {
        func adapted(_ name: String) throws -> [String] {
            let model = try GPT.loadHuggingFace(directory: LoRAFixtures.base)
            try model.loadLoRAAdapter(directory: LoRAFixtures.adapter(name))
            return model.loraLayers().map(\.name)
        }
        XCTAssertEqual(try adapted("adapter-c_attn"), ["h.0.attn.c_attn", "h.1.attn.c_attn"])
        XCTAssertEqual(try adapted("adapter-all").count, 8)
        XCTAssertEqual(try adapted("adapter-regex"), ["h.1.attn.c_attn", "h.1.mlp.c_fc"])
    }

    func testDisabledAdaptersGiveExactlyTheBaseOutput() throws {
        let base = try GPT.loadHuggingFace(directory: LoRAFixtures.base)
        let model = try GPT.loadHuggingFace(directory: LoRAFixtures.base)
        try model.loadLoRAAdapter(directory: LoRAFixtures.adapter("adapter-all"))
        let ids = [1, 5, 9, 2, 33, 49, 0, 7, 7, 12, 3, 3]
        let expected = withNoGrad { base(ids, batch: 2) }.scalars
        XCTAssertEqual(withNoGrad { model.withLoRADisabled { model(ids, batch: 2) } }.scalars, expected)
        XCTAssertNotEqual(withNoGrad { model(ids, batch: 2) }.scalars, expected)  // re-enabled afterwards
        model.setLoRAEnabled(false)
        XCTAssertEqual(withNoGrad { model(ids, batch: 2) }.scalars, expected)
        // Disabling adds no copy of the weights: the parameters are the base's plus the adapters'.
        XCTAssertEqual(model.baseNamedParameters().count, base.namedParameters().count)
    }

    func testMergedModelMatchesAdapterAndPEFTMerge() throws {
        let records = try LoRAFixtures.records()
        for name in adapters {
            let model = try GPT.loadHuggingFace(directory: LoRAFixtures.base)
            try model.loadLoRAAdapter(directory: LoRAFixtures.adapter(name))
            let unmerged = LoRAFixtures.logProbs(model, records.inputs)
            model.mergeLoRA()
            XCTAssertFalse(model.hasLoRA)
            let merged = LoRAFixtures.logProbs(model, records.inputs)
            XCTAssertLessThan(LoRAFixtures.maxDifference(merged, unmerged), 1e-4, name)
            XCTAssertLessThan(LoRAFixtures.maxDifference(merged, records.adapters[name]!.merged), 1e-4, name)
            // The merged model saves as a full transformers checkpoint with the same outputs.
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("merged-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: dir) }
            try model.saveHuggingFace(directory: dir)
            let reloaded = try GPT.loadHuggingFace(directory: dir)
            XCTAssertEqual(LoRAFixtures.logProbs(reloaded, records.inputs), merged, name)
        }
    }

    func testSavedAdapterRoundTripsInPEFTLayout() throws {
        let model = try GPT.loadHuggingFace(directory: LoRAFixtures.base)
        try model.loadLoRAAdapter(directory: LoRAFixtures.adapter("adapter-all"))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("adapter-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try model.saveLoRAAdapter(directory: dir, baseModelNameOrPath: "base")
        // Same keys and shapes as PEFT's file.
        let ours = try SafeTensors.read(dir.appendingPathComponent("adapter_model.safetensors")).tensors
        let peft = try SafeTensors.read(LoRAFixtures.adapter("adapter-all").appendingPathComponent("adapter_model.safetensors")).tensors
        XCTAssertEqual(Set(ours.keys), Set(peft.keys))
        for (key, t) in peft { XCTAssertEqual(ours[key]?.scalars, t.scalars, key) }
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("adapter_config.json"))) as! [String: Any]
        XCTAssertEqual(config["peft_type"] as? String, "LORA")
        XCTAssertEqual(config["task_type"] as? String, "CAUSAL_LM")
        XCTAssertEqual(config["r"] as? Int, 2)
        XCTAssertEqual(config["fan_in_fan_out"] as? Bool, true)
        XCTAssertEqual(config["use_rslora"] as? Bool, false)
        XCTAssertEqual(config["bias"] as? String, "none")
        XCTAssertEqual(Set(config["target_modules"] as? [String] ?? []), ["c_attn", "c_proj", "c_fc"])  // PEFT keeps a set

        let again = try GPT.loadHuggingFace(directory: LoRAFixtures.base)
        try again.loadLoRAAdapter(directory: dir)
        let ids = [1, 5, 9, 2, 33, 49, 0, 7]
        XCTAssertEqual(withNoGrad { again(ids, batch: 1) }.scalars, withNoGrad { model(ids, batch: 1) }.scalars)
    }
}
