import TensorCore
import TestSupport
import XCTest

/// The fused LM-head cross-entropy keeps all rows' probabilities for backward when they fit in
/// `keepBytes`, and recomputes them chunk by chunk otherwise: both give the same bits.
final class LinearCrossEntropyKeepTests: XCTestCase {
    func testKeptAndRecomputedProbabilitiesGiveTheSameBits() {
        let hidden = randomLeaf([3, 5, 8], seed: 21, low: -2, high: 2), weight = randomLeaf([37, 8], seed: 22)
        let targets = IndexTensor([3, 0, 36, -100, 7, 7, 1, -100, -100, 20, 5, 9, 0, 2, 30], shape: [3, 5])
        let g = randomLeaf([3, 5], seed: 23).detach()
        func run(chunk: Int, keepBytes: Int) -> (value: [Float], dHidden: [Float], dWeight: [Float]) {
            hidden.zeroGrad(); weight.zeroGrad()
            let y = linearCrossEntropy(hidden, weight: weight, targets: targets, chunkRows: chunk, keepBytes: keepBytes)
            (y * g).sum().backward()
            return (y.scalars, hidden.grad!.scalars, weight.grad!.scalars)
        }
        for chunk in [1, 4, 7] {
            let kept = run(chunk: chunk, keepBytes: 1 << 20), recomputed = run(chunk: chunk, keepBytes: 0)
            XCTAssertEqual(kept.value, recomputed.value, "chunk \(chunk)")
            XCTAssertEqual(kept.dHidden, recomputed.dHidden, "chunk \(chunk)")
            XCTAssertEqual(kept.dWeight, recomputed.dWeight, "chunk \(chunk)")
        }
    }

    func testFiniteDifferencesOnBothPaths() {
        let targets = IndexTensor([1, -100, 4, 0, 6, 2], shape: [2, 3])
        for keepBytes in [0, 1 << 20] {
            assertGradCheck([randomLeaf([2, 3, 4], seed: 24), randomLeaf([7, 4], seed: 25)]) { t in
                linearCrossEntropy(t[0], weight: t[1], targets: targets, chunkRows: 4, keepBytes: keepBytes)
            }
        }
    }
}
