import Alignment
import ArgumentParser
import Foundation
import TensorCore

/// Options every training subcommand shares.
struct TrainingOptions: ParsableArguments {
    @Option(help: "Output directory: metrics.jsonl and checkpoint/ (resumed automatically if present).") var output: String
    @Option(help: "Starting checkpoint (config.json + model.safetensors). Without it a new byte-level model is built.") var model: String?
    @Option(help: "New model: width.") var dModel = 128
    @Option(help: "New model: transformer blocks.") var layers = 4
    @Option(help: "New model: attention heads.") var heads = 4
    @Option(help: "New model: context length in tokens.") var context = 256
    @Option(help: "Examples per optimizer step.") var batchSize = 8
    @Option(help: "Micro-batches per optimizer step (gradient accumulation).") var gradAccum = 1
    @Option(help: "Passes over the data.") var epochs = 1
    @Option(help: "Peak learning rate.") var lr: Float = 5e-5
    @Option(help: "Optimizer: adamw, adam, rmsprop or sgd (PyTorch defaults).") var optimizer = "adamw"
    @Option(help: "Weight decay.") var weightDecay: Float = 0
    @Option(help: "Learning-rate schedule: constant, linear or cosine.") var schedule = "constant"
    @Option(help: "Linear warmup steps.") var warmup = 0
    @Option(help: "Global gradient-norm clip (0 disables).") var maxGradNorm: Float = 1
    @Option(help: "Maximum prompt + completion tokens; longer examples are truncated.") var maxLength = 256
    @Option(help: "Maximum prompt tokens; longer prompts lose their beginning.") var maxPromptLength = 128
    @Option(help: "Save a resumable checkpoint every N steps (default: only at the end).") var saveEvery: Int?
    @Option(help: "Held-out JSONL in the training format; its loss and metrics are logged as eval/*.") var evalData: String?
    @Option(help: "Evaluate on --eval-data every N steps (default: 50).") var evalEvery = 50
    @Option(help: "Seed for data order and initialisation.") var seed: UInt64 = 0

    func trainerConfig() throws -> TrainerConfig {
        var c = TrainerConfig()
        c.learningRate = lr
        guard let kind = OptimizerKind(rawValue: optimizer) else { throw ValidationError("--optimizer must be one of adamw, adam, rmsprop, sgd") }
        c.optimizer = kind
        c.weightDecay = weightDecay
        guard let scheduleKind = ScheduleKind(rawValue: schedule) else { throw ValidationError("--schedule must be one of constant, linear, cosine") }
        c.schedule = scheduleKind
        c.warmupSteps = warmup
        c.epochs = epochs
        c.batchSize = batchSize
        c.gradientAccumulation = gradAccum
        c.maxGradNorm = maxGradNorm > 0 ? maxGradNorm : nil
        c.saveEvery = saveEvery
        c.evalEvery = evalData == nil ? nil : evalEvery
        c.seed = seed
        try c.validate()
        return c
    }

    var tokenization: Tokenization {
        Tokenization(tokenizer: ByteTokenizer(), policy: TruncationPolicy(maxLength: maxLength, maxPromptLength: maxPromptLength))
    }

    /// The starting model: loaded (with a scalar head added if asked and missing) or newly built.
    func loadOrBuild(scalarHead: Bool) throws -> GPT {
        guard let model else {
            return GPT(GPTConfig(vocabSize: ByteTokenizer().vocabSize, contextLength: context, dModel: dModel, layers: layers,
                                 heads: heads, scalarHead: scalarHead), seed: seed)
        }
        let loaded = try GPT.loadHuggingFace(directory: URL(fileURLWithPath: model))
        guard loaded.config.vocabSize == ByteTokenizer().vocabSize else {
            throw CLIError(description: "\(model): vocabulary \(loaded.config.vocabSize) is not the byte tokenizer's 258")
        }
        if loaded.config.scalarHead == scalarHead { return loaded }
        var config = loaded.config
        config.scalarHead = scalarHead
        let converted = GPT(config, seed: seed)
        converted.copyParameters(from: loaded, skippingMissing: true)
        return converted
    }

    func run<S: TrainingStage>(_ stage: S, _ examples: [S.Example], report: DataReport, evaluation: [S.Example] = []) throws {
        FileHandle.standardError.write(Data("data: \(report)\n".utf8))
        let loop = try TrainingLoop(stage: stage, examples: examples, config: trainerConfig(), outputDirectory: URL(fileURLWithPath: output))
        loop.evaluationExamples = evaluation
        if try loop.resumeIfPossible() { FileHandle.standardError.write(Data("resumed at step \(loop.step)\n".utf8)) }
        loop.showProgress = true
        try loop.train()
        if let last = loop.history.last {
            print(last.values.sorted { $0.key < $1.key }.map { "\($0.key)=\(String(format: "%.4g", $0.value))" }.joined(separator: " "))
        }
        print("checkpoint: \(output)/checkpoint")
    }
}

func tokenizePreferences(_ path: String, _ tokenization: Tokenization) throws -> ([PreferencePair], DataReport) {
    var report = DataReport()
    let pairs = try JSONL.preferenceExamples(at: path).compactMap { PreferencePair($0, tokenization: tokenization, report: &report) }
    return (pairs, report)
}

struct SFT: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Supervised fine-tuning on {\"prompt\", \"completion\"} JSONL (byte tokenizer; loss on completion + EOS).")
    @OptionGroup var options: TrainingOptions
    @Option(help: "Training data, one {\"prompt\", \"completion\"} per line.") var data: String
    @Option(help: "Loss reduction: sequence_sum (per-sequence sum averaged over the batch, the paper's) or token_mean.")
    var lossReduction = "sequence_sum"

    func run() throws {
        do {
            guard let reduction = SFTLossReduction(rawValue: lossReduction) else { throw ValidationError("--loss-reduction: sequence_sum or token_mean") }
            var report = DataReport()
            let t = options.tokenization
            let pairs = try JSONL.sftExamples(at: data).compactMap { t.pair(prompt: $0.prompt, completion: $0.completion, report: &report) }
            var evalReport = DataReport()
            let held = try options.evalData.map { path in
                try JSONL.sftExamples(at: path).compactMap { t.pair(prompt: $0.prompt, completion: $0.completion, report: &evalReport) }
            } ?? []
            let model = try options.loadOrBuild(scalarHead: false)
            try options.run(SFTStage(model: model, padToken: ByteTokenizer().padToken, reduction: reduction), pairs, report: report,
                            evaluation: held)
        } catch let e as ValidationError { throw e } catch { fail(error) }
    }
}

struct Reward: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a reward model (Bradley-Terry on a scalar head) on {\"prompt\", \"chosen\", \"rejected\"} JSONL.")
    @OptionGroup var options: TrainingOptions
    @Option(help: "Preference data, one {\"prompt\", \"chosen\", \"rejected\"} per line.") var data: String

    func run() throws {
        do {
            let (pairs, report) = try tokenizePreferences(data, options.tokenization)
            let held = try options.evalData.map { try tokenizePreferences($0, options.tokenization).0 } ?? []
            let model = try options.loadOrBuild(scalarHead: true)
            try options.run(RewardStage(model: model, padToken: ByteTokenizer().padToken), pairs, report: report, evaluation: held)
        } catch { fail(error) }
    }
}

struct DPO: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Direct preference optimisation (and its family) on {\"prompt\", \"chosen\", \"rejected\"} JSONL.")
    @OptionGroup var options: TrainingOptions
    @Option(help: "Preference data, one {\"prompt\", \"chosen\", \"rejected\"} per line.") var data: String
    @Option(help: "β: strength of the KL constraint to the reference.") var beta: Float = 0.1
    @Option(help: "Loss: \(PreferenceLossType.allCases.map(\.rawValue).joined(separator: ", ")).") var lossType = "sigmoid"
    @Option(help: "ε for conservative and robust DPO (label smoothing).") var labelSmoothing: Float = 0
    @Option(help: "γ for SimPO.") var simpoGamma: Float = 0.5
    @Option(help: "Reference checkpoint (default: the starting --model).") var reference: String?
    @Flag(help: "Compute reference log-probs once before training instead of on the fly.") var precomputeReference = false

    func run() throws {
        do {
            guard let type = PreferenceLossType(rawValue: lossType) else { throw ValidationError("--loss-type: unknown '\(lossType)'") }
            guard options.model != nil || !type.needsReference || reference != nil else {
                throw ValidationError("--model (the SFT checkpoint) is required: it is also the reference")
            }
            let (pairs, report) = try tokenizePreferences(data, options.tokenization)
            let held = try options.evalData.map { try tokenizePreferences($0, options.tokenization).0 } ?? []
            let policy = try options.loadOrBuild(scalarHead: false)
            let ref = try reference.map { try GPT.loadHuggingFace(directory: URL(fileURLWithPath: $0)).frozenCopy() } ?? policy.frozenCopy()
            let loss = PreferenceLossConfig(type: type, beta: beta, labelSmoothing: labelSmoothing, simpoGamma: simpoGamma)
            let stage = DPOStage(model: policy, reference: ref, padToken: ByteTokenizer().padToken, loss: loss)
            if precomputeReference {
                let micro = options.batchSize / max(options.gradAccum, 1)
                let filled = stage.precomputeReference(pairs, batchSize: micro)
                let heldFilled = stage.precomputeReference(held, batchSize: micro)
                try options.run(DPOStage(model: policy, reference: nil, padToken: ByteTokenizer().padToken, loss: loss), filled, report: report,
                                evaluation: heldFilled)
            } else {
                try options.run(stage, pairs, report: report, evaluation: held)
            }
        } catch let e as ValidationError { throw e } catch { fail(error) }
    }
}

struct PPOCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ppo",
        abstract: "PPO against a reward model on {\"prompt\"} JSONL; the policy gets a value head on its trunk.")
    @Option(help: "Policy checkpoint to start from (the SFT model; also the frozen reference).") var model: String
    @Option(help: "Reward model checkpoint (trained with `align reward`).") var rewardModel: String
    @Option(help: "Prompts, one {\"prompt\"} per line.") var prompts: String
    @Option(help: "Output directory: metrics.jsonl and checkpoint/ (the policy with its value head; resumed automatically).") var output: String
    @Option(help: "Save a resumable checkpoint every N rollouts (default: only at the end).") var saveEvery: Int?
    @Option(help: "Rollouts (each samples --rollout-batch prompts).") var rollouts = 20
    @Option(help: "Prompts per rollout.") var rolloutBatch = 16
    @Option(help: "Sequences per gradient step.") var miniBatch = 4
    @Option(help: "Passes over each rollout.") var ppoEpochs = 4
    @Option(help: "Learning rate (AdamW).") var lr: Float = 1e-5
    @Option(help: "Initial KL coefficient.") var klCoef: Float = 0.05
    @Option(help: "Adaptive KL target per sequence (default: fixed coefficient).") var targetKl: Float?
    @Option(help: "KL estimator: k1, k2 or k3.") var klEstimator = "k1"
    @Option(help: "Policy ratio clip range.") var clipRange: Float = 0.2
    @Option(help: "Value clip range.") var clipRangeValue: Float = 0.2
    @Option(help: "Value loss coefficient.") var vfCoef: Float = 0.1
    @Option(help: "GAE γ.") var gamma: Float = 1
    @Option(help: "GAE λ.") var lambda: Float = 0.95
    @Option(help: "Sampling temperature (log-probs are recomputed at it).") var temperature: Float = 1
    @Option(help: "Maximum response tokens.") var maxNewTokens = 32
    @Option(help: "Maximum prompt tokens (longer prompts lose their beginning).") var maxPromptLength = 128
    @Option(help: "Random seed.") var seed: UInt64 = 0

    func run() throws {
        do {
            guard let estimator = KLEstimator(rawValue: klEstimator) else { throw ValidationError("--kl-estimator: k1, k2 or k3") }
            let sft = try GPT.loadHuggingFace(directory: URL(fileURLWithPath: model))
            var withValue = sft.config
            withValue.scalarHead = true
            let policy = GPT(withValue, seed: seed)
            policy.copyParameters(from: sft, skippingMissing: true)
            let rm = try GPT.loadHuggingFace(directory: URL(fileURLWithPath: rewardModel))
            guard rm.config.scalarHead else { throw CLIError(description: "\(rewardModel): not a reward model (no scalar head)") }
            let tokenizer = ByteTokenizer()
            let promptIDs = try JSONL.prompts(at: prompts).map { Array(tokenizer.encode($0).suffix(maxPromptLength)) }
            var c = PPOConfig()
            c.rollouts = rollouts; c.rolloutBatchSize = rolloutBatch; c.miniBatchSize = miniBatch; c.ppoEpochs = ppoEpochs
            c.learningRate = lr; c.klCoef = klCoef; c.targetKL = targetKl; c.klEstimator = estimator; c.clipRange = clipRange
            c.clipRangeValue = clipRangeValue; c.valueCoef = vfCoef; c.gamma = gamma; c.lambda = lambda
            c.temperature = temperature; c.maxNewTokens = maxNewTokens; c.seed = seed
            let trainer = try PPOTrainer(policy: policy, reference: sft.frozenCopy(), reward: .model(rm), prompts: promptIDs, config: c,
                                         eosToken: tokenizer.eosToken, padToken: tokenizer.padToken)
            trainer.outputDirectory = URL(fileURLWithPath: output)
            trainer.saveEvery = saveEvery
            if try trainer.resumeIfPossible() { FileHandle.standardError.write(Data("resumed after rollout \(trainer.rollout)\n".utf8)) }
            trainer.showProgress = true
            try trainer.train()
            print("checkpoint: \(output)/checkpoint")
        } catch let e as ValidationError { throw e } catch { fail(error) }
    }
}
