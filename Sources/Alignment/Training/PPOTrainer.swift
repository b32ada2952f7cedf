import Foundation
import LanguageModels

/// Where PPO's sequence scores come from.
public enum PPOReward {
    /// A reward model (a causal LM with a scalar head), read at the last token of prompt + response.
    case model(any CausalLanguageModel)
    /// A programmatic score of (prompt tokens, response tokens).
    case function(([Int], [Int]) -> Float)
}

/// PPO on a causal LM with a value head (the policy's scalar head shares its trunk, as TRL's
/// `AutoModelForCausalLMWithValueHead`): rollouts from the KV-cache sampler, per-token KL penalty
/// against a frozen reference, the score added at the last response token, GAE, whitened
/// advantages, clipped policy and value losses, several epochs of minibatches per rollout.
///
/// Old log-probs and values are computed in the same minibatches (same rows, same padding) that
/// the first epoch trains on, so the first minibatch's ratio is exactly 1.
public final class PPOTrainer {
    public let policy: any CausalLanguageModel
    public let referenceModel: ReferenceModel
    /// The separate reference model (nil when the reference is the policy with adapters disabled).
    public var reference: (any CausalLanguageModel)? { referenceModel.separateModel }
    public let reward: PPOReward
    public let prompts: [[Int]]
    public let config: PPOConfig
    public let eosToken: Int
    public let padToken: Int
    public let optimizer: Optimizer
    public private(set) var klController: AdaptiveKLController?
    public private(set) var klCoef: Float
    public private(set) var rollout = 0
    public var outputDirectory: URL? {
        get { runtime.outputDirectory }
        set { runtime.outputDirectory = newValue }
    }
    /// Save a resumable checkpoint every N rollouts (and at the end when an output directory is set).
    public var saveEvery: Int?
    /// What else a resumed run must share with the checkpoint, as the caller knows it (fingerprints
    /// of the prompts file and of the reward model): saved with each checkpoint, compared on resume.
    public var runSettings: [String: String] = [:]
    /// Files copied into every checkpoint beside the model (its tokenizer.json and
    /// tokenizer_config.json, say), so that any checkpoint opens as a complete model directory.
    public var checkpointFiles: [URL] {
        get { runtime.checkpointFiles }
        set { runtime.checkpointFiles = newValue }
    }
    public var showProgress: Bool {
        get { runtime.showProgress }
        set { runtime.showProgress = newValue }
    }
    /// Per rollout, TRL's metric names: objective/kl, objective/scores, policy/clipfrac,
    /// policy/approxkl, loss/policy, loss/value, val/ratio, ...
    public private(set) var history: [[String: Double]] = []
    /// Per minibatch of the latest rollout (ratio and clipfrac of each step, in order).
    public private(set) var lastRolloutSteps: [[String: Float]] = []
    var generator: RandomGenerator
    private let runtime = TrainerRuntime(unit: "rollout")
    /// The ranks this process trains with (nil: it trains alone). The rollout's chunks
    /// (`rolloutChunkSize`) and its old/reference forwards are shared out among ranks and gathered;
    /// each minibatch's rows are shared out for the updates.
    public let dataParallel: (any DataParallelGroup)?
    private var replicasSynchronized = false
    private lazy var gradientBuckets = GradientBuckets(counts: policy.trainableParameters().map(\.count))

    public convenience init(policy: any CausalLanguageModel, reference: any CausalLanguageModel, reward: PPOReward, prompts: [[Int]], config: PPOConfig,
                            eosToken: Int, padToken: Int, dataParallel: (any DataParallelGroup)? = nil) throws {
        try self.init(policy: policy, referenceModel: .separate(reference), reward: reward, prompts: prompts, config: config,
                      eosToken: eosToken, padToken: padToken, dataParallel: dataParallel)
    }

    public init(policy: any CausalLanguageModel, referenceModel: ReferenceModel, reward: PPOReward, prompts: [[Int]], config: PPOConfig,
                eosToken: Int, padToken: Int, dataParallel: (any DataParallelGroup)? = nil) throws {
        try config.validate()
        if let group = dataParallel, group.size > config.miniBatchSize {
            throw ConfigurationError("miniBatchSize", "must be at least the number of data-parallel ranks \(group.size), got \(config.miniBatchSize)")
        }
        guard policy.hasScalarHead else { throw ConfigurationError("policy", "needs a value head (a model with a scalar head)") }
        guard !prompts.isEmpty else { throw ConfigurationError("prompts", "must not be empty") }
        let vocabulary = policy.vocabSize, context = policy.contextLength
        for (i, prompt) in prompts.enumerated() {
            guard (1...context).contains(prompt.count) else {
                throw ConfigurationError("prompts[\(i)]", "must have 1...\(context) tokens (the policy's context), got \(prompt.count)")
            }
            guard prompt.allSatisfy({ (0..<vocabulary).contains($0) }) else {
                throw ConfigurationError("prompts[\(i)]", "has a token outside the vocabulary 0..<\(vocabulary)")
            }
        }
        for (name, id) in [("eosToken", eosToken), ("padToken", padToken)] where !(0..<vocabulary).contains(id) {
            throw ConfigurationError(name, "must be in 0..<\(vocabulary), got \(id)")
        }
        self.policy = policy
        self.referenceModel = referenceModel
        self.reward = reward
        self.prompts = prompts
        self.config = config
        self.eosToken = eosToken
        self.padToken = padToken
        optimizer = Adam.adamW(policy.trainableParameters(), learningRate: config.learningRate, weightDecay: 0)
        klCoef = config.klCoef
        if let target = config.targetKL {
            klController = AdaptiveKLController(initKLCoef: config.klCoef, target: target, horizon: config.klHorizon)
        }
        generator = RandomGenerator(seed: config.seed)
        self.dataParallel = dataParallel
        runtime.writes = (dataParallel?.rank ?? 0) == 0
    }

    /// Per-token log-probs at the sampling temperature and values, each [B, T-1] (position t
    /// scores token t + 1), for the rows of `batch`.
    func logProbsAndValues(_ model: any CausalLanguageModel, _ batch: Batch, values: Bool) -> (Tensor, Tensor?) {
        let hidden = model.hiddenStates(batch.inputIDs)
        // Through the fused LM head for large vocabularies: no [B, T, vocab] logits.
        let lp = -model.nextTokenNLL(fromHidden: hidden, targets: batch.targets, ignoreIndex: Batch.ignoreIndex,
                                     temperature: config.temperature)
        guard values else { return (lp, nil) }
        let v = model.scores(fromHidden: hidden).slice(axis: 1, 0..<(batch.length - 1))
        return (lp, v)
    }

    func score(_ pairs: [TokenizedPair]) -> [Float] {
        switch reward {
        case .function(let f): return pairs.map { f($0.prompt, $0.completion) }
        case .model(let rm):
            let batch = Batch(pairs, padToken: padToken)
            return withNoGrad { RewardStage.scores(rm, batch) }.scalars
        }
    }

    /// Runs `config.rollouts` rollouts (or `count` more).
    public func train(count: Int? = nil) throws {
        try runtime.withDirectory { _ in
            try runtime.begin(at: rollout)
            defer { runtime.endProgress() }
            if let group = dataParallel, !replicasSynchronized {
                try ReplicaState.broadcastFromRankZero(group, model: policy, optimizer: optimizer)
                replicasSynchronized = true
            }
            let end = min(config.rollouts, rollout + (count ?? config.rollouts))
            while rollout < end { try trainRollout() }
            if outputDirectory != nil && rollout == config.rollouts { try saveCheckpoint() }
        }
    }

    /// One rollout: sample, score, advantages, then `ppoEpochs` passes of minibatch updates.
    private func trainRollout() throws {
        let params = policy.trainableParameters()
        let position = rollout + 1
        // 1. Sample and score responses in chunks of `rolloutChunkSize` prompts, each chunk from its
        //    own random stream: ranks share the chunks out, and the samples depend on the chunk size,
        //    never on the number of ranks.
        let batchPrompts = (0..<config.rolloutBatchSize).map { i in prompts[(rollout * config.rolloutBatchSize + i) % prompts.count] }
        let chunk = config.rolloutChunkSize ?? config.rolloutBatchSize
        let chunkStarts = Array(stride(from: 0, to: batchPrompts.count, by: chunk))
        let streams = generator.next()
        let options = SamplingOptions(temperature: config.temperature, maxNewTokens: config.maxNewTokens, eosToken: eosToken, stopAtContext: true)
        let sampled = try shareOut(chunkStarts.count, group: dataParallel) { c -> SampledChunk in
            let prompts = Array(batchPrompts[chunkStarts[c]..<min(chunkStarts[c] + chunk, batchPrompts.count)])
            var stream = RandomGenerator(seed: streams, stream: UInt64(c))
            let tokens = try policy.generate(prompts: prompts, options: options, generator: &stream).tokens
            let scores = score(zip(prompts, tokens).map { TokenizedPair(prompt: $0, completion: $1) })
            return SampledChunk(tokens: tokens, scoreBits: scores.map(\.bitPattern))
        }
        let responses = sampled.flatMap(\.tokens)
        let scores = sampled.flatMap { $0.scoreBits.map(Float.init(bitPattern:)) }
        let pairs = zip(batchPrompts, responses).map { TokenizedPair(prompt: $0, completion: $1) }
        for value in scores { try runtime.requireFinite(Double(value), "objective/scores", at: position) }
        let length = max(2, pairs.map { $0.prompt.count + $0.completion.count }.max()!)
        let mb = config.miniBatchSize
        let minibatches = stride(from: 0, to: pairs.count, by: mb).map { Array($0..<($0 + mb)) }
        func batch(_ rows: [Int]) -> Batch { Batch(rows.map { pairs[$0] }, padToken: padToken, padTo: length) }
        let batches = minibatches.map(batch)

        // 2. Old log-probs, values and reference log-probs, minibatch by minibatch (eval mode, no
        //    graph), the minibatches shared out among ranks.
        policy.eval()
        let forwards = try shareOut(minibatches.count, group: dataParallel) { j -> [[UInt32]] in
            withNoGrad {
                let b = batches[j]
                let (lp, v) = logProbsAndValues(policy, b, values: true)
                let ref = referenceModel.run { logProbsAndValues($0, b, values: false).0 }
                return [lp, v!, ref].map { $0.contiguous().scalars.map(\.bitPattern) }
            }
        }
        func gathered(_ k: Int) -> Tensor {
            Tensor.concat(forwards.map { Tensor($0[k].map(Float.init(bitPattern:)), shape: [mb, length - 1]) })
        }
        let old = gathered(0), values = gathered(1), ref = gathered(2)
        let mask = Tensor.concat(batches.map { b in
            Tensor(b.targets.scalars.map { $0 == Batch.ignoreIndex ? 0 : 1 }, shape: [mb, length - 1])
        })

        // 3. Rewards, advantages, returns over the whole rollout.
        let responseTokens = Int(withNoGrad { mask.sum().item })
        if config.whitenAdvantages && responseTokens < 2 {
            // Whitening divides by the unbiased variance over response tokens (TRL's masked_whiten).
            throw ConfigurationError("rolloutBatchSize", "rollout \(position) has \(responseTokens) response token; whitening the advantages "
                                     + "needs at least 2 (sample more prompts per rollout or more new tokens)")
        }
        let (advantages, returns, kl) = withNoGrad { () -> (Tensor, Tensor, Tensor) in
            let kl = PPO.klPenalty(config.klEstimator, logProbs: old, referenceLogProbs: ref, mask: mask)
            let rewards = PPO.tokenRewards(scores: Tensor(scores), kl: kl, mask: mask, klCoef: klCoef)
            var (adv, ret) = PPO.gae(rewards: rewards, values: values, mask: mask, gamma: config.gamma, lambda: config.lambda)
            if config.whitenAdvantages { adv = PPO.maskedWhiten(adv, mask: mask) }
            return (adv, ret, kl)
        }
        let meanKL = PPO.meanSequenceKL(kl, mask: mask)
        try runtime.requireFinite(Double(meanKL), "objective/kl", at: position)

        // 4. Epochs of minibatch updates; the first epoch keeps the rollout's minibatch order.
        policy.train()
        lastRolloutSteps = []
        var sums: [String: Double] = [:]
        func rowsOf(_ t: Tensor, _ rows: [Int]) -> Tensor { t.indexSelect(axis: 0, rows) }
        func step(rows allRows: [Int]) throws {
            // A rank's masked means count as its share of the minibatch's response tokens.
            var rows = allRows, weight: Float = 1
            if let group = dataParallel {
                rows = Array(allRows[DataParallelShard.range(count: allRows.count, rank: group.rank, size: group.size)])
                weight = Float(PPO.validCount(rowsOf(mask, rows))) / Float(max(PPO.validCount(rowsOf(mask, allRows)), 1))
            }
            optimizer.zeroGrad()
            var stats: [String: Float] = [:]
            var objective: Tensor?
            if weight > 0 {
                let b = batch(rows)
                let (lp, v) = logProbsAndValues(policy, b, values: true)
                let m = rowsOf(mask, rows)
                let pg = PPO.policyLoss(newLogProbs: lp, oldLogProbs: rowsOf(old, rows), advantages: rowsOf(advantages, rows),
                                        mask: m, clipRange: config.clipRange)
                let vf = PPO.valueLoss(values: v!, oldValues: rowsOf(values, rows), returns: rowsOf(returns, rows), mask: m,
                                       clipRange: config.clipRangeValue)
                stats = pg.stats.merging(vf.stats) { a, _ in a }
                stats["loss/policy"] = pg.loss.item
                stats["loss/value"] = vf.loss.item
                objective = pg.loss + vf.loss * config.valueCoef
            }
            if let group = dataParallel {
                var none: [Double] = [], weighted = stats.mapValues { Double($0) * Double(weight) }
                try group.sumOverRanks(&none, &weighted)
                stats = weighted.mapValues { Float($0) }
            }
            try runtime.requireFinite(stats.mapValues { Double($0) }, at: position)
            if let objective { (dataParallel == nil ? objective : objective * weight).backward() }
            if let group = dataParallel { try gradientBuckets.allReduce(params, group: group) }
            // Without clipping the norm is still taken (an infinite limit scales nothing) to catch NaN gradients.
            let gradNorm = clipGradNorm(params, maxNorm: config.maxGradNorm ?? .infinity)
            try runtime.requireFinite(Double(gradNorm), "grad_norm", at: position)
            optimizer.step()
            lastRolloutSteps.append(stats)
            for (k, val) in stats { sums[k, default: 0] += Double(val) }
        }
        for epoch in 0..<config.ppoEpochs {
            var groups = minibatches
            if epoch > 0 {
                let rows = generator.permutation(pairs.count)
                groups = stride(from: 0, to: rows.count, by: mb).map { Array(rows[$0..<($0 + mb)]) }
            }
            for rows in groups { try step(rows: rows) }
        }
        let steps = Double(lastRolloutSteps.count)
        var metrics = sums.mapValues { $0 / steps }
        metrics["objective/kl"] = Double(meanKL)
        metrics["objective/scores"] = Double(scores.reduce(0, +)) / Double(scores.count)
        metrics["objective/kl_coef"] = Double(klCoef)
        metrics["response_length"] = Double(responses.reduce(0) { $0 + $1.count }) / Double(scores.count)
        if var controller = klController {
            controller.update(currentKL: meanKL, nSteps: config.rolloutBatchSize)
            klController = controller
            klCoef = controller.value
        }
        try runtime.requireFinite(metrics, at: position)
        rollout += 1
        metrics["rollout"] = Double(rollout)
        history.append(metrics)
        let progress = String(format: "score %.3f  kl %.3f", metrics["objective/scores"]!, meanKL)
        try runtime.record(metrics, position: rollout, total: config.rollouts, progress: progress)
        if let every = saveEvery, rollout % every == 0 { try saveCheckpoint() }
    }

    // MARK: Checkpoints

    struct State: TrainerState {
        /// Absent in checkpoints of older versions.
        var savedStage: String?
        var rollout: Int
        var klCoef: Float
        var klController: AdaptiveKLController?
        var generator: [UInt64]
        var randomState: [String: [UInt64]]
        var config: PPOConfig
        /// Absent in older checkpoints.
        var prompts: Int?
        /// The caller's `runSettings`; absent in older checkpoints.
        var runSettings: [String: String]?

        enum CodingKeys: String, CodingKey {
            case savedStage = "stage", rollout, klCoef, klController, generator, randomState, config, prompts, runSettings
        }

        var stage: String { "ppo" }
        var position: Int { rollout }
        var optimizerSteps: Int { rollout * config.stepsPerRollout }

        func validate(file: String) throws {
            try Validate.nonNegative(klCoef, "\(file): klCoef")
            if let klController {
                try Validate.nonNegative(klController.value, "\(file): klController.value")
                try Validate.positive(klController.target, "\(file): klController.target")
                try Validate.positive(klController.horizon, "\(file): klController.horizon")
            }
            // The controller exists exactly when the run adapts its KL coefficient, towards its own target.
            guard (klController == nil) == (config.targetKL == nil), klController.map({ $0.target == config.targetKL }) ?? true else {
                throw ConfigurationError("\(file): klController", "must be present exactly when config.targetKL is set, with that target")
            }
            try CheckpointValidation.generatorState(generator, "generator", file: file)
            try CheckpointValidation.randomStates(randomState, file: file)
        }

        func differences(from current: State) -> [String] {
            var out = CheckpointValidation.differences(config, current.config)
            if let prompts, let now = current.prompts, prompts != now { out.append("prompts: checkpoint \(prompts), this run \(now)") }
            if let runSettings { out += CheckpointValidation.differences(runSettings, current.runSettings ?? [:], prefix: "") }
            return out
        }
    }

    private var currentState: State {
        State(savedStage: "ppo", rollout: rollout, klCoef: klCoef, klController: klController, generator: generator.state,
              randomState: policy.randomState, config: config, prompts: prompts.count, runSettings: runSettings)
    }

    /// Writes `checkpoint/` (policy with value head, optimizer state, sampler and controller state) atomically.
    public func saveCheckpoint() throws {
        try runtime.save(currentState, model: policy, optimizer: optimizer)
    }

    /// Restores policy, optimizer, sampler and KL-controller state from `outputDirectory/checkpoint`
    /// after checking it (see `TrainerRuntime.resume`). Returns whether a checkpoint was found.
    @discardableResult
    public func resumeIfPossible() throws -> Bool {
        var state = try runtime.resume(current: currentState, total: config.rollouts, model: policy, optimizer: optimizer)
        var found = state != nil
        if let group = dataParallel {
            // Only rank 0 reads the checkpoint; the others take its state, weights and optimizer state.
            found = try group.broadcast([found ? 1 : 0], root: 0) == [1]
            let header = try group.broadcast(Array(try JSONEncoder().encode(state ?? currentState)), root: 0)
            state = try JSONDecoder().decode(State.self, from: Data(header))
            try ReplicaState.broadcastFromRankZero(group, model: policy, optimizer: optimizer)
            replicasSynchronized = true
        }
        guard found, let state else { return false }
        policy.randomState = state.randomState
        generator = RandomGenerator(state: state.generator)
        klCoef = state.klCoef
        klController = state.klController
        rollout = state.rollout
        return true
    }
}

/// One chunk of a rollout as its rank sends it: sampled response tokens and their scores' bits.
private struct SampledChunk: Codable {
    var tokens: [[Int]]
    var scoreBits: [UInt32]
}
