import TestSupport
import XCTest
import TensorCore

final class ReductionTests: XCTestCase {
    let m = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])

    // MARK: sum / mean

    func testSumForward() {
        XCTAssertEqual(m.sum().item, 21)
        XCTAssertEqual(m.sum().shape, [])
        assertValues(m.sum(axis: 0), [5, 7, 9], shape: [3])
        assertValues(m.sum(axis: 1), [6, 15], shape: [2])
        assertValues(m.sum(axis: -1, keepDims: true), [6, 15], shape: [2, 1])
        assertValues(m.sum(axis: 0, keepDims: true), [5, 7, 9], shape: [1, 3])
        assertValues(m.sum(axes: [0, 1], keepDims: true), [21], shape: [1, 1])
        assertValues(m.transposed().sum(axis: 1), [5, 7, 9], shape: [3])
        let t = Tensor((0..<24).map(Float.init), shape: [2, 3, 4])
        assertValues(t.sum(axes: [0, 2]), [60, 92, 124], shape: [3])
        assertValues(t.sum(axes: [-1, 0], keepDims: true), [60, 92, 124], shape: [1, 3, 1])
        assertValues(t.sum(axes: [0, 1]), [60, 66, 72, 78], shape: [4])
        assertValues(t.permuted(2, 0, 1).sum(axis: 2), [12, 48, 15, 51, 18, 54, 21, 57], shape: [4, 2])
        assertValues(t.sum(axes: []), t.scalars, shape: [2, 3, 4])
    }

    func testMeanForward() {
        XCTAssertEqual(m.mean().item, 3.5)
        assertValues(m.mean(axis: 0), [2.5, 3.5, 4.5], shape: [3])
        assertValues(m.mean(axis: -1, keepDims: true), [2, 5], shape: [2, 1])
        let t = Tensor((0..<24).map(Float.init), shape: [2, 3, 4])
        assertValues(t.mean(axes: [0, 2]), [7.5, 11.5, 15.5], shape: [3])
        assertValues(t.mean(axes: [1, 0]), [10, 11, 12, 13], shape: [4])
    }

    func testSumAndMeanGradCheck() {
        let x = randomLeaf([2, 3, 4], seed: 50)
        for keep in [false, true] {
            assertGradCheck([x]) { $0[0].sum(axes: nil, keepDims: keep) }
            assertGradCheck([x]) { $0[0].sum(axis: 1, keepDims: keep) }
            assertGradCheck([x]) { $0[0].sum(axis: -1, keepDims: keep) }
            assertGradCheck([x]) { $0[0].sum(axis: 0, keepDims: keep) }
            assertGradCheck([x]) { $0[0].sum(axes: [0, 1], keepDims: keep) }
            assertGradCheck([x]) { $0[0].sum(axes: [-1, 0], keepDims: keep) }
            assertGradCheck([x]) { $0[0].mean(axes: nil, keepDims: keep) }
            assertGradCheck([x]) { $0[0].mean(axis: -2, keepDims: keep) }
            assertGradCheck([x]) { $0[0].mean(axes: [0, 2], keepDims: keep) }
            assertGradCheck([x]) { $0[0].transposed(0, 2).sum(axes: [0, 1], keepDims: keep) }
            assertGradCheck([x]) { $0[0].slice(axis: 2, 1..<3).mean(axis: 0, keepDims: keep) }
        }
        // Sum feeding a broadcast op (gradient through the reduced shape).
        assertGradCheck([x]) { $0[0] * $0[0].sum(axis: -1, keepDims: true) }
        assertGradCheck([randomLeaf([3, 1], seed: 51)]) { $0[0].expanded(to: [2, 3, 4]).sum(axis: 1) }
    }

    // MARK: max / min

    func testMaxMinForward() {
        let t = Tensor([3, -1, 7, 2, 9, 0], shape: [2, 3])
        XCTAssertEqual(t.max().item, 9)
        XCTAssertEqual(t.min().item, -1)
        assertValues(t.max(axis: 0), [3, 9, 7], shape: [3])
        assertValues(t.max(axis: -1, keepDims: true), [7, 9], shape: [2, 1])
        assertValues(t.min(axis: 1), [-1, 0], shape: [2])
        assertValues(t.min(axis: 0, keepDims: true), [2, -1, 0], shape: [1, 3])
        assertValues(t.transposed().max(axis: 0), [7, 9], shape: [2])
        assertValues(Tensor([-5, -3], shape: [2]).max(), [-3], shape: [])
        assertValues(Tensor([-.infinity, -.infinity]).max(), [-.infinity])
        let u = Tensor((0..<24).map { Float(($0 * 7) % 24) }, shape: [2, 3, 4])
        assertValues(u.max(axes: [0, 2]), [21, 23, 22], shape: [3])
        assertValues(u.min(axes: [-1, -3], keepDims: true), [0, 1, 3], shape: [1, 3, 1])
    }

    func testMaxMinGradCheckWithoutTies() {
        let x = distinctLeaf([2, 3, 4], seed: 52)
        for keep in [false, true] {
            assertGradCheck([x]) { $0[0].max(axes: nil, keepDims: keep) }
            assertGradCheck([x]) { $0[0].max(axis: 1, keepDims: keep) }
            assertGradCheck([x]) { $0[0].max(axis: -1, keepDims: keep) }
            assertGradCheck([x]) { $0[0].max(axes: [0, 2], keepDims: keep) }
            assertGradCheck([x]) { $0[0].min(axis: 0, keepDims: keep) }
            assertGradCheck([x]) { $0[0].min(axes: [-1, -2], keepDims: keep) }
            assertGradCheck([x]) { $0[0].transposed(0, 2).max(axis: 0, keepDims: keep) }
        }
    }

    func testMaxTiesShareGradientEvenly() {
        // torch.amax: the gradient is split evenly among tied maxima.
        let x = Tensor([1, 3, 3, 2, 2, 2], shape: [2, 3], requiresGrad: true)
        x.max(axis: 1).backward(Tensor([1, 6]))
        assertValues(x.grad!, [0, 0.5, 0.5, 2, 2, 2])
        x.zeroGrad()
        x.max().backward()
        assertValues(x.grad!, [0, 0.5, 0.5, 0, 0, 0])
        x.zeroGrad()
        x.min(axis: 0, keepDims: true).backward(Tensor.ones([1, 3]))
        assertValues(x.grad!, [1, 0, 0, 0, 1, 1])
        // Ties along a non-last axis of a transposed view.
        let y = Tensor([5, 5, 1, 5], shape: [2, 2], requiresGrad: true)
        y.transposed().max(axis: 1).backward(Tensor([1, 1]))
        assertValues(y.grad!, [1, 0.5, 0, 0.5])
    }

    func testNaNPropagatesThroughMaxMin() {
        // torch.amax / amin propagate NaN wherever it sits in the reduced slice.
        let x = Tensor([1, .nan, 3, .nan, 5, 6], shape: [2, 3])
        assertValues(x.max(axis: 1), [.nan, .nan])
        assertValues(x.min(axis: 1), [.nan, .nan])
        assertValues(x.max(axis: 0), [.nan, .nan, 6])
        assertValues(x.min(axis: 0), [.nan, .nan, 3])
        XCTAssertTrue(x.max().item.isNaN)
        XCTAssertTrue(Tensor([.nan, 1]).min().item.isNaN)
        XCTAssertTrue(Tensor([1, .nan]).max().item.isNaN)
    }

    func testMeanOfEmptyIsNaN() {
        // PyTorch: mean over zero elements is 0/0.
        XCTAssertTrue(Tensor.zeros([0]).mean().item.isNaN)
        assertValues(Tensor.zeros([0, 2]).mean(axis: 0), [.nan, .nan], shape: [2])
        assertValues(Tensor.zeros([0, 2]).mean(axis: 1), [], shape: [0])
        XCTAssertEqual(Tensor.zeros([0, 2]).sum().item, 0)
    }

    // MARK: logSumExp

    func testLogSumExpForward() {
        let x = Tensor([0, 1, 2, -1, 0.5, 3], shape: [2, 3])
        func naive(_ r: [Float]) -> Float { Float(Foundation.log(r.map { Foundation.exp(Double($0)) }.reduce(0, +))) }
        assertValues(x.logSumExp(axis: -1), [naive([0, 1, 2]), naive([-1, 0.5, 3])], shape: [2])
        assertValues(x.logSumExp(axis: 0, keepDims: true), [naive([0, -1]), naive([1, 0.5]), naive([2, 3])], shape: [1, 3])
        XCTAssertEqual(x.logSumExp().item, naive([0, 1, 2, -1, 0.5, 3]), accuracy: 1e-5)
        // Stable for large inputs.
        assertValues(Tensor([1000, 1000]).logSumExp(axis: 0), [1000 + Float(Foundation.log(2.0))], accuracy: 1e-6)
        assertValues(Tensor([-1000, -1000]).logSumExp(axis: 0), [-1000 + Float(Foundation.log(2.0))], accuracy: 1e-6)
        // Rows of -inf give -inf (PyTorch); -inf entries beside finite ones contribute nothing.
        let masked = Tensor([-.infinity, -.infinity, -.infinity, 0, -.infinity, 0], shape: [2, 3])
        assertValues(masked.logSumExp(axis: 1), [-.infinity, Float(Foundation.log(2.0))])
    }

    func testLogSumExpGradient() {
        let x = randomLeaf([2, 3, 4], seed: 53, low: -3, high: 3)
        for keep in [false, true] {
            assertGradCheck([x]) { $0[0].logSumExp(axis: -1, keepDims: keep) }
            assertGradCheck([x]) { $0[0].logSumExp(axis: 0, keepDims: keep) }
            assertGradCheck([x]) { $0[0].logSumExp(axes: [0, 2], keepDims: keep) }
            assertGradCheck([x]) { $0[0].logSumExp(axes: nil, keepDims: keep) }
            assertGradCheck([x]) { $0[0].transposed().logSumExp(axis: 1, keepDims: keep) }
        }
        // The gradient is softmax; -inf entries get 0.
        let y = Tensor([-.infinity, 0, 0], requiresGrad: true)
        y.logSumExp(axis: 0).backward()
        assertValues(y.grad!, [0, 0.5, 0.5])
        let big = Tensor([1000, 1000], requiresGrad: true)
        big.logSumExp().backward()
        // Float32 rounds the result to the ulp of 1000 (6e-5), as in PyTorch; the gradient is close.
        assertValues(big.grad!, [0.5, 0.5], accuracy: 1e-4)
    }

    // MARK: argmax

    func testArgmax() {
        let t = Tensor([3, 9, 9, 2, 1, 5], shape: [2, 3])
        XCTAssertEqual(t.argmax(), [1, 2])          // first of tied maxima
        XCTAssertEqual(t.argmax(axis: 0), [0, 0, 0]) // ties go to the first row
        XCTAssertEqual(t.argmax(axis: 1), [1, 2])
        XCTAssertEqual(t.transposed().argmax(axis: 1), [0, 0, 0])
        XCTAssertEqual(t.transposed().argmax(axis: 0), [1, 2])
        let u = Tensor([0, 1, 5, 2, 7, 3, 4, -1], shape: [2, 2, 2])
        XCTAssertEqual(u.argmax(axis: 1), [1, 1, 0, 0])
        // NaN counts as the maximum (PyTorch); the first NaN wins.
        XCTAssertEqual(Tensor([1, .nan, 5, .nan, 2, 3], shape: [2, 3]).argmax(), [1, 0])
        XCTAssertEqual(Tensor([.nan, 7, .nan]).argmax(), [0])
    }
}
