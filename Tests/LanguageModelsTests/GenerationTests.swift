import TestSupport
import XCTest
import LanguageModels

final class GenerationTests: XCTestCase {
    let config = GPTConfig(vocabSize: 13, contextLength: 24, dModel: 8, layers: 2, heads: 2)

    /// Sampling by recomputing every sequence from scratch at every step, consuming random numbers in
    /// the same order as `generate` (position by position, row by row).
    func referenceGenerate(_ model: GPT, prompts: [[Int]], options: SamplingOptions, seed: UInt64) throws -> Generation {
        var rng = RandomGenerator(seed: seed)
        var seqs = prompts
        var out = Generation(tokens: prompts.map { _ in [] }, logProbs: prompts.map { _ in [] })
        var done = prompts.map { _ in false }
        var scratch: [Float] = []
        var position = prompts.map(\.count).min()!
        let total = min(prompts.map(\.count).max()! + options.maxNewTokens, config.contextLength)
        while !done.allSatisfy({ $0 }) {
            for r in prompts.indices where position >= prompts[r].count && !done[r] {
                let logits = withNoGrad { model(Array(seqs[r].prefix(position)), batch: 1) }
                let row = logits.select(axis: 1, position - 1).contiguous()
                let (token, lp) = try row.withUnsafeBufferPointer {
                    try Sampling.sample($0, options: options, scratch: &scratch, generator: &rng)
                }
                seqs[r].append(token)
                out.tokens[r].append(token)
                out.logProbs[r].append(lp)
                if token == options.eosToken || out.tokens[r].count >= options.maxNewTokens { done[r] = true }
            }
            if position + 1 > total { break }
            position += 1
        }
        return out
    }

    func testCachedGenerationEqualsFullRecomputation() throws {
        let model = GPT(config, seed: 1)
        var rng = RandomGenerator(seed: 2)
        withNoGrad { for p in model.parameters() { p.assign(Tensor.normal(p.shape, std: 0.5, generator: &rng)) } }
        let prompts = [[1, 2, 3], [4, 5, 6, 7, 8], [9]]
        for options in [SamplingOptions(temperature: 1, maxNewTokens: 6, eosToken: 12),
                        SamplingOptions(temperature: 0.7, topK: 5, topP: 0.9, maxNewTokens: 8),
                        SamplingOptions(temperature: 0, maxNewTokens: 5)] {
            var g = RandomGenerator(seed: 11)
            let cached = try model.generate(prompts: prompts, options: options, generator: &g)
            let reference = try referenceGenerate(model, prompts: prompts, options: options, seed: 11)
            XCTAssertEqual(cached.tokens, reference.tokens, "\(options)")
            for (a, b) in zip(cached.logProbs.joined(), reference.logProbs.joined()) { XCTAssertEqual(a, b, accuracy: 1e-4) }
            for (tokens, lps) in zip(cached.tokens, cached.logProbs) {
                XCTAssertEqual(tokens.count, lps.count)
                XCTAssertLessThanOrEqual(tokens.count, options.maxNewTokens)
                if let eos = options.eosToken, let i = tokens.firstIndex(of: eos) { XCTAssertEqual(i, tokens.count - 1) }
            }
        }
    }

    func testSameSeedSameSamplesUpToTheContextLength() throws {
        let model = GPT(config, seed: 3)
        var g1 = RandomGenerator(seed: 5), g2 = RandomGenerator(seed: 5)
        // 2 prompt tokens + 22 new tokens fill the 24-token context.
        let options = SamplingOptions(maxNewTokens: 22)
        let a = try model.generate(prompts: [[1, 2]], options: options, generator: &g1)
        let b = try model.generate(prompts: [[1, 2]], options: options, generator: &g2)
        XCTAssertEqual(a, b)
        XCTAssertEqual(a.tokens[0].count, 22)
    }

    func testTopKAndTopPRestrictTheSupport() throws {
        let logits: [Float] = [0, 3, 1, 2, -1]  // order of probability: 1, 3, 2, 0, 4
        var scratch: [Float] = []
        var rng = RandomGenerator(seed: 9)
        var seenK = Set<Int>(), seenP = Set<Int>()
        try logits.withUnsafeBufferPointer { row in
            for _ in 0..<2000 {
                seenK.insert(try Sampling.sample(row, options: SamplingOptions(topK: 2), scratch: &scratch, generator: &rng).0)
                // softmax: p(1)≈0.636, p(3)≈0.234: top-p 0.8 keeps exactly {1, 3}.
                seenP.insert(try Sampling.sample(row, options: SamplingOptions(topP: 0.8), scratch: &scratch, generator: &rng).0)
            }
            let (greedy, lp) = try Sampling.sample(row, options: SamplingOptions(temperature: 0), scratch: &scratch, generator: &rng)
            XCTAssertEqual(greedy, 1)
            XCTAssertEqual(lp, Tensor(logits).logSoftmax().scalars[1], accuracy: 1e-6)
        }
        XCTAssertEqual(seenK, [1, 3])
        XCTAssertEqual(seenP, [1, 3])
    }

    func testTemperatureLogProbIsOfTheScaledFullDistribution() throws {
        let logits: [Float] = [0.5, -1, 2]
        var scratch: [Float] = []
        var rng = RandomGenerator(seed: 1)
        let expected = (Tensor(logits) * 2).logSoftmax().scalars
        try logits.withUnsafeBufferPointer { row in
            for _ in 0..<20 {
                let (t, lp) = try Sampling.sample(row, options: SamplingOptions(temperature: 0.5, topK: 2), scratch: &scratch, generator: &rng)
                XCTAssertEqual(lp, expected[t], accuracy: 1e-5)
            }
        }
    }

    func testTokenizersRoundTrip() {
        let byte = ByteTokenizer()
        let text = "Human: héllo\n\nAssistant: "
        XCTAssertEqual(byte.decode(byte.encode(text) + [byte.eosToken]), text)
        XCTAssertEqual(byte.vocabSize, 258)
        let chars = CharTokenizer(corpus: "abcab c")
        XCTAssertEqual(chars.alphabet, [" ", "a", "b", "c"])
        XCTAssertEqual(chars.encode("cab"), [3, 1, 2])
        XCTAssertEqual(chars.decode([3, 1, chars.eosToken, 2]), "cab")
        if case .failure(let e) = chars.encodeChecked("abz") { XCTAssertEqual(e.offset, 2) } else { XCTFail("z is not in the alphabet") }
    }
}

final class OptimizerUtilityTests: XCTestCase {
    func testClipGradNormScalesToMaxNorm() {
        let a = Tensor([3, 0], requiresGrad: true), b = Tensor([4], requiresGrad: true)
        (a.sum() * 3 + b.sum() * 4).backward()  // grads [3, 3] and [4]; norm sqrt(34)
        let norm = clipGradNorm([a, b], maxNorm: 1)
        XCTAssertEqual(norm, Float(34).squareRoot(), accuracy: 1e-5)
        let clipped = (a.grad!.scalars + b.grad!.scalars).map { $0 * $0 }.reduce(0, +).squareRoot()
        XCTAssertEqual(clipped, 1, accuracy: 1e-5)
        XCTAssertEqual(clipGradNorm([a, b], maxNorm: 10), 1, accuracy: 1e-5)
        XCTAssertEqual(a.grad!.scalars[0], 3 / Float(34).squareRoot(), accuracy: 1e-5)
    }

    func testSchedules() {
        XCTAssertEqual(LRSchedule.constant.factor(at: 7), 1)
        XCTAssertEqual(LRSchedule.linearWarmup(warmupSteps: 4).factor(at: 0), 0)
        XCTAssertEqual(LRSchedule.linearWarmup(warmupSteps: 4).factor(at: 2), 0.5)
        XCTAssertEqual(LRSchedule.linearWarmup(warmupSteps: 4).factor(at: 9), 1)
        XCTAssertEqual(LRSchedule.linear(warmupSteps: 2, totalSteps: 10).factor(at: 6), 0.5)
        XCTAssertEqual(LRSchedule.linear(warmupSteps: 2, totalSteps: 10).factor(at: 12), 0)
        let cosine = LRSchedule.cosine(warmupSteps: 0, totalSteps: 100, minFactor: 0.1)
        XCTAssertEqual(cosine.factor(at: 0), 1, accuracy: 1e-6)
        XCTAssertEqual(cosine.factor(at: 50), 0.55, accuracy: 1e-6)
        XCTAssertEqual(cosine.factor(at: 100), 0.1, accuracy: 1e-6)
    }

    func testOptimizerStateRoundTripContinuesIdentically() throws {
        func loss(_ w: Tensor) -> Tensor { ((w - Tensor([1, -2, 3])) * (w - Tensor([1, -2, 3]))).sum() }
        let w1 = Tensor([0, 0, 0], requiresGrad: true)
        let o1 = Adam.adamW([w1], learningRate: 0.1)
        for _ in 0..<3 { o1.zeroGrad(); loss(w1).backward(); o1.step() }
        let saved = o1.state().mapValues { Tensor($0.scalars, shape: $0.shape) }  // state() hands out live buffers
        let snapshot = w1.scalars
        for _ in 0..<3 { o1.zeroGrad(); loss(w1).backward(); o1.step() }
        let w2 = Tensor(snapshot, requiresGrad: true)
        let o2 = Adam.adamW([w2], learningRate: 0.1)
        try o2.loadState(saved)
        XCTAssertEqual(o2.stepCount, 3)
        for _ in 0..<3 { o2.zeroGrad(); loss(w2).backward(); o2.step() }
        XCTAssertEqual(w1.scalars, w2.scalars)
        XCTAssertThrowsError(try Adam([Tensor([1, 2], requiresGrad: true)]).loadState(saved))
    }

    /// A damaged state (NaN or fractional step, a NaN moment) is refused naming the entry, and the
    /// optimizer keeps its own state: nothing is half loaded.
    func testDamagedOptimizerStateIsRefusedBeforeAnythingIsCopied() throws {
        let w = Tensor([0, 0, 0], requiresGrad: true)
        let optimizer = Adam.adamW([w], learningRate: 0.1)
        let good = optimizer.state().mapValues { Tensor($0.scalars, shape: $0.shape) }
        var nanMoment = good
        nanMoment["0.exp_avg"] = Tensor([1, .nan, 3])
        for (damaged, key) in [(good.merging(["step": Tensor([Float.nan])]) { $1 }, "step"),
                               (good.merging(["step": Tensor([2.5])]) { $1 }, "step"),
                               (good.merging(["step": Tensor([-1])]) { $1 }, "step"),
                               (nanMoment, "0.exp_avg")] {
            XCTAssertThrowsError(try optimizer.loadState(damaged)) { error in
                XCTAssertEqual((error as? OptimizerStateError)?.key, key, "\(error)")
            }
            XCTAssertEqual(optimizer.stepCount, 0)
            XCTAssertEqual(optimizer.state()["0.exp_avg"]?.scalars, [0, 0, 0])
        }
    }
}
