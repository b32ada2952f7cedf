import Foundation
import XCTest
import Alignment

final class PPOTests: XCTestCase {
    func assertClose(_ a: [Float], _ b: [Float], accuracy: Float = 1e-5, _ message: String = "",
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, message, file: file, line: line)
        for (i, (x, y)) in zip(a, b).enumerated() {
            XCTAssertEqual(x, y, accuracy: accuracy, "\(message) [\(i)]", file: file, line: line)
        }
    }

    // MARK: GAE

    func testGAEHandComputed() {
        // γ = 0.9, λ = 0.8, γλ = 0.72. Row 1 is two tokens long; its third entries are garbage.
        let rewards = Tensor([0.1, -0.2, 1.0,
                              0.0, 2.0, 5.0], shape: [2, 3])
        let values = Tensor([0.5, 0.4, 0.3,
                             1.0, 0.5, 9.0], shape: [2, 3])
        let mask = Tensor([1, 1, 1,
                           1, 1, 0], shape: [2, 3])
        let (advantages, returns) = PPO.gae(rewards: rewards, values: values, mask: mask, gamma: 0.9, lambda: 0.8)
        // Row 0: δ2 = 1.0 + 0 - 0.3 = 0.7,          A2 = 0.7
        //        δ1 = -0.2 + 0.9·0.3 - 0.4 = -0.33, A1 = -0.33 + 0.72·0.7 = 0.174
        //        δ0 = 0.1 + 0.9·0.4 - 0.5 = -0.04,  A0 = -0.04 + 0.72·0.174 = 0.08528
        // Row 1: t = 2 is masked (contributes nothing, and the value after t = 1 is 0):
        //        δ1 = 2.0 + 0 - 0.5 = 1.5,          A1 = 1.5
        //        δ0 = 0.0 + 0.9·0.5 - 1.0 = -0.55,  A0 = -0.55 + 0.72·1.5 = 0.53
        assertClose(advantages.scalars, [0.08528, 0.174, 0.7,
                                         0.53, 1.5, 0], "advantages")
        assertClose(returns.scalars, [0.58528, 0.574, 1.0,
                                      1.53, 2.0, 0], "returns")
    }

    func testGAEWithGammaLambdaOneIsRewardToGoMinusValue() {
        let rewards = Tensor([1, 2, 3, 4], shape: [1, 4]), values = Tensor([0.5, -1, 2, 0.25], shape: [1, 4])
        let mask = Tensor.ones([1, 4])
        let (advantages, returns) = PPO.gae(rewards: rewards, values: values, mask: mask, gamma: 1, lambda: 1)
        assertClose(returns.scalars, [10, 9, 7, 4])
        assertClose(advantages.scalars, [9.5, 10, 5, 3.75])
    }

    // MARK: KL estimators

    func testKLEstimatorsOnCategoricalSamples() {
        let p: [Float] = [0.4, 0.3, 0.2, 0.1], q: [Float] = [0.25, 0.25, 0.25, 0.25]
        let exactKL = zip(p, q).reduce(0.0) { $0 + Double($1.0) * log(Double($1.0) / Double($1.1)) }   // ≈ 0.1064
        var gen = RandomGenerator(seed: 42)
        let b = 100, t = 200
        let tokens = p.withUnsafeBufferPointer { w in (0..<(b * t)).map { _ in gen.nextCategorical(w) } }
        let logp = Tensor(tokens.map { Foundation.log(p[$0]) }, shape: [b, t])
        let refLogp = Tensor(tokens.map { Foundation.log(q[$0]) }, shape: [b, t])
        let mask = Tensor.ones([b, t])

        func sampleMeanAndStandardError(_ k: KLEstimator) -> (mean: Double, se: Double, values: [Float]) {
            let v = PPO.klPenalty(k, logProbs: logp, referenceLogProbs: refLogp, mask: mask).scalars
            let n = Double(v.count)
            let mean = v.reduce(0.0) { $0 + Double($1) } / n
            let variance = v.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / (n - 1)
            return (mean, (variance / n).squareRoot(), v)
        }
        let k1 = sampleMeanAndStandardError(.k1), k2 = sampleMeanAndStandardError(.k2), k3 = sampleMeanAndStandardError(.k3)
        // Unbiased: within 4 standard errors (about 0.01 and 0.005 here) of KL(p || q).
        XCTAssertEqual(k1.mean, exactKL, accuracy: 4 * k1.se)
        XCTAssertEqual(k3.mean, exactKL, accuracy: 4 * k3.se)
        XCTAssertLessThan(k1.se, 0.01)
        XCTAssertLessThan(k3.se, 0.01)
        // k2 and k3 are non-negative per sample; k1 is not (tokens with p < q give log p/q < 0).
        XCTAssertTrue(k2.values.allSatisfy { $0 >= 0 })
        XCTAssertTrue(k3.values.allSatisfy { $0 >= 0 })
        XCTAssertTrue(k1.values.contains { $0 < 0 })
        XCTAssertGreaterThan(k2.mean, 0)

        // The exact expectations under p: E[k1] = E[k3] = KL(p || q), E[k2] = ½ E[(log p/q)²].
        func expectation(_ k: KLEstimator) -> Double {
            let lp = Tensor(p.map { Foundation.log($0) }), lq = Tensor(q.map { Foundation.log($0) })
            return zip(p, PPO.klPenalty(k, logProbs: lp, referenceLogProbs: lq).scalars).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
        XCTAssertEqual(expectation(.k1), exactKL, accuracy: 1e-6)
        XCTAssertEqual(expectation(.k3), exactKL, accuracy: 1e-6)
        let halfSecondMoment = zip(p, q).reduce(0.0) { $0 + Double($1.0) * 0.5 * pow(log(Double($1.0) / Double($1.1)), 2) }
        XCTAssertEqual(expectation(.k2), halfSecondMoment, accuracy: 1e-6)
    }

    func testKLPenaltyClosedFormsAndMask() {
        let logp = Tensor([-1.0, -2.0, -0.5, 3.0], shape: [2, 2]), ref = Tensor([-1.5, -1.0, -0.5, .nan], shape: [2, 2])
        let mask = Tensor([1, 1, 1, 0], shape: [2, 2])
        let d: [Float] = [0.5, -1.0, 0.0]
        assertClose(PPO.klPenalty(.k1, logProbs: logp, referenceLogProbs: ref, mask: mask).scalars, d + [0])
        assertClose(PPO.klPenalty(.k2, logProbs: logp, referenceLogProbs: ref, mask: mask).scalars, d.map { 0.5 * $0 * $0 } + [0])
        assertClose(PPO.klPenalty(.k3, logProbs: logp, referenceLogProbs: ref, mask: mask).scalars,
                    d.map { Foundation.exp(-$0) - 1 + $0 } + [0])
    }

    func testKLPenaltyGradientIgnoresNaNInMaskedPositions() {
        // The issue's example: k2 on lp = [-1, NaN], ref = [-1.5, 0], mask = [1, 0] has gradient [0.5, 0].
        let mask = Tensor([1, 0], shape: [1, 2])
        for (estimator, slope) in [(KLEstimator.k1, Float(1)), (.k2, 0.5), (.k3, 1 - Foundation.exp(-0.5))] {
            let lp = Tensor([-1, .nan], shape: [1, 2], requiresGrad: true), ref = Tensor([-1.5, 0], shape: [1, 2], requiresGrad: true)
            let kl = PPO.klPenalty(estimator, logProbs: lp, referenceLogProbs: ref, mask: mask)
            XCTAssertEqual(kl.scalars[1], 0, "\(estimator)")
            kl.sum().backward()
            assertClose(lp.grad!.scalars, [slope, 0], accuracy: 1e-6, "\(estimator) d/d log-probs")
            assertClose(ref.grad!.scalars, [-slope, 0], accuracy: 1e-6, "\(estimator) d/d reference")
        }
    }

    // MARK: Rewards and KL controllers

    func testTokenRewards() {
        let logp = Tensor([-1.0, -2.0, -0.5,
                           -1.0, -3.0, 7.0], shape: [2, 3])
        let ref = Tensor([-1.5, -1.0, -0.5,
                          -2.0, -1.0, 0.0], shape: [2, 3])
        let mask = Tensor([1, 1, 1,
                           1, 1, 0], shape: [2, 3])
        XCTAssertEqual(PPO.lastValidIndices(mask: mask), [2, 1])
        let rewards = PPO.tokenRewards(scores: Tensor([2.0, -1.0]), logProbs: logp, referenceLogProbs: ref, mask: mask,
                                       klCoef: 0.1, estimator: .k1)
        // -0.1·k1 on valid tokens, the score at the last valid token, 0 on padding.
        assertClose(rewards.scalars, [-0.05, 0.1, 0 + 2.0,
                                      -0.1, 0.2 - 1.0, 0])
        XCTAssertFalse(rewards.requiresGrad)
        // An explicit last index places the score there instead.
        let explicit = PPO.tokenRewards(scores: Tensor([2.0, -1.0]), logProbs: logp, referenceLogProbs: ref, mask: mask,
                                        klCoef: 0.1, lastIndices: [1, 0])
        assertClose(explicit.scalars, [-0.05, 0.1 + 2.0, 0,
                                       -0.1 - 1.0, 0.2, 0])
        let kl = PPO.klPenalty(.k1, logProbs: logp, referenceLogProbs: ref, mask: mask)
        XCTAssertEqual(PPO.meanSequenceKL(kl, mask: mask), ((0.5 - 1.0 + 0) + (1.0 - 2.0)) / 2, accuracy: 1e-6)
    }

    func testTokenRewardsSkipARowWithoutValidTokens() {
        let mask = Tensor([1, 1, 0, 0, 0, 0], shape: [2, 3])
        let kl = Tensor([0.5, -1, 0, 0, 0, 0], shape: [2, 3])
        XCTAssertEqual(PPO.lastValidIndices(mask: mask), [1, -1])
        let rewards = PPO.tokenRewards(scores: Tensor([2, 3]), kl: kl, mask: mask, klCoef: 0.1)
        assertClose(rewards.scalars, [-0.05, 0.1 + 2, 0, 0, 0, 0])
    }

    func testKLControllerValidation() {
        func setting(_ body: () throws -> Void) -> String? {
            do { try body(); return nil } catch let e as ConfigurationError { return e.setting } catch { return "\(error)" }
        }
        XCTAssertNil(setting { try AdaptiveKLController(initKLCoef: 0.05, target: 6, horizon: 10_000).validate() })
        XCTAssertNil(setting { try AdaptiveKLController(initKLCoef: 0, target: 0.1, horizon: 1).validate() })
        for target: Float in [0, -1, .nan, .infinity] {
            XCTAssertEqual(setting { try AdaptiveKLController(initKLCoef: 0.05, target: target, horizon: 10_000).validate() },
                           "AdaptiveKLController.target", "target \(target)")
        }
        for horizon: Float in [0, -5, .nan, .infinity] {
            XCTAssertEqual(setting { try AdaptiveKLController(initKLCoef: 0.05, target: 6, horizon: horizon).validate() },
                           "AdaptiveKLController.horizon", "horizon \(horizon)")
        }
        for coef: Float in [-0.1, .nan, .infinity] {
            XCTAssertEqual(setting { try AdaptiveKLController(initKLCoef: coef, target: 6, horizon: 10_000).validate() },
                           "AdaptiveKLController.initKLCoef", "coef \(coef)")
            XCTAssertEqual(setting { try FixedKLController(klCoef: coef).validate() }, "FixedKLController.klCoef", "coef \(coef)")
        }
        XCTAssertNil(setting { try FixedKLController(klCoef: 0).validate() })
    }

    func testKLControllers() {
        var fixed = FixedKLController(klCoef: 0.05)
        fixed.update(currentKL: 100, nSteps: 256)
        XCTAssertEqual(fixed.value, 0.05)

        var adaptive = AdaptiveKLController(initKLCoef: 0.2, target: 6, horizon: 10_000)
        // KL far above target: the error clips at +0.2, mult = 1 + 0.2·256/10000.
        adaptive.update(currentKL: 9, nSteps: 256)
        XCTAssertEqual(adaptive.value, 0.2 * 1.00512, accuracy: 1e-7)
        // Within the band: error = 5.4/6 - 1 = -0.1, mult = 1 - 0.1·256/10000.
        adaptive.update(currentKL: 5.4, nSteps: 256)
        XCTAssertEqual(adaptive.value, 0.2 * 1.00512 * 0.99744, accuracy: 1e-7)
        // Far below: clipped at -0.2.
        adaptive.update(currentKL: 0, nSteps: 1000)
        XCTAssertEqual(adaptive.value, 0.2 * 1.00512 * 0.99744 * 0.98, accuracy: 1e-7)
        // At target nothing changes.
        let before = adaptive.value
        adaptive.update(currentKL: 6, nSteps: 1000)
        XCTAssertEqual(adaptive.value, before, accuracy: 1e-9)
    }

    // MARK: Whitening

    func testMaskedWhiten() {
        let x = Tensor([1, 2, 3, 100,
                        4, 5, -50, 6], shape: [2, 4])
        let mask = Tensor([1, 1, 1, 0,
                           1, 1, 0, 1], shape: [2, 4])
        let w = PPO.maskedWhiten(x, mask: mask)
        XCTAssertEqual(PPO.maskedMean(w, mask: mask).item, 0, accuracy: 1e-6)
        XCTAssertEqual(PPO.maskedVariance(w, mask: mask).item, 1, accuracy: 1e-5)
        // Valid values are 1...6: mean 3.5, unbiased variance 3.5.
        let s = Float(3.5).squareRoot()
        assertClose(w.scalars, [(1 - 3.5) / s, (2 - 3.5) / s, (3 - 3.5) / s, 0,
                                (4 - 3.5) / s, (5 - 3.5) / s, 0, (6 - 3.5) / s])
        // Masked entries do not matter, even non-finite ones.
        let other = Tensor([1, 2, 3, .nan, 4, 5, .infinity, 6], shape: [2, 4])
        XCTAssertEqual(PPO.maskedWhiten(other, mask: mask).scalars, w.scalars)
        // Without shifting the mean, the masked mean is kept.
        let unshifted = PPO.maskedWhiten(x, mask: mask, shiftMean: false)
        XCTAssertEqual(PPO.maskedMean(unshifted, mask: mask).item, 3.5, accuracy: 1e-5)
        XCTAssertEqual(PPO.maskedVariance(unshifted, mask: mask).item, 1, accuracy: 1e-5)
        XCTAssertEqual(PPO.maskedVariance(x, mask: mask, unbiased: false).item, 35.0 / 12, accuracy: 1e-5)
    }

    func testMaskedWhitenIssueExampleAndGradientIgnoreNaN() {
        // x = [1, 2, 3, NaN], mask [1, 1, 1, 0]: mean 2, unbiased variance 1, so [-1, 0, 1, 0].
        let x = Tensor([1, 2, 3, .nan], shape: [1, 4], requiresGrad: true), mask = Tensor([1, 1, 1, 0], shape: [1, 4])
        let w = PPO.maskedWhiten(x, mask: mask)
        assertClose(w.scalars, [-1, 0, 1, 0])
        (w * Tensor([1, 2, 4, 8], shape: [1, 4])).sum().backward()
        let g = x.grad!.scalars
        XCTAssertTrue(g.allSatisfy(\.isFinite), "\(g)")
        XCTAssertEqual(g[3], 0)
        let v = Tensor([1, 2, 3, .infinity], shape: [1, 4], requiresGrad: true)
        PPO.maskedVariance(v, mask: mask).backward()
        // d var / dx_i = 2 (x_i - mean) / (n - 1).
        assertClose(v.grad!.scalars, [-1, 0, 1, 0], accuracy: 1e-6)
    }

    func testMaskedStatisticsWithTooFewValidEntriesAreNotFiniteInsteadOfTrapping() {
        let x = Tensor([1, 2], shape: [1, 2])
        XCTAssertTrue(PPO.maskedVariance(x, mask: Tensor([0, 0], shape: [1, 2])).item.isNaN)
        XCTAssertFalse(PPO.maskedWhiten(x, mask: Tensor([1, 0], shape: [1, 2])).scalars[0].isFinite)
        XCTAssertEqual(PPO.maskedVariance(x, mask: Tensor([1, 0], shape: [1, 2]), unbiased: false).item, 0)
    }

    // MARK: Policy loss

    func testPolicyLossAtRatioOne() {
        let logp: [Float] = [-1.2, -0.3, -2.0, -0.7, -1.1, -4.0]
        let newLogp = Tensor(logp, shape: [2, 3], requiresGrad: true), oldLogp = Tensor(logp, shape: [2, 3])
        let advantages = Tensor([0.5, -1.0, 2.0, 0.25, -0.75, 99], shape: [2, 3])
        let mask = Tensor([1, 1, 1, 1, 1, 0], shape: [2, 3])
        let out = PPO.policyLoss(newLogProbs: newLogp, oldLogProbs: oldLogp, advantages: advantages, mask: mask, clipRange: 0.2)
        XCTAssertEqual(out.meanRatio, 1)
        XCTAssertEqual(out.clipFraction, 0)
        XCTAssertEqual(out.approxKL, 0)
        XCTAssertEqual(out.policyKL, 0)
        let meanAdvantage: Float = (0.5 - 1.0 + 2.0 + 0.25 - 0.75) / 5
        XCTAssertEqual(out.loss.item, -meanAdvantage, accuracy: 1e-6)
        XCTAssertEqual(out.stats["val/ratio"], 1)
        out.loss.backward()
        // d loss / d logp = -A · ratio / n on valid tokens.
        assertClose(newLogp.grad!.scalars, [-0.5, 1.0, -2.0, -0.25, 0.75, 0].map { $0 / 5 }, accuracy: 1e-6)
    }

    func testPolicyLossClippingByHand() {
        let l15 = Foundation.log(Float(1.5)), l05 = Foundation.log(Float(0.5))
        let old: [Float] = [-1, -1, -1, -1, -1, -1]
        let newLogp = Tensor(zip(old, [l15, l15, l05, l05, 0, 5]).map { $0 + $1 }, shape: [2, 3], requiresGrad: true)
        let advantages = Tensor([1, -1, 1, -2, 0, 3], shape: [2, 3])
        let mask = Tensor([1, 1, 1, 1, 0, 0], shape: [2, 3])
        let out = PPO.policyLoss(newLogProbs: newLogp, oldLogProbs: Tensor(old, shape: [2, 3]), advantages: advantages,
                                 mask: mask, clipRange: 0.2)
        // ratio 1.5, A = 1:  max(-1.5, -1.2) = -1.2 (clipped)
        // ratio 1.5, A = -1: max(1.5, 1.2)   = 1.5
        // ratio 0.5, A = 1:  max(-0.5, -0.8) = -0.5
        // ratio 0.5, A = -2: max(1.0, 1.6)   = 1.6 (clipped)
        XCTAssertEqual(out.loss.item, (-1.2 + 1.5 - 0.5 + 1.6) / 4, accuracy: 1e-5)
        XCTAssertEqual(out.clipFraction, 0.5)
        XCTAssertEqual(out.meanRatio, (1.5 + 1.5 + 0.5 + 0.5) / 4, accuracy: 1e-5)
        XCTAssertEqual(out.approxKL, 0.5 * (2 * l15 * l15 + 2 * l05 * l05) / 4, accuracy: 1e-6)
        XCTAssertEqual(out.policyKL, -(2 * l15 + 2 * l05) / 4, accuracy: 1e-6)
        XCTAssertEqual(out.stats["policy/clipfrac"], 0.5)
        out.loss.backward()
        // Clipped tokens and padding get no gradient; the others -A · ratio / 4.
        assertClose(newLogp.grad!.scalars, [0, 1.5 / 4, -0.5 / 4, 0, 0, 0], accuracy: 1e-6)
    }

    func testPolicyLossGradCheck() {
        let old: [Float] = [-1.0, -0.5, -2.0, -1.5, -0.8, -1.2, -0.3, -2.5]
        // log-ratios away from the kinks at log 0.8 ≈ -0.223 and log 1.2 ≈ 0.182.
        let diffs: [Float] = [0.05, -0.1, 0.12, 0.4, -0.5, -0.05, 0.6, 0.0]
        let newLogp = Tensor(zip(old, diffs).map { $0 + $1 }, shape: [2, 4], requiresGrad: true)
        let oldLogp = Tensor(old, shape: [2, 4])
        let advantages = Tensor([1.0, -0.5, 0.8, -1.2, 0.7, 1.5, 2.0, -0.3], shape: [2, 4])
        let mask = Tensor([1, 1, 1, 1, 1, 1, 1, 0], shape: [2, 4])
        let result = gradCheck([newLogp], eps: 1e-3) { inputs in
            PPO.policyLoss(newLogProbs: inputs[0], oldLogProbs: oldLogp, advantages: advantages, mask: mask, clipRange: 0.2).loss
        }
        XCTAssertTrue(result.passed, result.description)
    }

    // MARK: Value loss

    func testValueLossClippingByHand() {
        let values = Tensor([1.5, 1.1, 0.5,
                             -0.5, 100, -100], shape: [2, 3], requiresGrad: true)
        let oldValues = Tensor([1.0, 1.0, 1.0,
                                0.0, 0.0, 0.0], shape: [2, 3])
        let returns = Tensor([2.0, 0.0, 1.0,
                              -1.0, -100, 100], shape: [2, 3])
        let mask = Tensor([1, 1, 1,
                           1, 0, 0], shape: [2, 3])
        let out = PPO.valueLoss(values: values, oldValues: oldValues, returns: returns, mask: mask, clipRange: 0.2)
        // v = 1.5 → clipped 1.2: max(0.25, 0.64) = 0.64 (clipped)
        // v = 1.1 inside:         max(1.21, 1.21) = 1.21
        // v = 0.5 → clipped 0.8: max(0.25, 0.04) = 0.25
        // v = -0.5 → clipped -0.2: max(0.25, 0.64) = 0.64 (clipped)
        XCTAssertEqual(out.loss.item, 0.5 * (0.64 + 1.21 + 0.25 + 0.64) / 4, accuracy: 1e-5)
        XCTAssertEqual(out.clipFraction, 0.5)
        XCTAssertEqual(out.meanSquaredError, (0.25 + 1.21 + 0.25 + 0.25) / 4, accuracy: 1e-5)
        XCTAssertEqual(out.stats["val/clipfrac"], 0.5)
        out.loss.backward()
        // Unclipped maxima: d/dv ½ (v - R)² / 4 = (v - R) / 4; clipped ones and padding: 0.
        assertClose(values.grad!.scalars, [0, 1.1 / 4, -0.5 / 4, 0, 0, 0], accuracy: 1e-6)
    }

    func testValueLossNoClippingInsideBand() {
        let v: [Float] = [0.3, -0.7, 1.9]
        let values = Tensor(v, shape: [1, 3], requiresGrad: true)
        let out = PPO.valueLoss(values: values, oldValues: Tensor([0.25, -0.6, 2.0], shape: [1, 3]),
                                returns: Tensor([1, 1, 1], shape: [1, 3]), mask: Tensor.ones([1, 3]), clipRange: 0.2)
        XCTAssertEqual(out.clipFraction, 0)
        XCTAssertEqual(out.loss.item, 0.5 * v.map { ($0 - 1) * ($0 - 1) }.reduce(0, +) / 3, accuracy: 1e-6)
    }

    func testValueLossGradCheck() {
        // Each value either inside its band or well outside (no kinks within the finite-difference step).
        let old: [Float] = [0.0, 1.0, -1.0, 0.5, 2.0, -0.5]
        let offsets: [Float] = [0.1, -0.05, 0.6, -0.7, 0.0, 0.15]
        let values = Tensor(zip(old, offsets).map { $0 + $1 }, shape: [2, 3], requiresGrad: true)
        let oldValues = Tensor(old, shape: [2, 3])
        let returns = Tensor([1.0, -1.0, 0.5, 2.0, 1.0, -3.0], shape: [2, 3])
        let mask = Tensor([1, 1, 1, 1, 1, 0], shape: [2, 3])
        let result = gradCheck([values], eps: 1e-3) { inputs in
            PPO.valueLoss(values: inputs[0], oldValues: oldValues, returns: returns, mask: mask, clipRange: 0.2).loss
        }
        XCTAssertTrue(result.passed, result.description)
    }

    func testLossesIgnoreGarbageInMaskedPositions() {
        let mask = Tensor([1, 1, 1, 0, 1, 0], shape: [2, 3])
        func run(_ garbage: Float) -> (policy: PPOPolicyLossOutput, value: PPOValueLossOutput, gradLp: [Float], gradV: [Float]) {
            func filled(_ v: [Float]) -> [Float] { zip(v, mask.scalars).map { $1 != 0 ? $0 : garbage } }
            let lp = Tensor(filled([-1.0, -0.4, -2.2, 0, -0.9, 0]), shape: [2, 3], requiresGrad: true)
            let v = Tensor(filled([0.3, 1.4, -0.5, 0, 0.2, 0]), shape: [2, 3], requiresGrad: true)
            let old = Tensor(filled([-1.1, -0.1, -2.0, 0, -1.5, 0]), shape: [2, 3])
            let policy = PPO.policyLoss(newLogProbs: lp, oldLogProbs: old, advantages: Tensor(filled([0.5, -1, 2, 0, 1.5, 0]), shape: [2, 3]),
                                        mask: mask)
            let value = PPO.valueLoss(values: v, oldValues: Tensor(filled([0.2, 1.0, 0.1, 0, 0.3, 0]), shape: [2, 3]),
                                      returns: Tensor(filled([1, 2, -1, 0, 0.25, 0]), shape: [2, 3]), mask: mask)
            (policy.loss + value.loss).backward()
            return (policy, value, lp.grad!.scalars, v.grad!.scalars)
        }
        let clean = run(0)
        XCTAssertGreaterThan(clean.policy.clipFraction, 0)
        XCTAssertGreaterThan(clean.value.clipFraction, 0)
        for garbage: Float in [.nan, .infinity, -.infinity, 1e30] {
            let dirty = run(garbage)
            XCTAssertEqual(dirty.policy.loss.item, clean.policy.loss.item, "\(garbage)")
            XCTAssertEqual(dirty.value.loss.item, clean.value.loss.item, "\(garbage)")
            XCTAssertEqual(dirty.policy.stats, clean.policy.stats, "\(garbage)")
            XCTAssertEqual(dirty.value.stats, clean.value.stats, "\(garbage)")
            XCTAssertEqual(dirty.gradLp, clean.gradLp, "\(garbage)")
            XCTAssertEqual(dirty.gradV, clean.gradV, "\(garbage)")
        }
    }

    // MARK: End to end

    func testPipelineFromRewardsToLosses() {
        let mask = Tensor([1, 1, 1, 1,
                           1, 1, 0, 0], shape: [2, 4])
        let logp = Tensor([-1.0, -0.5, -2.0, -0.2, -1.3, -0.9, 0, 0], shape: [2, 4])
        let ref = Tensor([-1.2, -0.4, -1.5, -0.3, -1.0, -1.1, 0, 0], shape: [2, 4])
        var controller = AdaptiveKLController(initKLCoef: 0.1, target: 6, horizon: 10_000)
        let rewards = PPO.tokenRewards(scores: Tensor([1.0, -0.5]), logProbs: logp, referenceLogProbs: ref, mask: mask,
                                       klCoef: controller.value, estimator: .k3)
        let values = Tensor([0.2, 0.1, 0.3, 0.4, -0.1, 0.0, 0, 0], shape: [2, 4])
        let (rawAdvantages, returns) = PPO.gae(rewards: rewards, values: values, mask: mask, gamma: 1, lambda: 0.95)
        let advantages = PPO.maskedWhiten(rawAdvantages, mask: mask)
        let newLogp = Tensor(logp.scalars, shape: [2, 4], requiresGrad: true)
        let vpred = Tensor(values.scalars, shape: [2, 4], requiresGrad: true)
        let policy = PPO.policyLoss(newLogProbs: newLogp, oldLogProbs: logp, advantages: advantages, mask: mask)
        let value = PPO.valueLoss(values: vpred, oldValues: values, returns: returns, mask: mask)
        (policy.loss + value.loss * 0.1).backward()
        XCTAssertEqual(policy.loss.item, 0, accuracy: 1e-6)        // whitened advantages have mean 0 at ratio 1
        XCTAssertNotNil(newLogp.grad)
        XCTAssertNotNil(vpred.grad)
        XCTAssertEqual(newLogp.grad![1, 3], 0)
        XCTAssertEqual(vpred.grad![1, 2], 0)
        let kl = PPO.klPenalty(.k3, logProbs: logp, referenceLogProbs: ref, mask: mask)
        controller.update(currentKL: PPO.meanSequenceKL(kl, mask: mask), nSteps: 2)
        XCTAssertLessThan(controller.value, 0.1)                    // KL far below target: the coefficient shrinks
    }
}
