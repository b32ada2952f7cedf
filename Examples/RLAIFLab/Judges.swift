import Alignment
import Foundation
import LanguageModels

/// Something that compares two completions of a prompt: a trained judge model, or the ground truth.
public protocol Judge {
    var name: String { get }
    /// P(first ≻ second) for each prompt.
    func preferences(_ tasks: [Instruction], _ first: [String], _ second: [String]) -> [Double]
    /// A score per (prompt, completion) whose order is the judge's preference (best-of-n and
    /// rejection sampling pick its argmax).
    func scores(_ tasks: [Instruction], _ completions: [String]) -> [Double]
}

extension Judge {
    /// For a Bradley-Terry judge, P(completion ≻ empty answer) orders completions as its reward does.
    public func scores(_ tasks: [Instruction], _ completions: [String]) -> [Double] {
        preferences(tasks, completions, Array(repeating: "", count: completions.count))
    }
}

/// The ground truth as a judge (careful annotators): the reading a report gives beside the models'.
public struct TruthJudge: Judge {
    public let name = "truth"
    public init() {}
    public func preferences(_ tasks: [Instruction], _ first: [String], _ second: [String]) -> [Double] {
        zip(tasks, zip(first, second)).map { Annotator.careful.preference($0, $1.0, $1.1) }
    }
    public func scores(_ tasks: [Instruction], _ completions: [String]) -> [Double] { zip(tasks, completions).map { $0.quality($1) } }
}

/// How a critic or judge model is made: a base pretrained on the world's text (as a GPT-4 is
/// pretrained), then trained as a Bradley-Terry reward model on pairs of candidate completions
/// labelled by annotators. Its mistakes are a model's: what its size and data did not teach it.
public struct JudgeSpec: Codable, Equatable, Sendable {
    public var name: String
    public var dModel: Int
    public var layers: Int
    public var heads: Int
    public var pretrainSteps: Int
    public var trainingPairs: Int
    public var epochs: Int
    public var annotator: Annotator
    /// Seeds its initialisation, pretraining text order and pairs: two specs that differ only here
    /// are two models of the same recipe.
    public var seed: UInt64

    public init(name: String, dModel: Int, layers: Int, heads: Int, pretrainSteps: Int, trainingPairs: Int, epochs: Int = 2,
                annotator: Annotator = .careful, seed: UInt64) {
        self.name = name
        self.dModel = dModel
        self.layers = layers
        self.heads = heads
        self.pretrainSteps = pretrainSteps
        self.trainingPairs = trainingPairs
        self.epochs = epochs
        self.annotator = annotator
        self.seed = seed
    }

    /// GPT-4's role: the critic of the main figures; a larger model trained on more data than Claude's.
    public static let strong = JudgeSpec(name: "strong", dModel: 64, layers: 2, heads: 4, pretrainSteps: 1_500, trainingPairs: 16_000, seed: 101)
    /// Claude's role (Figures 4 and 7): smaller, trained on less.
    public static let claude = JudgeSpec(name: "claude", dModel: 48, layers: 2, heads: 2, pretrainSteps: 1_000, trainingPairs: 6_000, seed: 102)
    /// An evaluation judge of the strong recipe, trained apart from the critic (its own
    /// initialisation, pretraining order and pairs), so the critic does not grade its own pupils.
    public static let independent = JudgeSpec(name: "independent", dModel: 64, layers: 2, heads: 4, pretrainSteps: 1_500, trainingPairs: 16_000,
                                              seed: 103)
    /// An evaluation judge trained on length-loving annotators' labels: a measured bias toward longer answers.
    public static let length = JudgeSpec(name: "length", dModel: 48, layers: 2, heads: 2, pretrainSteps: 1_000, trainingPairs: 6_000,
                                         annotator: .lengthLoving, seed: 104)
    /// A weak critic for the teacher x critic sweep: tiny and trained on little.
    public static let small = JudgeSpec(name: "small", dModel: 32, layers: 1, heads: 2, pretrainSteps: 400, trainingPairs: 1_000, seed: 105)

    public static let all: [JudgeSpec] = [.strong, .claude, .independent, .length, .small]

    /// The same judge at smoke-test size (the quick preset): tiny, briefly trained.
    public var miniature: JudgeSpec {
        var s = self
        (s.dModel, s.layers, s.heads) = (32, 1, 2)
        s.pretrainSteps = min(s.pretrainSteps, 600)
        s.trainingPairs = min(s.trainingPairs, 4_000)
        s.epochs = 1
        return s
    }
}

/// A trained judge: the reward model of a `JudgeSpec`. P(A ≻ B) = σ(r(A) − r(B)).
public final class JudgeModel: Judge {
    public let spec: JudgeSpec
    public let model: GPT
    let tokenizer = World.tokenizer

    public var name: String { spec.name }

    public init(spec: JudgeSpec, model: GPT) {
        precondition(model.config.scalarHead, "JudgeModel: the model of \(spec.name) has no scalar head")
        self.spec = spec
        self.model = model
        model.eval()
    }

    /// The reward of each (prompt, completion).
    public func scores(_ tasks: [Instruction], _ completions: [String]) -> [Double] {
        precondition(tasks.count == completions.count, "JudgeModel.scores: \(tasks.count) prompts, \(completions.count) completions")
        var out: [Double] = []
        out.reserveCapacity(tasks.count)
        for start in stride(from: 0, to: tasks.count, by: 256) {
            let end = min(start + 256, tasks.count)
            let pairs = (start..<end).map {
                TokenizedPair(prompt: tokenizer.encode(tasks[$0].prompt), completion: tokenizer.encode(completions[$0]) + [tokenizer.eosToken])
            }
            let batch = Batch(pairs, padToken: tokenizer.padToken)
            out += withNoGrad { RewardStage.scores(model, batch) }.scalars.map(Double.init)
        }
        return out
    }

    public func preferences(_ tasks: [Instruction], _ first: [String], _ second: [String]) -> [Double] {
        let a = scores(tasks, first), b = scores(tasks, second)
        return zip(a, b).map { 1 / (1 + Foundation.exp(-($0 - $1))) }
    }
}

/// How well a judge agrees with the ground truth on labelled pairs whose true quality differs.
public struct JudgeAgreement: Codable, Equatable, Sendable {
    public var judge: String
    public var pairs: Int
    /// Share of pairs where the judge prefers the truly better completion.
    public var accuracy: Double
    /// The same, on pairs where the better completion is longer / shorter than the worse one: a
    /// judge without length bias scores about the same on both.
    public var accuracyBetterLonger: Double
    public var accuracyBetterShorter: Double

    public static func measure(_ judge: Judge, pairs: [(task: Instruction, chosen: String, rejected: String)]) -> JudgeAgreement {
        // Re-label by the truth (the pairs' own labels may come from biased annotators) and drop true ties.
        let decided = pairs.compactMap { p -> (Instruction, String, String)? in
            let qa = p.task.quality(p.chosen), qb = p.task.quality(p.rejected)
            return qa == qb ? nil : (qa > qb ? (p.task, p.chosen, p.rejected) : (p.task, p.rejected, p.chosen))
        }
        let prefs = judge.preferences(decided.map(\.0), decided.map(\.1), decided.map(\.2))
        func accuracy(_ keep: (String, String) -> Bool) -> Double {
            let idx = decided.indices.filter { keep(decided[$0].1, decided[$0].2) }
            return Double(idx.filter { prefs[$0] > 0.5 }.count) / Double(max(idx.count, 1))
        }
        return JudgeAgreement(judge: judge.name, pairs: decided.count, accuracy: accuracy { _, _ in true },
                              accuracyBetterLonger: accuracy { $0.count > $1.count }, accuracyBetterShorter: accuracy { $0.count < $1.count })
    }
}
