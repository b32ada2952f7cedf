import Foundation
import LanguageModels

/// The bookkeeping every trainer shares, so the SFT/reward/DPO loop and PPO behave alike: the
/// output directory (locked while in use), metrics.jsonl, the progress line, the stop on a
/// non-finite metric, checkpoint saves and resume with validation.
final class TrainerRuntime {
    /// "step" or "rollout": the metrics.jsonl key and the word used in progress and errors.
    let unit: String
    var outputDirectory: URL?
    var showProgress = false
    /// Files copied into every checkpoint (a tokenizer), so each one is a complete model directory.
    var checkpointFiles: [URL] = []
    /// False on the ranks of a data-parallel run other than rank 0: they neither open the output
    /// directory nor write metrics or checkpoints (rank 0 sends them its state instead).
    var writes = true
    private var directory: RunDirectory?
    private var progressStart = Date()
    private var progressFirst = 0

    init(unit: String) { self.unit = unit }

    /// Runs `body` with the output directory open (locked, stale temporaries removed); nested
    /// calls share the one opening.
    func withDirectory<T>(_ body: (RunDirectory?) throws -> T) throws -> T {
        if let directory { return try body(directory) }
        guard writes, let url = outputDirectory else { return try body(nil) }
        let opened = try RunDirectory(url)
        directory = opened
        defer { opened.close(); directory = nil }
        return try body(opened)
    }

    /// Starts a training call at `position`: rows an interrupted run logged after it are dropped.
    func begin(at position: Int) throws {
        try directory?.truncateMetrics(after: position, key: unit)
        progressStart = Date()
        progressFirst = position
    }

    func requireFinite(_ value: Double, _ metric: String, at position: Int) throws {
        guard value.isFinite else { throw NonFiniteMetricError(unit: unit, position: position, metric: metric, value: value) }
    }

    func requireFinite(_ values: [String: Double], at position: Int) throws {
        // The loss is named first when several values are non-finite: it is what the user watches.
        let ordered = values.sorted { ($0.key == "loss" ? 0 : 1, $0.key) < ($1.key == "loss" ? 0 : 1, $1.key) }
        for (metric, value) in ordered { try requireFinite(value, metric, at: position) }
    }

    /// Appends `row` to metrics.jsonl and redraws the progress line; a non-finite value stops training.
    func record(_ row: [String: Double], position: Int, total: Int, progress: String) throws {
        try requireFinite(row, at: position)
        try directory?.appendMetrics(row)
        guard showProgress else { return }
        let seconds = max(Date().timeIntervalSince(progressStart), 1e-9)
        let rate = Double(position - progressFirst) / seconds
        let line = "\r\(unit) \(position)/\(total)  \(progress)  \(String(format: "%.2f", rate)) \(unit)s/s"
        FileHandle.standardError.write(Data(line.utf8))
    }

    func endProgress() {
        if showProgress { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    /// Writes `checkpoint/` atomically, refusing non-finite weights or optimizer state.
    func save<State: TrainerState>(_ state: State, model: any CausalLanguageModel, optimizer: Optimizer) throws {
        try withDirectory { directory in
            guard let directory else { return }
            for (name, tensor) in model.namedParameters() where !tensor.scalars.allSatisfy(\.isFinite) {
                throw NonFiniteMetricError(unit: unit, position: state.position, metric: "weights \(name)", value: .nan)
            }
            for (name, tensor) in optimizer.state() where !tensor.scalars.allSatisfy(\.isFinite) {
                throw NonFiniteMetricError(unit: unit, position: state.position, metric: "optimizer state \(name)", value: .nan)
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            try directory.saveCheckpoint(model: model, optimizer: optimizer, state: try encoder.encode(state),
                                         metadata: [unit: "\(state.position)"], extraFiles: checkpointFiles)
        }
    }

    /// Loads `checkpoint/` into `model` and `optimizer` and returns its state, or nil when there
    /// is no checkpoint. Everything is validated before anything is changed: the stage, the
    /// position (0...total), the state's own fields, the settings against `current` and the
    /// model's config (differences listed together), finite weights and optimizer state.
    func resume<State: TrainerState>(current: State, total: Int, model: any CausalLanguageModel, optimizer: Optimizer) throws -> State? {
        try withDirectory { directory -> State? in
            guard let directory, FileManager.default.fileExists(atPath: directory.checkpoint.path) else { return nil }
            let dir = directory.checkpoint
            let stateURL = dir.appendingPathComponent("trainer_state.json")
            guard let data = FileManager.default.contents(atPath: stateURL.path) else {
                throw ConfigurationError(stateURL.path, "is missing or unreadable, so \(dir.path) cannot be resumed; remove it to start over")
            }
            let header = try CheckpointValidation.decode(StageHeader.self, from: data, file: stateURL.path)
            let savedStage = header.stage ?? (header.rollout != nil ? "ppo" : current.stage)
            guard savedStage == current.stage else {
                throw CheckpointMismatchError(checkpoint: dir.path, differences: ["stage: checkpoint \(savedStage), this run \(current.stage)"])
            }
            let saved = try CheckpointValidation.decode(State.self, from: data, file: stateURL.path)
            guard (0...total).contains(saved.position) else {
                throw ConfigurationError("\(stateURL.path): \(unit)", "must be in 0...\(total), got \(saved.position)")
            }
            try saved.validate(file: stateURL.path)
            let differences = saved.differences(from: current)
                + (try model.architectureDifferences(configFile: dir.appendingPathComponent("config.json")))
            guard differences.isEmpty else { throw CheckpointMismatchError(checkpoint: dir.path, differences: differences) }

            let weights = try type(of: model).loadHuggingFace(directory: dir)
            try CheckpointValidation.finiteParameters(weights, file: dir.appendingPathComponent("model.safetensors").path)
            try CheckpointValidation.loraAdapter(into: weights, checkpoint: dir, model: model)
            let optimizerURL = dir.appendingPathComponent("optimizer.safetensors")
            let optimizerState = try SafeTensors.read(optimizerURL).tensors
            try CheckpointValidation.optimizerState(optimizerState, file: optimizerURL.path, expectedSteps: saved.optimizerSteps)
            do { try optimizer.loadState(optimizerState) } catch { throw ConfigurationError(optimizerURL.path, "\(error)") }
            model.copyParameters(from: weights)
            try directory.truncateMetrics(after: saved.position, key: unit)
            return saved
        }
    }

    /// The fields that identify which trainer wrote a state (`stage` is absent in older checkpoints).
    private struct StageHeader: Decodable {
        var stage: String?
        var rollout: Int?
    }
}
