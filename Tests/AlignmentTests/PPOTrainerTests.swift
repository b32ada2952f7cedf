import XCTest
import TensorCore
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
