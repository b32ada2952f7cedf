import Foundation
import XCTest
import TensorCore
import Alignment

/// DPO (and PPO) with LoRA: the reference is the policy with its adapters disabled.
final class LoRATrainingTests: XCTestCase {
    let tok = ByteTokenizer()
    let truncation = TruncationPolicy(maxLength: 24, maxPromptLength: 12)
    let lora = LoRAConfig(rank: 4, alpha: 8, targets: .names(["c_attn", "c_proj", "c_fc"]))

    func tinyModel(seed: UInt64 = 0, dropout: Float = 0) -> GPT {
        GPT(GPTConfig(vocabSize: 258, contextLength: 24, dModel: 32, layers: 1, heads: 2, dropout: dropout), seed: seed)
    }
    func pair(_ prompt: String, _ completion: String) -> TokenizedPair {
        var report = DataReport()
        return Tokenization(tokenizer: tok, policy: truncation).pair(prompt: prompt, completion: completion, report: &report)!
    }
    func preferencePairs() -> [PreferencePair] {
        let letters = Array("abcdefgh")
        return letters.indices.map { i in
            let l = letters[i], other = letters[(i + 3) % letters.count]
            return PreferencePair(chosen: pair("say \(l):", "\(l)\(l)"), rejected: pair("say \(l):", "\(other)\(other)"))
        }
    }
    var config: TrainerConfig {
        var c = TrainerConfig()
        c.learningRate = 1e-2
        c.batchSize = 4
        c.epochs = 3
        return c
    }
    /// A model with adapters whose B is random, so policy and base differ from the first step on.
    func adaptedModel(seed: UInt64, dropout: Float = 0) throws -> GPT {
        let model = tinyModel(seed: seed, dropout: dropout)
        try model.applyLoRA(lora, seed: seed)
        var g = RandomGenerator(seed: 100 + seed)
        for (_, _, a) in model.loraLayers() { withNoGrad { a.loraB.assign(Tensor.normal(a.loraB.shape, std: 0.1, generator: &g)) } }
        return model
    }
    func tempDir() -> URL { FileManager.default.temporaryDirectory.appendingPathComponent("lora-train-\(UUID().uuidString)") }

    func testAdaptersDisabledReferenceMatchesAFrozenBaseCopy() throws {
        for dropout: Float in [0, 0.1] {
            let loss = PreferenceLossConfig(type: .sigmoid, beta: 0.1)
            let a = try adaptedModel(seed: 5, dropout: dropout), b = try adaptedModel(seed: 5, dropout: dropout)
            // The frozen copy has only the base weights (copyParameters goes by the copy's names).
            let frozenBase = b.frozenCopy()
            XCTAssertFalse(frozenBase.hasLoRA)
            let loopA = try TrainingLoop(stage: DPOStage(model: a, referenceModel: .adaptersDisabled(a), padToken: tok.padToken, loss: loss),
                                         examples: preferencePairs(), config: config)
            let loopB = try TrainingLoop(stage: DPOStage(model: b, reference: frozenBase, padToken: tok.padToken, loss: loss),
                                         examples: preferencePairs(), config: config)
            try loopA.train(maxSteps: 1)
            try loopB.train(maxSteps: 1)
            let lossA = loopA.history[0].values["loss"]!, lossB = loopB.history[0].values["loss"]!
            XCTAssertEqual(lossA, lossB, "dropout \(dropout)")
            XCTAssertNotEqual(lossA, log(2), accuracy: 1e-4, "policy and reference differ, so the test can tell them apart")
            XCTAssertEqual(a.parameters().flatMap(\.scalars), b.parameters().flatMap(\.scalars), "same first step, dropout \(dropout)")
            XCTAssertTrue(a.isTraining, "the reference pass restores training mode")
        }
    }

    /// Recomputing blocks in backward (adapters and their dropout included) trains exactly as recording them.
    func testLoRAWithGradientCheckpointingTrainsIdentically() throws {
        func run(checkpointing: Bool) throws -> GPT {
            let model = try adaptedModel(seed: 8, dropout: 0.1)
            model.gradientCheckpointing = checkpointing
            try TrainingLoop(stage: DPOStage(model: model, referenceModel: .adaptersDisabled(model), padToken: tok.padToken,
                                             loss: PreferenceLossConfig(beta: 0.1)), examples: preferencePairs(), config: config).train(maxSteps: 3)
            return model
        }
        XCTAssertEqual(try run(checkpointing: true).parameters().flatMap(\.scalars), try run(checkpointing: false).parameters().flatMap(\.scalars))
    }

    func testOnlyAdapterWeightsChangeAndOptimizerHoldsOnlyThem() throws {
        let model = try adaptedModel(seed: 6)
        let base = model.baseNamedParameters().map { $0.tensor.scalars }
        let adapters = model.loraLayers().flatMap { [$0.adapter.loraA.scalars, $0.adapter.loraB.scalars] }
        let loop = try TrainingLoop(stage: DPOStage(model: model, referenceModel: .adaptersDisabled(model), padToken: tok.padToken,
                                                    loss: PreferenceLossConfig(beta: 0.1)), examples: preferencePairs(), config: config)
        try loop.train()
        XCTAssertEqual(model.baseNamedParameters().map { $0.tensor.scalars }, base)
        let after = model.loraLayers().flatMap { [$0.adapter.loraA.scalars, $0.adapter.loraB.scalars] }
        for (x, y) in zip(after, adapters) { XCTAssertNotEqual(x, y) }
        // Adam's two buffers per adapter tensor plus the step count: no state for the base.
        let adapterScalars = model.loraLayers().reduce(0) { $0 + $1.adapter.loraA.count + $1.adapter.loraB.count }
        XCTAssertEqual(loop.optimizer.state().values.reduce(0) { $0 + $1.count }, 2 * adapterScalars + 1)
        XCTAssertGreaterThan(loop.history.last!.values["rewards/margins"]!, loop.history.first!.values["rewards/margins"]!)
    }

    func testResumeRestoresAdaptersAndOptimizerBitForBit() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        var c = config
        c.saveEvery = 2
        func loop(_ model: GPT, _ dir: URL?) throws -> TrainingLoop<DPOStage> {
            try TrainingLoop(stage: DPOStage(model: model, referenceModel: .adaptersDisabled(model), padToken: tok.padToken,
                                             loss: PreferenceLossConfig(beta: 0.1)), examples: preferencePairs(), config: c, outputDirectory: dir)
        }
        let straight = try adaptedModel(seed: 7, dropout: 0.1)
        try loop(straight, nil).train()

        let first = try adaptedModel(seed: 7, dropout: 0.1)
        try loop(first, dir).train(maxSteps: 2)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("checkpoint/adapter/adapter_model.safetensors").path))
        // A fresh process: same base and LoRA settings, adapters as initialised (not as trained).
        let resumed = tinyModel(seed: 7, dropout: 0.1)
        try resumed.applyLoRA(lora, seed: 99)
        let second = try loop(resumed, dir)
        XCTAssertTrue(try second.resumeIfPossible())
        XCTAssertEqual(second.step, 2)
        try second.train()
        XCTAssertEqual(resumed.parameters().flatMap(\.scalars), straight.parameters().flatMap(\.scalars))

        // Resuming with other LoRA settings, or without LoRA, is refused.
        let other = tinyModel(seed: 7, dropout: 0.1)
        try other.applyLoRA(LoRAConfig(rank: 2, alpha: 8, targets: .names(["c_attn"])))
        XCTAssertThrowsError(try loop(other, dir).resumeIfPossible()) { XCTAssertTrue("\($0)".contains("LoRA: checkpoint r = 4"), "\($0)") }
        let plain = tinyModel(seed: 7, dropout: 0.1)
        XCTAssertThrowsError(try TrainingLoop(stage: DPOStage(model: plain, reference: plain.frozenCopy(), padToken: tok.padToken,
                                                              loss: PreferenceLossConfig(beta: 0.1)),
                                              examples: preferencePairs(), config: c, outputDirectory: dir).resumeIfPossible()) {
            XCTAssertTrue("\($0)".contains("checkpoint has adapters"), "\($0)")
        }
    }

    func testPPOWithLoRAResumesBitForBit() throws {
        func make(_ dir: URL?, adapterSeed: UInt64) throws -> (PPOTrainer, GPT) {
            var ppo = PPOConfig()
            ppo.rolloutBatchSize = 2
            ppo.miniBatchSize = 2
            ppo.maxNewTokens = 3
            ppo.rollouts = 3
            let policy = GPT(GPTConfig(vocabSize: 6, contextLength: 12, dModel: 16, layers: 1, heads: 2, dropout: 0.1, scalarHead: true), seed: 1)
            try policy.applyLoRA(LoRAConfig(rank: 2, alpha: 4, dropout: 0.2, targets: .names(["c_attn", "c_fc"])), seed: adapterSeed)
            policy.scoreHead!.weight.requiringGrad(true)
            let trainer = try PPOTrainer(policy: policy, referenceModel: .adaptersDisabled(policy), reward: .function { _, r in Float(r.count) },
                                         prompts: [[2, 3], [4]], config: ppo, eosToken: 0, padToken: 1)
            trainer.outputDirectory = dir
            trainer.saveEvery = 1
            return (trainer, policy)
        }
        let (straight, straightPolicy) = try make(nil, adapterSeed: 3)
        try straight.train()
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        try make(dir, adapterSeed: 3).0.train(count: 1)
        let (resumed, resumedPolicy) = try make(dir, adapterSeed: 50)
        XCTAssertTrue(try resumed.resumeIfPossible())
        try resumed.train()
        XCTAssertEqual(resumedPolicy.parameters().flatMap(\.scalars), straightPolicy.parameters().flatMap(\.scalars))
        XCTAssertEqual(resumed.history.last?["objective/kl"], straight.history.last?["objective/kl"])
    }

    func testPPOWithAdaptersDisabledReferenceMatchesFrozenCopy() throws {
        func run(separate: Bool) throws -> (PPOTrainer, GPT) {
            var ppo = PPOConfig()
            ppo.rolloutBatchSize = 2
            ppo.miniBatchSize = 2
            ppo.maxNewTokens = 3
            ppo.rollouts = 1
            let policy = GPT(GPTConfig(vocabSize: 6, contextLength: 12, dModel: 16, layers: 1, heads: 2, scalarHead: true), seed: 1)
            try policy.applyLoRA(LoRAConfig(rank: 2, alpha: 4, targets: .names(["c_attn"])), seed: 3)
            var g = RandomGenerator(seed: 4)
            for (_, _, a) in policy.loraLayers() { withNoGrad { a.loraB.assign(Tensor.normal(a.loraB.shape, std: 0.3, generator: &g)) } }
            policy.scoreHead!.weight.requiringGrad(true)  // the value head trains beside the adapters
            let trainer = try PPOTrainer(policy: policy, referenceModel: separate ? .separate(policy.frozenCopy()) : .adaptersDisabled(policy),
                                         reward: .function { _, r in Float(r.count) }, prompts: [[2, 3], [4]], config: ppo, eosToken: 0, padToken: 1)
            try trainer.train(count: 1)
            return (trainer, policy)
        }
        let (a, pa) = try run(separate: false), (b, pb) = try run(separate: true)
        XCTAssertEqual(a.history[0]["objective/kl"], b.history[0]["objective/kl"])
        XCTAssertNotEqual(a.history[0]["objective/kl"], 0)
        XCTAssertEqual(pa.parameters().flatMap(\.scalars), pb.parameters().flatMap(\.scalars))
    }
}
