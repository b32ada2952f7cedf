import Alignment
import ArgumentParser
import Foundation
import DistributedTraining
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

        Under mpirun (for example `mpirun -np 2 sft-vs-rlaif --preset full`) the processes share the run directory: \
        the judges (costliest first, to the least-loaded rank), then each family and seed with its arms, then Table 1's cross-family arms are dealt out, \
        and rank 0 writes the same results.json as one process running as many threads as each rank (timings aside; \
        the thread count changes OpenBLAS's results in the last bits). Each rank takes its share of the machine's cores \
        unless TENSORCORE_NUM_THREADS is set.
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
    @Option(help: "Run seeds, comma-separated (for example 0,1): replaces the preset's seeds (quick and default: 0; full: 0-4). Each seed trains its own bases.")
    var seeds: String?
    @Flag(help: "Reuse the run directory's cached pieces even when its preset.json records another preset, world, teacher, critic, judge or code version (the reuse and what differed are recorded in preset.json and results.json).")
    var allowStaleCache = false

    func validate() throws {
        do { try EnvironmentSettings.check() } catch { throw ValidationError("\(error)") }
        if let dpoLearningRate, !(dpoLearningRate.isFinite && dpoLearningRate > 0) {
            throw ValidationError("--dpo-learning-rate must be finite and > 0, got \(dpoLearningRate)")
        }
        if let dpoBeta, !(dpoBeta.isFinite && dpoBeta > 0) { throw ValidationError("--dpo-beta must be finite and > 0, got \(dpoBeta)") }
        if let sftSteps, !(1...1_000_000).contains(sftSteps) { throw ValidationError("--sft-steps must be in 1...1000000, got \(sftSteps)") }
        if let sftEpochs, !(1...10_000).contains(sftEpochs) { throw ValidationError("--sft-epochs must be in 1...10000, got \(sftEpochs)") }
        if sftSteps != nil && sftEpochs != nil { throw ValidationError("--sft-steps and --sft-epochs exclude each other: SFT runs either a fixed number of steps or of epochs") }
        if let seeds { _ = try Self.parseSeeds(seeds) }
        if selectDpo && evaluationSet != .validation {
            throw ValidationError("--select-dpo needs --evaluation-set validation: settings are never chosen on test prompts")
        }
        if let runName, runName.isEmpty || runName.contains("/") || runName == "." || runName == ".." {
            throw ValidationError("--name must be a directory name without '/', got '\(runName)'")
        }
    }

    func run() throws {
        // Under mpirun: one process per rank sharing the run directory (see RunPlan), else nil.
        let group = try MPICommunicator.world()
        MPICommunicator.shareCoresAmongLocalRanks()
        do {
            try run(group: group)
        } catch {
            guard let group, group.size > 1 else { throw error }
            // An error every rank met (DataParallelError) is printed once, by rank 0; any other
            // error is this rank's alone. Either way the whole job ends.
            if error is DataParallelError && group.rank != 0 {
                try? group.barrier()
            } else {
                FileHandle.standardError.write(Data("sft-vs-rlaif (rank \(group.rank) of \(group.size)): \(error)\n".utf8))
            }
            group.abort(code: 1)
        }
    }

    func run(group: MPICommunicator?) throws {
        let rank = group?.rank ?? 0, size = group?.size ?? 1
        /// Runs `body` on every rank and waits for all; any rank's error ends every rank.
        func together(_ what: String, _ body: () throws -> Void) throws {
            if let group { try group.everyRank(what, body) } else { try body() }
        }
        if let group {
            // Rank 0 records one build and one set of numeric settings for every cached piece.
            var fields = MPICommunicator.optionFields(Array(CommandLine.arguments.dropFirst()))
            fields["build (SHA-256 of the executable)"] = Provenance.runningCodeVersion
            fields["numeric settings"] = Provenance.currentNumerics
            try group.rankZeroReports { try group.requireSameAsRankZero(fields, what: "options, build and numeric settings") }
            try group.rankZeroReports {
                if size > 1 && selectDpo { throw DataParallelError("--select-dpo runs in one process; start it without mpirun") }
            }
        }
        var p = preset.preset
        if let dpoLearningRate { p.dpoLearningRate = dpoLearningRate }
        if let dpoBeta { p.dpoBeta = dpoBeta }
        if let sftSteps { p.sftSteps = sftSteps }
        if let sftEpochs { p.sftEpochs = sftEpochs }
        if let seeds { p.seeds = try Self.parseSeeds(seeds) }
        p.pairsAgainst = pairs.rawValue
        p.evaluationSet = evaluationSet
        let dir = URL(fileURLWithPath: output).appendingPathComponent(runName ?? p.name)
        let runner = ExperimentRunner(preset: p, directory: dir)
        // Cached pieces are only valid for the settings, world, teachers, critics, judges and code that made them.
        var manifest: RunManifest?
        try together("checking the run directory") {
            guard rank == 0 else { return }
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            manifest = try RunManifest.prepare(dir, preset: p, provenance: try runner.provenance(), allowStaleReuse: allowStaleCache)
        }
        try together("finding the run directory") {
            let file = dir.appendingPathComponent("preset.json")
            guard FileManager.default.fileExists(atPath: file.path) else {
                throw DataError(file: file.path, line: 0, reason: "rank 0 wrote it but this rank does not see it: the ranks must share the run directory (a shared file system across nodes)")
            }
        }
        let start = Date()
        let who = size > 1 ? " rank \(rank)/\(size)" : ""
        runner.log = { line in
            FileHandle.standardError.write(Data(String(format: "[%5.0f s%@] %@\n", Date().timeIntervalSince(start), who, line).utf8))
        }
        let figures = figure.map { [$0.rawValue] } ?? p.figures
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        let judges = runner.judgeNames(figures: figures).filter { $0 != "truth" }
        let judgeOwners = RunPlan.deal(costs: judges.map { name in p.judgeSpecs.first { $0.name == name }?.trainingCost ?? 0 }, ranks: size)
        try together("training the judges") {
            for (name, owner) in zip(judges, judgeOwners) where owner == rank { _ = try runner.judge(name) }
        }
        var measuredWorld: WorldReport?
        if rank == 0 {
            let world = try runner.worldReport(judges: runner.judgeNames(figures: figures))
            try SafeTensors.atomicWrite(Data(world.markdown().utf8), to: dir.appendingPathComponent("world.md"))
            try SafeTensors.atomicWrite(try encoder.encode(world), to: dir.appendingPathComponent("world.json"))
            FileHandle.standardError.write(Data(world.markdown().utf8))
            measuredWorld = world
        }
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
        let plan = RunPlan(arms: arms, families: p.families, seeds: p.seeds)
        let mine = [plan.firstPhase(rank: rank, size: size), plan.secondPhase(rank: rank, size: size)]
        var done = 0
        let total = mine.joined().count
        for (phase, pieces) in mine.enumerated() {
            try together(phase == 0 ? "the arms" : "the arms sampling another family's pairs") {
                for piece in pieces {
                    done += 1
                    runner.log("arm \(done)/\(total): \(piece.arm.label), \(piece.family.name), seed \(piece.seed)")
                    do {
                        _ = try runner.run(piece.arm, family: piece.family, seed: piece.seed)
                    } catch {
                        // The other ranks would compute until the phase ends before hearing of it.
                        guard let group, size > 1 else { throw error }
                        FileHandle.standardError.write(Data("sft-vs-rlaif (rank \(rank) of \(size)): \(error)\n".utf8))
                        group.abort(code: 1)
                    }
                }
            }
        }
        guard rank == 0 else { return }
        // Every result from the run directory, so one process and many report the same bytes.
        let results = try plan.all.map { piece -> ArmResult in
            guard let result = runner.cachedResult(piece.arm, family: piece.family, seed: piece.seed) else {
                throw DataError(file: dir.path, line: 0, reason: "the result of \(piece.arm.label), \(piece.family.name), seed \(piece.seed) is missing")
            }
            return result
        }
        var report = Report(preset: p, results: results)
        report.manifest = manifest
        report.world = measuredWorld
        let markdown = figures.map { report.markdown(figure: $0) }.joined(separator: "\n")
        try markdown.write(to: dir.appendingPathComponent("figures.md"), atomically: true, encoding: .utf8)
        for n in figures {
            try report.chart(figure: n).write(to: dir.appendingPathComponent("figure\(n).svg"), atomically: true, encoding: .utf8)
        }
        try report.json(arms: arms, figures: figures).write(to: dir.appendingPathComponent("results.json"))
        print(markdown)
        print(String(format: "wrote %@ in %.0f s%@", dir.path, Date().timeIntervalSince(start), size > 1 ? " (\(size) processes)" : ""))
    }

    /// "0,3,7": distinct run seeds, each in 0...4294967295.
    static func parseSeeds(_ text: String) throws -> [UInt64] {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        let seeds = try parts.map { part -> UInt64 in
            guard let seed = UInt64(part), seed <= UInt64(UInt32.max) else {
                throw ValidationError("--seeds takes distinct integers in 0...4294967295 separated by commas, got '\(part)' in '\(text)'")
            }
            return seed
        }
        guard Set(seeds).count == seeds.count else { throw ValidationError("--seeds lists a seed twice: '\(text)'") }
        return seeds
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
