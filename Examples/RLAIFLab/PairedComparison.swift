import Foundation

/// A difference between two arms that carries a figure's claim, read as `plus` minus `minus`.
public struct Contrast: Codable, Equatable, Sendable {
    public var figure: Int
    public var name: String
    public var plus: Arm
    public var minus: Arm

    public init(figure: Int, name: String, plus: Arm, minus: Arm) {
        self.figure = figure
        self.name = name
        self.plus = plus
        self.minus = minus
    }

    /// Every contrast the reports test, in one place. Each names arms of its figure's arm list
    /// (`Arm.figure(_:)`; a test checks it), so a change of a figure's arms shows up here.
    public static let all: [Contrast] = {
        func sft(_ t: String, _ f: Double) -> Arm { Arm(teacher: t, sftFraction: f, critic: nil) }
        func rlaif(_ t: String, _ c: String, _ method: String? = nil) -> Arm { Arm(teacher: t, sftFraction: 0.1, critic: c, method: method) }
        var out: [Contrast] = []
        // Figure 2: does RLAIF add to SFT on the weak teacher's 10%, does it reach SFT on the strong
        // teacher, and how much does more weak-teacher data give?
        out += [Contrast(figure: 2, name: "RLAIF − SFT weak 10%", plus: rlaif("weak", "strong"), minus: sft("weak", 0.1)),
                Contrast(figure: 2, name: "SFT strong 100% − RLAIF", plus: sft("strong", 1), minus: rlaif("weak", "strong")),
                Contrast(figure: 2, name: "SFT weak 100% − SFT weak 10%", plus: sft("weak", 1), minus: sft("weak", 0.1))]
        // Figure 4: the weak teacher's 10% + RLAIF with the Claude-like critic against SFT on the
        // Claude-like teacher (the paper's Figure 4).
        out += [Contrast(figure: 4, name: "RLAIF (claude critic) − SFT weak 10%", plus: rlaif("weak", "claude"), minus: sft("weak", 0.1)),
                Contrast(figure: 4, name: "SFT claude 100% − RLAIF (claude critic)", plus: sft("claude", 1), minus: rlaif("weak", "claude"))]
        // Figures 5 (strong teacher) and 7 (Claude-like teacher and critic): does RLAIF add to SFT on
        // the teacher's own 10%, and does it reach SFT on all of it?
        for (figure, teacher) in [(5, "strong"), (7, "claude")] {
            let critic = teacher
            out += [Contrast(figure: figure, name: "RLAIF − SFT \(teacher) 10%", plus: rlaif(teacher, critic), minus: sft(teacher, 0.1)),
                    Contrast(figure: figure, name: "SFT \(teacher) 100% − RLAIF", plus: sft(teacher, 1), minus: rlaif(teacher, critic)),
                    Contrast(figure: figure, name: "SFT \(teacher) 100% − SFT \(teacher) 10%", plus: sft(teacher, 1), minus: sft(teacher, 0.1))]
        }
        // "Figure 8": PPO beside DPO.
        out += [Contrast(figure: 8, name: "RLAIF by PPO − RLAIF by DPO", plus: rlaif("weak", "strong", "ppo"), minus: rlaif("weak", "strong")),
                Contrast(figure: 8, name: "RLAIF by PPO − SFT weak 10%", plus: rlaif("weak", "strong", "ppo"), minus: sft("weak", 0.1))]
        // Beyond the paper (Figures 11-14), each against the usual RLAIF arm or SFT weak 10%.
        let dpo = rlaif("weak", "strong"), vsStrong = Arm(teacher: "weak", sftFraction: 0.1, critic: "strong", pairsAgainst: "strong")
        out += [Contrast(figure: 11, name: "pairs vs strong teacher − pairs vs weak teacher", plus: vsStrong, minus: dpo),
                Contrast(figure: 11, name: "SFT strong 100% − RLAIF (pairs vs strong teacher)", plus: sft("strong", 1), minus: vsStrong)]
        out += Arm.bestOfNSizes.flatMap { n in
            [Contrast(figure: 12, name: "best-of-\(n) − SFT weak 10%", plus: rlaif("weak", "strong", "best-of-\(n)"), minus: sft("weak", 0.1)),
             Contrast(figure: 12, name: "best-of-\(n) − RLAIF", plus: rlaif("weak", "strong", "best-of-\(n)"), minus: dpo)]
        }
        let lastRound = rlaif("weak", "strong", "iterated-dpo-\(Arm.iteratedRounds)")
        out += [Contrast(figure: 13, name: "round \(Arm.iteratedRounds) − round 1", plus: lastRound, minus: rlaif("weak", "strong", "iterated-dpo-1")),
                Contrast(figure: 13, name: "round \(Arm.iteratedRounds) − RLAIF (one round, all prompts)", plus: lastRound, minus: dpo)]
        let rejection = rlaif("weak", "strong", "rejection-sampling")
        out += [Contrast(figure: 14, name: "rejection sampling − SFT weak 10%", plus: rejection, minus: sft("weak", 0.1)),
                Contrast(figure: 14, name: "rejection sampling − RLAIF", plus: rejection, minus: dpo)]
        return out
    }()

    public static func figure(_ n: Int) -> [Contrast] { all.filter { $0.figure == n } }
}

/// One contrast for one family and judge, in win-rate points (judge score × 100).
public struct PairedDifference: Codable, Equatable, Sendable {
    public struct Seed: Codable, Equatable, Sendable {
        public var seed: UInt64
        /// Mean over the prompts of (plus − minus) and its paired standard error.
        public var mean: Double
        public var standardError: Double
        enum CodingKeys: String, CodingKey { case seed, mean, standardError = "se" }
    }

    public var figure: Int
    public var comparison: String
    public var family: String
    public var judge: String
    public var meanDiff: Double
    public var ciLow: Double
    public var ciHigh: Double
    public var nSeeds: Int
    public var nPrompts: Int
    /// Standard error of `meanDiff`: across seeds of the per-seed means, or (one seed) paired over prompts.
    public var standardError: Double
    public var degreesOfFreedom: Int
    /// "seeds" (t over the per-seed means) or "prompts" (one seed: paired t over prompts).
    public var intervalOver: String
    /// Smallest true difference detected with 80% power at 5% two-sided (`minimumDetectableEffect`).
    public var minimumDetectable: Double
    public var perSeed: [Seed]

    enum CodingKeys: String, CodingKey {
        case figure, comparison, family, judge, meanDiff = "mean_diff", ciLow = "ci_low", ciHigh = "ci_high", nSeeds = "n_seeds"
        case nPrompts = "n_prompts", standardError = "se", degreesOfFreedom = "df", intervalOver = "interval_over"
        case minimumDetectable = "min_detectable_80", perSeed = "per_seed"
    }

    /// The contrast from `results`: within each seed the per-prompt differences of the two arms (same
    /// prompts, same judge); across seeds the mean of the per-seed means with a 95% t-interval on
    /// seeds − 1 df, which includes seed-to-seed and base-to-base variation; with one seed the paired
    /// t-interval over prompts, prompts that repeat an instruction counted as one cluster (clusters − 1
    /// df). Nil when no seed has both arms' per-prompt scores.
    public static func compute(_ contrast: Contrast, family: String, judge: String, results: [ArmResult]) -> PairedDifference? {
        func evaluation(_ arm: Arm, _ seed: UInt64) -> Evaluation? {
            results.first { $0.arm == arm && $0.family == family && $0.seed == seed }?.evaluation
        }
        let seeds = Set(results.filter { $0.family == family }.map(\.seed)).sorted()
        var perSeed: [Seed] = [], prompts = 0, clusterDF = 0
        for seed in seeds {
            guard let p = evaluation(contrast.plus, seed), let m = evaluation(contrast.minus, seed),
                  let plus = p.perPromptScores?[judge], let minus = m.perPromptScores?[judge], plus.count == minus.count,
                  plus.count >= 2 else { continue }
            // Prompts repeating an instruction are one cluster (both arms saw the same prompts).
            let clusters = p.promptClusters.flatMap { $0.count == plus.count ? $0 : nil } ?? Array(plus.indices)
            let s = ClusteredSummary(zip(plus, minus).map { 100 * ($0 - $1) }, cluster: clusters)
            perSeed.append(Seed(seed: seed, mean: s.mean, standardError: s.standardError))
            prompts = plus.count
            clusterDF = s.degreesOfFreedom
        }
        guard !perSeed.isEmpty else { return nil }
        let mean: Double, se: Double, df: Int
        if perSeed.count > 1 {
            let s = SampleSummary(perSeed.map(\.mean))
            (mean, se, df) = (s.mean, s.standardError, perSeed.count - 1)
        } else {
            (mean, se, df) = (perSeed[0].mean, perSeed[0].standardError, clusterDF)
        }
        guard df >= 1 else { return nil }
        let half = StudentT.twoSided(df: Double(df)) * se
        return PairedDifference(figure: contrast.figure, comparison: contrast.name, family: family, judge: judge, meanDiff: mean,
                                ciLow: mean - half, ciHigh: mean + half, nSeeds: perSeed.count, nPrompts: prompts, standardError: se,
                                degreesOfFreedom: df, intervalOver: perSeed.count > 1 ? "seeds" : "prompts",
                                minimumDetectable: minimumDetectableEffect(standardError: se, df: Double(df)), perSeed: perSeed)
    }
}

extension Report {
    /// Judges with per-prompt scores in the results, the figure's own first.
    func pairedJudges(first: String) -> [String] {
        let all = Set(results.flatMap { $0.evaluation.perPromptScores.map { Array($0.keys) } ?? [] })
        return (all.contains(first) ? [first] : []) + all.subtracting([first]).sorted()
    }

    /// Every contrast of `figures` (default: all) for every family and judge the results allow.
    public func pairedDifferences(figures: [Int]? = nil) -> [PairedDifference] {
        let contrasts = figures.map { fs in Contrast.all.filter { fs.contains($0.figure) } } ?? Contrast.all
        return contrasts.flatMap { c in
            preset.families.map(\.name).flatMap { family in
                pairedJudges(first: Arm.judge(forFigure: c.figure)).compactMap {
                    PairedDifference.compute(c, family: family, judge: $0, results: results)
                }
            }
        }
    }

    /// The figure's "Paired differences" table and its sentence on the smallest detectable effect
    /// ("" for a figure without contrasts).
    public func pairedMarkdown(figure n: Int) -> String {
        guard !Contrast.figure(n).isEmpty else { return "" }
        let rows = pairedDifferences(figures: [n])
        var s = "\n### Paired differences (win-rate points)\n\n"
        guard !rows.isEmpty else {
            return s + "No per-prompt scores in these results (arm results cached before they were kept): rerun into a fresh directory.\n"
        }
        let seeds = rows.map(\.nSeeds).max() ?? 0, prompts = rows.map(\.nPrompts).max() ?? 0
        s += "Each prompt's score difference between the two arms under the same judge (same \(prompts) prompts). "
        s += seeds > 1
            ? "Mean over \(seeds) seeds of the per-seed mean difference, 95% t-interval with \(seeds - 1) df over seeds: it includes seed-to-seed and base-to-base variation (each seed pretrains its own base).\n\n"
            : "One seed: 95% paired t-interval over prompts, prompts that repeat an instruction taken as one cluster (cluster-robust standard error, \(rows.map(\.degreesOfFreedom).max() ?? 0) df), so it covers prompt-to-prompt variation only, not seed-to-seed or base-to-base variation.\n\n"
        s += "| comparison | base model | judge | difference | 95% CI | SE | seeds | detectable (80% power) |\n|---|---|---|---|---|---|---|---|\n"
        for r in rows {
            s += String(format: "| %@ | %@ | %@ | %+.1f | [%+.1f, %+.1f] | %.1f | %d | %.1f |\n", r.comparison, r.family, r.judge, r.meanDiff,
                        r.ciLow, r.ciHigh, r.standardError, r.nSeeds, r.minimumDetectable)
        }
        let judge = Arm.judge(forFigure: n)
        let own = rows.filter { $0.judge == judge }.map(\.minimumDetectable)
        if let lo = own.min(), let hi = own.max() {
            let df = rows.first { $0.judge == judge }!.degreesOfFreedom
            let factor = StudentT.quantile(0.975, df: Double(df)) + StudentT.quantile(0.8, df: Double(df))
            s += String(format: "\nSmallest effect this design can detect: with %d seed%@ × %d prompts, a true difference of %.1f–%.1f "
                        + "win-rate points under the %@ judge (over the comparisons and families above) is detected with 80%% power "
                        + "at 5%% two-sided; formula: (t_{df, 0.975} + t_{df, 0.80}) × SE = %.2f × SE at %d df (the normal-theory "
                        + "2.80 × SE with Student-t quantiles, an approximation to the noncentral t).\n",
                        seeds, seeds == 1 ? "" : "s", prompts, lo, hi, judge, factor, df)
        }
        return s
    }
}
