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

    /// Every teacher an arm can name (the provenance hash covers each).
    public static let allTeachers: [Teacher] = Teacher.all

    public static func teacher(_ name: String) -> Teacher {
        guard let t = Teacher.all.first(where: { $0.name == name }) else { preconditionFailure("ExperimentRunner: no teacher named \(name)") }
        return t
    }

    /// Trained judge models by name, loaded or trained once per run directory.
    var judgeModels: [String: JudgeModel] = [:]

    /// The critic or judge named `name` ("truth" is the ground truth): trained on first use from its
    /// spec, cached under cache/judges/, and shared by every family and seed (a GPT-4 does not
    /// change with the student).
    public func judge(_ name: String) throws -> Judge {
        if name == "truth" { return TruthJudge() }
        if let j = judgeModels[name] { return j }
        guard let spec = preset.judgeSpecs.first(where: { $0.name == name }) else {
            throw DataError(file: "<preset>", line: 0, reason: "no judge named \(name); known: truth, " + preset.judgeSpecs.map(\.name).joined(separator: ", "))
        }
        let model = try cached("cache/judges/\(name)") { try trainJudge(spec) }
        let j = JudgeModel(spec: spec, model: model)
        judgeModels[name] = j
        return j
    }

    func trainJudge(_ spec: JudgeSpec) throws -> GPT {
        log("training judge \(spec.name) (d \(spec.dModel), \(spec.layers) layers, \(spec.pretrainSteps) pretraining steps, " +
            "\(spec.trainingPairs) labelled pairs)")
        let family = Family(name: "judge-\(spec.name)", dModel: spec.dModel, layers: spec.layers, heads: spec.heads,
                            pretrainSteps: spec.pretrainSteps, skillShare: 0.5)
        let base = GPT(config(family), seed: spec.seed)
        var c = TrainerConfig()
        c.learningRate = preset.pretrainLearningRate
        c.batchSize = preset.batchSize
        c.schedule = .cosine
        c.warmupSteps = 10
        c.seed = spec.seed
        let text = World.pretrainingText(preset.batchSize * spec.pretrainSteps, seed: spec.seed &+ 3, skillShare: 0.5)
        try train(SFTStage(model: base, padToken: tokenizer.padToken), text, steps: spec.pretrainSteps, config: c, name: "judge-\(spec.name)-pretrain")
        let model = base.withScalarHead(true, seed: spec.seed &+ 1)
        let pairs = World.judgePairs(spec.trainingPairs, seed: spec.seed &+ 5, split: .training, annotator: spec.annotator).map {
            PreferencePair(chosen: pair($0.task.prompt, $0.chosen), rejected: pair($0.task.prompt, $0.rejected))
        }
        var r = TrainerConfig()
        r.learningRate = preset.judgeLearningRate
        r.batchSize = 32
        r.epochs = spec.epochs
        r.schedule = .cosine
        r.warmupSteps = 10
        r.seed = spec.seed
        let dir = stageDirectory("judge-\(spec.name)")
        let loop = try TrainingLoop(stage: RewardStage(model: model, padToken: tokenizer.padToken), examples: pairs, config: r, outputDirectory: dir)
        try loop.train()
        dropCheckpoint(dir)
        log(String(format: "judge %@: final training accuracy %.3f", spec.name, loop.history.last?.values["accuracy"] ?? .nan))
        return model
    }

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

    /// The preset's SFT settings for `examples` examples, and the optimizer steps they run.
    func sftSettings(examples: Int, seed: UInt64) -> (TrainerConfig, steps: Int) {
        var c = TrainerConfig()
        c.learningRate = preset.sftLearningRate
        c.batchSize = min(preset.batchSize, examples)
        c.schedule = .cosine
        c.warmupSteps = 10
        c.seed = seed
        return (c, preset.sftEpochs.map { $0 * max(examples / c.batchSize, 1) } ?? preset.sftSteps)
    }

    /// SFT of the family's base on `teacher`'s completions for the first `fraction` of the pool.
    public func sft(_ family: Family, teacher: Teacher, fraction: Double, seed: UInt64) throws -> GPT {
        let pct = Int((fraction * 100).rounded())
        return try cached("models/\(family.name)/seed\(seed)/sft-\(teacher.name)-\(pct)") {
            let model = try base(family, seed: seed)
            let n = Int((Double(pool.count) * fraction).rounded())
            log("SFT \(family.name) on \(teacher.name) teacher, \(n) prompts, seed \(seed)")
            let examples = pool.prefix(n).map { pair($0.prompt, teacher.respond($0)) }
            let (c, steps) = sftSettings(examples: examples.count, seed: seed)
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
            let prompts = chunk.map { tokenizer.encode($0.prompt) }
            let g = try model.generate(prompts: prompts, options: options, generator: &rng)
            // A sample that ran into the end of the context keeps one position free for the EOS that
            // every completion gets when it is scored or trained on.
            out += zip(prompts, g.tokens).map { prompt, tokens in
                tokenizer.decode(Array(tokens.prefix { $0 != tokenizer.eosToken }.prefix(preset.contextLength - prompt.count - 1)))
            }
        }
        return out
    }

    /// The AI-feedback data, as the paper's code makes it: for each remaining prompt a policy sample
    /// (temperature 1, top-p 0.9) against the teacher's completion (or, with `pairsAgainst =
    /// "policy"`, a second policy sample), labelled by the critic model (the completion it scores
    /// higher is chosen). Returns the pairs and what they hold (how often the critic chose the
    /// policy's sample, how often it agreed with the ground truth).
    func feedbackPairs(_ sampler: GPT, teacher: Teacher, critic: Judge, seed: UInt64, name: String,
                       tasks: [Instruction]? = nil) throws -> ([PreferencePair], RLAIFSummary) {
        let tasks = tasks ?? rlaifTasks
        let samples = try sample(sampler, tasks, temperature: 1, topP: 0.9, seed: seed &+ 11)
        let others = preset.pairsAgainst == "policy"
            ? try sample(sampler, tasks, temperature: 1, topP: 0.9, seed: seed &+ 12) : tasks.map(teacher.respond)
        // Identical completions carry no preference (and no DPO or Bradley-Terry gradient).
        let kept = tasks.indices.filter { samples[$0] != others[$0] }
        let keptTasks = kept.map { tasks[$0] }, own = kept.map { samples[$0] }, other = kept.map { others[$0] }
        let prefs = critic.preferences(keptTasks, own, other)
        var summary = RLAIFSummary(pairs: kept.count)
        var pairs: [PreferencePair] = []
        var policyWins = 0, decided = 0, agreed = 0, policyBetter = 0
        for i in kept.indices {
            let ownPreferred = prefs[i] > 0.5
            if ownPreferred { policyWins += 1 }
            let qOwn = keptTasks[i].quality(own[i]), qOther = keptTasks[i].quality(other[i])
            if qOwn != qOther {
                decided += 1
                if (qOwn > qOther) == ownPreferred { agreed += 1 }
                if qOwn > qOther { policyBetter += 1 }
            }
            let (c, r) = ownPreferred ? (own[i], other[i]) : (other[i], own[i])
            pairs.append(PreferencePair(chosen: pair(keptTasks[i].prompt, c), rejected: pair(keptTasks[i].prompt, r)))
        }
        summary.policyPreferredShare = Double(policyWins) / Double(max(kept.count, 1))
        summary.criticAgreement = Double(agreed) / Double(max(decided, 1))
        summary.policyBetterShare = Double(policyBetter) / Double(max(kept.count, 1))
        log(String(format: "RLAIF %@: %d pairs (%d prompts skipped: identical completions); the critic chose the policy's sample in %.0f%%, " +
                   "the policy's sample is truly better in %.0f%%, the critic agrees with the truth on %.0f%% of pairs of unequal quality",
                   name, kept.count, tasks.count - kept.count, 100 * summary.policyPreferredShare, 100 * summary.policyBetterShare,
                   100 * summary.criticAgreement))
        return (pairs, summary)
    }

    /// Prompts left for RLAIF after the SFT share.
    var rlaifTasks: [Instruction] { Array(pool[Int((Double(pool.count) * preset.sftFraction).rounded())...]) }

    /// RLAIF by DPO from the SFT model (reference: the frozen SFT model); pairs are sampled from
    /// `sampler` (the SFT model itself unless Table 1 borrows another family's).
    func rlaif(_ sftModel: GPT, sampler: GPT? = nil, teacher: Teacher, critic: Judge, seed: UInt64, name: String) throws -> (GPT, RLAIFSummary) {
        let (pairs, summary) = try feedbackPairs(sampler ?? sftModel, teacher: teacher, critic: critic, seed: seed, name: name)
        return try dpo(sftModel, pairs: pairs, summary: summary,
                       setting: DPOSetting(learningRate: preset.dpoLearningRate, beta: preset.dpoBeta, epochs: preset.dpoEpochs), seed: seed, name: name)
    }

    /// DPO on `pairs` from the SFT model as the paper runs it (RMSprop, batch 8, clip at norm 10,
    /// reference = the frozen SFT model); `afterEpoch` sees the policy at the end of each epoch.
    func dpo(_ sftModel: GPT, pairs: [PreferencePair], summary: RLAIFSummary, setting: DPOSetting, seed: UInt64, name: String,
             afterEpoch: ((Int, GPT) -> Void)? = nil) throws -> (GPT, RLAIFSummary) {
        var summary = summary
        let policy = GPT(sftModel.config)
        policy.copyParameters(from: sftModel)
        let stage = DPOStage(model: policy, reference: sftModel.frozenCopy(), padToken: tokenizer.padToken,
                             loss: PreferenceLossConfig(type: .sigmoid, beta: setting.beta))
        var c = TrainerConfig()
        c.optimizer = .rmsprop
        c.learningRate = setting.learningRate
        c.batchSize = preset.dpoBatchSize
        c.epochs = setting.epochs
        c.maxGradNorm = 10
        c.seed = seed
        let stepsPerEpoch = max(pairs.count / c.batchSize, 1)
        if afterEpoch != nil { c.evalEvery = stepsPerEpoch }
        let dir = stageDirectory(name)
        let loop = try TrainingLoop(stage: stage, examples: pairs, config: c, outputDirectory: dir)
        if let afterEpoch { loop.evaluate = { step in afterEpoch(step / stepsPerEpoch, policy); return [:] } }
        try loop.train()
        dropCheckpoint(dir)
        summary.record(dpoHistory: loop.history, stepsPerEpoch: loop.stepsPerEpoch)
        return (policy, summary)
    }

    /// RLAIF by PPO: a reward model (the SFT model with a scalar head) trained on the critic's labels,
    /// then PPO from the SFT model against it on the same prompts.
    func rlaifPPO(_ sftModel: GPT, teacher: Teacher, critic: Judge, seed: UInt64, name: String) throws -> (GPT, RLAIFSummary) {
        var (pairs, summary) = try feedbackPairs(sftModel, teacher: teacher, critic: critic, seed: seed, name: name)
        let rewardModel = sftModel.withScalarHead(true, seed: seed &+ 17)
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
        summary.rewardModelAccuracy = rmLoop.history.last?.values["accuracy"]
        log("reward model \(name): final accuracy \(summary.rewardModelAccuracy ?? .nan)")
        rewardModel.freeze()
        rewardModel.eval()

        let policy = sftModel.withScalarHead(true, seed: seed &+ 19)
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
        return (policy, summary)
    }

    /// AlpacaEval's protocol: held-out prompts, samples at temperature 0.7 / top-p 0.9, pairwise
    /// win rate against the reference teacher's completions under each judge (ties 0.5).
    public func evaluate(_ model: GPT, seed: UInt64) throws -> Evaluation {
        try evaluate(outputs: try sample(model, evalTasks, temperature: 0.7, topP: 0.9, seed: seed &+ 101))
    }

    /// Scores one output per evaluation prompt.
    func evaluate(outputs: [String]) throws -> Evaluation {
        var winRate: [String: Double] = [:], stderr: [String: Double] = [:], perPrompt: [String: [Double]] = [:]
        let clusters = promptClusters
        for name in preset.judges {
            let scores = try judge(name).preferences(evalTasks, outputs, references)
            perPrompt[name] = scores
            let summary = ClusteredSummary(scores, cluster: clusters)
            winRate[name] = 100 * summary.mean
            stderr[name] = 100 * summary.standardError
        }
        let byKind = World.exactMatchByKind(evalTasks, outputs)
        let exactPerPrompt = zip(evalTasks, outputs).map { $0.answer == $1 }
        let qualityPerPrompt = zip(evalTasks, outputs).map { $0.quality($1) }
        let exact = Double(exactPerPrompt.filter { $0 }.count) / Double(evalTasks.count)
        let quality = qualityPerPrompt.reduce(0, +) / Double(evalTasks.count)
        return Evaluation(winRate: winRate, standardError: stderr, exactMatch: exact, meanQuality: quality, exactMatchByKind: byKind,
                          perPromptScores: perPrompt, perPromptExact: exactPerPrompt, perPromptQuality: qualityPerPrompt,
                          promptClusters: clusters)
    }

    /// For each evaluation prompt, the index of the first one with its instruction.
    var promptClusters: [Int] {
        var first: [String: Int] = [:]
        return evalTasks.enumerated().map { i, t in
            if let j = first[t.instruction] { return j }
            first[t.instruction] = i
            return i
        }
    }

    func resultFile(_ arm: Arm, family: Family, seed: UInt64) -> URL {
        directory.appendingPathComponent("arms/\(family.name)/seed\(seed)/\(arm.id).json")
    }

    /// The arm's result for this family and seed if the run directory holds it.
    public func cachedResult(_ arm: Arm, family: Family, seed: UInt64) -> ArmResult? {
        guard let data = try? Data(contentsOf: resultFile(arm, family: family, seed: seed)) else { return nil }
        return try? JSONDecoder().decode(ArmResult.self, from: data)
    }

    /// Runs (or loads from the cache) one arm for one family and seed.
    public func run(_ arm: Arm, family: Family, seed: UInt64) throws -> ArmResult {
        let file = resultFile(arm, family: family, seed: seed)
        if let cached = cachedResult(arm, family: family, seed: seed) {
            log("cached: \(arm.label), \(family.name), seed \(seed)")
            return cached
        }
        let start = Date()
        let teacher = Self.teacher(arm.teacher)
        let sftModel = arm.sftFraction == 0 ? try base(family, seed: seed) : try sft(family, teacher: teacher, fraction: arm.sftFraction, seed: seed)
        var policy = sftModel
        var summary: RLAIFSummary? = nil
        var outputs: [String]? = nil
        if let criticName = arm.critic, arm.method.map({ $0 != "dpo" && $0 != "ppo" }) ?? false {
            (policy, outputs, summary) = try runBeyondThePaper(arm, sftModel: sftModel, family: family, seed: seed, critic: try judge(criticName))
        } else if let criticName = arm.critic {
            let name = "\(family.name)-seed\(seed)-\(arm.id)"
            let sampler = try arm.pairsFrom.map { source -> GPT in
                guard let other = preset.families.first(where: { $0.name == source }) else {
                    throw DataError(file: "<preset>", line: 0, reason: "arm \(arm.id) samples pairs from unknown family \(source)")
                }
                return try sft(other, teacher: teacher, fraction: arm.sftFraction, seed: seed)
            }
            let critic = try judge(criticName)
            if arm.pairsAgainst != nil && preset.pairsAgainst == "policy" {
                // The arm's own opponent would be silently replaced by a second policy sample.
                throw DataError(file: "<preset>", line: 0, reason: "arm \(arm.id) pairs the policy's sample against a teacher's completion; "
                                + "it cannot run with --pairs policy (pairsAgainst = \"policy\")")
            }
            let pairTeacher = try arm.pairsAgainst.map(Self.knownTeacher) ?? teacher
            let (rlaifPolicy, s) = arm.usesPPO
                ? try rlaifPPO(sftModel, teacher: pairTeacher, critic: critic, seed: seed, name: name)
                : try rlaif(sftModel, sampler: sampler, teacher: pairTeacher, critic: critic, seed: seed, name: name)
            (policy, summary) = (rlaifPolicy, s)
        }
        let evaluation = try outputs.map { try evaluate(outputs: $0) } ?? evaluate(policy, seed: seed)
        let result = ArmResult(arm: arm, family: family.name, seed: seed, evaluation: evaluation,
                               seconds: Date().timeIntervalSince(start), rlaif: summary)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try SafeTensors.atomicWrite(try encoder.encode(result), to: file)
        log(String(format: "%@ %@ seed %llu: win rate %.1f%% (independent judge), exact %.0f%%, %.0f s", arm.label, family.name, seed,
                   evaluation.winRate[Arm.judge(forFigure: 2)] ?? .nan, 100 * evaluation.exactMatch, result.seconds))
        return result
    }
}
