import TestSupport
import XCTest
@testable import LanguageModels

final class LlamaModelTests: XCTestCase {
    /// Grouped (4 query heads on 2 KV heads), q/k/v biases, llama3 rope scaling, untied.
    static let config = LlamaConfig(family: .qwen2, vocabSize: 23, hiddenSize: 16, intermediateSize: 24, layers: 2, heads: 4, kvHeads: 2,
                                    maxPositionEmbeddings: 32, ropeTheta: 100, initializerRange: 0.3)
    static let llama3 = LlamaConfig(vocabSize: 23, hiddenSize: 16, intermediateSize: 24, layers: 2, heads: 2, kvHeads: 1, headDim: 12,
                                    maxPositionEmbeddings: 32, ropeScaling: .llama3(factor: 4, lowFreqFactor: 1, highFreqFactor: 4,
                                                                                    originalMaxPositionEmbeddings: 8),
                                    outputBias: false, tieWordEmbeddings: true, initializerRange: 0.3)

    func ids(_ n: Int, seed: UInt64) -> [Int] {
        var g = RandomGenerator(seed: seed)
        return (0..<n).map { _ in Int(g.next() % 23) }
    }

    func assertClose(_ a: [Float], _ b: [Float], tol: Float = 2e-5, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, file: file, line: line)
        let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(worst, tol, file: file, line: line)
    }

    /// Feeding a sequence in chunks through the KV cache gives the logits of one uncached pass.
    func testCachedLogitsEqualUncached() {
        for c in [Self.config, Self.llama3] {
            let model = Llama(c, seed: 3)
            let batch = 2, t = 11
            let all = ids(batch * t, seed: 4)
            let full = withNoGrad { model(all, batch: batch) }
            let cache = model.makeCache(batch: batch, capacity: t)
            var pieces: [Tensor] = []
            var start = 0
            for size in [4, 1, 1, 5] {
                let chunk = (0..<batch).flatMap { b in all[(b * t + start)..<(b * t + start + size)] }
                pieces.append(withNoGrad { model(chunk, batch: batch, cache: cache) })
                start += size
            }
            XCTAssertEqual(cache.length, t)
            assertClose(Tensor.concat(pieces, axis: 1).scalars, full.scalars)
        }
    }

    /// Greedy generation through the cache picks the argmax of the uncached logits at every step.
    func testGreedyGenerationMatchesUncachedArgmax() throws {
        let model = Llama(Self.config, seed: 5)
        let prompts = [ids(3, seed: 6), ids(5, seed: 7)]
        var g = RandomGenerator(seed: 0)
        let out = try model.generate(prompts: prompts, options: SamplingOptions(temperature: 0, maxNewTokens: 6), generator: &g)
        for (prompt, new) in zip(prompts, out.tokens) {
            XCTAssertEqual(new.count, 6)
            var seq = prompt
            for token in new {
                let logits = withNoGrad { model(seq, batch: 1) }
                let last = logits.slice(axis: 1, (seq.count - 1)..<seq.count).scalars
                XCTAssertEqual(token, last.indices.max { last[$0] < last[$1] })
                seq.append(token)
            }
        }
        // Out-of-range prompts are a thrown error before anything runs.
        XCTAssertThrowsError(try model.generate(prompts: [[23]], options: SamplingOptions(maxNewTokens: 1), generator: &g))
        XCTAssertThrowsError(try model.generate(prompts: [ids(30, seed: 1)], options: SamplingOptions(maxNewTokens: 3), generator: &g))
    }

    /// Swift saves, Swift loads: the same parameters and logits, for tied, untied and scalar-head models.
    func testSaveLoadRoundTrip() throws {
        var scalar = Self.config
        scalar.scalarHead = true
        for c in [Self.config, Self.llama3, scalar] {
            let model = Llama(c, seed: 8)
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("llama-roundtrip-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: dir) }
            try model.saveHuggingFace(directory: dir, metadata: ["note": "test"])
            let loaded = try Llama.loadHuggingFace(directory: dir)
            XCTAssertEqual(loaded.config, c)
            let x = ids(14, seed: 9)
            assertClose(withNoGrad { loaded(x, batch: 2) }.scalars, withNoGrad { model(x, batch: 2) }.scalars, tol: 0)
            if c.scalarHead {
                assertClose(withNoGrad { loaded.scores(fromHidden: loaded.hiddenStates(x, batch: 2)) }.scalars,
                            withNoGrad { model.scores(fromHidden: model.hiddenStates(x, batch: 2)) }.scalars, tol: 0)
            }
            let stored = try SafeTensors.read(dir.appendingPathComponent("model.safetensors"))
            XCTAssertEqual(stored.tensors["lm_head.weight"] == nil, c.tieWordEmbeddings)
            XCTAssertEqual(Set(stored.dtypes.values), ["F32"])
            XCTAssertEqual(stored.metadata["note"], "test")
        }
    }

    func testFrozenCopyAndTrainingStep() {
        let model = Llama(Self.config, seed: 10)
        let frozen = model.frozenCopy()
        XCTAssertTrue(frozen.trainableParameters().isEmpty)
        let x = ids(16, seed: 11)
        assertClose(withNoGrad { frozen(x, batch: 2) }.scalars, withNoGrad { model(x, batch: 2) }.scalars, tol: 0)
        // A few Adam steps on one batch lower its loss, and every parameter gets a gradient.
        let targets = Array(x.dropFirst()) + [0]
        let optimizer = Adam(model.trainableParameters(), learningRate: 1e-2)
        var losses: [Float] = []
        for _ in 0..<5 {
            model.zeroGrad()
            let loss = crossEntropy(logits: model(x, batch: 2).reshaped([16, 23]), targets: targets)
            loss.backward()
            XCTAssertTrue(model.parameters().allSatisfy { $0.grad != nil })
            optimizer.step()
            losses.append(loss.item)
        }
        XCTAssertLessThan(losses.last!, losses.first!)
    }

    /// The causal-LM protocol: PretrainedModel opens every family, architecture differences are
    /// listed by config.json key, and gradient checkpointing gives the recorded path's gradients.
    func testCausalLanguageModelConformance() throws {
        for (name, type) in [("llama-untied", "llama"), ("mistral-f16", "mistral"), ("qwen2-tied-sharded", "qwen2")] {
            let dir = LlamaParityTests.fixtures.appendingPathComponent(name)
            let model = try PretrainedModel.load(directory: dir)
            XCTAssertTrue(model is Llama)
            XCTAssertEqual(model.modelType, type)
            XCTAssertEqual(try model.architectureDifferences(configFile: dir.appendingPathComponent("config.json")), [])
        }
        let model = Llama(Self.config, seed: 12)
        let other = LlamaParityTests.fixtures.appendingPathComponent("qwen2-untied/config.json")
        let differences = try model.architectureDifferences(configFile: other)
        XCTAssertTrue(differences.contains("model hidden_size: checkpoint 32, this run 16"), "\(differences)")
        XCTAssertEqual(try model.architectureDifferences(configFile: LlamaParityTests.fixtures.appendingPathComponent("llama-untied/config.json")),
                       ["model model_type: checkpoint llama, this run qwen2"])
        XCTAssertTrue(model.lmHeadWeight === model.lmHead!.weight)
        let tied = Llama(Self.llama3)
        XCTAssertTrue(tied.lmHeadWeight === tied.model.embedTokens.weight)

        let x = IndexTensor(ids(16, seed: 13), shape: [2, 8])
        func gradients(checkpointing: Bool) -> [[Float]] {
            model.zeroGrad()
            model.gradientCheckpointing = checkpointing
            model(x).sum().backward()
            return model.parameters().map { $0.grad!.scalars }
        }
        let plain = gradients(checkpointing: false), recomputed = gradients(checkpointing: true)
        for (a, b) in zip(plain, recomputed) { assertClose(a, b, tol: 1e-5) }
    }

    func testMemoryEstimates() {
        let smol = LlamaConfig(vocabSize: 49152, hiddenSize: 576, intermediateSize: 1536, layers: 30, heads: 9, kvHeads: 3,
                               tieWordEmbeddings: true)
        // SmolLM-135M has 134,515,008 parameters.
        XCTAssertEqual(smol.parameterCount, 134_515_008)
        XCTAssertGreaterThan(smol.trainingActivationBytes(rows: 4, length: 256), smol.trainingActivationBytes(rows: 2, length: 256))
        XCTAssertGreaterThan(smol.samplingBytes(rows: 1, length: 256), 0)
    }
}
