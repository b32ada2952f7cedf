import Foundation

/// Aggregates arm results into the paper's layout: Markdown tables, SVG charts, results.json.
public struct Report {
    public let preset: Preset
    public let results: [ArmResult]
    /// The run directory's preset.json, for results.json's "provenance".
    public var manifest: RunManifest?
    /// The teachers and judges measured on validation prompts, for results.json's "teachers",
    /// "critics" and "judges".
    public var world: WorldReport?

    public init(preset: Preset, results: [ArmResult]) {
        self.preset = preset
        self.results = results
    }

    /// Mean over seeds and its error bar: a 95% t-interval across seeds when there are several,
    /// else ±1 standard error of the single evaluation (what the paper reports).
    public struct Cell: Codable, Equatable, Sendable {
        public var mean: Double
        public var error: Double
        public var seeds: Int
        public var errorKind: String
    }

    public func cell(_ arm: Arm, _ family: String, judge: String = "independent", metric: (Evaluation) -> Double? = { _ in nil }) -> Cell? {
        let rs = results.filter { $0.arm == arm && $0.family == family }
        guard !rs.isEmpty else { return nil }
        let values = rs.compactMap { metric($0.evaluation) ?? $0.evaluation.winRate[judge] }
        guard values.count == rs.count else { return nil }
        let mean = values.reduce(0, +) / Double(values.count)
        if values.count > 1 {
            let sd = (values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count - 1)).squareRoot()
            return Cell(mean: mean, error: StudentT.twoSided(df: Double(values.count - 1)) * sd / Double(values.count).squareRoot(), seeds: values.count,
                        errorKind: "95% CI over seeds")
        }
        return Cell(mean: mean, error: rs[0].evaluation.standardError[judge] ?? 0, seeds: 1, errorKind: "standard error")
    }

    func table(_ arms: [Arm], judge: String, title: String) -> String {
        let families = preset.families.map(\.name)
        var s = "### \(title)\n\n| base model | " + arms.map(\.label).joined(separator: " | ") + " |\n"
        s += "|---|" + arms.map { _ in "---|" }.joined() + "\n"
        for f in families {
            s += "| \(f) | " + arms.map { arm in
                cell(arm, f, judge: judge).map { String(format: "%.1f ± %.1f", $0.mean, $0.error) } ?? "-"
            }.joined(separator: " | ") + " |\n"
        }
        return s
    }

    func exactTable(_ arms: [Arm]) -> String {
        var s = "### Exact-match accuracy (%) and mean quality\n\n| base model | " + arms.map(\.label).joined(separator: " | ") + " |\n"
        s += "|---|" + arms.map { _ in "---|" }.joined() + "\n"
        for f in preset.families.map(\.name) {
            s += "| \(f) | " + arms.map { arm in
                guard let e = cell(arm, f, metric: { $0.exactMatch * 100 }), let q = cell(arm, f, metric: { $0.meanQuality }) else { return "-" }
                return String(format: "%.1f (q %.2f)", e.mean, q.mean)
            }.joined(separator: " | ") + " |\n"
        }
        return s
    }

    public static let titles = [
        1: "Figure 1: SFT on each teacher, with and without RLAIF from the strong critic",
        2: "Figure 2: SFT on the weak teacher (100%, 10%), 10% + RLAIF, SFT on the strong teacher",
        3: "Figure 3: SFT data scaling on the weak teacher",
        4: "Figure 4: the Claude-like model as teacher, critic and judge",
        5: "Figure 5: strong teacher on 10% + RLAIF vs 100%",
        7: "Figure 7: Claude-like teacher on 10% + RLAIF (Claude-like critic) vs 100%",
        8: "RLAIF by PPO against a reward model, beside DPO (the NeurIPS appendix)",
        9: "Table 1: DPO on pairs sampled from each base family",
        10: "Teacher strength x critic strength: RLAIF minus strong-teacher SFT (win-rate points)",
        11: "Beyond the paper: RLAIF on pairs against the strong teacher's completion (strong critic)",
        12: "Beyond the paper: best-of-n with the strong critic, no training",
        13: "Beyond the paper: iterated DPO, fresh pairs each round (strong critic)",
        14: "Beyond the paper: SFT on critic-filtered own samples (rejection sampling)",
    ]

    /// The sweep as a matrix per family: rows teachers (weak to strong), columns critics (noisy to
    /// sharp), value = win rate of SFT 10% + RLAIF minus SFT on the strong teacher's 100%.
    public func sweepMatrix(family: String) -> [[Double?]] {
        let baseline = cell(Arm(teacher: "strong", sftFraction: 1, critic: nil), family)?.mean
        return Arm.sweepTeachers.map { t in
            Arm.sweepCritics.map { c in
                guard let b = baseline, let v = cell(Arm(teacher: t, sftFraction: 0.1, critic: c), family)?.mean else { return nil }
                return v - b
            }
        }
    }

    func sweepMarkdown() -> String {
        var s = "## \(Report.titles[10]!)\n\nPositive cells: RLAIF beats SFT on the strong teacher. Strong judge.\n\n"
        for family in preset.families.map(\.name) {
            s += "### \(family)\n\n| teacher \\ critic | " + Arm.sweepCritics.joined(separator: " | ") + " |\n"
            s += "|---|" + Arm.sweepCritics.map { _ in "---|" }.joined() + "\n"
            for (t, row) in zip(Arm.sweepTeachers, sweepMatrix(family: family)) {
                s += "| \(t) | " + row.map { $0.map { String(format: "%+.1f", $0) } ?? "-" }.joined(separator: " | ") + " |\n"
            }
            s += "\n"
        }
        return s
    }

    public func sweepChart() -> String {
        HeatMap(title: Report.titles[10]!, rows: Arm.sweepTeachers.map { "teacher: \($0)" }, columns: Arm.sweepCritics.map { "critic: \($0)" },
                panels: preset.families.map { ($0.name, sweepMatrix(family: $0.name)) }).svg()
    }

    /// One figure as Markdown: win rates under each judge the preset reads with, exact match.
    public func markdown(figure n: Int) -> String {
        if n == 10 { return sweepMarkdown() }
        let arms = Arm.figure(n, families: preset.families.map(\.name)), judge = Arm.judge(forFigure: n)
        let seeds = Set(results.map(\.seed)).count
        var s = "## \(Report.titles[n] ?? "Figure \(n)")\n\n"
        s += "Win rate (%) against the reference teacher's completions on \(preset.evalPrompts) held-out \(preset.evaluationSet.rawValue) prompts, "
        s += seeds > 1 ? "mean ± 95% CI over \(seeds) seeds (preset \(preset.name)).\n\n" : "± 1 standard error, one seed (preset \(preset.name)).\n\n"
        let paperJudge = Arm.paperJudge(forFigure: n)
        let tables = [(judge, "a judge model trained apart from every critic"), ("length", "a judge model trained on length-loving labels"),
                      (paperJudge, "the critic's own model, as in the paper"), ("truth", "the ground truth")]
        for (name, what) in tables where preset.judges.contains(name) {
            s += table(arms, judge: name, title: "Judge: \(name) (\(what))") + "\n"
        }
        s += exactTable(arms) + pairedMarkdown(figure: n)
        if n == 3 { s += flatteningMarkdown() }
        return s
    }

    /// Where each family's Figure 3 curve flattens: the smallest share of the weak teacher's data
    /// whose mean win rate has covered 90% of the rise from the base model (0%) to SFT on all of it
    /// (100%), per family and judge (the headline judge and the truth).
    public func flatteningShares() -> [(family: String, judge: String, share: Int?, from: Double, to: Double)] {
        var out: [(family: String, judge: String, share: Int?, from: Double, to: Double)] = []
        let arms = Arm.figure3.sorted { $0.sftFraction < $1.sftFraction }
        for family in preset.families.map(\.name) {
            for judge in [Arm.judge(forFigure: 3), "truth"] where preset.judges.contains(judge) {
                let means = arms.map { cell($0, family, judge: judge)?.mean }
                guard let first = means.first ?? nil, let last = means.last ?? nil else { continue }
                let target = first + 0.9 * (last - first)
                let index = means.indices.first { i in means[i].map { last >= first ? $0 >= target : $0 <= target } ?? false }
                out.append((family, judge, index.map { Int((arms[$0].sftFraction * 100).rounded()) }, first, last))
            }
        }
        return out
    }

    func flatteningMarkdown() -> String {
        let rows = flatteningShares()
        guard !rows.isEmpty else { return "" }
        var s = "\n### Where the curve flattens\n\nThe smallest share of the weak teacher's data whose mean win rate covers 90% of the rise "
        s += "from the base model (0%) to SFT on all of it (100%):\n\n"
        for r in rows {
            s += String(format: "- %@, %@ judge: %@ (%.1f at 0%%, %.1f at 100%%)\n", r.family, r.judge,
                        r.share.map { "\($0)%" } ?? "not reached", r.from, r.to)
        }
        return s + "\n"
    }

    /// Figure 3 as a line chart: win rate against the share of prompts used for SFT.
    public func scalingChart() -> String {
        let arms = Arm.figure3
        var series: [LineChart.Series] = []
        for family in preset.families.map(\.name) {
            for judge in ["independent", "length"] {
                let points = arms.compactMap { arm in cell(arm, family, judge: judge).map { (x: arm.sftFraction * 100, y: $0.mean) } }
                series.append(LineChart.Series(name: "\(family), \(judge) judge", points: points, dashed: judge == "length"))
            }
        }
        return LineChart(title: Report.titles[3]!, xLabel: "% of prompts used for SFT", yLabel: "win rate vs reference (%)", series: series).svg()
    }

    /// The figure's chart: grouped bars (Figure 3: a scaling curve).
    public func chart(figure n: Int) -> String {
        n == 3 ? scalingChart() : n == 10 ? sweepChart()
            : chart(arms: Arm.figure(n, families: preset.families.map(\.name)), title: Report.titles[n] ?? "Figure \(n)",
                    judge: Arm.judge(forFigure: n))
    }

    public func chart(arms: [Arm], title: String, judge: String = "independent") -> String {
        let families = preset.families.map(\.name)
        let series = arms.map { arm -> (name: String, values: [Double], errors: [Double]?) in
            let cells = families.map { cell(arm, $0, judge: judge) }
            return (arm.label, cells.map { $0?.mean ?? 0 }, cells.map { $0?.error ?? 0 })
        }
        return BarChart(title: title, yLabel: "win rate vs reference (%)", categories: families, series: series).svg()
    }

    /// results.json: the preset, every arm result, the figures' cells, the paired differences,
    /// provenance, and the flat contract of issue #12 ("teachers", "critics", "judges", "arms":
    /// one entry per figure an arm appears in, judge, family and seed, with its per-prompt scores).
    public func json(arms: [Arm], figures: [Int]) throws -> Data {
        struct Summary: Codable { var arm: String; var family: String; var judge: String; var cell: Cell }
        struct Document: Codable {
            var preset: Preset; var results: [ArmResult]; var summary: [Summary]; var paired: [PairedDifference]
            var provenance: ProvenanceSummary?
            var teachers: [TeacherEntry]; var critics: [JudgeEntry]; var judges: [JudgeEntry]; var arms: [ArmEntry]
        }
        var summary: [Summary] = []
        for arm in arms {
            for f in preset.families.map(\.name) {
                for judge in preset.judges {
                    if let c = cell(arm, f, judge: judge) { summary.append(Summary(arm: arm.id, family: f, judge: judge, cell: c)) }
                }
            }
        }
        let headline = Arm.judge(forFigure: 2)
        let teachers = (world?.teachers ?? []).map {
            TeacherEntry(name: $0.teacher, validationExact: $0.exactMatch, validationWinRate: $0.winRate[headline],
                         validationWinRateByJudge: $0.winRate)
        }
        func agreement(_ name: String) -> JudgeEntry {
            JudgeEntry(name: name, validationAgreement: name == "truth" ? 1 : world?.judges.first { $0.judge == name }?.accuracy)
        }
        var criticNames: [String] = []
        for arm in arms { if let c = arm.critic, !criticNames.contains(c) { criticNames.append(c) } }
        var entries: [ArmEntry] = []
        for n in figures {
            let inFigure = Set(Arm.figure(n, families: preset.families.map(\.name)))
            for r in results where inFigure.contains(r.arm) {
                for judge in preset.judges {
                    guard let winRate = r.evaluation.winRate[judge] else { continue }
                    let dpo = r.rlaif?.dpoLastEpoch.map {
                        DPOEntry(finalLoss: $0["loss"], rewardMargin: $0["rewards/margins"], rewardAccuracy: $0["rewards/accuracies"],
                                 policyPreferredShare: r.rlaif!.policyPreferredShare)
                    }
                    entries.append(ArmEntry(figure: n, arm: r.arm.id, family: r.family, seed: r.seed, judge: judge, winRate: winRate,
                                            se: r.evaluation.standardError[judge], perPrompt: r.evaluation.perPromptScores?[judge], dpo: dpo))
                }
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return try encoder.encode(Document(preset: preset, results: results, summary: summary, paired: pairedDifferences(),
                                          provenance: manifest.map(ProvenanceSummary.init), teachers: teachers,
                                          critics: criticNames.map(agreement), judges: preset.judges.map(agreement), arms: entries))
    }

    struct TeacherEntry: Codable {
        var name: String
        var validationExact: Double
        /// Against the reference teacher under the headline judge (nil when it was not measured).
        var validationWinRate: Double?
        var validationWinRateByJudge: [String: Double]
        enum CodingKeys: String, CodingKey {
            case name, validationExact = "validation_exact", validationWinRate = "validation_win_rate"
            case validationWinRateByJudge = "validation_win_rate_by_judge"
        }
    }

    struct JudgeEntry: Codable {
        var name: String
        var validationAgreement: Double?
        enum CodingKeys: String, CodingKey { case name, validationAgreement = "validation_agreement" }
    }

    struct DPOEntry: Codable {
        var finalLoss: Double?
        var rewardMargin: Double?
        var rewardAccuracy: Double?
        var policyPreferredShare: Double
        enum CodingKeys: String, CodingKey {
            case finalLoss = "final_loss", rewardMargin = "reward_margin", rewardAccuracy = "reward_accuracy"
            case policyPreferredShare = "policy_preferred_share"
        }
    }

    struct ArmEntry: Codable {
        var figure: Int
        var arm: String
        var family: String
        var seed: UInt64
        var judge: String
        var winRate: Double
        var se: Double?
        var perPrompt: [Double]?
        var dpo: DPOEntry?
        enum CodingKeys: String, CodingKey { case figure, arm, family, seed, judge, winRate = "win_rate", se, perPrompt = "per_prompt", dpo }
    }
}
