import Foundation
import LanguageModels

/// The paper's mechanistic explanation (Sharma et al. 2024, Figure 6), as its notebook sets it up:
/// a 100-armed bandit with true reward r(a) = a, a weak student and a strong teacher, SFT on teacher
/// samples versus RLAIF (a Bradley-Terry reward model learned from pairs labelled by a perfect
/// critic, then the KL-regularised optimum π_S·exp(r̂/β)). The notebook pairs two student samples;
/// `BanditPairs.teacher` pairs a student sample with a teacher sample instead.
public struct BanditConfig: Codable, Equatable, Sendable {
    public var actions = 100
    public var teacherMean: Double = 80
    public var studentMean: Double = 40
    /// Denominator of the Gaussian exponent: π(a) ∝ exp(-(a - μ)² / width).
    public var width: Double = 300
    public var studentSamples = 500_000
    public var teacherSamples = 250_000
    public var rewardSteps = 7_500
    public var sftSteps = 15_000
    public var learningRate: Float = 0.01
    public var beta: Float = 0.1
    public var seed: UInt64 = 0
    /// Where the critic's pairs come from: two student samples (the paper's notebook) or a student
    /// sample against a teacher sample (the paper's language-model code pairs the policy's sample
    /// with the teacher's completion).
    public var pairs = BanditPairs.student
    public init() {}

    private enum CodingKeys: String, CodingKey {
        case actions, teacherMean, studentMean, width, studentSamples, teacherSamples, rewardSteps, sftSteps, learningRate, beta, seed, pairs
    }

    /// Configurations saved before `pairs` existed decode with student pairs.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        actions = try c.decode(Int.self, forKey: .actions)
        teacherMean = try c.decode(Double.self, forKey: .teacherMean)
        studentMean = try c.decode(Double.self, forKey: .studentMean)
        width = try c.decode(Double.self, forKey: .width)
        studentSamples = try c.decode(Int.self, forKey: .studentSamples)
        teacherSamples = try c.decode(Int.self, forKey: .teacherSamples)
        rewardSteps = try c.decode(Int.self, forKey: .rewardSteps)
        sftSteps = try c.decode(Int.self, forKey: .sftSteps)
        learningRate = try c.decode(Float.self, forKey: .learningRate)
        beta = try c.decode(Float.self, forKey: .beta)
        seed = try c.decode(UInt64.self, forKey: .seed)
        pairs = try c.decodeIfPresent(BanditPairs.self, forKey: .pairs) ?? .student
    }
}

/// The second action of each labelled pair.
public enum BanditPairs: String, Codable, CaseIterable, Sendable {
    /// Another student sample: the reward model only sees where the student goes.
    case student
    /// A teacher sample: the reward model sees the teacher's region too.
    case teacher
}

public struct BanditResult: Codable, Equatable, Sendable {
    public var student: [Double]
    public var teacher: [Double]
    public var sft: [Double]
    public var rlaif: [Double]
    /// The tabular reward model's learned r̂(a) and the true r(a) = a.
    public var learnedReward: [Double]
    public var config: BanditConfig

    /// Expected true reward Σ π(a)·a of a policy.
    public static func expectedReward(_ p: [Double]) -> Double { p.enumerated().reduce(0) { $0 + $1.element * Double($1.offset) } }

    public var summary: [String: Double] {
        ["student": Self.expectedReward(student), "teacher": Self.expectedReward(teacher),
         "sft": Self.expectedReward(sft), "rlaif": Self.expectedReward(rlaif)]
    }
}

public enum Bandit {
    static func gaussian(mean: Double, width: Double, actions: Int) -> [Double] {
        let w = (0..<actions).map { Foundation.exp(-pow(Double($0) - mean, 2) / width) }
        let z = w.reduce(0, +)
        return w.map { $0 / z }
    }

    /// The tabular Bradley-Terry reward model r̂ (initialised at 0, full-batch SGD) trained on the
    /// critic's labels, snapshotted after each of `steps` SGD steps (ascending). The critic is
    /// perfect: of each pair it prefers the larger action.
    static func learnedRewards(_ c: BanditConfig, student: [Double], teacher: [Double], at steps: [Int],
                               generator rng: inout RandomGenerator, progress: ((String) -> Void)? = nil) -> [[Double]] {
        let n = c.actions
        let studentDraws = sample(student, count: c.studentSamples, generator: &rng)
        var pairCounts = [Float](repeating: 0, count: n * n)  // [chosen, rejected]
        var pairs: Float = 0
        switch c.pairs {
        case .student:
            for i in stride(from: 0, to: studentDraws.count - 1, by: 2) {
                let a = studentDraws[i], b = studentDraws[i + 1]
                pairCounts[max(a, b) * n + min(a, b)] += 1
                pairs += 1
            }
        case .teacher:
            let teacherDraws = sample(teacher, count: studentDraws.count / 2, generator: &rng)
            for (a, b) in zip(studentDraws, teacherDraws) {
                pairCounts[max(a, b) * n + min(a, b)] += 1
                pairs += 1
            }
        }
        let counts = Tensor(pairCounts.map { $0 / pairs }, shape: [n, n])
        let reward = Tensor.zeros([n], requiresGrad: true)
        let sgd = SGD([reward], learningRate: c.learningRate)
        precondition(steps == steps.sorted(), "Bandit.learnedRewards: snapshot steps \(steps) must ascend")
        var snapshots: [[Double]] = []
        var step = 0
        for target in steps {
            while step < target {
                let diff = reward.unsqueezed(axis: 1) - reward.unsqueezed(axis: 0)  // r̂(chosen) - r̂(rejected)
                let loss = -(counts * diff.logSigmoid()).sum()
                sgd.zeroGrad()
                loss.backward()
                sgd.step()
                if step % 1500 == 0 { progress?("reward model step \(step): loss \(loss.item)") }
                step += 1
            }
            snapshots.append(reward.scalars.map { Double($0) })
        }
        return snapshots
    }

    /// The KL-regularised optimum π_S(a)·exp(r̂(a)/β), normalised; r̂ is shifted by its maximum first
    /// (the normalisation cancels it), so a small β cannot overflow exp.
    public static func rlaifPolicy(student: [Double], reward rHat: [Double], beta: Float) -> [Double] {
        let shift = rHat.max() ?? 0
        let unnormalised = zip(student, rHat).map { $0 * Foundation.exp(($1 - shift) / Double(beta)) }
        let z = unnormalised.reduce(0, +)
        return unnormalised.map { $0 / z }
    }

    static func sample(_ p: [Double], count: Int, generator: inout RandomGenerator) -> [Int] {
        let weights = p.map(Float.init)
        return weights.withUnsafeBufferPointer { buf in (0..<count).map { _ in generator.nextCategorical(buf) } }
    }

    /// Runs the experiment. Full-batch losses are written over counts (pairs of actions, or actions),
    /// which equals the mean over the individual samples while costing 100² per step, not 250k.
    public static func run(_ c: BanditConfig, progress: ((String) -> Void)? = nil) -> BanditResult {
        var rng = RandomGenerator(seed: c.seed)
        let n = c.actions
        let student = gaussian(mean: c.studentMean, width: c.width, actions: n)
        let teacher = gaussian(mean: c.teacherMean, width: c.width, actions: n)
        let rHat = learnedRewards(c, student: student, teacher: teacher, at: [c.rewardSteps], generator: &rng, progress: progress)[0]
        let rlaif = rlaifPolicy(student: student, reward: rHat, beta: c.beta)
        // SFT: logits initialised at 0, cross-entropy on teacher samples, full-batch SGD.
        var teacherCounts = [Float](repeating: 0, count: n)
        for a in sample(teacher, count: c.teacherSamples, generator: &rng) { teacherCounts[a] += 1 }
        let frequencies = Tensor(teacherCounts.map { $0 / Float(c.teacherSamples) })
        let logits = Tensor.zeros([n], requiresGrad: true)
        let sftOptimizer = SGD([logits], learningRate: c.learningRate)
        for step in 0..<c.sftSteps {
            let loss = -(frequencies * logits.logSoftmax(axis: 0)).sum()
            sftOptimizer.zeroGrad()
            loss.backward()
            sftOptimizer.step()
            if step % 3000 == 0 { progress?("SFT step \(step): loss \(loss.item)") }
        }
        let sft = withNoGrad { logits.softmax(axis: 0) }.scalars.map { Double($0) }
        return BanditResult(student: student, teacher: teacher, sft: sft, rlaif: rlaif, learnedReward: rHat, config: c)
    }
}

/// How RLAIF's expected true reward moves with the reward model's training, β and where the pairs
/// come from, beside SFT on the teacher (which none of them touch).
public struct BanditSensitivity: Codable, Equatable, Sendable {
    public struct Cell: Codable, Equatable, Sendable {
        public var pairs: BanditPairs
        public var rewardSteps: Int
        public var beta: Float
        public var rlaif: Double
    }
    public var cells: [Cell]
    /// Learned r̂ after each reward-model step count, per pair source ("student", "teacher").
    public var learnedRewards: [String: [[Double]]]
    public var rewardSteps: [Int]
    public var betas: [Float]
    public var student: Double
    public var teacher: Double
    public var sft: Double
    public var config: BanditConfig
}

extension Bandit {
    /// Every (pair source, reward-model steps, β) of the grid on `base`'s bandit and samples; one
    /// reward model per pair source, snapshotted at each step count (ascending).
    public static func sensitivity(_ base: BanditConfig, rewardSteps: [Int], betas: [Float],
                                   progress: ((String) -> Void)? = nil) -> BanditSensitivity {
        let rewardSteps = Array(Set(rewardSteps)).sorted()  // snapshots are taken in ascending order
        let reference = run(base)
        var cells: [BanditSensitivity.Cell] = [], learned: [String: [[Double]]] = [:]
        for pairs in BanditPairs.allCases {
            var c = base
            c.pairs = pairs
            var rng = RandomGenerator(seed: c.seed)
            progress?("reward model on \(pairs.rawValue) pairs, up to \(rewardSteps.last ?? 0) steps")
            let snapshots = learnedRewards(c, student: reference.student, teacher: reference.teacher, at: rewardSteps, generator: &rng)
            learned[pairs.rawValue] = snapshots
            for (steps, rHat) in zip(rewardSteps, snapshots) {
                for beta in betas {
                    let policy = rlaifPolicy(student: reference.student, reward: rHat, beta: beta)
                    cells.append(.init(pairs: pairs, rewardSteps: steps, beta: beta, rlaif: BanditResult.expectedReward(policy)))
                }
            }
        }
        let s = reference.summary
        return BanditSensitivity(cells: cells, learnedRewards: learned, rewardSteps: rewardSteps, betas: betas,
                                 student: s["student"]!, teacher: s["teacher"]!, sft: s["sft"]!, config: base)
    }
}
