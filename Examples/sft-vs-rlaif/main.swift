import ArgumentParser
import Foundation
import RLAIFLab
import TensorCore

/// The project's main job: is RL from AI feedback worth it, or does SFT on a strong teacher's
/// completions do as well? Small transformers trained from scratch, synthetic teachers and critics.
@main
struct SFTvsRLAIF: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sft-vs-rlaif",
        abstract: "Reproduce the SFT-vs-RLAIF comparison of Sharma et al. (2024) on a 2-core CPU.",
        discussion: """
        Writes results/<run>/: results.json (every arm, seed and metric, and the full preset), figure2.md \
        (the paper's Figure 2 layout), SVG charts, and per-stage metrics JSONL under stages/. Finished \
        pieces (pretrained bases, SFT models, arm results) are cached there, so a rerun resumes.
        """)

    @Option(help: "quick (one base family, under 2 minutes), default (two families) or full (three seeds, larger pool).")
    var preset = "default"
    @Option(help: "Run one figure only: 2 (main comparison) or 5 (strong teacher 10% + RLAIF). Default: both.") var figure: Int?
    @Option(help: "Results directory.") var output = "results"
    @Option(help: "Override the preset's DPO learning rate (RMSprop).") var dpoLearningRate: Float?
    @Option(help: "Override the preset's DPO β.") var dpoBeta: Float?
    @Option(help: "Override the preset's SFT steps per arm.") var sftSteps: Int?
    @Option(name: .customLong("name"), help: "Run name: results go to <output>/<name> (default: the preset's name).") var runName: String?

    func validate() throws {
        guard Preset.named(preset) != nil else { throw ValidationError("--preset must be quick, default or full") }
        if let figure, ![2, 5].contains(figure) { throw ValidationError("--figure must be 2 or 5 (Figure 6 is `rlaif-bandit`)") }
    }

    func run() throws {
        var p = Preset.named(preset)!
        if let dpoLearningRate { p.dpoLearningRate = dpoLearningRate }
        if let dpoBeta { p.dpoBeta = dpoBeta }
        if let sftSteps { p.sftSteps = sftSteps }
        let dir = URL(fileURLWithPath: output).appendingPathComponent(runName ?? p.name)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        // Cached pieces are only valid for the settings that made them.
        let presetFile = dir.appendingPathComponent("preset.json")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        if let data = try? Data(contentsOf: presetFile) {
            guard (try? JSONDecoder().decode(Preset.self, from: data)) == p else {
                throw ValidationError("\(dir.path) holds a run made with other settings (see its preset.json); choose another --name or --output")
            }
        } else {
            try encoder.encode(p).write(to: presetFile)
        }
        let runner = ExperimentRunner(preset: p, directory: dir)
        let start = Date()
        runner.log = { line in
            FileHandle.standardError.write(Data(String(format: "[%5.0f s] %@\n", Date().timeIntervalSince(start), line).utf8))
        }
        var arms: [Arm] = []
        if figure == nil || figure == 2 { arms += Arm.figure2 }
        if figure == nil || figure == 5 { arms += Arm.figure5.filter { !arms.contains($0) } }
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
        let report = Report(preset: p, results: results)
        var markdown = report.markdown(arms: arms.filter { Arm.figure2.contains($0) || figure == 5 })
        if figure != 2 {
            markdown += "\n" + report.markdown(arms: Arm.figure5).components(separatedBy: "\n").dropFirst(2).joined(separator: "\n")
        }
        try markdown.write(to: dir.appendingPathComponent("figure2.md"), atomically: true, encoding: .utf8)
        if figure != 5 {
            try report.chart(arms: Arm.figure2, title: "Figure 2: SFT on weak vs strong teacher, and RLAIF")
                .write(to: dir.appendingPathComponent("figure2.svg"), atomically: true, encoding: .utf8)
            try report.chart(arms: Arm.figure2, title: "Figure 2 under the lenient judge", judge: "lenient")
                .write(to: dir.appendingPathComponent("figure2-lenient.svg"), atomically: true, encoding: .utf8)
        }
        if figure != 2 {
            try report.chart(arms: Arm.figure5, title: "Figure 5: strong teacher 10% + RLAIF vs 100% SFT")
                .write(to: dir.appendingPathComponent("figure5.svg"), atomically: true, encoding: .utf8)
        }
        try report.json(arms: arms).write(to: dir.appendingPathComponent("results.json"))
        print(markdown)
        print(String(format: "wrote %@ in %.0f s", dir.path, Date().timeIntervalSince(start)))
    }
}
