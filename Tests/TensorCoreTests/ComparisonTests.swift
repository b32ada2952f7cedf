import TestSupport
import XCTest
import TensorCore

final class ComparisonTests: XCTestCase {
    func testTensorComparisonsWithBroadcasting() {
        let a = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3]), b = Tensor([2, 2, 7], shape: [3])
        assertValues(a.eq(b), [0, 1, 0, 0, 0, 0], shape: [2, 3])
        assertValues(a.ne(b), [1, 0, 1, 1, 1, 1], shape: [2, 3])
        assertValues(a.lt(b), [1, 0, 1, 0, 0, 1], shape: [2, 3])
        assertValues(a.le(b), [1, 1, 1, 0, 0, 1], shape: [2, 3])
        assertValues(a.gt(b), [0, 0, 0, 1, 1, 0], shape: [2, 3])
        assertValues(a.ge(b), [0, 1, 0, 1, 1, 0], shape: [2, 3])
        assertValues(a.transposed().gt(Tensor([3], shape: [1])), [0, 1, 0, 1, 0, 1], shape: [3, 2])
    }

    func testScalarComparisonsAndNoGradient() {
        let x = Tensor([-1, 0, 2, .nan], requiresGrad: true)
        assertValues(x.eq(0), [0, 1, 0, 0])
        assertValues(x.gt(0), [0, 0, 1, 0])
        assertValues(x.lt(0), [1, 0, 0, 0])
        assertValues(x.ge(0), [0, 1, 1, 0])
        assertValues(x.le(0), [1, 1, 0, 0])
        assertValues(x.ne(x), [0, 0, 0, 1])   // NaN != NaN
        XCTAssertFalse(x.gt(0).requiresGrad)
        XCTAssertFalse(x.eq(x).requiresGrad)
    }

    func testWhereForwardAndGradient() {
        let cond = Tensor([1, 0, 1, 0, 0, 1], shape: [2, 3])
        let a = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3], requiresGrad: true)
        let b = Tensor([-1, -2, -3], requiresGrad: true)
        let y = Tensor.where(cond, a, b)
        assertValues(y, [1, -2, 3, -1, -2, 6], shape: [2, 3])
        y.backward(Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3]))
        assertValues(a.grad!, [1, 0, 3, 0, 0, 6])
        assertValues(b.grad!, [4, 7, 0])
        assertGradCheck([randomLeaf([2, 3], seed: 40), randomLeaf([3], seed: 41)]) { Tensor.where(cond, $0[0], $0[1]) }
        assertGradCheck([randomLeaf([3, 2], seed: 42), randomLeaf([], seed: 43)]) { Tensor.where(cond, $0[0].transposed(), $0[1]) }
        // Condition broadcast: [2,1] picks whole rows.
        assertValues(Tensor.where(Tensor([0, 1], shape: [2, 1]), Tensor.ones([2, 2]), Tensor.zeros([2])), [0, 0, 1, 1])
    }

    func testMaskedFill() {
        let x = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3], requiresGrad: true)
        let mask = Tensor([0, 1, 0], shape: [1, 3])
        let y = x.maskedFill(mask, -9)
        assertValues(y, [1, -9, 3, 4, -9, 6], shape: [2, 3])
        y.backward(Tensor.ones([2, 3]))
        assertValues(x.grad!, [1, 0, 1, 1, 0, 1])
        let m2 = Tensor([1, 0, 0, 0, 1, 0], shape: [3, 2])
        assertGradCheck([randomLeaf([2, 3], seed: 44)]) { $0[0].transposed().maskedFill(m2, 0.5) * $0[0].transposed() }
        assertValues(Tensor([1, 2]).maskedFill(Tensor([1, 1]), -.infinity), [-.infinity, -.infinity])
    }
}
