import TestSupport
import XCTest
import TensorCore

final class ViewTests: XCTestCase {
    func arange(_ shape: [Int]) -> Tensor { Tensor((0..<shape.reduce(1, *)).map(Float.init), shape: shape) }

    // MARK: reshape / flatten

    func testReshapeOfContiguousIsAView() {
        let x = arange([2, 3, 4])
        let y = x.reshaped([6, 4])
        XCTAssertTrue(y.sharesStorage(with: x))
        assertValues(y, x.scalars, shape: [6, 4])
        XCTAssertEqual(x.reshaped(4, -1).shape, [4, 6])
        XCTAssertEqual(x.reshaped([-1]).shape, [24])
        XCTAssertEqual(x.reshaped([2, -1, 3]).shape, [2, 4, 3])
        XCTAssertEqual(Tensor(scalar: 5).reshaped([1, 1]).shape, [1, 1])
        XCTAssertEqual(Tensor([5]).reshaped([]).item, 5)
        // A view of a slice keeps the slice's offset.
        let s = x.slice(axis: 0, 1..<2).reshaped([3, 4])
        assertValues(s, (12..<24).map(Float.init))
    }

    func testReshapeOfNonContiguousCopiesInLogicalOrder() {
        let x = arange([2, 3])
        let t = x.transposed()        // [[0,3],[1,4],[2,5]]
        XCTAssertFalse(t.isContiguous)
        assertValues(t.reshaped([6]), [0, 3, 1, 4, 2, 5])
        assertValues(t.reshaped([2, 3]), [0, 3, 1, 4, 2, 5], shape: [2, 3])
        let e = Tensor([1, 2], shape: [2, 1]).expanded(to: [2, 3])
        assertValues(e.reshaped([3, 2]), [1, 1, 1, 2, 2, 2])
        let p = arange([2, 3, 4]).permuted(2, 0, 1)
        assertValues(p.reshaped([4, 6]).select(axis: 0, 1), [1, 5, 9, 13, 17, 21])
        let sl = arange([4, 4]).slice(axis: 1, 1..<3)
        assertValues(sl.reshaped([-1]), [1, 2, 5, 6, 9, 10, 13, 14])
    }

    func testReshapeOfStridedTensorIsAViewWhenStridesAllow() {
        // PyTorch `view` rule: a strided dimension may be split, contiguous groups may be merged.
        let x = arange([4, 6])
        let s = x.slice(axis: 1, 0..<4)            // [4, 4], strides [6, 1]
        let v = s.reshaped([4, 2, 2])              // splits the contiguous last dim: a view
        XCTAssertTrue(v.sharesStorage(with: x))
        XCTAssertEqual(v.strides, [6, 2, 1])
        assertValues(v, s.scalars, shape: [4, 2, 2])
        let t = arange([3, 4]).transposed()        // [4, 3], strides [1, 4]
        let tv = t.reshaped([2, 2, 3])             // splits the stride-1 dim: a view
        XCTAssertEqual(tv.strides, [2, 1, 4])
        assertValues(tv, t.scalars, shape: [2, 2, 3])
        XCTAssertEqual(tv[1, 0, 2], t[2, 2])
        // Merging across the gap (or across a transposition) cannot be a view: a copy.
        let c = s.reshaped([16])
        XCTAssertTrue(c.isContiguous)
        assertValues(c, [0, 1, 2, 3, 6, 7, 8, 9, 12, 13, 14, 15, 18, 19, 20, 21])
        assertValues(t.reshaped([12]), [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11])
        // Size-1 dims are inserted freely; an expanded dim stays stride 0.
        let e = Tensor([1, 2], shape: [2, 1]).expanded(to: [2, 3])
        let ev = e.reshaped([2, 1, 3])
        XCTAssertTrue(ev.sharesStorage(with: e))
        assertValues(ev, [1, 1, 1, 2, 2, 2])
        assertValues(e.reshaped([3, 2]), [1, 1, 1, 2, 2, 2])
        // A view shares memory: writes to the base show through.
        x.withUnsafeMutableBufferPointer { $0[7] = -1 }
        XCTAssertEqual(v[1, 0, 1], -1)
        // Gradients through view-reshapes of strided tensors.
        let y = randomLeaf([4, 6], seed: 98), z = randomLeaf([3, 4], seed: 99)
        assertGradCheck([y]) { $0[0].slice(axis: 1, 1..<5).reshaped([4, 2, 2]) * 2 }
        assertGradCheck([y]) { $0[0].slice(axis: 1, 1..<5).reshaped([-1]).exp() }
        assertGradCheck([z]) { $0[0].transposed().reshaped([2, 2, 3]).transposed(0, 2) }
        assertGradCheck([z]) { $0[0].unsqueezed(axis: 1).expanded(to: [3, 2, 4]).reshaped([3, 2, 2, 2]) }
        assertGradCheck([z]) { $0[0].unsqueezed(axis: 1).expanded(to: [3, 2, 4]).reshaped([6, 4]) }
    }

    func testReshapeAndFlattenGradCheck() {
        let x = randomLeaf([2, 3, 4], seed: 90)
        assertGradCheck([x]) { $0[0].reshaped([4, 6]) * $0[0].reshaped([4, 6]) }
        assertGradCheck([x]) { $0[0].transposed().reshaped([-1, 2]) }
        assertGradCheck([x]) { $0[0].permuted(1, 2, 0).reshaped([12, 2]).slice(axis: 0, 3..<9) }
        assertGradCheck([x]) { $0[0].flattened() }
        assertGradCheck([x]) { $0[0].transposed(0, 1).flattened(from: 1) }
        assertGradCheck([x]) { $0[0].flattened(from: 0, to: 1).exp() }
    }

    func testFlattened() {
        let x = arange([2, 3, 4])
        XCTAssertEqual(x.flattened().shape, [24])
        XCTAssertEqual(x.flattened(from: 1).shape, [2, 12])
        XCTAssertEqual(x.flattened(from: 0, to: 1).shape, [6, 4])
        XCTAssertEqual(x.flattened(from: -2, to: -1).shape, [2, 12])
        XCTAssertEqual(x.flattened(from: 1, to: 1).shape, [2, 3, 4])
        XCTAssertEqual(Tensor(scalar: 3).flattened().shape, [1])
        assertValues(x.transposed(0, 2).flattened(from: 1), [0, 12, 4, 16, 8, 20, 1, 13, 5, 17, 9, 21,
                                                              2, 14, 6, 18, 10, 22, 3, 15, 7, 19, 11, 23], shape: [4, 6])
    }

    // MARK: permute / transpose

    func testPermuteAndTransposeAreViews() {
        let x = arange([2, 3, 4])
        let p = x.permuted(2, 0, 1)
        XCTAssertTrue(p.sharesStorage(with: x))
        XCTAssertEqual(p.shape, [4, 2, 3])
        XCTAssertEqual(p[3, 1, 2], x[1, 2, 3])
        XCTAssertEqual(p[1, 0, 2], x[0, 2, 1])
        let t = x.transposed()
        XCTAssertEqual(t.shape, [2, 4, 3])
        XCTAssertEqual(t[1, 3, 0], 15)
        XCTAssertEqual(x.transposed(0, -1).shape, [4, 3, 2])
        let m = arange([2, 3])
        assertValues(m.T, [0, 3, 1, 4, 2, 5], shape: [3, 2])
        assertValues(m.T.T, m.scalars, shape: [2, 3])
        XCTAssertTrue(m.T.T.isContiguous)
    }

    func testPermuteTransposeGradCheck() {
        let x = randomLeaf([2, 3, 4], seed: 91)
        assertGradCheck([x]) { $0[0].permuted(2, 0, 1) }
        assertGradCheck([x]) { $0[0].permuted(1, 2, 0).permuted(2, 0, 1).exp() }
        assertGradCheck([x]) { $0[0].transposed() * $0[0].transposed(-2, -1) }
        assertGradCheck([x]) { $0[0].transposed(0, 2).contiguous() }
        let y = randomLeaf([3, 3], seed: 92)
        assertGradCheck([y]) { $0[0].T * $0[0] }
    }

    // MARK: slice / select

    func testSliceReadsTheRightElementsAndSharesStorage() {
        let x = arange([3, 4])
        let s = x.slice(axis: 1, 1..<3)
        XCTAssertTrue(s.sharesStorage(with: x))
        assertValues(s, [1, 2, 5, 6, 9, 10], shape: [3, 2])
        assertValues(x.slice(axis: 0, 2..<3), [8, 9, 10, 11], shape: [1, 4])
        assertValues(x.slice(axis: -1, 3..<4), [3, 7, 11], shape: [3, 1])
        assertValues(x.slice(axis: 0, 1..<3).slice(axis: 1, 2..<4), [6, 7, 10, 11], shape: [2, 2])
        assertValues(x.transposed().slice(axis: 0, 1..<2), [1, 5, 9], shape: [1, 3])
        XCTAssertEqual(x.slice(axis: 0, 1..<1).shape, [0, 4])
        // Writes to the base show through the view.
        x.withUnsafeMutableBufferPointer { $0[6] = 100 }
        XCTAssertEqual(s[1, 1], 100)
        XCTAssertEqual(x.select(axis: 1, 2)[1], 100)
    }

    func testSelect() {
        let x = arange([2, 3, 4])
        assertValues(x.select(axis: 0, 1), (12..<24).map(Float.init), shape: [3, 4])
        assertValues(x.select(axis: 1, 2), [8, 9, 10, 11, 20, 21, 22, 23], shape: [2, 4])
        assertValues(x.select(axis: -1, 3), [3, 7, 11, 15, 19, 23], shape: [2, 3])
        assertValues(x.select(axis: 2, 0).select(axis: 0, 1), [12, 16, 20], shape: [3])
        XCTAssertTrue(x.select(axis: 1, 2).sharesStorage(with: x))
        // Negative indices count from the end.
        assertValues(x.select(axis: 1, -1), [8, 9, 10, 11, 20, 21, 22, 23], shape: [2, 4])
        assertValues(x.select(axis: 0, -2), (0..<12).map(Float.init), shape: [3, 4])
        assertGradCheck([randomLeaf([3, 2], seed: 100)]) { $0[0].select(axis: 0, -1) * $0[0].select(axis: -1, -2).sum() }
    }

    func testSliceSelectGradCheck() {
        let x = randomLeaf([3, 4, 2], seed: 93)
        assertGradCheck([x]) { $0[0].slice(axis: 1, 1..<3) }
        assertGradCheck([x]) { $0[0].slice(axis: -1, 1..<2) * $0[0].slice(axis: -1, 0..<1) }
        assertGradCheck([x]) { $0[0].transposed(0, 1).slice(axis: 1, 0..<2).slice(axis: 0, 2..<4) }
        assertGradCheck([x]) { $0[0].select(axis: 0, 2) }
        assertGradCheck([x]) { $0[0].select(axis: -2, 3) + $0[0].select(axis: 1, 0) }
        assertGradCheck([x]) { $0[0].transposed().select(axis: 1, 1).exp() }
        let g = gradient(of: Tensor.zeros([2, 3], requiresGrad: true)) { $0.slice(axis: 1, 1..<3) }!
        assertValues(g, [0, 1, 1, 0, 1, 1])
    }

    // MARK: expand / unsqueeze / squeeze / contiguous

    func testExpanded() {
        let x = Tensor([1, 2, 3], shape: [3, 1])
        let e = x.expanded(to: [2, 3, 4])
        XCTAssertTrue(e.sharesStorage(with: x))
        XCTAssertEqual(e.strides[0], 0)
        XCTAssertEqual(e.strides[2], 0)
        assertValues(e.select(axis: 0, 1), [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3], shape: [3, 4])
        assertValues(Tensor(scalar: 7).expanded(to: [2, 2]), [7, 7, 7, 7])
        XCTAssertTrue(x.expanded(to: [3, 1]) === x)
        let y = randomLeaf([3, 1], seed: 94)
        assertGradCheck([y]) { $0[0].expanded(to: [2, 3, 4]) }
        assertGradCheck([y]) { $0[0].T.expanded(to: [3, 3]) * $0[0].expanded(to: [3, 3]) }
        assertGradCheck([randomLeaf([], seed: 95)]) { $0[0].expanded(to: [2, 3]) }
        let v = Tensor([1, 2, 3], requiresGrad: true)
        assertValues(gradient(of: v) { $0.expanded(to: [4, 3]) }!, [4, 4, 4])
    }

    func testUnsqueezeSqueeze() {
        let x = arange([2, 3])
        XCTAssertEqual(x.unsqueezed(axis: 0).shape, [1, 2, 3])
        XCTAssertEqual(x.unsqueezed(axis: 1).shape, [2, 1, 3])
        XCTAssertEqual(x.unsqueezed(axis: 2).shape, [2, 3, 1])
        XCTAssertEqual(x.unsqueezed(axis: -1).shape, [2, 3, 1])
        XCTAssertEqual(x.unsqueezed(axis: -3).shape, [1, 2, 3])
        assertValues(x.unsqueezed(axis: 1), x.scalars)
        assertValues(x.transposed().unsqueezed(axis: 1), [0, 3, 1, 4, 2, 5], shape: [3, 1, 2])
        assertValues(x.transposed().unsqueezed(axis: 1).expanded(to: [3, 2, 2]), [0, 3, 0, 3, 1, 4, 1, 4, 2, 5, 2, 5])
        let u = arange([2, 1, 3, 1])
        XCTAssertEqual(u.squeezed(axis: 1).shape, [2, 3, 1])
        XCTAssertEqual(u.squeezed(axis: -1).shape, [2, 1, 3])
        XCTAssertTrue(u.squeezed(axis: 1).sharesStorage(with: u))
        assertValues(u.squeezed(axis: 3).squeezed(axis: 1), u.scalars, shape: [2, 3])
        XCTAssertEqual(Tensor([4]).squeezed(axis: 0).shape, [])
        XCTAssertEqual(Tensor(scalar: 4).unsqueezed(axis: 0).shape, [1])
        let y = randomLeaf([2, 3], seed: 96)
        assertGradCheck([y]) { $0[0].unsqueezed(axis: 1).expanded(to: [2, 4, 3]) }
        assertGradCheck([y]) { $0[0].transposed().unsqueezed(axis: -1).squeezed(axis: 2) }
        assertGradCheck([y]) { $0[0].unsqueezed(axis: 0).unsqueezed(axis: -1).squeezed(axis: 0) * $0[0].unsqueezed(axis: 2) }
    }

    func testContiguous() {
        let x = arange([2, 3])
        XCTAssertTrue(x.contiguous() === x)
        let c = x.transposed().contiguous()
        XCTAssertTrue(c.isContiguous)
        XCTAssertFalse(c.sharesStorage(with: x))
        XCTAssertEqual(c.strides, [2, 1])
        assertValues(c, [0, 3, 1, 4, 2, 5], shape: [3, 2])
        let e = Tensor([1, 2], shape: [2, 1]).expanded(to: [2, 2]).contiguous()
        assertValues(e, [1, 1, 2, 2])
        // A copy: later writes to the base do not reach it.
        x.withUnsafeMutableBufferPointer { $0[1] = 50 }
        XCTAssertEqual(c[1, 0], 1)
        let y = randomLeaf([3, 4], seed: 97)
        assertGradCheck([y]) { $0[0].transposed().contiguous() }
        assertGradCheck([y]) { $0[0].slice(axis: 1, 1..<3).contiguous().exp() }
        assertGradCheck([y]) { $0[0].contiguous() * 3 }
    }

    func testViewChainGradientsAccumulateIntoLeaf() {
        // Two overlapping views of one leaf: the gradient is the sum over both.
        let x = Tensor.zeros([4], requiresGrad: true)
        let y = x.slice(axis: 0, 0..<3) + x.slice(axis: 0, 1..<4)
        y.backward(Tensor([1, 10, 100]))
        assertValues(x.grad!, [1, 11, 110, 100])
    }
}
