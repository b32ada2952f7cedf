import ArgumentParser
import Foundation
import LanguageModels
import RLAIFLab

/// Figure 6 of Sharma et al. (2024): why SFT on a strong teacher beats RLAIF when the student's
/// own samples never reach where the teacher goes.
@main
struct RLAIFBandit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rlaif-bandit",
        abstract: "The paper's 100-armed bandit (Figure 6): SFT on a strong teacher versus RLAIF from a perfect critic.")

    @Flag(help: "Print {\"student\", \"teacher\", \"sft\", \"rlaif\"}: each policy's expected true reward, as JSON.") var json = false
    @Option(help: "Directory for bandit.svg, reward.svg and bandit.json.") var output = "results/bandit"
    @Option(help: "Random seed for the samples.") var seed: UInt64 = 0
    @Option(help: "β of the RLAIF policy π_S·exp(r̂/β) (finite, > 0).") var beta: Float = 0.1
    @Option(help: "Steps of the reward model's full-batch SGD (>= 1).") var rewardSteps = 7_500
    @Option(help: "Steps of SFT's full-batch SGD (>= 1).") var sftSteps = 15_000
    @Option(help: "The second action of each pair the critic labels: another student sample (student, the paper's notebook) or a teacher sample (teacher).")
    var pairs: BanditPairs = .student
    @Flag(help: "Also run the sensitivity grid: reward-model steps 1,500 / 7,500 / 30,000 / 150,000 x β 0.03 / 0.1 / 0.3 / 1 x both pair sources; writes sensitivity.svg and sensitivity.json and prints the table (about two minutes: two reward models of 150,000 steps).")
    var sensitivity = false

    func validate() throws {
        do { try EnvironmentSettings.check() } catch { throw ValidationError("\(error)") }
        guard beta.isFinite && beta > 0 else { throw ValidationError("--beta must be finite and > 0, got \(beta)") }
        guard rewardSteps >= 1 else { throw ValidationError("--reward-steps must be >= 1, got \(rewardSteps)") }
        guard sftSteps >= 1 else { throw ValidationError("--sft-steps must be >= 1, got \(sftSteps)") }
    }

    func run() throws {
        var config = BanditConfig()
        config.seed = seed
        config.beta = beta
        config.rewardSteps = rewardSteps
        config.sftSteps = sftSteps
        config.pairs = pairs
        let result = Bandit.run(config) { line in if !json { FileHandle.standardError.write(Data((line + "\n").utf8)) } }
        guard result.rlaif.allSatisfy(\.isFinite) else {
            throw ValidationError("--beta \(beta): the RLAIF policy π_S·exp(r̂/β) is not finite (learned rewards up to \(result.learnedReward.map { abs($0) }.max() ?? 0))")
        }
        let dir = URL(fileURLWithPath: output)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let actions = (0..<config.actions).map(Double.init)
        func series(_ name: String, _ p: [Double]) -> LineChart.Series { .init(name: name, points: Array(zip(actions, p))) }
        let mass = LineChart(title: "Policies over actions (true reward = action)", xLabel: "action", yLabel: "probability",
                             series: [series("student (SFT start)", result.student), series("teacher", result.teacher),
                                      series("SFT on teacher", result.sft), series("RLAIF (β = \(beta))", result.rlaif)])
        try mass.svg().write(to: dir.appendingPathComponent("bandit.svg"), atomically: true, encoding: .utf8)
        let rewards = LineChart(title: "Learned vs true reward", xLabel: "action", yLabel: "reward",
                                series: [series("learned r̂", result.learnedReward),
                                         .init(name: "true r(a) = a / 10", points: actions.map { ($0, $0 / 10) }, dashed: true)])
        try rewards.svg().write(to: dir.appendingPathComponent("reward.svg"), atomically: true, encoding: .utf8)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try encoder.encode(result).write(to: dir.appendingPathComponent("bandit.json"))
        if sensitivity { try writeSensitivity(config, to: dir) }
        let summary = result.summary
        if json {
            print(String(data: try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys]), encoding: .utf8)!)
        } else {
            print("expected true reward of each policy (actions 0-99, reward = action):")
            for key in ["student", "teacher", "sft", "rlaif"] { print(String(format: "  %-8@ %6.2f", key as NSString, summary[key]!)) }
            print("wrote \(dir.path)/bandit.svg, reward.svg, bandit.json")
        }
    }

    func writeSensitivity(_ config: BanditConfig, to dir: URL) throws {
        let steps = [1_500, 7_500, 30_000, 150_000], betas: [Float] = [0.03, 0.1, 0.3, 1]
        let grid = Bandit.sensitivity(config, rewardSteps: steps, betas: betas) { line in
            if !json { FileHandle.standardError.write(Data((line + "\n").utf8)) }
        }
        var series: [LineChart.Series] = []
        for pairs in BanditPairs.allCases {
            for beta in betas {
                let points = grid.cells.filter { $0.pairs == pairs && $0.beta == beta }.map { (log10(Double($0.rewardSteps)), $0.rlaif) }
                series.append(.init(name: "RLAIF, \(pairs.rawValue) pairs, β \(beta)", points: points))
            }
        }
        let xs = steps.map { log10(Double($0)) }
        series.append(.init(name: "SFT on teacher", points: xs.map { ($0, grid.sft) }, dashed: true))
        series.append(.init(name: "student", points: xs.map { ($0, grid.student) }, dashed: true))
        let chart = LineChart(title: "RLAIF's expected true reward: reward-model steps, β, pair source", xLabel: "log10 reward-model steps",
                              yLabel: "expected true reward", series: series)
        try chart.svg().write(to: dir.appendingPathComponent("sensitivity.svg"), atomically: true, encoding: .utf8)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try encoder.encode(grid).write(to: dir.appendingPathComponent("sensitivity.json"))
        guard !json else { return }
        print(String(format: "RLAIF's expected true reward (student %.1f, SFT on teacher %.1f, teacher %.1f):", grid.student, grid.sft, grid.teacher))
        print("| pairs | reward-model steps | " + betas.map { "β \($0)" }.joined(separator: " | ") + " |")
        print("|---|---|" + betas.map { _ in "---|" }.joined())
        for pairs in BanditPairs.allCases {
            for n in steps {
                let row = betas.map { beta in String(format: "%.1f", grid.cells.first { $0.pairs == pairs && $0.rewardSteps == n && $0.beta == beta }!.rlaif) }
                print("| \(pairs.rawValue) | \(n) | " + row.joined(separator: " | ") + " |")
            }
        }
        print("wrote \(dir.path)/sensitivity.svg, sensitivity.json")
    }
}

extension BanditPairs: ExpressibleByArgument {}
