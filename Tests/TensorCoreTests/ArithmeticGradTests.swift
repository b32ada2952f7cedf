import TestSupport
import XCTest
import TensorCore

final class ArithmeticGradTests: XCTestCase {
    // MARK: binary ops, same shape and broadcast

    func testBinaryOpsSameShape() {
        let a = randomLeaf([2, 3], seed: 1), b = awayFromZeroLeaf([2, 3], seed: 2)
        assertGradCheck([a, b]) { $0[0] + $0[1] }
        assertGradCheck([a, b]) { $0[0] - $0[1] }
        assertGradCheck([a, b]) { $0[0] * $0[1] }
        assertGradCheck([a, b]) { $0[0] / $0[1] }
    }

    func testBinaryOpsBroadcastRank3WithRank2() {
        // [3,1,4] with [2,4] -> [3,2,4]
        let a = randomLeaf([3, 1, 4], seed: 3), b = awayFromZeroLeaf([2, 4], seed: 4)
        assertGradCheck([a, b]) { $0[0] + $0[1] }
        assertGradCheck([a, b]) { $0[0] - $0[1] }
        assertGradCheck([a, b]) { $0[0] * $0[1] }
        assertGradCheck([a, b]) { $0[0] / $0[1] }
        assertGradCheck([a, b]) { $0[1] - $0[0] }
        let bb = awayFromZeroLeaf([3, 1, 4], seed: 5)
        assertGradCheck([randomLeaf([2, 4], seed: 6), bb]) { $0[0] / $0[1] }
    }

    func testBinaryOpsScalarShapedOperand() {
        let s = awayFromZeroLeaf([], seed: 7), m = awayFromZeroLeaf([2, 3], seed: 8)
        for f: (Tensor, Tensor) -> Tensor in [{ $0 + $1 }, { $0 - $1 }, { $0 * $1 }, { $0 / $1 }] {
            assertGradCheck([s, m]) { f($0[0], $0[1]) }
            assertGradCheck([s, m]) { f($0[1], $0[0]) }
        }
    }

    func testBinaryOpsBroadcastBothSides() {
        // [3,1] with [1,4] and [4] with [3,4]
        let a = randomLeaf([3, 1], seed: 9), b = awayFromZeroLeaf([1, 4], seed: 10)
        assertGradCheck([a, b]) { $0[0] * $0[1] }
        assertGradCheck([a, b]) { $0[0] / $0[1] }
        let v = awayFromZeroLeaf([4], seed: 11), m = randomLeaf([3, 4], seed: 12)
        assertGradCheck([v, m]) { $0[1] / $0[0] }
        assertGradCheck([v, m]) { $0[0] * $0[1] - $0[1] }
    }

    func testBinaryOpsOnStridedInputs() {
        let a = awayFromZeroLeaf([4, 3], seed: 13), b = awayFromZeroLeaf([3, 4], seed: 14)
        assertGradCheck([a, b]) { $0[0].transposed() * $0[1] }
        assertGradCheck([a, b]) { $0[1] / $0[0].transposed() }
        assertGradCheck([a, b]) { $0[0].slice(axis: 0, 1..<3) + $0[1].slice(axis: 1, 1..<3).transposed() }
        let c = randomLeaf([1, 4], seed: 15)
        assertGradCheck([c, b]) { $0[0].expanded(to: [3, 4]) * $0[1] }
        assertGradCheck([c, b]) { $0[0].expanded(to: [2, 3, 4]) - $0[1].transposed().transposed() }
    }

    func testSameTensorOnBothSidesAccumulates() {
        let x = Tensor([1, -2, 3], requiresGrad: true)
        let g = gradient(of: x) { $0 * $0 + $0 }
        assertValues(g!, [3, -3, 7])
        assertGradCheck([awayFromZeroLeaf([5], seed: 16)]) { $0[0] / $0[0].exp() }
    }

    func testForwardValuesWithBroadcasting() {
        let a = Tensor([1, 2, 3], shape: [3, 1]), b = Tensor([10, 20, 30, 40], shape: [1, 4])
        assertValues(a + b, [11, 21, 31, 41, 12, 22, 32, 42, 13, 23, 33, 43], shape: [3, 4])
        assertValues(b - a, [9, 19, 29, 39, 8, 18, 28, 38, 7, 17, 27, 37], shape: [3, 4])
        assertValues(a * Tensor(scalar: 2), [2, 4, 6], shape: [3, 1])
        assertValues(Tensor([1, 2, 3]) / Tensor([2, 4, 8]), [0.5, 0.5, 0.375], shape: [3])
        assertValues(-Tensor([1, -2]), [-1, 2])
        // Transposed operand read through its strides.
        let m = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
        assertValues(m.transposed() + Tensor([0, 100], shape: [2]), [1, 104, 2, 105, 3, 106], shape: [3, 2])
    }

    func testScalarForms() {
        let x = awayFromZeroLeaf([2, 3], seed: 17)
        assertGradCheck([x]) { $0[0] + 2 }
        assertGradCheck([x]) { 2 + $0[0] }
        assertGradCheck([x]) { $0[0] - 2 }
        assertGradCheck([x]) { 3 - $0[0] }
        assertGradCheck([x]) { $0[0] * 2.5 }
        assertGradCheck([x]) { -1.5 * $0[0] }
        assertGradCheck([x]) { $0[0] / 4 }
        assertGradCheck([x]) { 2 / $0[0] }
        assertGradCheck([x]) { -$0[0] }
        assertGradCheck([x]) { 2 / $0[0].transposed() }
        let v = Tensor([1, 2, 4])
        assertValues(v + 1, [2, 3, 5])
        assertValues(1 - v, [0, -1, -3])
        assertValues(v - 1, [0, 1, 3])
        assertValues(v * 3, [3, 6, 12])
        assertValues(v / 2, [0.5, 1, 2])
        assertValues(2 / v, [2, 1, 0.5])
    }

    // MARK: pow

    func testPowScalarExponent() {
        let x = randomLeaf([2, 3], seed: 18, low: 0.5, high: 2)
        for p: Float in [3, 2, 0.5, -1.5, 1] { assertGradCheck([x]) { $0[0].pow(p) } }
        assertGradCheck([awayFromZeroLeaf([6], seed: 19)]) { $0[0].pow(3) }
        assertValues(Tensor([2, 3, 4]).pow(2), [4, 9, 16])
        assertValues(Tensor([4, 9]).pow(0.5), [2, 3])
    }

    func testPowZeroExponentHasZeroGradientEverywhere() {
        // PyTorch: d/dx x^0 = 0, also at x = 0 (not 0 * 0^-1 = NaN).
        let x = Tensor([0, 2, -3], requiresGrad: true)
        assertValues(x.pow(0), [1, 1, 1])
        assertValues(gradient(of: x) { $0.pow(0) }!, [0, 0, 0])
        let p = Tensor([0, 0, 0], requiresGrad: false)
        assertValues(gradient(of: x) { $0.pow(p) }!, [0, 0, 0])
    }

    func testPowTensorExponent() {
        let x = randomLeaf([2, 3], seed: 20, low: 0.5, high: 2), p = randomLeaf([3], seed: 21, low: -1, high: 2)
        assertGradCheck([x, p]) { $0[0].pow($0[1]) }
        assertGradCheck([x, p]) { $0[0].transposed().pow($0[1].unsqueezed(axis: 1)) }
        assertValues(Tensor([2, 3]).pow(Tensor([3, 2])), [8, 9])
    }

    // MARK: minimum / maximum / clamp

    func testMinimumMaximumGradCheckWithoutTies() {
        let a = distinctLeaf([2, 3], seed: 22), b = distinctLeaf([2, 3], seed: 23, offset: 0.05)
        assertGradCheck([a, b]) { $0[0].maximum($0[1]) }
        assertGradCheck([a, b]) { $0[0].minimum($0[1]) }
        assertGradCheck([a, b]) { $0[0].transposed().maximum($0[1].transposed()) }
        // Broadcast [3] against [2,3]: values on a 0.1 grid vs. a grid shifted by 0.05.
        let v = distinctLeaf([3], seed: 24, offset: 0.05)
        assertGradCheck([a, v]) { $0[0].maximum($0[1]) }
        assertGradCheck([a, v]) { $0[1].minimum($0[0]) }
    }

    func testMinimumMaximumForwardAndTieSplit() {
        let a = Tensor([1, 2, 3, -1], requiresGrad: true), b = Tensor([1, 0, 3, 5], requiresGrad: true)
        assertValues(a.maximum(b), [1, 2, 3, 5])
        assertValues(a.minimum(b), [1, 0, 3, -1])
        a.maximum(b).sum().backward()
        assertValues(a.grad!, [0.5, 1, 0.5, 0])
        assertValues(b.grad!, [0.5, 0, 0.5, 1])
        a.zeroGrad(); b.zeroGrad()
        a.minimum(b).sum().backward()
        assertValues(a.grad!, [0.5, 0, 0.5, 1])
        assertValues(b.grad!, [0.5, 1, 0.5, 0])
        // Broadcast tie: scalar 0 against [0, 1, -1] -> scalar gets 0.5 + 0 + 1.
        let s = Tensor(scalar: 0, requiresGrad: true), v = Tensor([0, 1, -1], requiresGrad: true)
        s.maximum(v).sum().backward()
        XCTAssertEqual(s.grad!.item, 1.5)
        assertValues(v.grad!, [0.5, 1, 0])
    }

    func testNaNPropagatesThroughMinimumMaximumAndClamp() {
        // torch.maximum / minimum / clamp propagate NaN from either side.
        let a = Tensor([.nan, 1, .nan]), b = Tensor([1, .nan, .nan])
        assertValues(a.maximum(b), [.nan, .nan, .nan])
        assertValues(a.minimum(b), [.nan, .nan, .nan])
        assertValues(b.maximum(a), [.nan, .nan, .nan])
        assertValues(a.clamped(min: 0, max: 2), [.nan, 1, .nan])
        assertValues(a.relu(), [.nan, 1, .nan])
    }

    func testClamp() {
        let x = Tensor([-3, -1, 0.5, 1, 4], requiresGrad: true)
        assertValues(x.clamped(min: -1, max: 1), [-1, -1, 0.5, 1, 1])
        assertValues(x.clamped(min: 0), [0, 0, 0.5, 1, 4])
        assertValues(x.clamped(max: 0), [-3, -1, 0, 0, 0])
        // The gradient passes inside the bounds, bounds included (PyTorch clamp).
        assertValues(gradient(of: x) { $0.clamped(min: -1, max: 1) }!, [0, 1, 1, 1, 0])
        let y = Tensor([-1.5, -0.7, -0.2, 0.3, 0.6, 1.4], shape: [2, 3], requiresGrad: true)
        assertGradCheck([y]) { $0[0].clamped(min: -1, max: 1) }
        assertGradCheck([y]) { $0[0].transposed().clamped(min: -0.5) }
        assertGradCheck([y]) { $0[0].clamped(max: 0.45) * $0[0] }
    }
}
