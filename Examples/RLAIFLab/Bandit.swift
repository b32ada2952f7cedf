import Foundation
import LanguageModels

/// The paper's mechanistic explanation (Sharma et al. 2024, Figure 6), exactly as its notebook
/// sets it up: a 100-armed bandit with true reward r(a) = a, a weak student and a strong teacher,
/// SFT on teacher samples versus RLAIF (a Bradley-Terry reward model learned from the student's own
/// samples labelled by a perfect critic, then the KL-regularised optimum π_S·exp(r̂/β)).
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
    public init() {}
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

        // RLAIF data: student samples paired up, the perfect critic prefers the larger action.
        let studentDraws = sample(student, count: c.studentSamples, generator: &rng)
        var pairCounts = [Float](repeating: 0, count: n * n)  // [chosen, rejected]
        for i in stride(from: 0, to: studentDraws.count - 1, by: 2) {
            let a = studentDraws[i], b = studentDraws[i + 1]
            pairCounts[max(a, b) * n + min(a, b)] += 1
        }
        let pairs = Float(studentDraws.count / 2)
        let counts = Tensor(pairCounts.map { $0 / pairs }, shape: [n, n])

        // Tabular Bradley-Terry reward model: r̂ initialised at 0, full-batch SGD.
        let reward = Tensor.zeros([n], requiresGrad: true)
        let sgd = SGD([reward], learningRate: c.learningRate)
        for step in 0..<c.rewardSteps {
            let diff = reward.unsqueezed(axis: 1) - reward.unsqueezed(axis: 0)  // r̂(chosen) - r̂(rejected)
            let loss = -(counts * diff.logSigmoid()).sum()
            sgd.zeroGrad()
            loss.backward()
            sgd.step()
            if step % 1500 == 0 { progress?("reward model step \(step): loss \(loss.item)") }
        }
        // RLAIF policy in closed form: π_S(a)·exp(r̂(a)/β), normalised; r̂ is shifted by its maximum
        // first (the normalisation cancels it), so a small β cannot overflow exp.
        let rHat = reward.scalars.map { Double($0) }
        let shift = rHat.max() ?? 0
        let unnormalised = zip(student, rHat).map { $0 * Foundation.exp(($1 - shift) / Double(c.beta)) }
        let z = unnormalised.reduce(0, +)
        let rlaif = unnormalised.map { $0 / z }

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
