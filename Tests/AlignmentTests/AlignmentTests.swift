import Foundation
import XCTest
import TensorCore
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
        XCTAssertEqual(value(.referenceFree), -logSigmoid(beta * h), accuracy: 1e-6)
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

    func testBatchMasksCompletionAndEOSAndShiftsLabelsOnce() {
        let eos = tokenizer.eosToken
        let batch = Batch([TokenizedPair(prompt: [10, 11], completion: [12, eos]), TokenizedPair(prompt: [20], completion: [eos])],
                          padToken: tokenizer.padToken)
        XCTAssertEqual(batch.length, 4)
        XCTAssertEqual(batch.inputIDs, [10, 11, 12, eos, 20, eos, 257, 257])
        XCTAssertEqual(batch.lossMask, [0, 0, 1, 1, 0, 1, 0, 0])
        XCTAssertEqual(batch.targets, [-100, 12, eos, eos, -100, -100])
        XCTAssertEqual(batch.lastTokenIndices, [3, 1])
    }

    func testSequenceLogProbsIgnorePaddingAndCountEOS() {
        let model = GPT(GPTConfig(vocabSize: 258, contextLength: 16, dModel: 8, layers: 1, heads: 2), seed: 1)
        let eos = tokenizer.eosToken
        let pair = TokenizedPair(prompt: [72, 105], completion: [33, eos])
        let alone = Batch([pair], padToken: 257)
        let padded = Batch([pair, TokenizedPair(prompt: [1, 2, 3, 4, 5], completion: [6, 7, 8, eos])], padToken: 257)
        let a = withNoGrad { SequenceLogProbs.compute(logits: model(alone.inputIDs, batch: 1), batch: alone) }.scalars[0]
        let b = withNoGrad { SequenceLogProbs.compute(logits: model(padded.inputIDs, batch: 2), batch: padded) }.scalars[0]
        XCTAssertEqual(a, b, accuracy: 1e-5)
        // By hand: log p(33 | "Hi") + log p(EOS | "Hi!").
        let logp = withNoGrad { model([72, 105, 33, eos], batch: 1).logSoftmax(axis: -1) }
        XCTAssertEqual(a, logp[0, 1, 33] + logp[0, 2, eos], accuracy: 1e-5)
        let mean = withNoGrad { SequenceLogProbs.compute(logits: model(alone.inputIDs, batch: 1), batch: alone, reduction: .mean) }
        XCTAssertEqual(mean.item, a / 2, accuracy: 1e-5)
    }
}
