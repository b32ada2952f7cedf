import TensorCore
import TestSupport
import XCTest

/// Activation checkpointing: the recomputed backward must give what the recorded one gives.
final class CheckpointTests: XCTestCase {
    /// A small two-layer body that reads two parameters.
    func body(_ w1: Tensor, _ w2: Tensor) -> (Tensor) -> Tensor {
        { x in ((x.matmul(w1)).tanh().matmul(w2) + x).sigmoid() }
    }

    func testGradientsEqualTheRecordedPath() {
        let x = randomLeaf([3, 4], seed: 1), w1 = randomLeaf([4, 5], seed: 2), w2 = randomLeaf([5, 4], seed: 3)
        let f = body(w1, w2)
        let y0 = f(x)
        (y0 * y0).sum().backward()
        let expected = [x, w1, w2].map { $0.grad!.scalars }
        for t in [x, w1, w2] { t.zeroGrad() }
        let y = checkpointed(x, parameters: [w1, w2], f)
        (y * y).sum().backward()
        XCTAssertEqual([x, w1, w2].map { $0.grad!.scalars }, expected)
        XCTAssertEqual(y.scalars, f(x).scalars)
    }

    func testFiniteDifferences() {
        let x = randomLeaf([2, 4], seed: 4), w1 = randomLeaf([4, 3], seed: 5), w2 = randomLeaf([3, 4], seed: 6)
        assertGradCheck([x, w1, w2]) { t in checkpointed(t[0], parameters: [t[1], t[2]], self.body(t[1], t[2])) }
    }

    func testParametersGetGradientsWhenTheInputNeedsNone() {
        let x = randomLeaf([3, 4], seed: 7).requiringGrad(false)
        let w1 = randomLeaf([4, 5], seed: 8), w2 = randomLeaf([5, 4], seed: 9)
        checkpointed(x, parameters: [w1, w2], body(w1, w2)).sum().backward()
        let expected = [w1, w2].map { $0.grad!.scalars }
        for t in [w1, w2] { t.zeroGrad() }
        body(w1, w2)(x).sum().backward()
        XCTAssertEqual([w1, w2].map { $0.grad!.scalars }, expected)
        XCTAssertNil(x.grad)
    }

    func testWithoutGradModeItIsJustTheBody() {
        let x = randomLeaf([3, 4], seed: 10), w1 = randomLeaf([4, 5], seed: 11), w2 = randomLeaf([5, 4], seed: 12)
        let y = withNoGrad { checkpointed(x, parameters: [w1, w2], body(w1, w2)) }
        XCTAssertFalse(y.requiresGrad)
    }

    func testRecomputationRunsOnlyInBackward() {
        let x = randomLeaf([2, 2], seed: 13), w = randomLeaf([2, 2], seed: 14)
        var calls = 0
        let y = checkpointed(x, parameters: [w]) { calls += 1; return $0.matmul(w) }
        XCTAssertEqual(calls, 1)
        y.sum().backward()
        XCTAssertEqual(calls, 2)
    }
}
