import Foundation
import XCTest
import Alignment

/// Data-parallel training with N in-process ranks against one process: the sharding, the bucket
/// layout, the sums over ranks, resume with another number of ranks and the agreement checks.
final class DataParallelTests: XCTestCase {
    let tok = ByteTokenizer()

    func testShardsCoverTheBatchInRankOrderWithSharesDifferingByAtMostOne() {
        for size in 1...5 {
            for count in 0...13 {
                let ranges = (0..<size).map { DataParallelShard.range(count: count, rank: $0, size: size) }
                XCTAssertEqual(ranges.first?.lowerBound, 0)
                XCTAssertEqual(ranges.last?.upperBound, count)
                for (a, b) in zip(ranges, ranges.dropFirst()) {
                    XCTAssertEqual(a.upperBound, b.lowerBound)
                    XCTAssertGreaterThanOrEqual(a.count, b.count, "earlier ranks take the remainder")
                }
                XCTAssertLessThanOrEqual(ranges.map(\.count).max()! - ranges.map(\.count).min()!, 1)
            }
        }
        XCTAssertEqual((0..<3).map { DataParallelShard.range(count: 8, rank: $0, size: 3) }, [0..<3, 3..<6, 6..<8])
    }

    func testBucketsFillUpToCapacityAndKeepALargeParameterAlone() {
        let layout = GradientBuckets(counts: [3, 5, 10, 2, 1], capacity: 8)
        XCTAssertEqual(layout.buckets.map { $0.map(\.parameter) }, [[0, 1], [2], [3, 4]])
        XCTAssertEqual(layout.buckets.map { $0.map(\.offset) }, [[0, 3], [0], [0, 2]])
        // Gradients, then one presence flag per parameter.
        XCTAssertEqual((0..<3).map(layout.floats), [10, 11, 5])
        XCTAssertEqual(GradientBuckets(counts: [4, 4]).buckets.count, 1)
    }

    func testBucketAllReduceSumsGradientsAndKeepsNoneWhereNoRankHadOne() throws {
        let results = InProcessHub(size: 3).run { group -> [[Float]?] in
            let params = [Tensor.zeros([2]), Tensor.zeros([3]), Tensor.zeros([1])]
            params[0].setGrad(Tensor([Float(group.rank), 1]))
            if group.rank == 2 { params[1].setGrad(Tensor([1, 2, 3])) }
            try GradientBuckets(counts: params.map(\.count), capacity: 4).allReduce(params, group: group)
            return params.map { $0.grad?.scalars }
        }
        for result in results {
            let grads = try result.get()
            XCTAssertEqual(grads[0], [3, 3])
            XCTAssertEqual(grads[1], [1, 2, 3])
            XCTAssertNil(grads[2])
        }
    }

    // MARK: Training

    static let policy = TruncationPolicy(maxLength: 24, maxPromptLength: 12)

    static func examples() -> [TokenizedPair] {
        var report = DataReport()
        let t = Tokenization(tokenizer: ByteTokenizer(), policy: policy)
        return (0..<16).map { t.pair(prompt: "P\($0 % 5):", completion: String(repeating: "ab", count: 1 + $0 % 4), report: &report)! }
    }

    static func config() -> TrainerConfig {
        var c = TrainerConfig()
        c.learningRate = 3e-3
        c.batchSize = 8
        c.gradientAccumulation = 4  // micro-batches of 2: with 3 ranks, shares 3, 3, 2 in chunks 2+1, 2+1, 2
        c.epochs = 2
        c.evalEvery = 2
        c.schedule = .cosine
        c.warmupSteps = 1
        return c
    }

    struct Run {
        var losses: [Double]
        var evalLosses: [Double]
        var weights: [Float]
        var checksum: UInt64
    }

    /// One rank's (or the single process's) SFT run on the tiny model, token-mean loss so that the
    /// global token count matters.
    static func train(_ group: (any DataParallelGroup)?, output: URL? = nil, maxSteps: Int? = nil, resume: Bool = false) throws -> Run {
        let model = GPT(GPTConfig(vocabSize: 258, contextLength: 24, dModel: 32, layers: 1, heads: 2), seed: 7)
        let stage = SFTStage(model: model, padToken: ByteTokenizer().padToken, reduction: .tokenMean)
        let all = examples()
        let loop = try TrainingLoop(stage: stage, examples: all, config: config(), outputDirectory: output, dataParallel: group)
        // Two evaluation micro-batches: with 3 ranks, one rank evaluates nothing.
        loop.evaluationExamples = Array(all.prefix(3))
        if resume { XCTAssertTrue(try loop.resumeIfPossible()) }
        try loop.train(maxSteps: maxSteps)
        if loop.step < loop.totalSteps { try loop.saveCheckpoint() }
        let checksum = try group.map { try ReplicaState.verify($0, model: model, optimizer: loop.optimizer) } ?? 0
        return Run(losses: loop.history.map { $0.values["loss"]! }, evalLosses: loop.history.compactMap { $0.values["eval/loss"] },
                   weights: model.parameters().flatMap(\.scalars), checksum: checksum)
    }

    func ranks(_ n: Int, output: URL? = nil, maxSteps: Int? = nil, resume: Bool = false) throws -> [Run] {
        try InProcessHub(size: n).run { group in try Self.train(group, output: output, maxSteps: maxSteps, resume: resume) }.map { try $0.get() }
    }

    func assertClose(_ a: [Double], _ b: [Double], _ tolerance: Double, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, what, file: file, line: line)
        for (x, y) in zip(a, b) { XCTAssertLessThanOrEqual(abs(x - y), tolerance * max(1, abs(y)), "\(what): \(x) vs \(y)", file: file, line: line) }
    }

    func testNRanksMatchOneProcessAndRepeatBitForBit() throws {
        let single = try Self.train(nil)
        XCTAssertEqual(single.losses.count, 4)
        XCTAssertEqual(single.evalLosses.count, 2)
        for n in [2, 3] {
            let runs = try ranks(n)
            for run in runs {
                // Every rank holds the same model and logged the same values, to the bit.
                XCTAssertEqual(run.weights, runs[0].weights, "\(n) ranks")
                XCTAssertEqual(run.losses, runs[0].losses)
                XCTAssertEqual(run.checksum, runs[0].checksum)
            }
            // Only the order of additions differs from one process.
            assertClose(runs[0].losses, single.losses, 1e-5, "loss, \(n) ranks")
            assertClose(runs[0].evalLosses, single.evalLosses, 1e-5, "eval/loss, \(n) ranks")
            assertClose(runs[0].weights.map(Double.init), single.weights.map(Double.init), 1e-5, "weights, \(n) ranks")
            XCTAssertNotEqual(runs[0].weights, try Self.train(nil, maxSteps: 1).weights, "training moved the weights")
            let again = try ranks(n)
            XCTAssertEqual(again[0].weights, runs[0].weights, "same number of ranks, same bits")
            XCTAssertEqual(again[0].losses, runs[0].losses)
        }
    }

    func testResumeATwoRankCheckpointWithThreeRanks() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dp-resume-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let single = try Self.train(nil)
        let first = try ranks(2, output: dir, maxSteps: 3)
        XCTAssertEqual(first[0].losses.count, 3)
        let rows = try String(contentsOf: dir.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(rows.count, 3, "rank 0 alone writes metrics")
        let resumed = try ranks(3, output: dir, resume: true)
        for run in resumed { XCTAssertEqual(run.weights, resumed[0].weights) }
        XCTAssertEqual(resumed[0].losses.count, 1)
        assertClose(resumed[0].losses, Array(single.losses.suffix(1)), 1e-5, "loss after resume")
        assertClose(resumed[0].weights.map(Double.init), single.weights.map(Double.init), 1e-5, "weights after resume")
    }

    func testMoreRanksThanExamplesPerBatchIsRefused() {
        let results = InProcessHub(size: 3).run { group -> String in
            var c = Self.config()
            c.batchSize = 2
            c.gradientAccumulation = 1
            let model = GPT(GPTConfig(vocabSize: 258, contextLength: 24, dModel: 8, layers: 1, heads: 2))
            do {
                _ = try TrainingLoop(stage: SFTStage(model: model, padToken: 0), examples: Self.examples(), config: c, dataParallel: group)
                return "accepted"
            } catch { return "\(error)" }
        }
        XCTAssertEqual(try results[1].get(), "batchSize: must be at least the number of data-parallel ranks 3, got 2")
    }

    /// One rank's error reaches every rank (no rank is left in a later collective), naming each
    /// failed rank; when none fails every rank goes on.
    func testEveryRankThrowsWhenAnyRankFailed() {
        struct Broken: Error, CustomStringConvertible { let description: String }
        for size in [3, 5] {
            let results = InProcessHub(size: size).run { group -> Int in
                try group.everyRank("warming up") {}
                try group.everyRank("training") { if group.rank == 1 || group.rank == size - 1 { throw Broken(description: "disk full") } }
                return group.rank
            }
            for (rank, result) in results.enumerated() {
                XCTAssertThrowsError(try result.get(), "rank \(rank)") { error in
                    XCTAssertEqual("\(error)", "training failed on rank 1 of \(size): disk full; rank \(size - 1) of \(size): disk full")
                }
            }
        }
    }

    func testDisagreeingRanksAreNamedWithBothValues() {
        let results = InProcessHub(size: 3).run { group in
            try group.requireSameAsRankZero(["--seed": group.rank == 2 ? "5" : "0", "--lr": "0.001"], what: "options")
        }
        for result in results {
            XCTAssertThrowsError(try result.get()) { error in
                XCTAssertEqual("\(error)", "the 3 ranks must run with the same options; they differ:\n  rank 2 --seed: \"5\" (rank 0: \"0\")")
            }
        }
    }

    func testChecksumCatchesARankWhoseWeightsDrifted() {
        let results = InProcessHub(size: 2).run { group -> UInt64 in
            let model = GPT(GPTConfig(vocabSize: 16, contextLength: 4, dModel: 8, layers: 1, heads: 2), seed: 1)
            let optimizer = Adam.adamW(model.trainableParameters(), learningRate: 1e-3, weightDecay: 0)
            if group.rank == 1 { model.parameters()[0].pointer[0] += 0.5 }
            return try ReplicaState.verify(group, model: model, optimizer: optimizer)
        }
        for result in results {
            XCTAssertThrowsError(try result.get()) { XCTAssertTrue("\($0)".contains("rank 1"), "\($0)") }
        }
    }
}

/// PPO with in-process ranks: the rollout's chunks and forwards are shared out and gathered; each
/// minibatch's rows are shared.
final class DataParallelPPOTests: XCTestCase {
    struct Run {
        var history: [[String: Double]]
        var weights: [Float]
    }

    static func train(_ group: (any DataParallelGroup)?, chunk: Int? = nil) throws -> Run {
        let policy = GPT(GPTConfig(vocabSize: 6, contextLength: 12, dModel: 16, layers: 1, heads: 2, scalarHead: true), seed: 1)
        var ppo = PPOConfig()
        ppo.rolloutBatchSize = 6
        ppo.miniBatchSize = 3  // 2 ranks: 2 + 1 rows; 3 ranks: 1 each
        ppo.ppoEpochs = 2
        ppo.rollouts = 2
        ppo.learningRate = 3e-3
        ppo.maxNewTokens = 4
        ppo.klCoef = 0.01
        ppo.rolloutChunkSize = chunk
        let share: ([Int], [Int]) -> Float = { _, response in Float(response.filter { $0 == 4 }.count) / Float(max(response.count, 1)) }
        let trainer = try PPOTrainer(policy: policy, reference: policy.frozenCopy(), reward: .function(share),
                                     prompts: [[2, 3], [3, 2], [5], [2, 5, 3]], config: ppo, eosToken: 0, padToken: 1, dataParallel: group)
        try trainer.train()
        if let group { try ReplicaState.verify(group, model: policy, optimizer: trainer.optimizer) }
        return Run(history: trainer.history, weights: policy.parameters().flatMap(\.scalars))
    }

    /// With one chunk (rank 0 samples it) and with chunks of 2 (3 chunks: 2 ranks take 2 + 1), N
    /// ranks draw the first rollout's samples exactly as one process does and reach its metrics and
    /// weights within float tolerance.
    func testNRanksMatchOneProcess() throws {
        for chunk in [nil, 2] {
            try assertNRanksMatchOneProcess(chunk: chunk)
        }
    }

    func testChunksSampleFromTheirOwnStreams() throws {
        let whole = try Self.train(nil), chunked = try Self.train(nil, chunk: 2)
        XCTAssertNotEqual(whole.weights, chunked.weights)
    }

    func assertNRanksMatchOneProcess(chunk: Int?) throws {
        let single = try Self.train(nil, chunk: chunk)
        for n in [2, 3] {
            let runs = try InProcessHub(size: n).run { try Self.train($0, chunk: chunk) }.map { try $0.get() }
            for run in runs { XCTAssertEqual(run.weights, runs[0].weights, "\(n) ranks agree to the bit") }
            XCTAssertEqual(runs[0].history.count, single.history.count)
            // The first rollout's samples (hence its rule-based scores and lengths) are the same; later
            // ones follow weights that N ranks update with another order of additions (last bits).
            for key in ["objective/scores", "response_length"] {
                XCTAssertEqual(runs[0].history[0][key], single.history[0][key], "\(key), \(n) ranks, chunk \(chunk.map(String.init) ?? "whole")")
            }
            for (a, b) in zip(runs[0].history, single.history) {
                XCTAssertEqual(Set(a.keys), Set(b.keys))
                for (key, value) in b { XCTAssertEqual(a[key]!, value, accuracy: 1e-5 * max(1, abs(value)), "\(key), \(n) ranks") }
            }
            for (a, b) in zip(runs[0].weights, single.weights) { XCTAssertEqual(a, b, accuracy: 1e-5) }
        }
    }
}
