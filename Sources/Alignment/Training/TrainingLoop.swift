import Foundation
import TensorCore

/// What a training stage contributes to the shared loop: a loss over a micro-batch, expressed as a
/// *sum* over normalisation units (sequences or tokens), so that accumulating micro-batches and
/// dividing once by the step's total gives the same gradient as one big batch.
public protocol TrainingStage {
    associatedtype Example
    var model: GPT { get }
    /// Units the loss of `examples` is averaged over (sequences, or tokens for a per-token mean).
    func units(_ examples: [Example]) -> Int
    /// Summed loss over `examples` and per-example metric *sums* (divided by example count when logged).
    func lossSum(_ examples: [Example]) -> (loss: Tensor, metrics: [String: Double])
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
public final class TrainingLoop<Stage: TrainingStage> {
    public let stage: Stage
    public let examples: [Stage.Example]
    public let config: TrainerConfig
    public let optimizer: Optimizer
    public private(set) var step = 0
    public var outputDirectory: URL?
    /// Called every `evalEvery` steps with the step; returns metrics logged with an "eval/" prefix.
    /// Setting `evaluationExamples` installs the default: the stage's loss and metrics on them.
    public var evaluate: ((Int) -> [String: Double])?
    /// Held-out examples; when set (and `evaluate` is not), every `evalEvery` steps logs their mean
    /// loss and metrics, computed without gradients in evaluation mode.
    public var evaluationExamples: [Stage.Example] = []
    /// Called after every step (progress display, tests).
    public var onStep: ((StepLog) -> Void)?
    public var showProgress = false
    /// Everything logged so far, also written to `metrics.jsonl` in the output directory.
    public private(set) var history: [StepLog] = []

    public var stepsPerEpoch: Int { examples.count / config.batchSize }
    public var totalSteps: Int { stepsPerEpoch * config.epochs }

    public init(stage: Stage, examples: [Stage.Example], config: TrainerConfig, outputDirectory: URL? = nil) throws {
        try config.validate()
        guard examples.count >= config.batchSize else {
            throw DataError(file: "<data>", line: 0, reason: "\(examples.count) examples are fewer than one batch of \(config.batchSize)")
        }
        self.stage = stage
        self.examples = examples
        self.config = config
        self.outputDirectory = outputDirectory
        optimizer = config.makeOptimizer(stage.model.trainableParameters())
    }

    /// Example indices of `epoch` in training order.
    func order(epoch: Int) -> [Int] {
        var rng = RandomGenerator(seed: config.seed &+ UInt64(epoch) &* 0x9E37_79B9)
        return rng.permutation(examples.count)
    }

    /// Runs until `totalSteps` (or `maxSteps` more steps, for tests of interruption).
    public func train(maxSteps: Int? = nil) throws {
        let schedule = config.makeSchedule(totalSteps: totalSteps)
        let end = min(totalSteps, maxSteps.map { step + $0 } ?? totalSteps)
        let micro = config.batchSize / config.gradientAccumulation
        let params = stage.model.trainableParameters()
        stage.model.train()
        var currentEpoch = -1
        var epochOrder: [Int] = []
        let start = Date()
        while step < end {
            let epoch = step / stepsPerEpoch
            if epoch != currentEpoch { epochOrder = order(epoch: epoch); currentEpoch = epoch }
            let offset = (step % stepsPerEpoch) * config.batchSize
            let batch = epochOrder[offset..<(offset + config.batchSize)].map { examples[$0] }
            let chunks = stride(from: 0, to: batch.count, by: micro).map { Array(batch[$0..<($0 + micro)]) }
            let totalUnits = Float(max(chunks.reduce(0) { $0 + stage.units($1) }, 1))
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
            var values = metricSums.mapValues { $0 / Double(batch.count) }
            values["loss"] = lossValue
            if let maxNorm = config.maxGradNorm { values["grad_norm"] = Double(clipGradNorm(params, maxNorm: maxNorm)) }
            optimizer.learningRate = schedule.learningRate(base: config.learningRate, step: step)
            values["learning_rate"] = Double(optimizer.learningRate)
            optimizer.step()
            step += 1
            if let every = config.evalEvery, step % every == 0, evaluate != nil || !evaluationExamples.isEmpty {
                stage.model.eval()
                for (k, v) in evaluate?(step) ?? evaluateHeldOut() { values["eval/" + k] = v }
                stage.model.train()
            }
            let log = StepLog(step: step, epoch: Double(step) / Double(stepsPerEpoch), values: values)
            history.append(log)
            try appendMetrics(log)
            onStep?(log)
            if showProgress {
                let rate = Double(step) / max(Date().timeIntervalSince(start), 1e-9)
                let line = String(format: "\rstep %d/%d  loss %.4f  %.2f steps/s", step, totalSteps, lossValue, rate)
                FileHandle.standardError.write(Data(line.utf8))
            }
            if let every = config.saveEvery, step % every == 0 { try saveCheckpoint() }
        }
        if showProgress { FileHandle.standardError.write(Data("\n".utf8)) }
        if outputDirectory != nil && step == totalSteps { try saveCheckpoint() }
    }

    /// Mean loss (per the stage's units) and per-example metrics over `evaluationExamples`.
    public func evaluateHeldOut() -> [String: Double] {
        let micro = config.batchSize / config.gradientAccumulation
        var loss = 0.0, units = 0, sums: [String: Double] = [:]
        withNoGrad {
            for start in stride(from: 0, to: evaluationExamples.count, by: micro) {
                let chunk = Array(evaluationExamples[start..<min(start + micro, evaluationExamples.count)])
                let (l, metrics) = stage.lossSum(chunk)
                loss += Double(l.item)
                units += stage.units(chunk)
                for (k, v) in metrics { sums[k, default: 0] += v }
            }
        }
        var out = sums.mapValues { $0 / Double(max(evaluationExamples.count, 1)) }
        out["loss"] = loss / Double(max(units, 1))
        return out
    }

    private func appendMetrics(_ log: StepLog) throws {
        guard let dir = outputDirectory else { return }
        var row: [String: Double] = log.values
        row["step"] = Double(log.step)
        row["epoch"] = log.epoch
        try MetricsLog.append(row, to: dir)
    }

    // MARK: Checkpoints

    struct State: Codable {
        var step: Int
        var config: TrainerConfig
        /// Dropout generators of the model, so a resumed run draws the same masks.
        var randomState: [String: [UInt64]]
    }

    /// Writes `checkpoint/` (model, optimizer state, step, dropout generators) atomically.
    public func saveCheckpoint() throws {
        guard let dir = outputDirectory else { return }
        try CheckpointDirectory.save(in: dir, model: stage.model, optimizer: optimizer,
                                     state: State(step: step, config: config, randomState: stage.model.randomState),
                                     metadata: ["step": "\(step)"])
    }

    /// Restores weights, optimizer state, dropout generators and step from `outputDirectory/checkpoint`,
    /// if present. Returns whether a checkpoint was found. Metrics already logged stay in metrics.jsonl.
    @discardableResult
    public func resumeIfPossible() throws -> Bool {
        guard let dir = outputDirectory,
              let state = try CheckpointDirectory.load(from: dir, model: stage.model, optimizer: optimizer, as: State.self) else { return false }
        stage.model.randomState = state.randomState
        step = state.step
        return true
    }
}

/// Appends one JSON object per line to `metrics.jsonl` (non-finite values omitted), the format a
/// pandas user loads with `pd.read_json(path, lines=True)`.
enum MetricsLog {
    static func append(_ row: [String: Double], to dir: URL) throws {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var line = try JSONSerialization.data(withJSONObject: row.filter { $0.value.isFinite }, options: [.sortedKeys])
        line.append(0x0A)
        let url = dir.appendingPathComponent("metrics.jsonl")
        if let handle = try? FileHandle(forWritingTo: url) {
            try handle.seekToEnd()
            try handle.write(contentsOf: line)
            try handle.close()
        } else {
            try line.write(to: url)
        }
    }
}
