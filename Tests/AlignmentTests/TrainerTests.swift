import Foundation
import XCTest
import Alignment

/// Tiny synthetic tasks every trainer must learn within seconds.
final class TrainerTests: XCTestCase {
    let tok = ByteTokenizer()
    let policy = TruncationPolicy(maxLength: 24, maxPromptLength: 12)
    func tinyModel(seed: UInt64 = 0, scalarHead: Bool = false) -> GPT {
        GPT(GPTConfig(vocabSize: 258, contextLength: 24, dModel: 32, layers: 1, heads: 2, scalarHead: scalarHead), seed: seed)
    }
    func pair(_ prompt: String, _ completion: String) -> TokenizedPair {
        var report = DataReport()
        return Tokenization(tokenizer: tok, policy: policy).pair(prompt: prompt, completion: completion, report: &report)!
    }
    /// "Q:3=" -> "4": the next digit.
    var successorTask: [TokenizedPair] { (0..<10).map { pair("Q:\($0)=", "\(($0 + 1) % 10)") } }
    func tempDir() -> URL { FileManager.default.temporaryDirectory.appendingPathComponent("trainer-\(UUID().uuidString)") }

    func testSFTLearnsTheSuccessorTask() throws {
        let model = tinyModel()
        var config = TrainerConfig()
        config.learningRate = 3e-3
        config.batchSize = 10
        config.epochs = 60
        let loop = try TrainingLoop(stage: SFTStage(model: model, padToken: tok.padToken), examples: successorTask, config: config)
        try loop.train()
        let first = loop.history.first!.values["loss"]!, last = loop.history.last!.values["loss"]!
        XCTAssertLessThan(last, first * 0.1, "loss \(first) -> \(last)")
        var rng = RandomGenerator(seed: 0)
        let out = try model.generate(prompts: successorTask.map(\.prompt), options: SamplingOptions(temperature: 0, maxNewTokens: 2, eosToken: tok.eosToken),
                                 generator: &rng)
        let correct = zip(out.tokens, successorTask).filter { $0.0 == $0.1.completion }.count
        XCTAssertGreaterThanOrEqual(correct, 9)
    }

    func weights(_ m: GPT) -> [Float] { m.parameters().flatMap(\.scalars) }

    func testGradientAccumulationEqualsOneBigBatch() throws {
        for reduction in [SFTLossReduction.sequenceSum, .tokenMean] {
            let examples = (0..<8).map { pair("P\($0):", String(repeating: "x", count: 1 + $0 % 3)) }
            var config = TrainerConfig()
            config.learningRate = 1e-2
            config.batchSize = 8
            config.optimizer = .sgd
            let big = tinyModel(seed: 1), small = tinyModel(seed: 1)
            try TrainingLoop(stage: SFTStage(model: big, padToken: tok.padToken, reduction: reduction), examples: examples, config: config).train()
            config.gradientAccumulation = 8
            try TrainingLoop(stage: SFTStage(model: small, padToken: tok.padToken, reduction: reduction), examples: examples, config: config).train()
            let before = weights(tinyModel(seed: 1))
            var maxDiff: Float = 0, maxStep: Float = 0
            for ((a, b), w0) in zip(zip(weights(big), weights(small)), before) {
                maxDiff = max(maxDiff, abs(a - b))
                maxStep = max(maxStep, abs(a - w0))
            }
            XCTAssertGreaterThan(maxStep, 1e-4)
            XCTAssertLessThan(maxDiff, 1e-6, "\(reduction)")
        }
    }

    func testResumeEqualsAnUninterruptedRun() throws {
        let examples = (0..<12).map { pair("R\($0 % 4):", "y\($0)") }
        var config = TrainerConfig()
        config.learningRate = 1e-3
        config.batchSize = 4
        config.epochs = 2
        config.saveEvery = 2
        config.schedule = .cosine
        config.warmupSteps = 1
        let straightDir = tempDir(), resumedDir = tempDir()
        defer { try? FileManager.default.removeItem(at: straightDir); try? FileManager.default.removeItem(at: resumedDir) }
        let straight = tinyModel(seed: 2)
        let full = try TrainingLoop(stage: SFTStage(model: straight, padToken: tok.padToken), examples: examples, config: config, outputDirectory: straightDir)
        try full.train()
        XCTAssertEqual(full.step, 6)

        let interrupted = try TrainingLoop(stage: SFTStage(model: tinyModel(seed: 2), padToken: tok.padToken), examples: examples, config: config,
                                           outputDirectory: resumedDir)
        try interrupted.train(maxSteps: 3)  // checkpoint at step 2; step 3 is lost with the "crash"
        let fresh = tinyModel(seed: 99)
        let resumed = try TrainingLoop(stage: SFTStage(model: fresh, padToken: tok.padToken), examples: examples, config: config, outputDirectory: resumedDir)
        XCTAssertTrue(try resumed.resumeIfPossible())
        XCTAssertEqual(resumed.step, 2)
        try resumed.train()
        XCTAssertEqual(weights(fresh), weights(straight))
        XCTAssertEqual(resumed.history.map { $0.values["loss"]! }, Array(full.history.suffix(4)).map { $0.values["loss"]! })
        let lines = try String(contentsOf: straightDir.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 6)
        XCTAssertTrue(lines[0].contains("\"loss\""))
    }

    func preferencePairs() -> [PreferencePair] {
        // Chosen answers repeat the prompt's letter; rejected ones use another letter.
        let letters = Array("abcdefgh")
        return letters.indices.map { i in
            let l = letters[i], other = letters[(i + 3) % letters.count]
            return PreferencePair(chosen: pair("say \(l):", "\(l)\(l)"), rejected: pair("say \(l):", "\(other)\(other)"))
        }
    }

    func testRewardModelLearnsPreferences() throws {
        let model = tinyModel(seed: 3, scalarHead: true)
        var config = TrainerConfig()
        config.learningRate = 3e-3
        config.batchSize = 8
        config.epochs = 40
        let loop = try TrainingLoop(stage: RewardStage(model: model, padToken: tok.padToken), examples: preferencePairs(), config: config)
        try loop.train()
        XCTAssertEqual(loop.history.last!.values["accuracy"]!, 1)
        XCTAssertGreaterThan(loop.history.last!.values["margin"]!, 1)
        XCTAssertLessThan(loop.history.last!.values["loss"]!, 0.2)
    }

    func testDPORaisesChosenOverRejectedAndPrecomputedReferenceMatches() throws {
        var config = TrainerConfig()
        config.learningRate = 1e-3
        config.batchSize = 4
        config.epochs = 30
        config.optimizer = .rmsprop
        config.maxGradNorm = 10
        let pairs = preferencePairs()
        func run(precompute: Bool) throws -> (GPT, TrainingLoop<DPOStage>) {
            let policy = tinyModel(seed: 4)
            let reference = policy.frozenCopy()
            let stage = DPOStage(model: policy, reference: reference, padToken: tok.padToken, loss: PreferenceLossConfig(type: .sigmoid, beta: 0.1))
            let examples = precompute ? stage.precomputeReference(pairs, batchSize: config.batchSize) : pairs
            let loop = try TrainingLoop(stage: precompute ? DPOStage(model: policy, reference: nil, padToken: tok.padToken, loss: stage.loss) : stage,
                                        examples: examples, config: config)
            try loop.train()
            return (policy, loop)
        }
        let (onTheFly, loopA) = try run(precompute: false)
        let first = loopA.history.first!.values
        XCTAssertEqual(first["loss"]!, log(2), accuracy: 1e-6)  // policy == reference at step 1
        XCTAssertEqual(first["rewards/accuracies"]!, 0)
        let last = loopA.history.last!.values
        XCTAssertGreaterThan(last["rewards/margins"]!, 0.5)
        XCTAssertEqual(last["rewards/accuracies"]!, 1)
        for key in ["rewards/chosen", "rewards/rejected", "logps/chosen", "logps/rejected"] { XCTAssertNotNil(last[key]) }
        let (precomputed, _) = try run(precompute: true)
        XCTAssertEqual(weights(onTheFly), weights(precomputed))
    }

    func testPeriodicEvaluationLogsHeldOutLossWithoutChangingTraining() throws {
        var config = TrainerConfig()
        config.learningRate = 3e-3
        config.batchSize = 5
        config.epochs = 6
        config.evalEvery = 3
        let train = Array(successorTask.prefix(5)), held = Array(successorTask.suffix(5))
        let a = tinyModel(seed: 7), b = tinyModel(seed: 7)
        let withEval = try TrainingLoop(stage: SFTStage(model: a, padToken: tok.padToken), examples: train, config: config)
        withEval.evaluationExamples = held
        try withEval.train()
        try TrainingLoop(stage: SFTStage(model: b, padToken: tok.padToken), examples: train, config: config).train()
        XCTAssertEqual(weights(a), weights(b))
        let logged = withEval.history.filter { $0.values["eval/loss"] != nil }.map(\.step)
        XCTAssertEqual(logged, [3, 6])
        XCTAssertTrue(withEval.history[2].values["eval/loss"]!.isFinite)
    }
}
