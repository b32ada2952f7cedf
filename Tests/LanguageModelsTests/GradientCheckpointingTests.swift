import LanguageModels
import XCTest

/// A GPT with gradient checkpointing must train exactly as one without: same loss, same gradients,
/// with dropout on (the recomputation rewinds each block's dropout generators).
final class GradientCheckpointingTests: XCTestCase {
    func step(checkpointing: Bool, dropout: Float) -> (loss: Float, grads: [[Float]]) {
        let model = GPT(GPTConfig(vocabSize: 13, contextLength: 8, dModel: 16, layers: 3, heads: 2, dropout: dropout), seed: 7)
        model.gradientCheckpointing = checkpointing
        let ids = IndexTensor(rows: [[1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12]])
        let targets = IndexTensor(rows: [[2, 3, 4, 5, 6, 0], [8, 9, 10, 11, 12, 0]])
        let loss = crossEntropy(logits: model(ids), targets: targets)
        loss.backward()
        return (loss.item, model.parameters().map { $0.grad?.scalars ?? [] })
    }

    func testSameLossAndGradientsWithAndWithoutCheckpointing() {
        for dropout: Float in [0, 0.2] {
            let plain = step(checkpointing: false, dropout: dropout)
            let checkpointed = step(checkpointing: true, dropout: dropout)
            XCTAssertEqual(checkpointed.loss, plain.loss, "dropout \(dropout)")
            XCTAssertEqual(checkpointed.grads.count, plain.grads.count)
            for (a, b) in zip(checkpointed.grads, plain.grads) {
                XCTAssertEqual(a.count, b.count)
                for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: 1e-6 * max(1, abs(y)), "dropout \(dropout)") }
            }
        }
    }

    /// Two forward passes before one backward: the recomputation rewinds each block's dropout and
    /// then puts it back, so the next forward draws what it would have drawn without checkpointing.
    func testDropoutAfterRecomputationContinuesAsWithout() {
        func run(checkpointing: Bool) -> [Float] {
            let model = GPT(GPTConfig(vocabSize: 13, contextLength: 8, dModel: 16, layers: 2, heads: 2, dropout: 0.3), seed: 9)
            model.gradientCheckpointing = checkpointing
            let a = model(IndexTensor(rows: [[1, 2, 3, 4]])), b = model(IndexTensor(rows: [[5, 6, 7, 8]]))
            (a.sum() + b.sum()).backward()
            return model(IndexTensor(rows: [[9, 10, 11, 12]])).scalars
        }
        XCTAssertEqual(run(checkpointing: true), run(checkpointing: false))
    }
}
