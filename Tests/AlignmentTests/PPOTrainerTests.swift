import XCTest
import Alignment

final class PPOTrainerTests: XCTestCase {
    /// Vocabulary of 6: 0 = EOS, 1 = PAD, 2...5 words. The score is the share of response tokens equal to 4.
    let config = GPTConfig(vocabSize: 6, contextLength: 12, dModel: 16, layers: 1, heads: 2, scalarHead: true)
    func share(_ prompt: [Int], _ response: [Int]) -> Float {
        Float(response.filter { $0 == 4 }.count) / Float(max(response.count, 1))
    }

    func makeTrainer(rollouts: Int, temperature: Float = 1) throws -> PPOTrainer {
        let policy = GPT(config, seed: 1)
        var ppo = PPOConfig()
        ppo.rolloutBatchSize = 16
        ppo.miniBatchSize = 4
        ppo.ppoEpochs = 2
        ppo.rollouts = rollouts
        ppo.learningRate = 3e-3
        ppo.maxNewTokens = 4
        ppo.temperature = temperature
        ppo.klCoef = 0.01
        return try PPOTrainer(policy: policy, reference: policy.frozenCopy(), reward: .function(share),
                              prompts: [[2, 3], [3, 2], [5], [2, 5, 3]], config: ppo, eosToken: 0, padToken: 1)
    }

    func testFirstMinibatchHasRatioOneAndNoClipping() throws {
        for temperature: Float in [1, 0.7] {
            let trainer = try makeTrainer(rollouts: 1, temperature: temperature)
            try trainer.train()
            let first = trainer.lastRolloutSteps[0]
            XCTAssertEqual(first["val/ratio"], 1, "temperature \(temperature)")
            XCTAssertEqual(first["policy/clipfrac"], 0)
            XCTAssertEqual(first["policy/approxkl"], 0)
            XCTAssertEqual(trainer.lastRolloutSteps.count, 8)  // 2 epochs x 4 minibatches
            XCTAssertNotEqual(trainer.lastRolloutSteps[1]["val/ratio"], 1, "later minibatches see an updated policy")
        }
    }

    func testPPORaisesTheScore() throws {
        let trainer = try makeTrainer(rollouts: 30)
        try trainer.train()
        let scores = trainer.history.map { $0["objective/scores"]! }
        let early = scores.prefix(5).reduce(0, +) / 5, late = scores.suffix(5).reduce(0, +) / 5
        XCTAssertGreaterThan(late, early + 0.25, "scores \(scores)")
        for key in ["objective/kl", "policy/clipfrac", "policy/approxkl", "loss/policy", "loss/value", "val/ratio"] {
            XCTAssertNotNil(trainer.history.last![key], key)
        }
    }

    func testRewardModelScoresAtTheLastToken() throws {
        let rm = GPT(config, seed: 3)
        let policy = GPT(config, seed: 1)
        var ppo = PPOConfig()
        ppo.rolloutBatchSize = 4
        ppo.miniBatchSize = 2
        ppo.ppoEpochs = 1
        ppo.rollouts = 1
        ppo.maxNewTokens = 3
        let trainer = try PPOTrainer(policy: policy, reference: policy.frozenCopy(), reward: .model(rm), prompts: [[2, 3]], config: ppo,
                                     eosToken: 0, padToken: 1)
        try trainer.train()
        XCTAssertEqual(trainer.history.count, 1)
        XCTAssertTrue(trainer.history[0]["objective/scores"]!.isFinite)
    }
}

final class PPOResumeTests: XCTestCase {
    func testResumeEqualsAnUninterruptedRun() throws {
        let config = GPTConfig(vocabSize: 6, contextLength: 12, dModel: 16, layers: 1, heads: 2, dropout: 0.1, scalarHead: true)
        func make(_ dir: URL) throws -> (GPT, PPOTrainer) {
            let policy = GPT(config, seed: 1)
            let reference = GPT(GPTConfig(vocabSize: 6, contextLength: 12, dModel: 16, layers: 1, heads: 2, scalarHead: true), seed: 1)
            reference.copyParameters(from: policy)
            reference.freeze()
            reference.eval()
            var ppo = PPOConfig()
            ppo.rolloutBatchSize = 8
            ppo.miniBatchSize = 4
            ppo.ppoEpochs = 2
            ppo.rollouts = 4
            ppo.learningRate = 3e-3
            ppo.maxNewTokens = 3
            ppo.targetKL = 0.5
            let trainer = try PPOTrainer(policy: policy, reference: reference, reward: .function { _, r in Float(r.filter { $0 == 4 }.count) },
                                         prompts: [[2, 3], [5]], config: ppo, eosToken: 0, padToken: 1)
            trainer.outputDirectory = dir
            trainer.saveEvery = 2
            return (policy, trainer)
        }
        let a = FileManager.default.temporaryDirectory.appendingPathComponent("ppo-\(UUID().uuidString)")
        let b = FileManager.default.temporaryDirectory.appendingPathComponent("ppo-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: a); try? FileManager.default.removeItem(at: b) }
        let (straightPolicy, straight) = try make(a)
        try straight.train()
        let (_, interrupted) = try make(b)
        try interrupted.train(count: 3)  // checkpoint after rollout 2; rollout 3 is lost
        let (resumedPolicy, resumed) = try make(b)
        XCTAssertTrue(try resumed.resumeIfPossible())
        XCTAssertEqual(resumed.rollout, 2)
        try resumed.train()
        XCTAssertEqual(resumedPolicy.parameters().flatMap(\.scalars), straightPolicy.parameters().flatMap(\.scalars))
        XCTAssertEqual(resumed.history.map { $0["objective/scores"]! }, straight.history.suffix(2).map { $0["objective/scores"]! })
        XCTAssertEqual(resumed.klCoef, straight.klCoef)
    }
}
