import Foundation
import XCTest
import Alignment

/// Reference numbers from float64 PyTorch with TRL's formulas, made by Fixtures/make_loss_fixtures.py.
/// Garbage in masked positions is stored as null and read as NaN.
struct LossFixtures: Decodable {
    struct Preference: Decodable {
        let type: String
        let beta, label_smoothing, simpo_gamma, loss: Double
        let policy_chosen, policy_rejected, reference_chosen, reference_rejected, chosen_nll: [Double]
        let grad_policy_chosen, grad_policy_rejected, grad_chosen_nll, chosen_rewards, rejected_rewards: [Double]
    }
    struct KL: Decodable {
        let estimator: String
        let shape: [Int]
        let log_probs, reference_log_probs: [Double?]
        let mask: [Int]
        let weights, kl, grad_log_probs, grad_reference_log_probs: [Double]
    }
    struct Whiten: Decodable {
        let x: [Double?]
        let mask, shape: [Int]
        let weights, whitened, grad_x: [Double]
        let shift_mean: Bool
        let variance, biased_variance: Double
    }
    struct SequenceLogProbs: Decodable {
        let vocab, length: Int
        let prompts, completions: [[Int]]
        let logits, sum, mean: [Double]
        let scored_targets: [Int]
    }
    let preference: [Preference]
    let kl: [KL]
    let whiten: [Whiten]
    let sequence_logprobs: SequenceLogProbs

    static func load() throws -> LossFixtures {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/loss_fixtures.json")
        return try JSONDecoder().decode(LossFixtures.self, from: Data(contentsOf: url))
    }
}

func floats(_ v: [Double]) -> [Float] { v.map { Float($0) } }
func floatsOrNaN(_ v: [Double?]) -> [Float] { v.map { $0.map { Float($0) } ?? .nan } }

/// Relative closeness: |a - e| <= tolerance · max(|e|, 1e-3) (absolute below 1e-3, where values are 0 or tiny).
func assertRelativelyClose(_ actual: [Float], _ expected: [Double], tolerance: Double = 1e-5, _ what: String,
                           file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, what, file: file, line: line)
    for (i, (a, e)) in zip(actual, expected).enumerated() {
        let bound = tolerance * max(abs(e), 1e-3)
        XCTAssertTrue(abs(Double(a) - e) <= bound, "\(what)[\(i)]: \(a) vs \(e) (bound \(bound))", file: file, line: line)
    }
}

final class LossFixtureTests: XCTestCase {
    func testPreferenceLossesMatchTRL() throws {
        let fixtures = try LossFixtures.load()
        XCTAssertGreaterThanOrEqual(fixtures.preference.count, 12)
        for c in fixtures.preference {
            let type = try XCTUnwrap(PreferenceLossType(rawValue: c.type), c.type)
            let config = PreferenceLossConfig(type: type, beta: Float(c.beta), labelSmoothing: Float(c.label_smoothing),
                                              simpoGamma: Float(c.simpo_gamma))
            XCTAssertNoThrow(try config.validate())
            let pc = Tensor(floats(c.policy_chosen), requiresGrad: true), pr = Tensor(floats(c.policy_rejected), requiresGrad: true)
            let nll = Tensor(floats(c.chosen_nll), requiresGrad: true)
            let out = PreferenceLoss.compute(config, policyChosen: pc, policyRejected: pr,
                                             referenceChosen: Tensor(floats(c.reference_chosen)),
                                             referenceRejected: Tensor(floats(c.reference_rejected)),
                                             chosenNLL: type == .orpo ? nll : nil)
            let name = "\(c.type) β=\(c.beta) ε=\(c.label_smoothing)"
            assertRelativelyClose([out.loss.item], [c.loss], "\(name) loss")
            assertRelativelyClose(out.chosenRewards.scalars, c.chosen_rewards, "\(name) chosen rewards")
            assertRelativelyClose(out.rejectedRewards.scalars, c.rejected_rewards, "\(name) rejected rewards")
            out.loss.backward()
            assertRelativelyClose(pc.grad!.scalars, c.grad_policy_chosen, "\(name) d/d policy chosen")
            assertRelativelyClose(pr.grad!.scalars, c.grad_policy_rejected, "\(name) d/d policy rejected")
            if type == .orpo { assertRelativelyClose(nll.grad!.scalars, c.grad_chosen_nll, "\(name) d/d chosen NLL") }
        }
    }

    func testKLPenaltyMatchesTorchWithNaNInMaskedPositions() throws {
        for c in try LossFixtures.load().kl {
            let estimator = try XCTUnwrap(KLEstimator(rawValue: c.estimator))
            let lp = Tensor(floatsOrNaN(c.log_probs), shape: c.shape, requiresGrad: true)
            let ref = Tensor(floatsOrNaN(c.reference_log_probs), shape: c.shape, requiresGrad: true)
            let mask = Tensor(c.mask.map { Float($0) }, shape: c.shape)
            let kl = PPO.klPenalty(estimator, logProbs: lp, referenceLogProbs: ref, mask: mask)
            assertRelativelyClose(kl.scalars, c.kl, "\(c.estimator) \(c.shape) values")
            (kl * Tensor(floats(c.weights), shape: c.shape)).sum().backward()
            assertRelativelyClose(lp.grad!.scalars, c.grad_log_probs, "\(c.estimator) \(c.shape) d/d log-probs")
            assertRelativelyClose(ref.grad!.scalars, c.grad_reference_log_probs, "\(c.estimator) \(c.shape) d/d reference")
        }
    }

    func testMaskedWhitenMatchesTRLWithNaNInMaskedPositions() throws {
        for c in try LossFixtures.load().whiten {
            let x = Tensor(floatsOrNaN(c.x), shape: c.shape, requiresGrad: true)
            let mask = Tensor(c.mask.map { Float($0) }, shape: c.shape)
            let name = "\(c.shape) shiftMean \(c.shift_mean)"
            assertRelativelyClose([PPO.maskedVariance(x, mask: mask).item], [c.variance], "\(name) variance")
            assertRelativelyClose([PPO.maskedVariance(x, mask: mask, unbiased: false).item], [c.biased_variance], "\(name) biased variance")
            let w = PPO.maskedWhiten(x, mask: mask, shiftMean: c.shift_mean)
            assertRelativelyClose(w.scalars, c.whitened, "\(name) whitened")
            (w * Tensor(floats(c.weights), shape: c.shape)).sum().backward()
            assertRelativelyClose(x.grad!.scalars, c.grad_x, tolerance: 1e-4, "\(name) d/dx")
        }
    }

    func testMeanSequenceLogProbsDivideByScoredTargets() throws {
        let f = try LossFixtures.load().sequence_logprobs
        let pairs = zip(f.prompts, f.completions).map { TokenizedPair(prompt: $0, completion: $1) }
        let batch = Batch(pairs, padToken: 0)
        XCTAssertEqual(batch.length, f.length)
        XCTAssertEqual(batch.scoredTargetCounts, f.scored_targets)
        XCTAssertEqual(pairs.map(\.scoredTargetCount), f.scored_targets)
        let logits = Tensor(floats(f.logits), shape: [pairs.count, f.length, f.vocab])
        assertRelativelyClose(SequenceLogProbs.compute(logits: logits, batch: batch, reduction: .sum).scalars, f.sum, "sum")
        assertRelativelyClose(SequenceLogProbs.compute(logits: logits, batch: batch, reduction: .mean).scalars, f.mean, "mean")
    }
}
