import Foundation
import LanguageModels

/// What a training stage contributes to the shared loop: a loss over a micro-batch, expressed as a
/// *sum* over normalisation units (sequences or tokens), so that accumulating micro-batches and
/// dividing once by the step's total gives the same gradient as one big batch.
public protocol TrainingStage {
    associatedtype Example
    var model: any CausalLanguageModel { get }
    /// Units the loss of `examples` is averaged over (sequences, or tokens for a per-token mean).
    func units(_ examples: [Example]) -> Int
    /// Summed loss over `examples` and per-example metric *sums* (divided by example count when logged).
    func lossSum(_ examples: [Example]) -> (loss: Tensor, metrics: [String: Double])
    /// The stage's name in a checkpoint ("sft", "reward", "dpo"); resuming another stage is refused.
    var stageName: String { get }
    /// Settings of the stage that change what is trained (loss type, β, ...); a checkpoint
    /// written with other values is refused on resume.
    var stageSettings: [String: String] { get }
}

extension TrainingStage {
    public var stageName: String { "\(Self.self)" }
    public var stageSettings: [String: String] { [:] }
}

/// One logged step.
public struct StepLog: Sendable {
    public let step: Int
    public let epoch: Double
    public let values: [String: Double]
}

/// The loop shared by SFT, reward and DPO training: deterministic shuffling per epoch, gradient
/// accumulation, clipping, schedules, metrics JSONL, periodic evaluation and checkpoints that
/// resume the same run bit for bit (weights, optimizer state, data order and step; the data order
/// is a function of seed and epoch, so the step alone places a resumed run).
///
/// A non-finite loss, gradient norm or metric stops training with `NonFiniteMetricError` before
/// the step is applied; output-directory handling is `TrainerRuntime`'s.
public final class TrainingLoop<Stage: TrainingStage> {
    public let stage: Stage
    public let examples: [Stage.Example]
    public let config: TrainerConfig
    public let optimizer: Optimizer
    public private(set) var step = 0
    public var outputDirectory: URL? {
        get { runtime.outputDirectory }
        set { runtime.outputDirectory = newValue }
    }
    /// Called every `evalEvery` steps with the step; returns metrics logged with an "eval/" prefix.
    /// Setting `evaluationExamples` installs the default: the stage's loss and metrics on them.
    public var evaluate: ((Int) -> [String: Double])?
    /// Held-out examples; when set (and `evaluate` is not), every `evalEvery` steps logs their mean
    /// loss and metrics, computed without gradients in evaluation mode.
    public var evaluationExamples: [Stage.Example] = []
    /// What else a resumed run must share with the checkpoint, as the caller knows it (a fingerprint
    /// of the data file, truncation lengths, the reference model): saved with each checkpoint and
    /// compared on resume, so resuming with other data or another reference is refused.
    public var runSettings: [String: String] = [:]
    /// Files copied into every checkpoint beside the model (its tokenizer.json and
    /// tokenizer_config.json, say), so that any checkpoint opens as a complete model directory.
    public var checkpointFiles: [URL] {
        get { runtime.checkpointFiles }
        set { runtime.checkpointFiles = newValue }
    }
    /// Called after every step (progress display, tests).
    public var onStep: ((StepLog) -> Void)?
    public var showProgress: Bool {
        get { runtime.showProgress }
        set { runtime.showProgress = newValue }
    }
    /// Everything logged so far, also written to `metrics.jsonl` in the output directory.
    public private(set) var history: [StepLog] = []
    private let runtime = TrainerRuntime(unit: "step")
    /// The ranks this process trains with (nil: it trains alone).
    public let dataParallel: (any DataParallelGroup)?
    /// Whether the ranks hold rank 0's weights and optimizer state (sent once, or by a resume).
    private var replicasSynchronized = false
    private lazy var gradientBuckets = GradientBuckets(counts: stage.model.trainableParameters().map(\.count))

    public var stepsPerEpoch: Int { examples.count / config.batchSize }
    public var totalSteps: Int { stepsPerEpoch * config.epochs }

    /// `dataFile` names the examples' source in errors.
    /// With `dataParallel`, this process is one rank of a data-parallel run: it computes the
    /// gradients of its share of every global batch (the same global order as one process), the
    /// ranks sum them, and every rank takes the same step; rank 0 alone writes metrics and checkpoints.
    public init(stage: Stage, examples: [Stage.Example], config: TrainerConfig, outputDirectory: URL? = nil,
                dataFile: String? = nil, dataParallel: (any DataParallelGroup)? = nil) throws {
        try config.validate()
        if let group = dataParallel, group.size > config.batchSize {
            throw ConfigurationError("batchSize", "must be at least the number of data-parallel ranks \(group.size), got \(config.batchSize)")
        }
        guard examples.count >= config.batchSize else {
            throw DataError(file: dataFile ?? "<training examples>", line: 0,
                            reason: "\(examples.count) usable examples are fewer than one batch of \(config.batchSize) (batchSize)")
        }
        guard !(examples.count / config.batchSize).multipliedReportingOverflow(by: config.epochs).overflow else {
            throw ConfigurationError("epochs", "\(config.epochs) epochs of \(examples.count / config.batchSize) steps overflow the step count")
        }
        self.stage = stage
        self.examples = examples
        self.config = config
        optimizer = config.makeOptimizer(stage.model.trainableParameters())
        self.dataParallel = dataParallel
        runtime.writes = (dataParallel?.rank ?? 0) == 0
        self.outputDirectory = outputDirectory
    }

    /// Example indices of `epoch` in training order.
    func order(epoch: Int) -> [Int] {
        var rng = RandomGenerator(seed: config.seed &+ UInt64(epoch) &* 0x9E37_79B9)
        return rng.permutation(examples.count)
    }

    /// Runs until `totalSteps` (or `maxSteps` more steps, for tests of interruption).
    public func train(maxSteps: Int? = nil) throws {
        try runtime.withDirectory { _ in
            try runtime.begin(at: step)
            defer { runtime.endProgress() }
            if let group = dataParallel, !replicasSynchronized {
                try ReplicaState.broadcastFromRankZero(group, model: stage.model, optimizer: optimizer)
                replicasSynchronized = true
            }
            let end = min(totalSteps, maxSteps.map { step + $0 } ?? totalSteps)
            try trainSteps(until: end)
            if outputDirectory != nil && step == totalSteps { try saveCheckpoint() }
        }
    }

    private func trainSteps(until end: Int) throws {
        let schedule = config.makeSchedule(totalSteps: totalSteps)
        let micro = config.batchSize / config.gradientAccumulation
        let params = stage.model.trainableParameters()
        stage.model.train()
        var currentEpoch = -1
        var epochOrder: [Int] = []
        while step < end {
            let epoch = step / stepsPerEpoch
            if epoch != currentEpoch { epochOrder = order(epoch: epoch); currentEpoch = epoch }
            let offset = (step % stepsPerEpoch) * config.batchSize
            let batch = epochOrder[offset..<(offset + config.batchSize)].map { examples[$0] }
            // Losses are normalised by the global batch's units; a rank takes its share in micro-batches.
            let globalChunks = stride(from: 0, to: batch.count, by: micro).map { Array(batch[$0..<($0 + micro)]) }
            let totalUnits = Float(max(globalChunks.reduce(0) { $0 + stage.units($1) }, 1))
            var chunks = globalChunks
            if let group = dataParallel {
                let share = batch[DataParallelShard.range(count: batch.count, rank: group.rank, size: group.size)]
                chunks = stride(from: share.startIndex, to: share.endIndex, by: micro).map { Array(share[$0..<min($0 + micro, share.endIndex)]) }
            }
            optimizer.zeroGrad()
            var lossValue = 0.0
            var metricSums: [String: Double] = [:]
            for chunk in chunks {
                let (loss, metrics) = stage.lossSum(chunk)
                let scaled = loss / totalUnits
                scaled.backward()
                lossValue += Double(scaled.item)
                for (k, v) in metrics { metricSums[k, default: 0] += v }
            }
            if let group = dataParallel {
                try gradientBuckets.allReduce(params, group: group)
                var totals = [lossValue]
                try group.sumOverRanks(&totals, &metricSums)
                lossValue = totals[0]
            }
            var values = metricSums.mapValues { $0 / Double(batch.count) }
            values["loss"] = lossValue
            try runtime.requireFinite(values, at: step + 1)
            // Without clipping the norm is still taken (an infinite limit scales nothing) to catch NaN gradients.
            let gradNorm = clipGradNorm(params, maxNorm: config.maxGradNorm ?? .infinity)
            try runtime.requireFinite(Double(gradNorm), "grad_norm", at: step + 1)
            if config.maxGradNorm != nil { values["grad_norm"] = Double(gradNorm) }
            optimizer.learningRate = schedule.learningRate(base: config.learningRate, step: step)
            values["learning_rate"] = Double(optimizer.learningRate)
            optimizer.step()
            step += 1
            if let every = config.evalEvery, step % every == 0, evaluate != nil || !evaluationExamples.isEmpty {
                stage.model.eval()
                for (k, v) in try evaluate?(step) ?? evaluateHeldOut() { values["eval/" + k] = v }
                stage.model.train()
            }
            try runtime.requireFinite(values, at: step)
            let log = StepLog(step: step, epoch: Double(step) / Double(stepsPerEpoch), values: values)
            history.append(log)
            var row = values
            row["step"] = Double(log.step)
            row["epoch"] = log.epoch
            try runtime.record(row, position: step, total: totalSteps, progress: String(format: "loss %.4f", lossValue))
            onStep?(log)
            if let every = config.saveEvery, step % every == 0 { try saveCheckpoint() }
        }
    }

    /// Mean loss (per the stage's units) and per-example metrics over `evaluationExamples`.
    public func evaluateHeldOut() throws -> [String: Double] {
        let micro = config.batchSize / config.gradientAccumulation
        var loss = 0.0, units = 0, sums: [String: Double] = [:]
        // Ranks share the same micro-batches one process would evaluate.
        let starts = Array(stride(from: 0, to: evaluationExamples.count, by: micro))
        let mine = dataParallel.map { starts[DataParallelShard.range(count: starts.count, rank: $0.rank, size: $0.size)] } ?? starts[...]
        withNoGrad {
            for start in mine {
                let chunk = Array(evaluationExamples[start..<min(start + micro, evaluationExamples.count)])
                let (l, metrics) = stage.lossSum(chunk)
                loss += Double(l.item)
                units += stage.units(chunk)
                for (k, v) in metrics { sums[k, default: 0] += v }
            }
        }
        if let group = dataParallel {
            var totals = [loss, Double(units)]
            try group.sumOverRanks(&totals, &sums)
            loss = totals[0]
            units = Int(totals[1])
        }
        var out = sums.mapValues { $0 / Double(max(evaluationExamples.count, 1)) }
        out["loss"] = loss / Double(max(units, 1))
        return out
    }

    // MARK: Checkpoints

    struct State: TrainerState {
        /// Absent in checkpoints of older versions.
        var savedStage: String?
        var stageSettings: [String: String]?
        var step: Int
        /// Training examples, which fix the data order; absent in older checkpoints.
        var examples: Int?
        var config: TrainerConfig
        /// Dropout generators of the model, so a resumed run draws the same masks.
        var randomState: [String: [UInt64]]
        /// The caller's `runSettings`; absent in older checkpoints.
        var runSettings: [String: String]?

        enum CodingKeys: String, CodingKey {
            case savedStage = "stage", stageSettings, step, examples, config, randomState, runSettings
        }

        var stage: String { savedStage ?? "" }
        var position: Int { step }
        var optimizerSteps: Int { step }

        func validate(file: String) throws {
            try CheckpointValidation.randomStates(randomState, file: file)
        }

        func differences(from current: State) -> [String] {
            // How often to save or evaluate does not change what is trained.
            var out = CheckpointValidation.differences(config, current.config, ignoring: ["evalEvery", "saveEvery"])
            if let stageSettings {
                out += CheckpointValidation.differences(stageSettings, current.stageSettings ?? [:], prefix: "\(current.stage) ")
            }
            if let examples, let now = current.examples, examples != now {
                out.append("training examples: checkpoint \(examples), this run \(now)")
            }
            if let runSettings { out += CheckpointValidation.differences(runSettings, current.runSettings ?? [:], prefix: "") }
            return out
        }
    }

    private var currentState: State {
        State(savedStage: stage.stageName, stageSettings: stage.stageSettings, step: step, examples: examples.count, config: config,
              randomState: stage.model.randomState, runSettings: runSettings)
    }

    /// Writes `checkpoint/` (model, optimizer state, step, dropout generators) atomically.
    public func saveCheckpoint() throws {
        try runtime.save(currentState, model: stage.model, optimizer: optimizer)
    }

    /// Restores weights, optimizer state, dropout generators and step from `outputDirectory/checkpoint`,
    /// if present, after checking it (see `TrainerRuntime.resume`). Returns whether a checkpoint was
    /// found. Rows of metrics.jsonl logged after the checkpoint's step are dropped.
    @discardableResult
    public func resumeIfPossible() throws -> Bool {
        let state = try runtime.resume(current: currentState, total: totalSteps, model: stage.model, optimizer: optimizer)
        if let state {
            stage.model.randomState = state.randomState
            step = state.step
        }
        guard let group = dataParallel else { return state != nil }
        // Only rank 0 reads the checkpoint; the others take its step, generators, weights and optimizer state.
        let found = try group.broadcast([state != nil ? 1 : 0], root: 0) == [1]
        let header = try group.broadcast(Array(try JSONEncoder().encode(currentState)), root: 0)
        let rankZero = try JSONDecoder().decode(State.self, from: Data(header))
        stage.model.randomState = rankZero.randomState
        step = rankZero.step
        try ReplicaState.broadcastFromRankZero(group, model: stage.model, optimizer: optimizer)
        replicasSynchronized = true
        return found
    }
}
