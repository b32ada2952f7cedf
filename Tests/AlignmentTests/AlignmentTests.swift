import Foundation
import XCTest
import Alignment

final class PreferenceLossTests: XCTestCase {
    func leaf(_ v: [Float]) -> Tensor { Tensor(v, requiresGrad: true) }

    func testSigmoidDPOAtIdentity() {
        let beta: Float = 0.05
        let pc = leaf([-3, -7]), pr = leaf([-5, -2])
        let out = PreferenceLoss.compute(PreferenceLossConfig(type: .sigmoid, beta: beta), policyChosen: pc, policyRejected: pr,
                                         referenceChosen: Tensor([-3, -7]), referenceRejected: Tensor([-5, -2]))
        XCTAssertEqual(out.loss.item, Float(log(2.0)), accuracy: 1e-6)
        XCTAssertEqual(out.chosenRewards.scalars, [0, 0])
        XCTAssertEqual(out.rejectedRewards.scalars, [0, 0])
        let accuracy = zip(out.chosenRewards.scalars, out.rejectedRewards.scalars).filter { $0 > $1 }.count
        XCTAssertEqual(accuracy, 0)
        out.loss.backward()
        // d loss / d margin = -β σ(0) = -β/2 per example, divided by the batch of 2 through the mean.
        for g in pc.grad!.scalars { XCTAssertEqual(g, -beta / 2 / 2, accuracy: 1e-7) }
        for g in pr.grad!.scalars { XCTAssertEqual(g, beta / 2 / 2, accuracy: 1e-7) }
    }

    /// Gradient of the mean loss with respect to the margin h at a given h (reference log-probs 0).
    func marginGradient(_ config: PreferenceLossConfig, at h: Float) -> Float {
        let pc = leaf([h]), pr = Tensor([0])
        PreferenceLoss.compute(config, policyChosen: pc, policyRejected: pr, referenceChosen: Tensor([0]), referenceRejected: Tensor([0]))
            .loss.backward()
        return pc.grad!.item
    }

    func testConservativeDPOHasAFiniteOptimum() {
        let beta: Float = 0.1, eps: Float = 0.2
        let config = PreferenceLossConfig(type: .conservative, beta: beta, labelSmoothing: eps)
        let optimum = Float(log((1 - Double(eps)) / Double(eps))) / beta
        XCTAssertEqual(marginGradient(config, at: optimum), 0, accuracy: 1e-6)
        XCTAssertLessThan(marginGradient(config, at: optimum - 1), 0)
        XCTAssertGreaterThan(marginGradient(config, at: optimum + 1), 0)
        // Plain sigmoid DPO keeps pushing the margin up.
        XCTAssertLessThan(marginGradient(PreferenceLossConfig(type: .sigmoid, beta: beta), at: optimum + 50), 0)
    }

    func testIPOOptimumMarginIsOneOverTwoBeta() {
        let beta: Float = 0.25
        let config = PreferenceLossConfig(type: .ipo, beta: beta)
        XCTAssertEqual(marginGradient(config, at: 1 / (2 * beta)), 0, accuracy: 1e-6)
        XCTAssertLessThan(marginGradient(config, at: 1 / (2 * beta) - 0.5), 0)
        XCTAssertGreaterThan(marginGradient(config, at: 1 / (2 * beta) + 0.5), 0)
    }

    func testOtherLossesAgainstTheirFormulas() {
        let beta: Float = 0.5, eps: Float = 0.1, h: Float = 0.8
        func value(_ type: PreferenceLossType, gamma: Float = 0.5) -> Float {
            PreferenceLoss.compute(PreferenceLossConfig(type: type, beta: beta, labelSmoothing: eps, simpoGamma: gamma),
                                   policyChosen: Tensor([h - 1]), policyRejected: Tensor([-1]),
                                   referenceChosen: Tensor([0]), referenceRejected: Tensor([0]),
                                   chosenNLL: Tensor([1])).loss.item
        }
        func logSigmoid(_ x: Float) -> Float { -log1p(exp(-x)) }
        XCTAssertEqual(value(.hinge), max(0, 1 - beta * h), accuracy: 1e-6)
        XCTAssertEqual(value(.robust), ((1 - eps) * -logSigmoid(beta * h) - eps * -logSigmoid(-beta * h)) / (1 - 2 * eps), accuracy: 1e-6)
        // Reference-free is sigmoid DPO, so conservative with label smoothing, as TRL's reference_free.
        XCTAssertEqual(value(.referenceFree), (1 - eps) * -logSigmoid(beta * h) + eps * -logSigmoid(-beta * h), accuracy: 1e-6)
        XCTAssertEqual(value(.simpo, gamma: 0.3), (1 - eps) * -logSigmoid(beta * h - 0.3) + eps * -logSigmoid(0.3 - beta * h), accuracy: 1e-6)
        // ORPO with mean log-probs -0.2 (chosen) and -1 (rejected).
        let pc: Float = h - 1, pr: Float = -1
        let logOdds = (pc - pr) - (log(1 - exp(pc)) - log(1 - exp(pr)))
        XCTAssertEqual(value(.orpo), 1 - beta * logSigmoid(logOdds), accuracy: 1e-5)
    }

    func testLossGradientsMatchFiniteDifferences() {
        for type in PreferenceLossType.allCases {
            let config = PreferenceLossConfig(type: type, beta: 0.3, labelSmoothing: 0.1)
            let pc = leaf([-1.2, -0.4, -2]), pr = leaf([-0.9, -1.5, -0.3]), nll = leaf([0.7, 1.1, 0.2])
            let r = gradCheck([pc, pr, nll], eps: 1e-3) { t in
                PreferenceLoss.compute(config, policyChosen: t[0], policyRejected: t[1], referenceChosen: Tensor([-1, -1, -1]),
                                       referenceRejected: Tensor([-0.5, -2, -1]), chosenNLL: t[2]).loss
            }
            XCTAssertTrue(r.passed, "\(type): \(r)")
        }
    }

    func testSigmoidWithLabelSmoothingIsConservativeDPO() {
        let pc = [Float(-1.2), -0.4, -2], pr = [Float(-0.9), -1.5, -0.3], rc = Tensor([-1, -1, -1]), rr = Tensor([-0.5, -2, -1])
        func run(_ type: PreferenceLossType, _ eps: Float) -> (loss: Float, grad: [Float]) {
            let c = leaf(pc)
            let out = PreferenceLoss.compute(PreferenceLossConfig(type: type, beta: 0.5, labelSmoothing: eps), policyChosen: c,
                                             policyRejected: Tensor(pr), referenceChosen: rc, referenceRejected: rr)
            out.loss.backward()
            return (out.loss.item, c.grad!.scalars)
        }
        let smoothed = run(.sigmoid, 0.2), conservative = run(.conservative, 0.2), plain = run(.sigmoid, 0)
        XCTAssertEqual(smoothed.loss, conservative.loss)
        XCTAssertEqual(smoothed.grad, conservative.grad)
        XCTAssertGreaterThan(abs(smoothed.loss - plain.loss), 1e-3, "label smoothing must not be ignored")
        // Without label smoothing the sigmoid loss is -log σ(βh), bit for bit as before.
        let h = Tensor(pc) - Tensor(pr) - (rc - rr)
        XCTAssertEqual(plain.loss, (-(h * 0.5).logSigmoid()).mean().item)
    }

    func testConfigValidationNamesTheSettingAndAcceptsTRLsRanges() {
        func setting(_ c: PreferenceLossConfig) -> String? {
            do { try c.validate(); return nil } catch let e as ConfigurationError { return e.setting } catch { return "\(error)" }
        }
        for type in PreferenceLossType.allCases {
            XCTAssertNil(setting(PreferenceLossConfig(type: type)), "\(type) with defaults")
            XCTAssertNil(setting(PreferenceLossConfig(type: type, beta: 1e-3, simpoGamma: -2)), "\(type)")
            let smoothing = setting(PreferenceLossConfig(type: type, labelSmoothing: 0.499))
            XCTAssertEqual(smoothing, type.usesLabelSmoothing ? nil : "PreferenceLossConfig.labelSmoothing", "\(type)")
        }
        for beta: Float in [0, -0.1, .nan, .infinity] {
            XCTAssertEqual(setting(PreferenceLossConfig(beta: beta)), "PreferenceLossConfig.beta", "β = \(beta)")
        }
        for eps: Float in [-0.01, 0.5, 0.7, .nan, -.infinity] {
            XCTAssertEqual(setting(PreferenceLossConfig(type: .robust, labelSmoothing: eps)), "PreferenceLossConfig.labelSmoothing", "ε = \(eps)")
        }
        for gamma: Float in [.nan, .infinity] {
            XCTAssertEqual(setting(PreferenceLossConfig(type: .simpo, simpoGamma: gamma)), "PreferenceLossConfig.simpoGamma")
        }
        XCTAssertThrowsError(try PreferenceLossConfig(type: .ipo, labelSmoothing: 0.1).validate()) { error in
            XCTAssertTrue("\(error)".contains("ipo"), "\(error)")
        }
    }

    func testORPOKeepsPrecisionForMeanLogProbsNearZero() {
        // float64: log(1 - e^-3e-5) = -10.41431, log(1 - e^-6e-5) = -9.72119; their difference log 2 - 1.5e-5.
        let out = PreferenceLoss.compute(PreferenceLossConfig(type: .orpo, beta: 1), policyChosen: Tensor([-3e-5]),
                                         policyRejected: Tensor([-6e-5]), referenceChosen: nil, referenceRejected: nil,
                                         chosenNLL: Tensor([0]))
        let logOdds = (-3e-5 + 6e-5) - (log(-expm1(-3e-5)) - log(-expm1(-6e-5)))
        let expected = log1p(exp(-logOdds))      // -log σ(logOdds)
        XCTAssertEqual(Double(out.loss.item), expected, accuracy: 1e-5 * expected)
    }

    func testBradleyTerry() {
        let c = leaf([2, 0]), r = leaf([0, 0])
        let loss = bradleyTerryLoss(chosen: c, rejected: r)
        XCTAssertEqual(loss.item, Float((log1p(exp(-2.0)) + log(2.0)) / 2), accuracy: 1e-6)
        let withMargin = bradleyTerryLoss(chosen: c, rejected: r, margin: Tensor([2, 0]))
        XCTAssertEqual(withMargin.item, Float(log(2.0)), accuracy: 1e-6)
    }
}

final class DataTests: XCTestCase {
    let tokenizer = ByteTokenizer()

    func tempFile(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("d-\(UUID().uuidString).jsonl").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testReadersNameFileAndLine() throws {
        let good = try tempFile(#"{"prompt": "a", "chosen": "b", "rejected": "c"}"# + "\n\n" + #"{"prompt": "d", "chosen": "e", "rejected": "f"}"# + "\n")
        XCTAssertEqual(try JSONL.preferenceExamples(at: good).count, 2)
        let cases: [(String, String)] = [
            (#"{"prompt": "a", "completion": "b"}"# + "\nnot json\n", ":2: not a JSON object"),
            (#"{"prompt": "a"}"#, ":1: missing field \"completion\""),
            (#"{"prompt": "a", "completion": ""}"#, ":1: field \"completion\" is empty"),
            (#"{"prompt": 3, "completion": "x"}"#, ":1: field \"prompt\" is not a string"),
        ]
        for (text, phrase) in cases {
            let path = try tempFile(text)
            XCTAssertThrowsError(try JSONL.sftExamples(at: path)) { error in
                XCTAssertTrue("\(error)".contains(path + phrase), "\(error)")
            }
        }
    }

    func testTruncationCutsPromptFromTheLeftThenCompletion() {
        let policy = TruncationPolicy(maxLength: 8, maxPromptLength: 3)
        let (a, cut) = policy.apply(prompt: [1, 2, 3, 4, 5], completion: [6, 7])
        XCTAssertEqual(a, TokenizedPair(prompt: [3, 4, 5], completion: [6, 7]))
        XCTAssertTrue(cut)
        let (b, _) = policy.apply(prompt: [1, 2], completion: [3, 4, 5, 6, 7, 8, 9, 10])
        XCTAssertEqual(b, TokenizedPair(prompt: [1, 2], completion: [3, 4, 5, 6, 7, 8]))
        var report = DataReport()
        let t = Tokenization(tokenizer: tokenizer, policy: policy)
        XCTAssertNotNil(t.pair(prompt: "ab", completion: "c", report: &report))
        XCTAssertNotNil(t.pair(prompt: "abcdef", completion: "ghijklm", report: &report))
        XCTAssertEqual(report, { var r = DataReport(); r.examples = 2; r.truncated = 1; return r }())
    }

    func testTruncationPolicyValidation() {
        XCTAssertNoThrow(try TruncationPolicy(validatingMaxLength: 8, maxPromptLength: 3))
        XCTAssertNoThrow(try TruncationPolicy(validatingMaxLength: 2, maxPromptLength: 1))
        for (maxLength, maxPromptLength) in [(48, 48), (48, 64), (8, 0), (8, -1), (0, 0), (-5, -10)] {
            XCTAssertThrowsError(try TruncationPolicy(validatingMaxLength: maxLength, maxPromptLength: maxPromptLength)) { error in
                XCTAssertEqual((error as? ConfigurationError)?.setting, "TruncationPolicy.maxPromptLength", "\(error)")
            }
            // Not validated, it still never traps and keeps within its limits.
            let (pair, _) = TruncationPolicy(maxLength: maxLength, maxPromptLength: maxPromptLength)
                .apply(prompt: Array(1...60), completion: [61, 62])
            XCTAssertLessThanOrEqual(pair.prompt.count, max(maxPromptLength, 0), "\(maxLength), \(maxPromptLength): \(pair)")
            XCTAssertLessThanOrEqual(pair.prompt.count + pair.completion.count, max(maxLength, 0), "\(maxLength), \(maxPromptLength): \(pair)")
        }
    }

    func testEmptyPromptScoresOneCompletionTokenFewer() {
        let eos = tokenizer.eosToken
        let pairs = [TokenizedPair(prompt: [], completion: [12, 13, eos]), TokenizedPair(prompt: [20], completion: [21, eos]),
                     TokenizedPair(prompt: [], completion: [eos])]
        let batch = Batch(pairs, padToken: tokenizer.padToken)
        XCTAssertEqual(batch.scoredTargetCounts, [2, 2, 0])
        XCTAssertEqual(batch.scoredTargetCounts, batch.targets.scalars.chunked(batch.length - 1).map { $0.filter { $0 != Batch.ignoreIndex }.count })
        let model = GPT(GPTConfig(vocabSize: 258, contextLength: 16, dModel: 8, layers: 1, heads: 2), seed: 1)
        XCTAssertEqual(SFTStage(model: model, padToken: 257, reduction: .tokenMean).units(pairs), 4)
        // The mean divides by the scored targets; a row with none gives 0, not NaN.
        let logits = withNoGrad { model(batch.inputIDs) }
        let sum = SequenceLogProbs.compute(logits: logits, batch: batch).scalars
        let mean = SequenceLogProbs.compute(logits: logits, batch: batch, reduction: .mean).scalars
        XCTAssertEqual(mean[0], sum[0] / 2, accuracy: 1e-6)
        XCTAssertEqual(mean[1], sum[1] / 2, accuracy: 1e-6)
        XCTAssertEqual(mean[2], 0)
        XCTAssertEqual(sftLoss(sequenceLogProbs: Tensor(sum), scoredTargetCounts: batch.scoredTargetCounts, reduction: .tokenMean).item,
                       -(sum[0] + sum[1]) / 4, accuracy: 1e-6)
    }

    func testBatchMasksCompletionAndEOSAndShiftsLabelsOnce() {
        let eos = tokenizer.eosToken
        let batch = Batch([TokenizedPair(prompt: [10, 11], completion: [12, eos]), TokenizedPair(prompt: [20], completion: [eos])],
                          padToken: tokenizer.padToken)
        XCTAssertEqual(batch.length, 4)
        XCTAssertEqual(batch.inputIDs.scalars, [10, 11, 12, eos, 20, eos, 257, 257])
        XCTAssertEqual(batch.lossMask.scalars, [0, 0, 1, 1, 0, 1, 0, 0])
        XCTAssertEqual(batch.targets.scalars, [-100, 12, eos, eos, -100, -100])
        XCTAssertEqual(batch.lastTokenIndices, [3, 1])
        XCTAssertEqual(batch.scoredTargetCounts, batch.completionLengths)
    }

    func testSequenceLogProbsIgnorePaddingAndCountEOS() {
        let model = GPT(GPTConfig(vocabSize: 258, contextLength: 16, dModel: 8, layers: 1, heads: 2), seed: 1)
        let eos = tokenizer.eosToken
        let pair = TokenizedPair(prompt: [72, 105], completion: [33, eos])
        let alone = Batch([pair], padToken: 257)
        let padded = Batch([pair, TokenizedPair(prompt: [1, 2, 3, 4, 5], completion: [6, 7, 8, eos])], padToken: 257)
        let a = withNoGrad { SequenceLogProbs.compute(logits: model(alone.inputIDs), batch: alone) }.scalars[0]
        let b = withNoGrad { SequenceLogProbs.compute(logits: model(padded.inputIDs), batch: padded) }.scalars[0]
        XCTAssertEqual(a, b, accuracy: 1e-5)
        // By hand: log p(33 | "Hi") + log p(EOS | "Hi!").
        let logp = withNoGrad { model([72, 105, 33, eos], batch: 1).logSoftmax(axis: -1) }
        XCTAssertEqual(a, logp[0, 1, 33] + logp[0, 2, eos], accuracy: 1e-5)
        let mean = withNoGrad { SequenceLogProbs.compute(logits: model(alone.inputIDs), batch: alone, reduction: .mean) }
        XCTAssertEqual(mean.item, a / 2, accuracy: 1e-5)
    }
}

extension Array {
    func chunked(_ size: Int) -> [[Element]] { stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min($0 + size, count)]) } }
}
