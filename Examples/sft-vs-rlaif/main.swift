import ArgumentParser
import Foundation
import RLAIFLab
import LanguageModels

/// The project's main job: is RL from AI feedback worth it, or does SFT on a strong teacher's
/// completions do as well? Small transformers trained from scratch, synthetic teachers and critics.
@main
struct SFTvsRLAIF: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sft-vs-rlaif",
        abstract: "Reproduce the SFT-vs-RLAIF comparison of Sharma et al. (2024) on a 2-core CPU.",
        discussion: """
        Writes results/<run>/: results.json (every arm, seed and metric, and the full preset), figures.md \
        (tables in the paper's layout, Figure 2's first), figureN.svg charts, and per-stage metrics JSONL under stages/. Finished \
        pieces (pretrained bases, SFT models, arm results) are cached there, so a rerun resumes.
        """)

    @Option(help: "quick (one base family, under 2 minutes), default (two families, one seed) or full (five seeds, each with its own pretrained bases, 1,500 SFT steps, 400 evaluation prompts, and the teacher x critic sweep).")
    var preset: PresetName = .default
    @Option(help: "Run one figure only: 1, 2 (the main comparison), 3 (SFT data scaling), 4 (Claude-like teacher and critic), 5 (strong teacher 10% + RLAIF), 7 (Figure 5 with the Claude-like teacher and critic), 8 (RLAIF by PPO beside DPO), 9 (Table 1: DPO on pairs sampled from each base family) 10 (teacher x critic strength sweep; in the full preset), or beyond the paper, from SFT on the weak teacher's 10% with the strong critic: 11 (pairs against the strong teacher's completion), 12 (best-of-4 and best-of-16 with the critic, no training), 13 (iterated DPO, 3 rounds of fresh pairs) or 14 (SFT on critic-filtered own samples). Default: the preset's figures (quick: 2 and 5; default: 1-5 and 7-9; full: also 10). Figure 6 is `rlaif-bandit`.")
    var figure: Figure?
    @Option(help: "Results directory.") var output = "results"
    @Option(help: "Override the preset's DPO learning rate (RMSprop; finite, > 0).") var dpoLearningRate: Float?
    @Option(help: "Override the preset's DPO β (finite, > 0).") var dpoBeta: Float?
    @Option(help: "Override the preset's SFT steps per arm (1...1000000).") var sftSteps: Int?
    @Option(help: "Override the preset's SFT epochs (1...10000; when set, SFT runs this many epochs over each arm's data instead of a fixed number of steps).")
    var sftEpochs: Int?
    @Option(help: "Feedback pairs: a policy sample against the teacher's completion (teacher, the paper's) or against a second policy sample (policy).")
    var pairs: PairsAgainst = .teacher
    @Option(help: "Held-out prompts to evaluate on: test (the reported numbers) or validation (another draw, for choosing a shared hyperparameter such as --dpo-learning-rate without looking at the test prompts).")
    var evaluationSet: EvaluationSet = .test
    @Flag(help: "Choose DPO's learning rate, β and epochs on validation prompts by the rule of docs/PREREGISTRATION.md (needs --evaluation-set validation); writes dpo-selection.md and dpo-selection.json and stops.")
    var selectDpo = false
    @Flag(help: "Stop after measuring the world (teachers and judges on validation prompts: world.md, world.json).") var worldOnly = false
    @Option(name: .customLong("name"), help: "Run name, without '/': results go to <output>/<name> (default: the preset's name).") var runName: String?
    @Flag(help: "Reuse the run directory's cached pieces even when its preset.json records another preset, world, teacher, critic, judge or code version (the reuse and what differed are recorded in preset.json and results.json).")
    var allowStaleCache = false

    func validate() throws {
        if let dpoLearningRate, !(dpoLearningRate.isFinite && dpoLearningRate > 0) {
            throw ValidationError("--dpo-learning-rate must be finite and > 0, got \(dpoLearningRate)")
        }
        if let dpoBeta, !(dpoBeta.isFinite && dpoBeta > 0) { throw ValidationError("--dpo-beta must be finite and > 0, got \(dpoBeta)") }
        if let sftSteps, !(1...1_000_000).contains(sftSteps) { throw ValidationError("--sft-steps must be in 1...1000000, got \(sftSteps)") }
        if let sftEpochs, !(1...10_000).contains(sftEpochs) { throw ValidationError("--sft-epochs must be in 1...10000, got \(sftEpochs)") }
        if sftSteps != nil && sftEpochs != nil { throw ValidationError("--sft-steps and --sft-epochs exclude each other: SFT runs either a fixed number of steps or of epochs") }
        if selectDpo && evaluationSet != .validation {
            throw ValidationError("--select-dpo needs --evaluation-set validation: settings are never chosen on test prompts")
        }
        if let runName, runName.isEmpty || runName.contains("/") || runName == "." || runName == ".." {
            throw ValidationError("--name must be a directory name without '/', got '\(runName)'")
        }
    }

    func run() throws {
        var p = preset.preset
        if let dpoLearningRate { p.dpoLearningRate = dpoLearningRate }
        if let dpoBeta { p.dpoBeta = dpoBeta }
        if let sftSteps { p.sftSteps = sftSteps }
        if let sftEpochs { p.sftEpochs = sftEpochs }
        p.pairsAgainst = pairs.rawValue
        p.evaluationSet = evaluationSet
        let dir = URL(fileURLWithPath: output).appendingPathComponent(runName ?? p.name)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let runner = ExperimentRunner(preset: p, directory: dir)
        // Cached pieces are only valid for the settings, world, teachers, critics, judges and code that made them.
        let manifest = try RunManifest.prepare(dir, preset: p, provenance: try runner.provenance(), allowStaleReuse: allowStaleCache)
        let start = Date()
        runner.log = { line in
            FileHandle.standardError.write(Data(String(format: "[%5.0f s] %@\n", Date().timeIntervalSince(start), line).utf8))
        }
        let figures = figure.map { [$0.rawValue] } ?? p.figures
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        let world = try runner.worldReport(judges: runner.judgeNames(figures: figures))
        try SafeTensors.atomicWrite(Data(world.markdown().utf8), to: dir.appendingPathComponent("world.md"))
        try SafeTensors.atomicWrite(try encoder.encode(world), to: dir.appendingPathComponent("world.json"))
        FileHandle.standardError.write(Data(world.markdown().utf8))
        if worldOnly { return }
        if selectDpo {
            let selection = try runner.selectDPO(grid: .standard)
            try SafeTensors.atomicWrite(Data(selection.markdown().utf8), to: dir.appendingPathComponent("dpo-selection.md"))
            try SafeTensors.atomicWrite(try encoder.encode(selection), to: dir.appendingPathComponent("dpo-selection.json"))
            print(selection.markdown())
            return
        }
        var arms: [Arm] = []
        for n in figures { for arm in Arm.figure(n, families: p.families.map(\.name)) where !arms.contains(arm) { arms.append(arm) } }
        var results: [ArmResult] = []
        let total = arms.count * p.families.count * p.seeds.count
        for family in p.families {
            for seed in p.seeds {
                for arm in arms {
                    runner.log("arm \(results.count + 1)/\(total): \(arm.label), \(family.name), seed \(seed)")
                    results.append(try runner.run(arm, family: family, seed: seed))
                }
            }
        }
        var report = Report(preset: p, results: results)
        report.manifest = manifest
        let markdown = figures.map { report.markdown(figure: $0) }.joined(separator: "\n")
        try markdown.write(to: dir.appendingPathComponent("figures.md"), atomically: true, encoding: .utf8)
        for n in figures {
            try report.chart(figure: n).write(to: dir.appendingPathComponent("figure\(n).svg"), atomically: true, encoding: .utf8)
        }
        try report.json(arms: arms).write(to: dir.appendingPathComponent("results.json"))
        print(markdown)
        print(String(format: "wrote %@ in %.0f s", dir.path, Date().timeIntervalSince(start)))
    }
}

/// The presets `Preset.named` knows.
enum PresetName: String, CaseIterable, ExpressibleByArgument {
    case quick, `default`, full

    var preset: Preset {
        switch self {
        case .quick: return .quick
        case .default: return .standard
        case .full: return .full
        }
    }
}

/// Figures the runner draws; Figure 6 is `rlaif-bandit`.
enum Figure: Int, CaseIterable, ExpressibleByArgument {
    case one = 1, two, three, four, five, seven = 7, eight, nine, ten, eleven, twelve, thirteen, fourteen
}

/// What the policy's sample is paired against (`Preset.pairsAgainst`).
enum PairsAgainst: String, CaseIterable, ExpressibleByArgument {
    case teacher, policy
}

extension EvaluationSet: ExpressibleByArgument {}
