import XCTest
import TestSupport
import LanguageModels

/// A Llama-style block built from plain `Linear` layers, to check LoRA on any module tree.
final class ToyAttention: Module {
    let qProj: Linear, kProj: Linear, vProj: Linear, oProj: Linear
    let norm = RMSNorm(8)
    override var parameterKeys: [String: String] { ["qProj": "q_proj", "kProj": "k_proj", "vProj": "v_proj", "oProj": "o_proj"] }
    init(seed: UInt64) {
        var g = RandomGenerator(seed: seed)
        qProj = Linear(8, 8, bias: false, generator: &g)
        kProj = Linear(8, 4, bias: false, generator: &g)
        vProj = Linear(8, 4, bias: false, generator: &g)
        oProj = Linear(8, 8, bias: false, generator: &g)
    }
    func callAsFunction(_ x: Tensor) -> Tensor {
        let h = norm(x)
        return oProj(qProj(h) + (kProj(h) * vProj(h)).sum(axis: -1, keepDims: true))
    }
}

final class ToyModel: Module {
    let layers: [ToyAttention]
    let gateProj: Linear
    override var parameterKeys: [String: String] { ["gateProj": "gate_proj"] }
    override init() {
        layers = [ToyAttention(seed: 1), ToyAttention(seed: 2)]
        var g = RandomGenerator(seed: 3)
        gateProj = Linear(8, 8, generator: &g)
    }
    func callAsFunction(_ x: Tensor) -> Tensor { gateProj(layers[1](layers[0](x))) }
}

final class LoRAModuleTests: XCTestCase {
    func config(_ targets: LoRATargets, rank: Int = 2, alpha: Float = 4, dropout: Float = 0) -> LoRAConfig {
        LoRAConfig(rank: rank, alpha: alpha, dropout: dropout, targets: targets)
    }

    func testTargetNamesMatchWholeNameOrDottedSuffix() throws {
        let model = ToyModel()
        XCTAssertEqual(try model.loraTargetLayers(.names(["q_proj", "v_proj"])).map(\.name),
                       ["layers.0.q_proj", "layers.0.v_proj", "layers.1.q_proj", "layers.1.v_proj"])
        XCTAssertEqual(try model.loraTargetLayers(.names(["1.o_proj", "gate_proj"])).map(\.name), ["layers.1.o_proj", "gate_proj"])
        // "proj" is not a dotted suffix of "q_proj": no partial-name matches.
        XCTAssertThrowsError(try model.loraTargetLayers(.names(["proj"])))
        // A regex must match the whole name.
        XCTAssertEqual(try model.loraTargetLayers(.regex(#"layers\.\d\.[kv]_proj"#)).map(\.name),
                       ["layers.0.k_proj", "layers.0.v_proj", "layers.1.k_proj", "layers.1.v_proj"])
        XCTAssertThrowsError(try model.loraTargetLayers(.regex("q_proj")))
        // GPT-2 matches on transformers' names.
        let gpt = GPT(GPTConfig(vocabSize: 11, contextLength: 8, dModel: 8, layers: 2, heads: 2))
        XCTAssertEqual(try gpt.loraTargetLayers(.regex(#"transformer\.h\.0\.mlp\.c_.*"#)).map(\.name), ["h.0.mlp.c_fc", "h.0.mlp.c_proj"])
        // As in PEFT, a regex that also matches a non-linear module (mlp.dropout here) is refused.
        XCTAssertThrowsError(try gpt.loraTargetLayers(.regex(#"transformer\.h\.0\.mlp\..*"#)))
        XCTAssertEqual(try gpt.loraTargetLayers(.names(["attn.c_proj"])).map(\.name), ["h.0.attn.c_proj", "h.1.attn.c_proj"])
    }

    func testTargetThatMatchesNothingNamesItAndListsLinearLayers() {
        let gpt = GPT(GPTConfig(vocabSize: 11, contextLength: 8, dModel: 8, layers: 1, heads: 2))
        XCTAssertThrowsError(try gpt.applyLoRA(config(.names(["c_attn", "q_proj"])))) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("'q_proj' matches no module"), text)
            XCTAssertTrue(text.contains("transformer.h.0.attn.c_attn"), text)
            XCTAssertTrue(text.contains("c_attn, c_proj, c_fc"), text)
        }
        XCTAssertFalse(gpt.hasLoRA)
        XCTAssertTrue(gpt.trainableParameters().count == gpt.parameters().count, "a failed apply leaves the model as it was")
        XCTAssertThrowsError(try gpt.applyLoRA(config(.names(["attn"])))) { error in
            XCTAssertTrue("\(error)".contains("CausalSelfAttention, but LoRA adapts linear layers only"), "\(error)")
        }
    }

    func testInvalidConfigsAreRefused() {
        let model = ToyModel()
        let cases: [(LoRAConfig, String)] = [
            (config(.names(["q_proj"]), rank: 0), "r: must be in 1..."),
            (config(.names(["q_proj"]), alpha: 0), "lora_alpha: must be finite and > 0"),
            (config(.names(["q_proj"]), alpha: .nan), "lora_alpha: must be finite and > 0"),
            (config(.names(["q_proj"]), dropout: 1), "lora_dropout: must be in [0, 1)"),
            (config(.names(["q_proj"]), dropout: -0.1), "lora_dropout: must be in [0, 1)"),
            (config(.names([])), "target_modules: must name at least one module"),
            (config(.names(["q_proj", ""])), "target_modules: '' is not a module name"),
            (config(.regex("(")), "is not a valid regular expression"),
        ]
        for (c, message) in cases {
            XCTAssertThrowsError(try model.applyLoRA(c)) { XCTAssertTrue("\($0)".contains(message), "\($0) lacks \(message)") }
        }
        XCTAssertThrowsError(try model.applyLoRA(config(.names(["k_proj"]), rank: 5))) {
            XCTAssertTrue("\($0)".contains("r: must be <= 4, the smaller side of layers.0.k_proj"), "\($0)")
        }
        XCTAssertNoThrow(try model.applyLoRA(config(.names(["q_proj"]))))
        XCTAssertThrowsError(try model.applyLoRA(config(.names(["k_proj"])))) { XCTAssertTrue("\($0)".contains("already has LoRA adapters")) }
    }

    func testFreshAdapterLeavesOutputAndOnlyAdaptersTrain() throws {
        let model = ToyModel()
        var g = RandomGenerator(seed: 9)
        let x = Tensor.uniform([3, 8], low: -1, high: 1, generator: &g)
        let before = withNoGrad { model(x) }.scalars
        let names = try model.applyLoRA(config(.names(["q_proj", "o_proj", "gate_proj"]), rank: 3), seed: 5)
        XCTAssertEqual(names.count, 5)
        XCTAssertEqual(withNoGrad { model(x) }.scalars, before, "B = 0: a fresh adapter changes nothing")
        let trainable = model.trainableParameters()
        let adapterTensors = model.loraLayers().flatMap { [$0.adapter.loraA, $0.adapter.loraB] }
        XCTAssertEqual(trainable.count, 10)
        XCTAssertTrue(zip(trainable, adapterTensors).allSatisfy { $0 === $1 })
        for (_, layer, adapter) in model.loraLayers() {
            XCTAssertEqual(adapter.loraA.shape, [3, layer.weight.shape[1]])
            XCTAssertEqual(adapter.loraB.shape, [layer.weight.shape[0], 3])
            XCTAssertEqual(adapter.loraB.scalars, [Float](repeating: 0, count: adapter.loraB.count))
            // PEFT's kaiming_uniform(a = sqrt(5)) on [r, in]: uniform within ±1/sqrt(in), not degenerate.
            let bound = 1 / Float(layer.weight.shape[1]).squareRoot()
            XCTAssertTrue(adapter.loraA.scalars.allSatisfy { abs($0) <= bound })
            XCTAssertGreaterThan(adapter.loraA.scalars.map(abs).max()!, bound / 2)
        }
        // A training step moves only adapter weights.
        let baseBefore = model.baseNamedParameters().map { $0.tensor.scalars }
        let optimizer = Adam.adamW(trainable, learningRate: 0.1)
        for _ in 0..<2 {
            optimizer.zeroGrad()
            let y = model(x)
            (y * y).sum().backward()
            optimizer.step()
        }
        XCTAssertEqual(model.baseNamedParameters().map { $0.tensor.scalars }, baseBefore)
        XCTAssertTrue(model.baseNamedParameters().allSatisfy { $0.tensor.grad == nil })
        XCTAssertNotEqual(withNoGrad { model(x) }.scalars, before)
        XCTAssertEqual(withNoGrad { model.withLoRADisabled { model(x) } }.scalars, before)
    }

    /// Finite differences through an adapted layer: input, A, B and the (frozen) base weight.
    func testAdaptedLinearGradients() throws {
        final class Holder: Module {
            let proj: Linear
            override init() { var g = RandomGenerator(seed: 4); proj = Linear(5, 3, generator: &g) }
        }
        let holder = Holder()
        try holder.applyLoRA(config(.names(["proj"]), rank: 2, alpha: 3), seed: 1)
        let adapter = holder.proj.lora!
        withNoGrad { adapter.loraB.assign(awayFromZeroLeaf([3, 2], seed: 2)) }
        let x = awayFromZeroLeaf([4, 5], seed: 3)
        assertGradCheck([x, adapter.loraA, adapter.loraB]) { holder.proj($0[0]) }
        XCTAssertNil(holder.proj.weight.grad, "the frozen base weight gets no gradient")
        // The adapter's value: x Wᵀ + b + x Aᵀ Bᵀ · alpha / r.
        let expected = withNoGrad { linear(x, weight: holder.proj.weight, bias: holder.proj.bias)
            + x.matmul(adapter.loraA.T).matmul(adapter.loraB.T) * 1.5 }
        assertValues(withNoGrad { holder.proj(x) }, expected.scalars, shape: [4, 3])
    }

    /// One `Linear` reachable under two names gets one adapter, merged once.
    func testSharedLayerIsAdaptedAndMergedOnce() throws {
        final class Shared: Module {
            let first: Linear, second: Linear
            override init() { var g = RandomGenerator(seed: 8); first = Linear(4, 4, generator: &g); second = first }
            func callAsFunction(_ x: Tensor) -> Tensor { second(first(x)) }
        }
        let model = Shared()
        try model.applyLoRA(config(.names(["first", "second"])), seed: 3)
        XCTAssertEqual(model.loraLayers().map(\.name), ["first"])
        withNoGrad { model.first.lora!.loraB.assign(awayFromZeroLeaf([4, 2], seed: 5)) }
        var g = RandomGenerator(seed: 1)
        let x = Tensor.uniform([2, 4], low: -1, high: 1, generator: &g)
        let adapted = withNoGrad { model(x) }
        model.mergeLoRA()
        assertValues(withNoGrad { model(x) }, adapted.scalars, accuracy: 1e-5)
    }

    func testDropoutActsOnlyInTraining() throws {
        let model = ToyModel()
        try model.applyLoRA(config(.names(["gate_proj"]), dropout: 0.5), seed: 2)
        let adapter = model.gateProj.lora!
        withNoGrad { adapter.loraB.assign(Tensor.ones(adapter.loraB.shape)) }
        var g = RandomGenerator(seed: 9)
        let x = Tensor.uniform([6, 8], low: -1, high: 1, generator: &g)
        model.eval()
        let a = withNoGrad { model(x) }.scalars, b = withNoGrad { model(x) }.scalars
        XCTAssertEqual(a, b)
        model.train()
        XCTAssertNotEqual(withNoGrad { model(x) }.scalars, a)
        XCTAssertNotNil(model.randomState["gate_proj.lora.dropout"], "the adapter's dropout state is saved with the model's")
    }
}
