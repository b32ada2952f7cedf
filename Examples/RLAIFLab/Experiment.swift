import Alignment
import Foundation
import LanguageModels

public enum EvaluationSet: String, Codable, CaseIterable, Sendable { case test, validation }

/// A base-model family: size, amount of pretraining and how much of its text shows the skills.
public struct Family: Codable, Equatable, Sendable {
    public var name: String
    public var dModel: Int
    public var layers: Int
    public var heads: Int
    public var pretrainSteps: Int
    /// Share of pretraining documents in which a skill occurs (the rest teach only the format):
    /// what the base "knows" before any teacher is imitated.
    public var skillShare: Double = 0

    public init(name: String, dModel: Int, layers: Int, heads: Int, pretrainSteps: Int, skillShare: Double = 0) {
        self.name = name
        self.dModel = dModel
        self.layers = layers
        self.heads = heads
        self.pretrainSteps = pretrainSteps
        self.skillShare = skillShare
    }
}

/// Everything an experiment run depends on; recorded in results.json.
public struct Preset: Codable, Equatable, Sendable {
    public var name: String
    public var families: [Family]
    public var seeds: [UInt64]
    /// Prompts shared by all arms: SFT uses the first `sftFraction`, RLAIF the rest.
    public var promptPool: Int
    public var evalPrompts: Int
    /// Which held-out prompts evaluation samples: the test prompts (the reported numbers) or the
    /// validation prompts (for choosing shared hyperparameters without looking at the test ones).
    public var evaluationSet = EvaluationSet.test
    public var sftFraction = 0.1
    public var contextLength = 48
    public var batchSize = 32
    public var pretrainLearningRate: Float = 3e-3
    /// SFT: AdamW, this many optimizer steps whatever the data size (epochs follow from it)...
    public var sftSteps = 800
    /// ...or, when set, this many epochs over the arm's data, so steps grow with the data as in the
    /// paper's code (a 10% arm then trains a tenth as long as a 100% arm).
    public var sftEpochs: Int? = nil
    public var sftLearningRate: Float = 3e-3
    /// DPO as in the paper's code (batch 8, RMSprop, clip at norm 10); learning rate, β and epochs
    /// chosen once for every arm on validation prompts by the preregistered rule
    /// (docs/PREREGISTRATION.md, docs/dpo-selection.md): 1e-5, 0.2, 2 epochs.
    public var dpoBeta: Float = 0.2
    public var dpoEpochs = 2
    public var dpoBatchSize = 8
    public var dpoLearningRate: Float = 1e-5
    /// New tokens per sample; a sample whose prompt leaves less room stops at the context (the
    /// longest prompt, "count a in abcdef", is 37 tokens of the 48).
    public var maxNewTokens = 12
    /// RLAIF by PPO: reward model (AdamW) then PPO (TRL-style defaults scaled to the toy).
    public var rewardModelEpochs = 2
    public var rewardModelLearningRate: Float = 3e-4
    public var ppoRolloutBatch = 32
    public var ppoLearningRate: Float = 1e-5
    public var ppoKLCoef: Float = 0.05
    /// What the policy's sample is compared with in each feedback pair: "teacher" (the teacher's
    /// completion, as the paper's code does) or "policy" (a second policy sample).
    public var pairsAgainst = "teacher"
    /// Judges every evaluation is read with ("truth": the ground truth); the figures' own judge is
    /// `Arm.judge(forFigure:)`.
    public var judges = ["independent", "length", "strong", "claude", "truth"]
    /// How each critic and judge is made.
    public var judgeSpecs = JudgeSpec.all
    /// Judges' reward-model training (AdamW, cosine).
    public var judgeLearningRate: Float = 1e-3
    /// Figures `sft-vs-rlaif` runs without --figure.
    public var figures = [1, 2, 3, 4, 5, 7, 8, 9]

    /// The settings a preset must name; every other field keeps its default and can be set after.
    public init(name: String, families: [Family], seeds: [UInt64], promptPool: Int, evalPrompts: Int, sftSteps: Int = 800,
                figures: [Int] = [1, 2, 3, 4, 5, 7, 8, 9]) {
        self.name = name
        self.families = families
        self.seeds = seeds
        self.promptPool = promptPool
        self.evalPrompts = evalPrompts
        self.sftSteps = sftSteps
        self.figures = figures
    }

    /// A smoke test under two minutes: one small family, miniature judges, two of them read.
    public static let quick: Preset = {
        var p = Preset(name: "quick", families: [Family(name: "small", dModel: 64, layers: 2, heads: 4, pretrainSteps: 600, skillShare: 0.5)],
                       seeds: [0], promptPool: 3000, evalPrompts: 150, sftSteps: 600, figures: [2, 5])
        p.judgeSpecs = JudgeSpec.all.map(\.miniature)
        p.judges = ["independent", "truth"]
        return p
    }()
    public static let standard = Preset(name: "default",
                                        families: [Family(name: "base-A", dModel: 64, layers: 2, heads: 4, pretrainSteps: 2000, skillShare: 0.5),
                                                   Family(name: "base-B", dModel: 48, layers: 2, heads: 2, pretrainSteps: 600, skillShare: 0.5)],
                                        seeds: [0], promptPool: 10000, evalPrompts: 200, sftSteps: 1000)
    public static let full = Preset(name: "full",
                                    families: [Family(name: "base-A", dModel: 64, layers: 2, heads: 4, pretrainSteps: 2000, skillShare: 0.5),
                                               Family(name: "base-B", dModel: 48, layers: 2, heads: 2, pretrainSteps: 600, skillShare: 0.5)],
                                    seeds: [0, 1, 2, 3, 4], promptPool: 10000, evalPrompts: 400, sftSteps: 1500,
                                    figures: [1, 2, 3, 4, 5, 7, 8, 9, 10])

    public static func named(_ name: String) -> Preset? { ["quick": quick, "default": standard, "full": full][name] }
}

/// One arm of the comparison, as in the paper's Figures 1, 2 and 5.
public struct Arm: Codable, Equatable, Hashable, Sendable {
    public var teacher: String
    /// Share of the prompt pool used for SFT.
    public var sftFraction: Double
    /// Critic for RLAIF on the remaining prompts (nil: SFT only).
    public var critic: String?
    /// How RLAIF learns from the critic's labels: nil or "dpo" (the paper's main method), or "ppo"
    /// (a reward model trained on the labels, then PPO, as in the NeurIPS appendix).
    public var method: String?
    /// Table 1: the base family whose SFT model samples the preference pairs (nil: the policy's own).
    public var pairsFrom: String?
    /// Figure 11: the teacher whose completion the policy's sample is paired against (nil: the arm's own teacher).
    public var pairsAgainst: String?

    public init(teacher: String, sftFraction: Double, critic: String?, method: String? = nil, pairsFrom: String? = nil,
                pairsAgainst: String? = nil) {
        self.teacher = teacher
        self.sftFraction = sftFraction
        self.critic = critic
        self.method = method
        self.pairsFrom = pairsFrom
        self.pairsAgainst = pairsAgainst
    }

    public var usesPPO: Bool { method == "ppo" }
    /// Figure 12: "best-of-N", the critic's pick of N samples per evaluation prompt (no training).
    public var bestOfN: Int? { method.flatMap { $0.hasPrefix("best-of-") ? Int($0.dropFirst(8)) : nil } }
    /// Figure 13: "iterated-dpo-R", round R of iterated DPO.
    public var iteratedRound: Int? { method.flatMap { $0.hasPrefix("iterated-dpo-") ? Int($0.dropFirst(13)) : nil } }
    /// Figure 14: SFT continued on the critic's pick of own samples and the teacher's completion.
    public var usesRejectionSampling: Bool { method == "rejection-sampling" }

    public var id: String {
        let pct = Int((sftFraction * 100).rounded())
        guard let critic else { return "sft-\(teacher)-\(pct)" }
        if let n = bestOfN { return "sft-\(teacher)-\(pct)+best-of-\(n)-\(critic)" }
        if let r = iteratedRound { return "sft-\(teacher)-\(pct)+rlaif-\(critic)-round\(r)" }
        if usesRejectionSampling { return "sft-\(teacher)-\(pct)+rejection-sampling-\(critic)" }
        let source = pairsFrom.map { "-pairs-\($0)" } ?? ""
        let against = pairsAgainst.map { "-vs-\($0)" } ?? ""
        return "sft-\(teacher)-\(pct)+rlaif-\(critic)\(usesPPO ? "-ppo" : "")\(against)\(source)"
    }

    public var label: String {
        if sftFraction == 0 && critic == nil { return "base model (no SFT)" }
        let pct = Int((sftFraction * 100).rounded())
        guard let critic else { return "SFT \(teacher) \(pct)%" }
        if let n = bestOfN { return "SFT \(teacher) \(pct)% + best-of-\(n) (\(critic) critic)" }
        if let r = iteratedRound { return "SFT \(teacher) \(pct)% + iterated DPO, round \(r) (\(critic) critic)" }
        if usesRejectionSampling { return "SFT \(teacher) \(pct)% + SFT on critic-filtered samples (\(critic) critic)" }
        let source = pairsFrom.map { ", pairs from \($0)" } ?? ""
        let against = pairsAgainst.map { ", pairs against the \($0) teacher" } ?? ""
        return "SFT \(teacher) \(pct)% + RLAIF\(usesPPO ? " by PPO" : "") (\(critic) critic\(against)\(source))"
    }

    static func sft(_ teacher: String, _ fraction: Double) -> Arm { Arm(teacher: teacher, sftFraction: fraction, critic: nil) }
    static func rlaif(_ teacher: String, _ critic: String) -> Arm { Arm(teacher: teacher, sftFraction: 0.1, critic: critic) }

    /// Figure 1: SFT on each teacher, with and without RLAIF from the strong critic.
    public static let figure1: [Arm] = [sft("weak", 0.1), rlaif("weak", "strong"), sft("strong", 1), rlaif("strong", "strong")]
    /// Figure 2 (main): weak-teacher SFT on 100% and 10%, 10% + RLAIF, strong-teacher SFT on 100%.
    public static let figure2: [Arm] = [sft("weak", 1), sft("weak", 0.1), rlaif("weak", "strong"), sft("strong", 1)]
    /// Figure 3: SFT data scaling on the weak teacher (0% is the base model).
    public static let figure3: [Arm] = [0, 0.05, 0.1, 0.25, 0.5, 1].map { sft("weak", $0) }
    /// Figure 4: the weak teacher's 10% + RLAIF with the Claude-like critic, against SFT on the
    /// Claude-like teacher's completions (is a Claude-like teacher as good as its feedback?).
    public static let figure4: [Arm] = [sft("weak", 0.1), rlaif("weak", "claude"), sft("claude", 1)]
    /// Figure 5: the strong teacher on 10% + RLAIF versus on 100%.
    public static let figure5: [Arm] = [sft("strong", 0.1), rlaif("strong", "strong"), sft("strong", 1)]
    /// Figure 7: Figure 5 with the Claude-like model as teacher, critic and judge.
    public static let figure7: [Arm] = [sft("claude", 0.1), rlaif("claude", "claude"), sft("claude", 1)]
    /// "Figure 8" here: RLAIF by PPO against a reward model beside DPO (the NeurIPS appendix).
    public static let ppoComparison: [Arm] = [sft("weak", 0.1), rlaif("weak", "strong"),
                                              Arm(teacher: "weak", sftFraction: 0.1, critic: "strong", method: "ppo"), sft("strong", 1)]

    /// Table 1 ("figure 9" on the command line): DPO of each family's weak-teacher SFT model on pairs
    /// sampled from each family's SFT model.
    public static func table1(families: [String]) -> [Arm] {
        [sft("weak", 0.1)] + families.map { Arm(teacher: "weak", sftFraction: 0.1, critic: "strong", pairsFrom: $0) }
    }

    /// Beyond the paper ("figure 10"): teacher strength x critic. Teachers from weak to strong,
    /// critics from the small model through the length-biased one to the strong one; each cell is
    /// SFT on the teacher's 10% + RLAIF with that critic, compared with SFT on the strong teacher's 100%.
    public static let sweepTeachers = ["weak", "reference", "strong"]
    public static let sweepCritics = ["small", "length", "claude", "strong"]
    public static let sweep: [Arm] = [sft("strong", 1)] + sweepTeachers.map { sft($0, 0.1) }
        + sweepTeachers.flatMap { t in sweepCritics.map { c in rlaif(t, c) } }

    /// Beyond the paper, each from SFT on the weak teacher's 10% with the strong critic, beside the usual RLAIF arm:
    /// "figure 11": pairs against the strong teacher's completion (what the critic sees, apart from what SFT imitates).
    public static let strongCompletionPairs: [Arm] = [sft("weak", 0.1), rlaif("weak", "strong"),
                                                      Arm(teacher: "weak", sftFraction: 0.1, critic: "strong", pairsAgainst: "strong"), sft("strong", 1)]
    /// "Figure 12": best-of-n with the critic at evaluation, a reference without training.
    public static let bestOfNSizes = [4, 16]
    public static let bestOfN: [Arm] = [sft("weak", 0.1)]
        + bestOfNSizes.map { Arm(teacher: "weak", sftFraction: 0.1, critic: "strong", method: "best-of-\($0)") } + [rlaif("weak", "strong")]
    /// "Figure 13": iterated DPO, each round on fresh pairs from the current policy on its own third of the RLAIF prompts.
    public static let iteratedRounds = 3
    public static let iteratedDPO: [Arm] = [sft("weak", 0.1)]
        + (1...iteratedRounds).map { Arm(teacher: "weak", sftFraction: 0.1, critic: "strong", method: "iterated-dpo-\($0)") } + [rlaif("weak", "strong")]
    /// "Figure 14": SFT on the critic's pick among own samples and the teacher's completion (rejection sampling).
    public static let rejectionSamples = 4
    public static let rejectionSampling: [Arm] = [sft("weak", 0.1), Arm(teacher: "weak", sftFraction: 0.1, critic: "strong", method: "rejection-sampling"),
                                                  rlaif("weak", "strong")]

    public static func figure(_ n: Int, families: [String] = []) -> [Arm] {
        if n == 9 { return table1(families: families) }
        return [1: figure1, 2: figure2, 3: figure3, 4: figure4, 5: figure5, 7: figure7, 8: ppoComparison, 10: sweep,
                11: strongCompletionPairs, 12: bestOfN, 13: iteratedDPO, 14: rejectionSampling][n] ?? []
    }
    /// The judge a figure is read with: the independent judge, which is neither critic.
    public static func judge(forFigure n: Int) -> String { "independent" }
    /// The judge the paper read the figure with (the critic's own model: GPT-4, or Claude for 4 and 7).
    public static func paperJudge(forFigure n: Int) -> String { n == 4 || n == 7 ? "claude" : "strong" }
}

/// Evaluation of one policy, AlpacaEval-style.
public struct Evaluation: Codable, Equatable, Sendable {
    /// Pairwise win rate (%) against the reference teacher's completions, ties 0.5, per judge.
    public var winRate: [String: Double]
    /// Standard error (%) of each win rate.
    public var standardError: [String: Double]
    public var exactMatch: Double
    public var meanQuality: Double
    /// Exact match per task kind (which skills the policy has).
    public var exactMatchByKind: [String: Double]
    /// Per judge, its score in [0, 1] of each evaluation prompt's output against the reference, in
    /// the order of the evaluation prompts (nil in results cached before these were kept).
    public var perPromptScores: [String: [Double]]?
    /// Per evaluation prompt: whether the output is exactly the answer, and its graded quality.
    public var perPromptExact: [Bool]?
    public var perPromptQuality: [Double]?
    /// Per evaluation prompt, the index of the first prompt with the same instruction: prompts that
    /// repeat an instruction are one cluster for standard errors (nil: every prompt its own).
    public var promptClusters: [Int]?

    public init(winRate: [String: Double], standardError: [String: Double], exactMatch: Double, meanQuality: Double,
                exactMatchByKind: [String: Double], perPromptScores: [String: [Double]]? = nil, perPromptExact: [Bool]? = nil,
                perPromptQuality: [Double]? = nil, promptClusters: [Int]? = nil) {
        self.promptClusters = promptClusters
        self.winRate = winRate
        self.standardError = standardError
        self.exactMatch = exactMatch
        self.meanQuality = meanQuality
        self.exactMatchByKind = exactMatchByKind
        self.perPromptScores = perPromptScores
        self.perPromptExact = perPromptExact
        self.perPromptQuality = perPromptQuality
    }
}

public struct ArmResult: Codable, Equatable, Sendable {
    public var arm: Arm
    public var family: String
    public var seed: UInt64
    public var evaluation: Evaluation
    public var seconds: Double
    /// DPO data: share of pairs where the critic preferred the policy's own sample.
    public var policyPreferredShare: Double?
    /// What the RLAIF step saw and did (nil for SFT-only arms).
    public var rlaif: RLAIFSummary?

    public init(arm: Arm, family: String, seed: UInt64, evaluation: Evaluation, seconds: Double, policyPreferredShare: Double? = nil,
                rlaif: RLAIFSummary? = nil) {
        self.arm = arm
        self.family = family
        self.seed = seed
        self.evaluation = evaluation
        self.seconds = seconds
        self.policyPreferredShare = policyPreferredShare ?? rlaif?.policyPreferredShare
        self.rlaif = rlaif
    }
}

/// The feedback pairs of an RLAIF arm and how far training on them moved the policy.
public struct RLAIFSummary: Codable, Equatable, Sendable {
    public var pairs: Int
    /// Share of pairs where the critic chose the policy's own sample.
    public var policyPreferredShare = 0.0
    /// Share of pairs where the policy's sample is truly better (graded quality).
    public var policyBetterShare = 0.0
    /// Share of the pairs of unequal true quality where the critic chose the better completion.
    public var criticAgreement = 0.0
    /// DPO: mean loss, implicit reward margin and accuracy over the first and the last epoch.
    public var dpoFirstEpoch: [String: Double]?
    public var dpoLastEpoch: [String: Double]?
    /// PPO: the reward model's final training accuracy.
    public var rewardModelAccuracy: Double?

    public init(pairs: Int) { self.pairs = pairs }

    mutating func record(dpoHistory history: [StepLog], stepsPerEpoch: Int) {
        func means(_ logs: ArraySlice<StepLog>) -> [String: Double] {
            var out: [String: Double] = [:]
            for key in ["loss", "rewards/margins", "rewards/accuracies"] {
                out[key] = logs.compactMap { $0.values[key] }.reduce(0, +) / Double(max(logs.count, 1))
            }
            return out
        }
        guard stepsPerEpoch > 0, !history.isEmpty else { return }
        dpoFirstEpoch = means(history.prefix(stepsPerEpoch))
        dpoLastEpoch = means(history.suffix(stepsPerEpoch))
    }
}
