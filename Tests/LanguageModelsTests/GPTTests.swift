import TestSupport
import XCTest
import LanguageModels

final class GPTTests: XCTestCase {
    let tiny = GPTConfig(vocabSize: 11, contextLength: 8, dModel: 8, layers: 2, heads: 2)

    func testParameterNamesFollowGPT2StateDict() {
        let model = GPT(tiny)
        let names = model.namedParameters().map(\.name)
        XCTAssertEqual(Array(names.prefix(3)), ["wte.weight", "wpe.weight", "h.0.ln_1.weight"])
        XCTAssertTrue(names.contains("h.1.attn.c_attn.weight"))
        XCTAssertTrue(names.contains("h.1.mlp.c_proj.bias"))
        XCTAssertEqual(names.last, "ln_f.bias")
        XCTAssertEqual(Set(names).count, names.count)
        // wte + wpe + per layer (ln 2x2d, c_attn d*3d+3d, c_proj d*d+d, c_fc d*4d+4d, c_proj 4d*d+d) + ln_f
        let d = 8
        let perLayer = 4 * d + (3 * d * d + 3 * d) + (d * d + d) + (4 * d * d + 4 * d) + (4 * d * d + d)
        XCTAssertEqual(model.parameterCount, 11 * d + 8 * d + 2 * perLayer + 2 * d)
    }

    func testForwardShapesAndCausality() {
        let model = GPT(tiny, seed: 1)
        let ids = [1, 2, 3, 4, 5, 6, 7, 8]
        let logits = withNoGrad { model(ids, batch: 2) }
        XCTAssertEqual(logits.shape, [2, 4, 11])
        // Changing a later token must not change earlier positions' logits.
        let changed = withNoGrad { model([1, 2, 3, 9, 5, 6, 7, 8], batch: 2) }
        for j in 0..<11 {
            XCTAssertEqual(logits[0, 2, j], changed[0, 2, j], accuracy: 1e-6)
            XCTAssertEqual(logits[1, 3, j], changed[1, 3, j], accuracy: 1e-6)
        }
        XCTAssertNotEqual(logits[0, 3, 0], changed[0, 3, 0])
    }

    func testKVCacheGenerationEqualsFullRecomputation() {
        let model = GPT(tiny, seed: 2)
        let ids = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8]  // batch 2 x 6
        let full = withNoGrad { model(ids, batch: 2) }
        let cache = KVCache(config: tiny, batch: 2)
        // Prefix of 3 tokens, then one token at a time.
        var pieces: [Tensor] = []
        withNoGrad {
            pieces.append(model([3, 1, 4, 2, 6, 5], batch: 2, cache: cache))
            for t in 3..<6 { pieces.append(model([ids[t], ids[6 + t]], batch: 2, cache: cache)) }
        }
        XCTAssertEqual(cache.length, 6)
        let cached = Tensor.concat(pieces, axis: 1)
        XCTAssertEqual(cached.shape, full.shape)
        for (a, b) in zip(cached.scalars, full.scalars) { XCTAssertEqual(a, b, accuracy: 1e-5) }
    }

    func testGradientsOfWholeModelMatchFiniteDifferences() {
        let config = GPTConfig(vocabSize: 7, contextLength: 4, dModel: 4, layers: 1, heads: 2, scalarHead: true)
        let model = GPT(config, seed: 3)
        // Larger weights than GPT-2's 0.02 init so every path carries signal.
        var rng = RandomGenerator(seed: 9)
        withNoGrad { for p in model.parameters() { p.assign(Tensor.normal(p.shape, std: 0.5, generator: &rng)) } }
        let ids = [1, 2, 3, 4, 5, 6]
        let params = model.parameters()
        let r = gradCheck(params, eps: 1e-2, atol: 3e-3, rtol: 3e-2) { _ in
            let hidden = model.hiddenStates(ids, batch: 2)
            return crossEntropy(logits: model.logits(fromHidden: hidden), targets: [2, 3, 4, 5, 6, 0]) + model.scores(fromHidden: hidden).sum()
        }
        XCTAssertTrue(r.passed, r.description)
    }

    func testFrozenCopyHasSameOutputsAndNoGradients() {
        let model = GPT(tiny, seed: 4)
        let ref = model.frozenCopy()
        XCTAssertTrue(ref.parameters().allSatisfy { !$0.requiresGrad })
        XCTAssertFalse(ref.isTraining)
        let ids = [1, 2, 3, 4]
        let a = withNoGrad { model(ids, batch: 1) }.scalars
        let b = ref(ids, batch: 1)
        XCTAssertFalse(b.requiresGrad)
        XCTAssertEqual(a, b.scalars)
        // Training the policy leaves the reference alone.
        let loss = crossEntropy(logits: model(ids, batch: 1), targets: [2, 3, 4, 5])
        loss.backward()
        let opt = Adam(model.parameters(), learningRate: 0.1)
        opt.step()
        XCTAssertEqual(ref(ids, batch: 1).scalars, b.scalars)
        XCTAssertNotEqual(withNoGrad { model(ids, batch: 1) }.scalars, a)
    }

    func testDropoutOnlyInTrainingAndSeeded() {
        let x = Tensor.ones([1000])
        let d1 = Dropout(0.25, seed: 7), d2 = Dropout(0.25, seed: 7)
        let y1 = d1(x).scalars, y2 = d2(x).scalars
        XCTAssertEqual(y1, y2)
        let zeros = y1.filter { $0 == 0 }.count
        XCTAssertGreaterThan(zeros, 180)
        XCTAssertLessThan(zeros, 320)
        XCTAssertTrue(y1.allSatisfy { $0 == 0 || abs($0 - 1 / 0.75) < 1e-6 })
        d1.eval()
        XCTAssertEqual(d1(x).scalars, x.scalars)
    }

    func testSaveLoadRoundTrip() throws {
        let model = GPT(tiny, seed: 5)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("gpt-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try model.save(to: url, metadata: ["step": "12"])
        let other = GPT(tiny, seed: 6)
        XCTAssertNotEqual(other.parameters()[0].scalars, model.parameters()[0].scalars)
        let meta = try other.load(from: url)
        XCTAssertEqual(meta["step"], "12")
        for (a, b) in zip(model.parameters(), other.parameters()) { XCTAssertEqual(a.scalars, b.scalars) }
        // A model of another shape is refused with the parameter named.
        let wider = GPT(GPTConfig(vocabSize: 11, contextLength: 8, dModel: 16, layers: 2, heads: 2))
        XCTAssertThrowsError(try wider.load(from: url)) { error in
            XCTAssertTrue("\(error)".contains("wte.weight"), "\(error)")
        }
    }
}

final class HuggingFaceLayoutTests: XCTestCase {
    func testSaveHuggingFaceRoundTripKeepsOutputsAndScalarHead() throws {
        let config = GPTConfig(vocabSize: 9, contextLength: 6, dModel: 8, layers: 1, heads: 2, scalarHead: true)
        let model = GPT(config, seed: 1)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hf-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try model.saveHuggingFace(directory: dir, metadata: ["step": "5"])
        let names = try SafeTensors.read(dir.appendingPathComponent("model.safetensors")).tensors.keys
        XCTAssertTrue(names.contains("transformer.h.0.attn.c_attn.weight"))
        XCTAssertEqual(try SafeTensors.read(dir.appendingPathComponent("model.safetensors")).tensors["transformer.h.0.mlp.c_fc.weight"]?.shape, [8, 32])
        let loaded = try GPT.loadHuggingFace(directory: dir)
        XCTAssertEqual(loaded.config, config)
        let ids = [1, 2, 3, 4, 5, 6]
        let (a, sa) = withNoGrad { let h = model.hiddenStates(ids, batch: 2); return (model.logits(fromHidden: h), model.scores(fromHidden: h)) }
        let (b, sb) = withNoGrad { let h = loaded.hiddenStates(ids, batch: 2); return (loaded.logits(fromHidden: h), loaded.scores(fromHidden: h)) }
        XCTAssertEqual(a.scalars, b.scalars)
        XCTAssertEqual(sa.scalars, sb.scalars)
    }

    func testLoadHuggingFaceNamesTheBrokenFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(#"{"vocab_size": 5}"#.utf8).write(to: dir.appendingPathComponent("config.json"))
        XCTAssertThrowsError(try GPT.loadHuggingFace(directory: dir)) { XCTAssertTrue("\($0)".contains("n_positions"), "\($0)") }
    }
}

final class LayerModuleTests: XCTestCase {
    func testRMSNormValuesAndGradients() {
        let norm = RMSNorm(3, eps: 0)
        let y = withNoGrad { norm(Tensor([3, 4, 0], shape: [1, 3])) }
        let rms = Float((25.0 / 3).squareRoot())
        XCTAssertEqual(y.scalars[0], 3 / rms, accuracy: 1e-6)
        XCTAssertEqual(y.scalars[1], 4 / rms, accuracy: 1e-6)
        var rng = RandomGenerator(seed: 1)
        let x = Tensor.normal([2, 4], generator: &rng, requiresGrad: true)
        let withWeight = RMSNorm(4)
        withNoGrad { withWeight.weight.assign(Tensor([0.5, 1, 1.5, 2])) }
        let r = gradCheck([x, withWeight.weight]) { t in withWeight(t[0]) }
        XCTAssertTrue(r.passed, r.description)
    }

    func testLinearModuleMatchesFunctionalLinearAndCountsParameters() {
        var rng = RandomGenerator(seed: 2)
        let layer = Linear(5, 3, generator: &rng)
        XCTAssertEqual(layer.namedParameters().map(\.name), ["weight", "bias"])
        XCTAssertEqual(layer.parameterCount, 18)
        XCTAssertTrue(layer.weight.scalars.allSatisfy { abs($0) <= 1 / Float(5).squareRoot() })
        let x = Tensor.normal([2, 5], generator: &rng)
        XCTAssertEqual(layer(x).scalars, linear(x, weight: layer.weight, bias: layer.bias).scalars)
        layer.freeze()
        XCTAssertTrue(layer.trainableParameters().isEmpty)
    }

    func testActivationModules() {
        let x = Tensor([-1, 0.5, 2])
        XCTAssertEqual(Activation(.relu)(x).scalars, x.relu().scalars)
        XCTAssertEqual(Activation(.geluTanh)(x).scalars, x.gelu(approximate: .tanh).scalars)
        XCTAssertEqual(Activation(.silu)(x).scalars, x.silu().scalars)
    }
}
