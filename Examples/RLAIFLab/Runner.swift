import Alignment
import Foundation
import LanguageModels

/// Runs arms of the comparison on one prompt pool, caching every finished piece under the run
/// directory (pretrained bases, SFT models, arm results) so an interrupted run resumes.
public final class ExperimentRunner {
    public let preset: Preset
    public let directory: URL
    public var log: (String) -> Void = { _ in }
    let tokenizer = World.tokenizer
    /// SFT and RLAIF prompts, and the held-out evaluation prompts: disjoint parts of the task space.
    public lazy var pool: [Instruction] = World.tasks(preset.promptPool, seed: 1_000, split: .training)
    public lazy var evalTasks: [Instruction] = preset.evaluationSet == .validation
        ? World.tasks(preset.evalPrompts, seed: 3_000, split: .validation) : World.tasks(preset.evalPrompts, seed: 2_000, split: .test)
    lazy var references: [String] = evalTasks.map(Teacher.reference.respond)

    public init(preset: Preset, directory: URL) {
        self.preset = preset
        self.directory = directory
    }

    /// Every teacher and critic an arm can name (the provenance hash covers each).
    public static let allTeachers: [Teacher] = [.weak, .strong, .claude, .reference]
    public static let allCritics: [Critic] = [.strong, .lenient, .claude, .noisy]

    public static func teacher(_ name: String) -> Teacher { allTeachers.first { $0.name == name }! }

    public static func critic(_ name: String) -> Critic { allCritics.first { $0.name == name }! }

    func config(_ family: Family) -> GPTConfig {
        GPTConfig(vocabSize: tokenizer.vocabSize, contextLength: preset.contextLength, dModel: family.dModel, layers: family.layers,
                  heads: family.heads)
    }

    func pair(_ prompt: String, _ completion: String) -> TokenizedPair {
        TokenizedPair(prompt: tokenizer.encode(prompt), completion: tokenizer.encode(completion) + [tokenizer.eosToken])
    }

    /// A stage's output directory (metrics.jsonl), cleared of an earlier attempt's metrics.
    func stageDirectory(_ name: String) -> URL {
        let dir = directory.appendingPathComponent("stages").appendingPathComponent(name)
        try? FileManager.default.removeItem(at: dir.appendingPathComponent("metrics.jsonl"))
        return dir
    }

    /// Models are cached under models/; the trainers' own resumable checkpoints are not kept.
    func dropCheckpoint(_ stageDir: URL) { try? FileManager.default.removeItem(at: stageDir.appendingPathComponent("checkpoint")) }

    /// Trains `model` on `examples` for about `steps` optimizer steps (whole epochs).
    func train<S: TrainingStage>(_ stage: S, _ examples: [S.Example], steps: Int, config base: TrainerConfig, name: String) throws {
        var config = base
        let perEpoch = max(examples.count / config.batchSize, 1)
        config.epochs = max(1, Int((Double(steps) / Double(perEpoch)).rounded()))
        let dir = stageDirectory(name)
        try TrainingLoop(stage: stage, examples: examples, config: config, outputDirectory: dir).train()
        dropCheckpoint(dir)
    }

    func cached(_ path: String, _ make: () throws -> GPT) throws -> GPT {
        let dir = directory.appendingPathComponent(path)
        if FileManager.default.fileExists(atPath: dir.appendingPathComponent("model.safetensors").path) {
            return try GPT.loadHuggingFace(directory: dir)
        }
        let model = try make()
        try model.saveHuggingFace(directory: dir)
        return model
    }

    /// The family's base model for one run seed: task-free pretraining whose initialisation and data
    /// order follow the seed (seed 0: the single base earlier versions shared), so intervals over
    /// seeds include base-to-base variation. Done once per seed and reused by every arm.
    public func base(_ family: Family, seed: UInt64) throws -> GPT {
        try cached("cache/\(family.name)/seed\(seed)") {
            log("pretraining \(family.name) (d \(family.dModel), \(family.layers) layers, \(family.pretrainSteps) steps), seed \(seed)")
            let baseSeed = Self.baseSeed(seed)
            let model = GPT(config(family), seed: baseSeed)
            var c = TrainerConfig()
            c.learningRate = preset.pretrainLearningRate
            c.batchSize = preset.batchSize
            c.schedule = .cosine
            c.warmupSteps = 10
            c.seed = baseSeed
            let text = World.pretrainingText(preset.batchSize * family.pretrainSteps, seed: 3, skillShare: family.skillShare)
            try train(SFTStage(model: model, padToken: tokenizer.padToken), text, steps: family.pretrainSteps, config: c,
                      name: "pretrain-\(family.name)-seed\(seed)")
            return model
        }
    }

    /// Initialisation and data-order seed of a run seed's base (7 for seed 0, as before bases were per seed).
    static func baseSeed(_ seed: UInt64) -> UInt64 { 7 &+ seed &* 0x9E37_79B9_7F4A_7C15 }

    /// SFT of the family's base on `teacher`'s completions for the first `fraction` of the pool.
    public func sft(_ family: Family, teacher: Teacher, fraction: Double, seed: UInt64) throws -> GPT {
        let pct = Int((fraction * 100).rounded())
        return try cached("models/\(family.name)/seed\(seed)/sft-\(teacher.name)-\(pct)") {
            let model = try base(family, seed: seed)
            let n = Int((Double(pool.count) * fraction).rounded())
            log("SFT \(family.name) on \(teacher.name) teacher, \(n) prompts, seed \(seed)")
            let examples = pool.prefix(n).map { pair($0.prompt, teacher.respond($0)) }
            var c = TrainerConfig()
            c.learningRate = preset.sftLearningRate
            c.batchSize = min(preset.batchSize, examples.count)
            c.schedule = .cosine
            c.warmupSteps = 10
            c.seed = seed
            let steps = preset.sftEpochs.map { $0 * max(examples.count / c.batchSize, 1) } ?? preset.sftSteps
            try train(SFTStage(model: model, padToken: tokenizer.padToken), examples, steps: steps, config: c,
                      name: "\(family.name)-seed\(seed)-sft-\(teacher.name)-\(pct)")
            return model
        }
    }

    /// Samples completions (decoded text) for `tasks`.
    func sample(_ model: GPT, _ tasks: [Instruction], temperature: Float, topP: Float, seed: UInt64) throws -> [String] {
        var rng = RandomGenerator(seed: seed)
        let options = SamplingOptions(temperature: temperature, topP: topP, maxNewTokens: preset.maxNewTokens,
                                      eosToken: tokenizer.eosToken, stopAtContext: true)
        var out: [String] = []
        for start in stride(from: 0, to: tasks.count, by: 64) {
            let chunk = tasks[start..<min(start + 64, tasks.count)]
            let g = try model.generate(prompts: chunk.map { tokenizer.encode($0.prompt) }, options: options, generator: &rng)
            out += g.tokens.map { tokenizer.decode($0) }
        }
        return out
    }

    /// The AI-feedback data, as the paper's code makes it: for each remaining prompt a policy sample
    /// (temperature 1, top-p 0.9) against the teacher's completion (or, with `pairsAgainst =
    /// "policy"`, a second policy sample), labelled by the critic. Returns the pairs and the share
    /// where the critic preferred the (first) policy sample.
    func feedbackPairs(_ sampler: GPT, teacher: Teacher, critic: Critic, seed: UInt64, name: String) throws -> ([PreferencePair], Double) {
        let tasks = rlaifTasks
        let samples = try sample(sampler, tasks, temperature: 1, topP: 0.9, seed: seed &+ 11)
        let others = preset.pairsAgainst == "policy"
            ? try sample(sampler, tasks, temperature: 1, topP: 0.9, seed: seed &+ 12) : tasks.map(teacher.respond)
        var rng = RandomGenerator(seed: seed &+ 13)
        var policyWins = 0, identical = 0
        var pairs: [PreferencePair] = []
        for (task, (own, reference)) in zip(tasks, zip(samples, others)) {
            // Identical completions carry no preference (and no DPO or Bradley-Terry gradient).
            if own == reference { identical += 1; continue }
            let ownPreferred = critic.prefers(task, own, reference, &rng)
            if ownPreferred { policyWins += 1 }
            let (c, r) = ownPreferred ? (own, reference) : (reference, own)
            pairs.append(PreferencePair(chosen: pair(task.prompt, c), rejected: pair(task.prompt, r)))
        }
        log("RLAIF \(name): \(pairs.count) pairs (\(identical) prompts skipped: identical completions), " +
            "critic preferred the policy's own sample in \(policyWins)")
        return (pairs, Double(policyWins) / Double(max(pairs.count, 1)))
    }

    /// Prompts left for RLAIF after the SFT share.
    var rlaifTasks: [Instruction] { Array(pool[Int((Double(pool.count) * preset.sftFraction).rounded())...]) }

    /// RLAIF by DPO from the SFT model (reference: the frozen SFT model); pairs are sampled from
    /// `sampler` (the SFT model itself unless Table 1 borrows another family's).
    func rlaif(_ sftModel: GPT, sampler: GPT? = nil, teacher: Teacher, critic: Critic, seed: UInt64, name: String) throws -> (GPT, Double) {
        let (pairs, share) = try feedbackPairs(sampler ?? sftModel, teacher: teacher, critic: critic, seed: seed, name: name)
        let policy = GPT(sftModel.config)
        policy.copyParameters(from: sftModel)
        let stage = DPOStage(model: policy, reference: sftModel.frozenCopy(), padToken: tokenizer.padToken,
                             loss: PreferenceLossConfig(type: .sigmoid, beta: preset.dpoBeta))
        var c = TrainerConfig()
        c.optimizer = .rmsprop
        c.learningRate = preset.dpoLearningRate
        c.batchSize = preset.dpoBatchSize
        c.epochs = preset.dpoEpochs
        c.maxGradNorm = 10
        c.seed = seed
        let dir = stageDirectory(name)
        try TrainingLoop(stage: stage, examples: pairs, config: c, outputDirectory: dir).train()
        dropCheckpoint(dir)
        return (policy, share)
    }

    /// RLAIF by PPO: a reward model (the SFT model with a scalar head) trained on the critic's labels,
    /// then PPO from the SFT model against it on the same prompts.
    func rlaifPPO(_ sftModel: GPT, teacher: Teacher, critic: Critic, seed: UInt64, name: String) throws -> (GPT, Double) {
        let (pairs, share) = try feedbackPairs(sftModel, teacher: teacher, critic: critic, seed: seed, name: name)
        var withHead = sftModel.config
        withHead.scalarHead = true
        let rewardModel = GPT(withHead, seed: seed &+ 17)
        rewardModel.copyParameters(from: sftModel, skippingMissing: true)
        var c = TrainerConfig()
        c.learningRate = preset.rewardModelLearningRate
        c.batchSize = 16
        c.epochs = preset.rewardModelEpochs
        c.seed = seed
        let rmDir = stageDirectory("\(name)-reward")
        let rmLoop = try TrainingLoop(stage: RewardStage(model: rewardModel, padToken: tokenizer.padToken), examples: pairs, config: c,
                                      outputDirectory: rmDir)
        try rmLoop.train()
        dropCheckpoint(rmDir)
        log("reward model \(name): final accuracy \(rmLoop.history.last?.values["accuracy"] ?? .nan)")
        rewardModel.freeze()
        rewardModel.eval()

        let policy = GPT(withHead, seed: seed &+ 19)
        policy.copyParameters(from: sftModel, skippingMissing: true)
        var ppo = PPOConfig()
        ppo.rolloutBatchSize = preset.ppoRolloutBatch
        ppo.miniBatchSize = 8
        ppo.ppoEpochs = 4
        ppo.rollouts = max(1, rlaifTasks.count / preset.ppoRolloutBatch)
        ppo.learningRate = preset.ppoLearningRate
        ppo.klCoef = preset.ppoKLCoef
        ppo.temperature = 1
        ppo.maxNewTokens = preset.maxNewTokens
        ppo.seed = seed
        let trainer = try PPOTrainer(policy: policy, reference: sftModel.frozenCopy(), reward: .model(rewardModel),
                                     prompts: rlaifTasks.map { tokenizer.encode($0.prompt) }, config: ppo,
                                     eosToken: tokenizer.eosToken, padToken: tokenizer.padToken)
        let dir = stageDirectory(name)
        trainer.outputDirectory = dir
        try trainer.train()
        dropCheckpoint(dir)
        return (policy, share)
    }

    /// AlpacaEval's protocol: held-out prompts, samples at temperature 0.7 / top-p 0.9, pairwise
    /// win rate against the reference teacher's completions under each judge (ties 0.5).
    public func evaluate(_ model: GPT, seed: UInt64) throws -> Evaluation {
        let outputs = try sample(model, evalTasks, temperature: 0.7, topP: 0.9, seed: seed &+ 101)
        var winRate: [String: Double] = [:], stderr: [String: Double] = [:], perPrompt: [String: [Double]] = [:]
        for judge in Critic.judges {
            let scores = zip(evalTasks, zip(outputs, references)).map { judge.preference($0, $1.0, $1.1) }
            perPrompt[judge.name] = scores
            let mean = scores.reduce(0, +) / Double(scores.count)
            let variance = scores.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(max(scores.count - 1, 1))
            winRate[judge.name] = 100 * mean
            stderr[judge.name] = 100 * (variance / Double(scores.count)).squareRoot()
        }
        var byKind: [String: Double] = [:]
        for kind in TaskKind.allCases {
            let idx = evalTasks.indices.filter { evalTasks[$0].kind == kind }
            byKind[kind.rawValue] = Double(idx.filter { outputs[$0] == evalTasks[$0].answer }.count) / Double(max(idx.count, 1))
        }
        let exactPerPrompt = zip(evalTasks, outputs).map { $0.answer == $1 }
        let qualityPerPrompt = zip(evalTasks, outputs).map { $0.quality($1) }
        let exact = Double(exactPerPrompt.filter { $0 }.count) / Double(evalTasks.count)
        let quality = qualityPerPrompt.reduce(0, +) / Double(evalTasks.count)
        return Evaluation(winRate: winRate, standardError: stderr, exactMatch: exact, meanQuality: quality, exactMatchByKind: byKind,
                          perPromptScores: perPrompt, perPromptExact: exactPerPrompt, perPromptQuality: qualityPerPrompt)
    }

    /// Runs (or loads from the cache) one arm for one family and seed.
    public func run(_ arm: Arm, family: Family, seed: UInt64) throws -> ArmResult {
        let file = directory.appendingPathComponent("arms/\(family.name)/seed\(seed)/\(arm.id).json")
        if let data = try? Data(contentsOf: file), let cached = try? JSONDecoder().decode(ArmResult.self, from: data) {
            log("cached: \(arm.label), \(family.name), seed \(seed)")
            return cached
        }
        let start = Date()
        let teacher = Self.teacher(arm.teacher)
        let sftModel = arm.sftFraction == 0 ? try base(family, seed: seed) : try sft(family, teacher: teacher, fraction: arm.sftFraction, seed: seed)
        var policy = sftModel
        var share: Double? = nil
        if let criticName = arm.critic {
            let name = "\(family.name)-seed\(seed)-\(arm.id)"
            let sampler = try arm.pairsFrom.map { source -> GPT in
                guard let other = preset.families.first(where: { $0.name == source }) else {
                    throw DataError(file: "<preset>", line: 0, reason: "arm \(arm.id) samples pairs from unknown family \(source)")
                }
                return try sft(other, teacher: teacher, fraction: arm.sftFraction, seed: seed)
            }
            (policy, share) = arm.usesPPO
                ? try rlaifPPO(sftModel, teacher: teacher, critic: Self.critic(criticName), seed: seed, name: name)
                : try rlaif(sftModel, sampler: sampler, teacher: teacher, critic: Self.critic(criticName), seed: seed, name: name)
        }
        let evaluation = try evaluate(policy, seed: seed)
        let result = ArmResult(arm: arm, family: family.name, seed: seed, evaluation: evaluation,
                               seconds: Date().timeIntervalSince(start), policyPreferredShare: share)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try SafeTensors.atomicWrite(try encoder.encode(result), to: file)
        log(String(format: "%@ %@ seed %llu: win rate %.1f%% (strong judge), exact %.0f%%, %.0f s", arm.label, family.name, seed,
                   evaluation.winRate["strong"]!, 100 * evaluation.exactMatch, result.seconds))
        return result
    }
}
