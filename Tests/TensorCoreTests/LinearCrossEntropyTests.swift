import TensorCore
import TestSupport
import XCTest

/// The chunked LM-head cross-entropy against the unfused path (linear, then cross-entropy).
final class LinearCrossEntropyTests: XCTestCase {
    func testMatchesLinearThenCrossEntropyForAnyChunkSize() {
        let hidden = randomLeaf([3, 5, 8], seed: 1, low: -2, high: 2), weight = randomLeaf([37, 8], seed: 2, low: -1, high: 1)
        let targets = IndexTensor([3, 0, 36, -100, 7, 7, 1, -100, -100, 20, 5, 9, 0, 2, 30], shape: [3, 5])
        let g = randomLeaf([3, 5], seed: 3).detach()
        let reference = crossEntropy(logits: linear(hidden, weight: weight), targets: targets, reduction: .none)
        (reference * g).sum().backward()
        let (dh, dw) = (hidden.grad!.scalars, weight.grad!.scalars)
        for chunk in [1, 4, 15, 1000] {
            hidden.zeroGrad(); weight.zeroGrad()
            let fused = linearCrossEntropy(hidden, weight: weight, targets: targets, chunkRows: chunk)
            XCTAssertEqual(fused.shape, [3, 5])
            for (a, b) in zip(fused.scalars, reference.scalars) { XCTAssertEqual(a, b, accuracy: 1e-5, "chunk \(chunk)") }
            (fused * g).sum().backward()
            for (a, b) in zip(hidden.grad!.scalars, dh) { XCTAssertEqual(a, b, accuracy: 1e-5, "dHidden, chunk \(chunk)") }
            for (a, b) in zip(weight.grad!.scalars, dw) { XCTAssertEqual(a, b, accuracy: 1e-5, "dWeight, chunk \(chunk)") }
        }
        XCTAssertEqual(linearCrossEntropy(hidden, weight: weight, targets: targets).scalars[3], 0, "ignored row")
    }

    func testFiniteDifferences() {
        let targets = IndexTensor([1, -100, 4, 0, 6, 2], shape: [2, 3])
        assertGradCheck([randomLeaf([2, 3, 4], seed: 4), randomLeaf([7, 4], seed: 5)]) { t in
            linearCrossEntropy(t[0], weight: t[1], targets: targets, chunkRows: 4)
        }
    }

    func testReadsATransposedHiddenView() {
        let base = randomLeaf([4, 6], seed: 6), weight = randomLeaf([9, 6], seed: 7)
        let view = base.reshaped([6, 4]).T  // [4, 6] with strides that are not row-major
        let targets = IndexTensor([1, 8, 0, 3])
        let expected = crossEntropy(logits: linear(view, weight: weight), targets: targets, reduction: .none).scalars
        for (a, b) in zip(linearCrossEntropy(view, weight: weight, targets: targets, chunkRows: 3).scalars, expected) {
            XCTAssertEqual(a, b, accuracy: 1e-5)
        }
    }

    func testLargeLogitsKeepTheirPrecision() {
        // Logits near 1000: log-softmax as (x - max) - log(sum), not x - logsumexp.
        let hidden = Tensor([1000, 999.5, 0.25], shape: [1, 3]), weight = Tensor([1, 0, 0, 0, 1, 0, 0, 0, 1], shape: [3, 3])
        let fused = linearCrossEntropy(hidden, weight: weight, targets: IndexTensor([1])).scalars[0]
        let reference = crossEntropy(logits: linear(hidden, weight: weight), targets: IndexTensor([1]), reduction: .none).scalars[0]
        XCTAssertEqual(fused, reference)
    }
}
