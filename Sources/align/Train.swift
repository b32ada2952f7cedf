import Alignment
import ArgumentParser
import DistributedTraining
import Foundation
import LanguageModels

/// Options every training subcommand shares.
struct TrainingOptions: ParsableArguments {
    @Option(help: "Output directory: metrics.jsonl and checkpoint/ (resumed automatically if present).") var output: String
    @Option(help: "Starting checkpoint: a transformers directory (config.json + model.safetensors, or a sharded index) of GPT-2, Llama, Mistral or Qwen2. Without it a new GPT-2-architecture model is built.") var model: String?
    @Option(help: "Tokenizer directory with tokenizer.json (and tokenizer_config.json for BOS/EOS/PAD and the chat template). Default: --model's directory when it has tokenizer.json, else the byte tokenizer.")
    var tokenizer: String?
    @Flag(help: "Recompute each transformer block's activations in backward instead of keeping them: much less memory, one more forward pass per step.")
    var gradientCheckpointing = false
    @Option(help: "New model: width (>= 1, a multiple of --heads; the model may have at most 2^31 parameters).") var dModel = 128
    @Option(help: "New model: transformer blocks (>= 1).") var layers = 4
    @Option(help: "New model: attention heads (>= 1, dividing --d-model).") var heads = 4
    @Option(help: "New model: context length in tokens (>= 2).") var context = 256
    @Option(help: "Examples per optimizer step (>= 1, a multiple of --grad-accum).") var batchSize = 8
    @Option(help: "Micro-batches per optimizer step (gradient accumulation; >= 1, dividing --batch-size).") var gradAccum = 1
    @Option(help: "Passes over the data (1...1000000).") var epochs = 1
    @Option(help: "Peak learning rate (finite, > 0).") var lr: Float = 5e-5
    @Option(help: "Optimizer (PyTorch defaults).") var optimizer: OptimizerKind = .adamw
    @Option(help: "Weight decay (finite, >= 0).") var weightDecay: Float = 0
    @Option(help: "Learning-rate schedule: linear decays to 0, cosine to 10%.") var schedule: ScheduleKind = .constant
    @Option(help: "Linear warmup steps (>= 0).") var warmup = 0
    @Option(help: "Global gradient-norm clip (finite, >= 0; 0 disables).") var maxGradNorm: Float = 1
    @Option(help: "Maximum prompt + completion tokens; longer examples are truncated. 2 ... the model's context (default: the model's context: a loaded --model's, else --context).")
    var maxLength: Int?
    @Option(help: "Maximum prompt tokens; longer prompts lose their beginning. 1 ... --max-length - 1 (default: half of --max-length).")
    var maxPromptLength: Int?
    @Option(help: "Save a resumable checkpoint every N >= 1 steps (default: only at the end).") var saveEvery: Int?
    @Option(help: "Held-out JSONL in the training format; its loss and metrics are logged as eval/*.") var evalData: String?
    @Option(help: "Evaluate on --eval-data every N >= 1 steps.") var evalEvery = 50
    @Option(help: "Seed for data order and initialisation.") var seed: UInt64 = 0
    @Option(help: "Chat template that renders message-list lines (TRL's conversational format) into prompt and completion text (default: the one --model's tokenizer_config.json names, if supported). String fields are used as they are.")
    var chatTemplate: ChatTemplate?
    @Option(help: "Stop after N >= 1 optimizer steps of this invocation and save a checkpoint; the same command continues from it (a long run split into jobs).")
    var stopAfter: Int?
    @Option(help: "Under mpirun: compare the ranks' parameter and optimizer-state checksums every N >= 1 steps (always done once at the end).")
    var checkReplicasEvery: Int?

    static let maximumEpochs = 1_000_000

    func validate() throws {
        try validatingOptions {
            try requireOutputPath(output)
            try Validate.positive(dModel, "--d-model")
            try Validate.positive(layers, "--layers")
            try Validate.positive(heads, "--heads")
            guard dModel % heads == 0 else { throw ConfigurationError("--heads", "must divide --d-model \(dModel), got \(heads)") }
            guard context >= 2 else { throw ConfigurationError("--context", "must be >= 2 (a prompt and a completion token), got \(context)") }
            try checkNewModelSize(vocab: ByteTokenizer().vocabSize, context: context, dModel: dModel, layers: layers)
            try Validate.positive(batchSize, "--batch-size")
            try Validate.positive(gradAccum, "--grad-accum")
            guard batchSize % gradAccum == 0 else {
                throw ConfigurationError("--grad-accum", "must divide --batch-size \(batchSize), got \(gradAccum)")
            }
            try Validate.inRange(epochs, 1...Self.maximumEpochs, "--epochs")
            try Validate.positive(lr, "--lr")
            try Validate.nonNegative(weightDecay, "--weight-decay")
            try Validate.nonNegative(warmup, "--warmup")
            try Validate.nonNegative(maxGradNorm, "--max-grad-norm")
            if let maxLength, maxLength < 2 {
                throw ConfigurationError("--max-length", "must be >= 2 (a prompt and a completion token), got \(maxLength)")
            }
            if let maxPromptLength { try Validate.positive(maxPromptLength, "--max-prompt-length") }
            if let maxLength, let maxPromptLength, maxPromptLength >= maxLength {
                throw ConfigurationError("--max-prompt-length", "must be < --max-length \(maxLength), got \(maxPromptLength)")
            }
            if let saveEvery { try Validate.positive(saveEvery, "--save-every") }
            try Validate.positive(evalEvery, "--eval-every")
            if let stopAfter { try Validate.positive(stopAfter, "--stop-after") }
            if let checkReplicasEvery { try Validate.positive(checkReplicasEvery, "--check-replicas-every") }
        }
    }

    func trainerConfig() throws -> TrainerConfig {
        var c = TrainerConfig()
        c.learningRate = lr
        c.optimizer = optimizer
        c.weightDecay = weightDecay
        c.schedule = schedule
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

    /// The run's tokenizer (--tokenizer, the one beside --model, or the byte tokenizer).
    func resolvedTokenizer() throws -> any Tokenizer { try loadTokenizer(explicit: tokenizer, model: model) }

    /// Truncation to --max-length and --max-prompt-length, defaulted and checked against `model`'s context.
    /// `jointly`: SFT encodes prompt + completion as one text, as TRL's SFT does.
    func tokenization(for model: any CausalLanguageModel, tokenizer: any Tokenizer, jointly: Bool = false) throws -> Tokenization {
        let context = model.contextLength
        let contextSource = self.model.map { "the context \(context) of --model \($0)" } ?? "--context \(context)"
        let length = maxLength ?? context
        guard length <= context else { throw ConfigurationError("--max-length", "must be <= \(contextSource), got \(length)") }
        guard length >= 2 else { throw ConfigurationError("--model", "context \(context) leaves no room for a prompt and a completion token") }
        let promptLength = maxPromptLength ?? length / 2
        guard promptLength < length else {
            let lengthSource = maxLength == nil ? "\(length) (\(contextSource))" : "\(length)"
            throw ConfigurationError("--max-prompt-length", "must be < --max-length \(lengthSource), got \(promptLength)")
        }
        if let dir = self.tokenizer ?? self.model {
            try checkChatTemplate(chatTemplate ?? ((try? modelChatTemplate(dir)) ?? nil), fits: tokenizer, tokenizerPath: dir)
        }
        return Tokenization(tokenizer: tokenizer, policy: TruncationPolicy(maxLength: length, maxPromptLength: promptLength), jointly: jointly)
    }

    /// Refuses training data (or --eval-data) too small to use, or whose longest micro-batch would not
    /// fit this machine's memory, before anything is written. `longest` is the longest tokenized
    /// sequence; `sequencesPerExample` is 2 for preference data (chosen and rejected side by side).
    func checkExamples(_ count: Int, report: DataReport, data: String, evaluation: Int, longest: Int, sequencesPerExample: Int = 1,
                       model: any CausalLanguageModel) throws {
        guard count >= batchSize else {
            throw CLIError(description: "\(data): \(count) usable examples (\(report)) are fewer than one batch (--batch-size \(batchSize))")
        }
        if let evalData, evaluation == 0 { throw CLIError(description: "\(evalData) (--eval-data): no usable examples") }
        let rows = Double(batchSize / gradAccum) * Double(sequencesPerExample)
        try checkMemory(model.trainingActivationBytes(rows: rows, length: longest),
                        "micro-batches of \(Int(rows)) sequences of up to \(longest) tokens", options: "--batch-size / --grad-accum, --max-length")
    }

    /// The starting model: loaded (with a scalar head added or removed as the stage needs) and checked
    /// against `tokenizer`, or newly built for the tokenizer's vocabulary.
    func loadOrBuild(scalarHead: Bool, tokenizer: any Tokenizer) throws -> any CausalLanguageModel {
        let built: any CausalLanguageModel
        if let model {
            let loaded = try loadModel(model, option: "--model")
            try checkTokenizer(tokenizer, fits: loaded, option: "--model", path: model)
            built = loaded.withScalarHead(scalarHead, seed: seed)
        } else {
            let vocab = tokenizer.vocabSize
            try checkNewModelSize(vocab: vocab, context: context, dModel: dModel, layers: layers)
            built = GPT(GPTConfig(vocabSize: vocab, contextLength: context, dModel: dModel, layers: layers, heads: heads, scalarHead: scalarHead),
                        seed: seed)
        }
        built.gradientCheckpointing = gradientCheckpointing
        return built
    }

    /// Reads data with --chat-template, or with none and, if the data has message lists, again with
    /// the template --model's tokenizer_config.json names (an unsupported one is an error there).
    func withChatTemplate<T>(_ read: (ChatTemplate?) throws -> T) throws -> T {
        try readingWithChatTemplate(chatTemplate, model: tokenizer ?? model, read)
    }

    /// What a resumed run must share with its checkpoint beyond the trainer settings: the data file's
    /// bytes and the truncation lengths.
    func runSettings(data: String, _ t: Tokenization) throws -> [String: String] {
        var settings = ["data": try fileFingerprint(data, option: "--data"), "maxLength": "\(t.policy.maxLength)",
                        "maxPromptLength": "\(t.policy.maxPromptLength)"]
        // Only when given, so that checkpoints from before the option still resume.
        if let template = chatTemplate ?? (try? modelChatTemplate(tokenizer ?? model)) ?? nil { settings["chatTemplate"] = template.rawValue }
        if let file = tokenizerFile(explicit: tokenizer, model: model) { settings["tokenizer"] = try fileFingerprint(file, option: "--tokenizer") }
        return settings
    }

    /// The tokenizer files beside adapter/ and merged/ (every checkpoint/ gets them as it is saved).
    func saveTokenizer() throws {
        try saveTokenizerFiles(explicit: tokenizer, model: model, into: ["adapter", "merged"].map { "\(output)/\($0)" })
    }

    func run<S: TrainingStage>(_ stage: S, _ examples: [S.Example], report: DataReport, evaluation: [S.Example] = [],
                               settings: [String: String]) throws {
        let world = try startDataParallel(settings: settings, examples: examples.count, evaluation: evaluation.count)
        if isPrimaryRank { FileHandle.standardError.write(Data("data: \(report)\n".utf8)) }
        let loop = try TrainingLoop(stage: stage, examples: examples, config: trainerConfig(), outputDirectory: URL(fileURLWithPath: output),
                                    dataParallel: world)
        loop.evaluationExamples = evaluation
        loop.runSettings = settings
        loop.checkpointFiles = tokenizerFiles(explicit: tokenizer, model: model)
        if try loop.resumeIfPossible(), isPrimaryRank { FileHandle.standardError.write(Data("resumed at step \(loop.step)\n".utf8)) }
        loop.showProgress = isPrimaryRank
        if let world, let every = checkReplicasEvery {
            loop.onStep = { log in
                guard log.step % every == 0 else { return }
                do { _ = try world.rankZeroReports { try ReplicaState.verify(world, model: stage.model, optimizer: loop.optimizer) } } catch { fail(error) }
            }
        }
        let (start, clock) = (loop.step, Date())
        try loop.train(maxSteps: stopAfter)
        if loop.step < loop.totalSteps { try loop.saveCheckpoint() }
        if let world {
            try reportDataParallel(world, model: stage.model, optimizer: loop.optimizer, steps: loop.step - start, seconds: Date().timeIntervalSince(clock))
        }
        guard isPrimaryRank else { return }
        if let last = loop.history.last {
            print(last.values.sorted { $0.key < $1.key }.map { "\($0.key)=\(String(format: "%.4g", $0.value))" }.joined(separator: " "))
        }
        print("checkpoint: \(output)/checkpoint")
    }
}

/// The longest chosen or rejected sequence of preference pairs, in tokens.
func longestPair(_ pairs: [PreferencePair]) -> Int {
    pairs.map { max($0.chosen.prompt.count + $0.chosen.completion.count, $0.rejected.prompt.count + $0.rejected.completion.count) }.max() ?? 0
}

/// Runs `body`, which reads the file given by `option`, naming the option in any error it throws.
func reading<T>(_ option: String, _ body: () throws -> T) throws -> T {
    do { return try body() } catch { throw CLIError(description: "\(option): \(error)") }
}

func tokenizePreferences(_ path: String, _ tokenization: Tokenization, chatTemplate: ChatTemplate?) throws -> ([PreferencePair], DataReport) {
    var report = DataReport()
    let pairs = try JSONL.preferenceExamples(at: path, chatTemplate: chatTemplate).compactMap { PreferencePair($0, tokenization: tokenization, report: &report) }
    return (pairs, report)
}

struct SFT: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Supervised fine-tuning on {\"prompt\", \"completion\"} JSONL, or {\"messages\": [...]} with --chat-template (loss on completion + EOS).")
    @OptionGroup var options: TrainingOptions
    @Option(help: "Training data, one {\"prompt\", \"completion\"} per line (strings, or message lists with --chat-template), or {\"messages\": [...]} ending with an assistant message.") var data: String
    @Option(help: "Loss reduction: sequence_sum (per-sequence sum averaged over the batch, the paper's) or token_mean.")
    var lossReduction: SFTLossReduction = .sequenceSum
    @OptionGroup var lora: LoRAOptions

    func run() throws {
        do {
            let tokenizer = try options.resolvedTokenizer()
            let model = try options.loadOrBuild(scalarHead: false, tokenizer: tokenizer)
            let loraSettings = try lora.apply(to: model, seed: options.seed)
            var report = DataReport()
            let t = try options.tokenization(for: model, tokenizer: tokenizer, jointly: true)
            let pairs = try reading("--data") { try options.withChatTemplate { try JSONL.sftExamples(at: data, chatTemplate: $0) } }.compactMap { t.pair(prompt: $0.prompt, completion: $0.completion, report: &report) }
            var evalReport = DataReport()
            let held = try options.evalData.map { path in
                try reading("--eval-data") { try options.withChatTemplate { try JSONL.sftExamples(at: path, chatTemplate: $0) } }.compactMap { t.pair(prompt: $0.prompt, completion: $0.completion, report: &evalReport) }
            } ?? []
            try options.checkExamples(pairs.count, report: report, data: data, evaluation: held.count,
                                      longest: pairs.map { $0.prompt.count + $0.completion.count }.max() ?? 0, model: model)
            try options.run(SFTStage(model: model, padToken: t.tokenizer.padToken, reduction: lossReduction), pairs, report: report,
                            evaluation: held, settings: options.runSettings(data: data, t).merging(loraSettings) { a, _ in a })
            guard isPrimaryRank else { return }
            try lora.save(model, output: options.output, baseModel: options.model)
            try options.saveTokenizer()
        } catch { fail(error) }
    }
}

struct Reward: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a reward model (Bradley-Terry on a scalar head) on {\"prompt\", \"chosen\", \"rejected\"} JSONL.")
    @OptionGroup var options: TrainingOptions
    @Option(help: "Preference data, one {\"prompt\", \"chosen\", \"rejected\"} per line (strings, or message lists with --chat-template; without \"prompt\", the messages chosen and rejected share are the prompt).") var data: String
    @OptionGroup var lora: LoRAOptions

    func run() throws {
        do {
            let tokenizer = try options.resolvedTokenizer()
            let model = try options.loadOrBuild(scalarHead: true, tokenizer: tokenizer)
            let loraSettings = try lora.apply(to: model, seed: options.seed)
            let t = try options.tokenization(for: model, tokenizer: tokenizer)
            let (pairs, report) = try reading("--data") { try options.withChatTemplate { try tokenizePreferences(data, t, chatTemplate: $0) } }
            let held = try options.evalData.map { path in try reading("--eval-data") { try options.withChatTemplate { try tokenizePreferences(path, t, chatTemplate: $0).0 } } } ?? []
            try options.checkExamples(pairs.count, report: report, data: data, evaluation: held.count, longest: longestPair(pairs),
                                      sequencesPerExample: 2, model: model)
            try options.run(RewardStage(model: model, padToken: t.tokenizer.padToken), pairs, report: report, evaluation: held,
                            settings: options.runSettings(data: data, t).merging(loraSettings) { a, _ in a })
            guard isPrimaryRank else { return }
            try lora.save(model, output: options.output, baseModel: options.model)
            try options.saveTokenizer()
        } catch { fail(error) }
    }
}

struct DPO: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Direct preference optimisation (and its family) on {\"prompt\", \"chosen\", \"rejected\"} JSONL.")
    @OptionGroup var options: TrainingOptions
    @Option(help: "Preference data, one {\"prompt\", \"chosen\", \"rejected\"} per line (strings, or message lists with --chat-template; without \"prompt\", the messages chosen and rejected share are the prompt).") var data: String
    @Option(help: "β: strength of the KL constraint to the reference (finite, > 0).") var beta: Float = 0.1
    @Option(help: "Loss (reference_free, simpo and orpo need no reference).") var lossType: PreferenceLossType = .sigmoid
    @Option(help: "ε, label smoothing, in [0, 0.5): conservative DPO (also sigmoid with ε > 0, as TRL), robust DPO, SimPO; must be 0 for hinge, ipo and orpo.") var labelSmoothing: Float = 0
    @Option(help: "γ for SimPO (finite, >= 0).") var simpoGamma: Float = 0.5
    @Option(help: "Reference checkpoint (default: the starting --model); its context must hold --max-length.") var reference: String?
    @Flag(help: "Compute reference log-probs once before training instead of on the fly.") var precomputeReference = false
    @OptionGroup var lora: LoRAOptions

    func validate() throws {
        try validatingOptions {
            try Validate.positive(beta, "--beta")
            try Validate.inRange(labelSmoothing, 0, 0.5, "--label-smoothing", includeUpper: false)
            try Validate.nonNegative(simpoGamma, "--simpo-gamma")
            if labelSmoothing != 0 && !lossType.usesLabelSmoothing {
                throw ConfigurationError("--label-smoothing", "must be 0 for --loss-type \(lossType.rawValue), which does not use it, got \(labelSmoothing)")
            }
        }
        guard options.model != nil || !lossType.needsReference || reference != nil else {
            throw ValidationError("--model (the SFT checkpoint) is required for --loss-type \(lossType.rawValue): it is also the reference")
        }
    }

    func run() throws {
        do {
            let tokenizer = try options.resolvedTokenizer()
            let policy = try options.loadOrBuild(scalarHead: false, tokenizer: tokenizer)
            let loraSettings = try lora.apply(to: policy, seed: options.seed)
            let t = try options.tokenization(for: policy, tokenizer: tokenizer)
            let (pairs, report) = try reading("--data") { try options.withChatTemplate { try tokenizePreferences(data, t, chatTemplate: $0) } }
            let held = try options.evalData.map { path in try reading("--eval-data") { try options.withChatTemplate { try tokenizePreferences(path, t, chatTemplate: $0).0 } } } ?? []
            try options.checkExamples(pairs.count, report: report, data: data, evaluation: held.count, longest: longestPair(pairs),
                                      sequencesPerExample: 2, model: policy)
            // With LoRA the reference is the policy with its adapters disabled: no copy of the weights.
            let ref: ReferenceModel = try reference.map { .separate(try loadReference($0, tokenization: t)) }
                ?? (policy.hasLoRA ? .adaptersDisabled(policy) : .separate(policy.frozenCopy()))
            let loss = PreferenceLossConfig(type: lossType, beta: beta, labelSmoothing: labelSmoothing, simpoGamma: simpoGamma)
            let stage = DPOStage(model: policy, referenceModel: ref, padToken: t.tokenizer.padToken, loss: loss)
            var settings = try options.runSettings(data: data, t).merging(loraSettings) { a, _ in a }
            settings["reference"] = try reference.map { try modelFingerprint($0, option: "--reference") }
                ?? options.model.map { try modelFingerprint($0, option: "--model") } ?? "the new model's initial weights"
            if precomputeReference {
                let micro = options.batchSize / options.gradAccum
                let filled = stage.precomputeReference(pairs, batchSize: micro)
                let heldFilled = stage.precomputeReference(held, batchSize: micro)
                try options.run(DPOStage(model: policy, reference: nil, padToken: t.tokenizer.padToken, loss: loss), filled, report: report,
                                evaluation: heldFilled, settings: settings)
            } else {
                try options.run(stage, pairs, report: report, evaluation: held, settings: settings)
            }
            guard isPrimaryRank else { return }
            try lora.save(policy, output: options.output, baseModel: options.model)
            try options.saveTokenizer()
        } catch { fail(error) }
    }

    /// The frozen --reference, refused when it cannot score the tokenized examples.
    func loadReference(_ path: String, tokenization t: Tokenization) throws -> any CausalLanguageModel {
        let ref = try loadModel(path, option: "--reference")
        try checkTokenizer(t.tokenizer, fits: ref, option: "--reference", path: path)
        guard ref.contextLength >= t.policy.maxLength else {
            throw ConfigurationError("--reference", "\(path): context \(ref.contextLength) is shorter than --max-length \(t.policy.maxLength)")
        }
        return ref.frozenCopy()
    }
}

struct PPOCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ppo",
        abstract: "PPO against a reward model on {\"prompt\"} JSONL; the policy gets a value head on its trunk.")
    @Option(help: "Policy checkpoint to start from (the SFT model; also the frozen reference): GPT-2, Llama, Mistral or Qwen2 in transformers' layout.") var model: String
    @Option(help: "Tokenizer directory with tokenizer.json (default: --model's directory when it has tokenizer.json, else the byte tokenizer).")
    var tokenizer: String?
    @Flag(help: "Recompute each transformer block's activations in backward instead of keeping them (less memory, one more forward pass per step).")
    var gradientCheckpointing = false
    @Option(help: "Reward model checkpoint (trained with `align reward`).") var rewardModel: String
    @Option(help: "Prompts, one {\"prompt\"} per line (a string, or a message list with --chat-template).") var prompts: String
    @Option(help: "Output directory: metrics.jsonl and checkpoint/ (the policy with its value head; resumed automatically).") var output: String
    @Option(help: "Save a resumable checkpoint every N >= 1 rollouts (default: only at the end).") var saveEvery: Int?
    @Option(help: "Rollouts, each sampling --rollout-batch prompts (1...1000000).") var rollouts = 20
    @Option(help: "Prompts per rollout (1...1000000, a multiple of --mini-batch).") var rolloutBatch = 16
    @Option(help: "Sequences per gradient step (>= 1, dividing --rollout-batch).") var miniBatch = 4
    @Option(help: "Prompts sampled and scored together (1...1000000; default: the whole rollout). Each chunk has its own random stream, so samples depend on this size but not on the number of mpirun ranks, which share the chunks out: use --rollout-batch / ranks or less to spread sampling.")
    var rolloutChunk: Int?
    @Option(help: "Passes over each rollout (1...1000000).") var ppoEpochs = 4
    @Option(help: "Learning rate (AdamW; finite, > 0).") var lr: Float = 1e-5
    @Option(help: "Initial KL coefficient (finite, >= 0).") var klCoef: Float = 0.05
    @Option(help: "Adaptive KL target per sequence (finite, > 0; default: fixed coefficient).") var targetKl: Float?
    @Option(help: "KL estimator.") var klEstimator: KLEstimator = .k1
    @Option(help: "Policy ratio clip range (finite, > 0).") var clipRange: Float = 0.2
    @Option(help: "Value clip range (finite, > 0).") var clipRangeValue: Float = 0.2
    @Option(help: "Value loss coefficient (finite, >= 0).") var vfCoef: Float = 0.1
    @Option(help: "GAE γ, in [0, 1].") var gamma: Float = 1
    @Option(help: "GAE λ, in [0, 1].") var lambda: Float = 0.95
    @Option(help: "Sampling temperature (finite, >= 0.001; log-probs are recomputed at it).") var temperature: Float = 1
    @Option(help: "Maximum response tokens (>= 1; --max-prompt-length + --max-new-tokens must fit the policy's and the reward model's context).")
    var maxNewTokens = 32
    @Option(help: "Maximum prompt tokens; longer prompts lose their beginning (>= 1; default: 128, less if the context needs it).")
    var maxPromptLength: Int?
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @Option(help: "Chat template that renders message-list prompts with the generation prompt (default: the one --model's tokenizer_config.json names, if supported). String prompts are used as they are.")
    var chatTemplate: ChatTemplate?
    @OptionGroup var lora: LoRAOptions

    static let maximumCount = 1_000_000

    /// The command-line option behind each `PPOConfig` field that `PPOConfig.validate` checks.
    static let optionOfSetting = [
        "rollouts": "--rollouts", "rolloutBatchSize": "--rollout-batch", "miniBatchSize": "--mini-batch", "rolloutChunkSize": "--rollout-chunk",
        "ppoEpochs": "--ppo-epochs", "learningRate": "--lr", "klCoef": "--kl-coef", "targetKL": "--target-kl",
        "clipRange": "--clip-range", "clipRangeValue": "--clip-range-value", "valueCoef": "--vf-coef", "gamma": "--gamma",
        "lambda": "--lambda", "temperature": "--temperature", "maxNewTokens": "--max-new-tokens",
    ]

    var config: PPOConfig {
        var c = PPOConfig()
        c.rollouts = rollouts; c.rolloutBatchSize = rolloutBatch; c.miniBatchSize = miniBatch; c.ppoEpochs = ppoEpochs
        c.rolloutChunkSize = rolloutChunk
        c.learningRate = lr; c.klCoef = klCoef; c.targetKL = targetKl; c.klEstimator = klEstimator; c.clipRange = clipRange
        c.clipRangeValue = clipRangeValue; c.valueCoef = vfCoef; c.gamma = gamma; c.lambda = lambda
        c.temperature = temperature; c.maxNewTokens = maxNewTokens; c.seed = seed
        return c
    }

    /// PPOConfig's own ranges, named by option, plus what only the command line limits.
    func validate() throws {
        try validatingOptions {
            try requireOutputPath(output)
            if let saveEvery { try Validate.positive(saveEvery, "--save-every") }
            try Validate.inRange(rollouts, 1...Self.maximumCount, "--rollouts")
            try Validate.inRange(rolloutBatch, 1...Self.maximumCount, "--rollout-batch")
            if let rolloutChunk { try Validate.inRange(rolloutChunk, 1...Self.maximumCount, "--rollout-chunk") }
            try Validate.inRange(ppoEpochs, 1...Self.maximumCount, "--ppo-epochs")
            do { try config.validate() } catch let e as ConfigurationError {
                throw ConfigurationError(Self.optionOfSetting[e.setting] ?? e.setting, e.reason)
            }
            guard temperature >= minimumTemperature else {
                throw ConfigurationError("--temperature", "must be finite and >= \(minimumTemperature), got \(temperature)")
            }
            if let maxPromptLength { try Validate.positive(maxPromptLength, "--max-prompt-length") }
        }
    }

    /// --max-prompt-length, defaulted and checked so that prompt + response fit both models' context.
    func promptLength(policy: any CausalLanguageModel, reward: any CausalLanguageModel) throws -> Int {
        let (context, source) = policy.contextLength <= reward.contextLength
            ? (policy.contextLength, "--model \(model)") : (reward.contextLength, "--reward-model \(rewardModel)")
        guard maxNewTokens < context else {
            throw ConfigurationError("--max-new-tokens", "must be < the context \(context) of \(source) (room for a prompt token), got \(maxNewTokens)")
        }
        let length = maxPromptLength ?? min(128, context - maxNewTokens)
        // Compared as a difference: maxNewTokens < context here, so a huge --max-prompt-length cannot overflow.
        guard length <= context - maxNewTokens else {
            throw ConfigurationError("--max-prompt-length", "plus --max-new-tokens \(maxNewTokens) must be <= the context \(context) of \(source), got \(length)")
        }
        return length
    }

    /// A checkpoint the run's tokenizer can drive, named by its option when it is not.
    func load(_ path: String, option: String, tokenizer: any Tokenizer) throws -> any CausalLanguageModel {
        let loaded = try loadModel(path, option: option)
        try checkTokenizer(tokenizer, fits: loaded, option: option, path: path)
        return loaded
    }

    func run() throws {
        do {
            let tokenizer = try loadTokenizer(explicit: self.tokenizer, model: model)
            let sft = try load(model, option: "--model", tokenizer: tokenizer)
            let tokenizerDir = self.tokenizer ?? model
            try checkChatTemplate(chatTemplate ?? ((try? modelChatTemplate(tokenizerDir)) ?? nil), fits: tokenizer, tokenizerPath: tokenizerDir)
            let policy = sft.withScalarHead(true, seed: seed)
            policy.gradientCheckpointing = gradientCheckpointing
            let loraSettings = try lora.apply(to: policy, seed: seed)
            let rm = try load(rewardModel, option: "--reward-model", tokenizer: tokenizer)
            guard rm.hasScalarHead else { throw ConfigurationError("--reward-model", "\(rewardModel): not a reward model (no scalar head)") }
            let maxPromptLength = try promptLength(policy: sft, reward: rm)
            let length = maxPromptLength + maxNewTokens
            try checkMemory(policy.trainingActivationBytes(rows: Double(miniBatch), length: length),
                            "minibatches of \(miniBatch) sequences of \(length) tokens", options: "--mini-batch, --max-prompt-length + --max-new-tokens")
            let sampledTogether = min(rolloutChunk ?? rolloutBatch, rolloutBatch)
            try checkMemory(policy.samplingBytes(rows: Double(sampledTogether), length: length),
                            "sampling \(sampledTogether) sequences of \(length) tokens at once",
                            options: "--rollout-batch or --rollout-chunk, --max-prompt-length + --max-new-tokens")
            let promptIDs = try reading("--prompts") { try readingWithChatTemplate(chatTemplate, model: self.tokenizer ?? model) { try JSONL.prompts(at: prompts, chatTemplate: $0) } }
                .map { Array(tokenizer.encodePrompt($0).suffix(maxPromptLength)) }
            guard !promptIDs.isEmpty else { throw ConfigurationError("--prompts", "\(prompts) holds no prompts") }
            // With LoRA the reference is the policy with its adapters disabled (the value head plays no part in it).
            let settings = ["prompts": try fileFingerprint(prompts, option: "--prompts"), "maxPromptLength": "\(maxPromptLength)",
                            "model": try modelFingerprint(model, option: "--model"),
                            "rewardModel": try modelFingerprint(rewardModel, option: "--reward-model")].merging(loraSettings) { a, _ in a }
            let world = try startDataParallel(settings: settings, examples: promptIDs.count, evaluation: 0)
            let trainer = try PPOTrainer(policy: policy, referenceModel: policy.hasLoRA ? .adaptersDisabled(policy) : .separate(sft.frozenCopy()),
                                         reward: .model(rm), prompts: promptIDs, config: config,
                                         eosToken: tokenizer.eosToken, padToken: tokenizer.padToken, dataParallel: world)
            trainer.outputDirectory = URL(fileURLWithPath: output)
            trainer.saveEvery = saveEvery
            trainer.checkpointFiles = tokenizerFiles(explicit: self.tokenizer, model: model)
            trainer.runSettings = settings
            if let template = chatTemplate ?? (try? modelChatTemplate(self.tokenizer ?? model)) ?? nil { trainer.runSettings["chatTemplate"] = template.rawValue }
            if let file = tokenizerFile(explicit: self.tokenizer, model: model) {
                trainer.runSettings["tokenizer"] = try fileFingerprint(file, option: "--tokenizer")
            }
            if try trainer.resumeIfPossible(), isPrimaryRank { FileHandle.standardError.write(Data("resumed after rollout \(trainer.rollout)\n".utf8)) }
            trainer.showProgress = isPrimaryRank
            let (start, clock) = (trainer.rollout, Date())
            try trainer.train()
            if let world {
                try reportDataParallel(world, model: policy, optimizer: trainer.optimizer, steps: (trainer.rollout - start) * ppoEpochs * (rolloutBatch / miniBatch),
                                       seconds: Date().timeIntervalSince(clock))
            }
            guard isPrimaryRank else { return }
            print("checkpoint: \(output)/checkpoint")
            try lora.save(policy, output: output, baseModel: model)
            try saveTokenizerFiles(explicit: self.tokenizer, model: model, into: ["adapter", "merged"].map { "\(output)/\($0)" })
        } catch let e as ConfigurationError {
            fail(ConfigurationError(Self.optionOfSetting[e.setting] ?? e.setting, e.reason))
        } catch { fail(error) }
    }
}

/// An empty --output (an unset shell variable) would train into the current directory, resuming or
/// overwriting whatever checkpoint/ is there, and report the checkpoint as "/checkpoint".
func requireOutputPath(_ output: String) throws {
    guard !output.isEmpty else { throw ConfigurationError("--output", "must name a directory, got an empty string") }
}

/// The chat template `model`'s tokenizer_config.json names; nil without a model or that file.
func modelChatTemplate(_ model: String?) throws -> ChatTemplate? {
    guard let model else { return nil }
    let config = URL(fileURLWithPath: model).appendingPathComponent("tokenizer_config.json")
    guard FileManager.default.fileExists(atPath: config.path) else { return nil }
    do { return try ChatTemplate(tokenizerConfig: config) } catch { throw ConfigurationError("--chat-template", "\(error)") }
}

/// Runs `read` with `explicit`; without one, first with no template (string data needs none) and,
/// when the data has message lists, again with `model`'s template.
func readingWithChatTemplate<T>(_ explicit: ChatTemplate?, model: String?, _ read: (ChatTemplate?) throws -> T) throws -> T {
    if let explicit { return try read(explicit) }
    do { return try read(nil) } catch where JSONL.needsChatTemplate(error) {
        guard let template = try modelChatTemplate(model) else { throw error }
        return try read(template)
    }
}
