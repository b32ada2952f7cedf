import TestSupport
import XCTest
import TensorCore

final class IndexingJoinTests: XCTestCase {
    let m = Tensor((0..<12).map(Float.init), shape: [3, 4])

    // MARK: embedding / indexSelect / gather

    func testEmbeddingForwardAndShape() {
        let w = Tensor([0, 1, 10, 11, 20, 21], shape: [3, 2])
        assertValues(embedding(w, ids: [2, 0, 2]), [20, 21, 0, 1, 20, 21], shape: [3, 2])
        assertValues(embedding(w, ids: [1, 2, 0, 1], shape: [2, 2]), [10, 11, 20, 21, 0, 1, 10, 11], shape: [2, 2, 2])
    }

    func testEmbeddingRepeatedIdsAccumulate() {
        let w = Tensor.zeros([3, 2], requiresGrad: true)
        embedding(w, ids: [2, 0, 2, 2], shape: [2, 2]).backward(Tensor([1, 2, 3, 4, 5, 6, 7, 8], shape: [2, 2, 2]))
        assertValues(w.grad!, [3, 4, 0, 0, 1 + 5 + 7, 2 + 6 + 8])
        assertGradCheck([randomLeaf([4, 3], seed: 80)]) { embedding($0[0], ids: [3, 1, 3, 0, 1, 1], shape: [2, 3]) }
    }

    func testIndexSelectForward() {
        assertValues(m.indexSelect(axis: 0, [2, 0]), [8, 9, 10, 11, 0, 1, 2, 3], shape: [2, 4])
        assertValues(m.indexSelect(axis: 1, [3, 3, 0]), [3, 3, 0, 7, 7, 4, 11, 11, 8], shape: [3, 3])
        assertValues(m.indexSelect(axis: -1, [1]), [1, 5, 9], shape: [3, 1])
        assertValues(m.transposed().indexSelect(axis: 0, [1, 3]), [1, 5, 9, 3, 7, 11], shape: [2, 3])
        assertValues(m.indexSelect(axis: 0, []), [], shape: [0, 4])
    }

    func testIndexSelectGradients() {
        let x = Tensor.zeros([3, 4], requiresGrad: true)
        x.indexSelect(axis: 1, [3, 3, 0]).backward(Tensor((1...9).map(Float.init), shape: [3, 3]))
        assertValues(x.grad!, [3, 0, 0, 3, 6, 0, 0, 9, 9, 0, 0, 15])
        let y = randomLeaf([2, 3, 4], seed: 81)
        assertGradCheck([y]) { $0[0].indexSelect(axis: 0, [1, 1, 0]) }
        assertGradCheck([y]) { $0[0].indexSelect(axis: 1, [2, 0, 2, 2]) }
        assertGradCheck([y]) { $0[0].indexSelect(axis: -1, [3, 1, 3]) }
        assertGradCheck([y]) { $0[0].transposed(0, 2).indexSelect(axis: 1, [0, 2, 0]) }
        assertGradCheck([y]) { $0[0].indexSelect(axis: 1, [2, 0, 2, 2]).transposed() }
        // Output the size of the input and a non-contiguous upstream gradient: the gradient buffer
        // and the freshly zeroed input gradient must not alias.
        assertGradCheck([y]) { $0[0].indexSelect(axis: 1, [2, 0, 1]).transposed() }
        let z = randomLeaf([3, 2], seed: 89)
        assertGradCheck([z]) { $0[0].indexSelect(axis: 0, [2, 2, 0]).transposed() }
    }

    func testGatherForward() {
        // torch.gather(m, 1, [[0, 0], [3, 1], [2, 2]])
        assertValues(m.gather(axis: 1, indices: [0, 0, 3, 1, 2, 2], shape: [3, 2]), [0, 0, 7, 5, 10, 10], shape: [3, 2])
        // torch.gather(m, 0, [[2, 0, 1, 1]])
        assertValues(m.gather(axis: 0, indices: [2, 0, 1, 1], shape: [1, 4]), [8, 1, 6, 7], shape: [1, 4])
        assertValues(m.gather(axis: -2, indices: [2, 0, 1, 1, 0, 0, 0, 2], shape: [2, 4]), [8, 1, 6, 7, 0, 1, 2, 11])
        // 3-D along the middle axis.
        let t = Tensor((0..<12).map(Float.init), shape: [2, 3, 2])
        assertValues(t.gather(axis: 1, indices: [2, 0, 1, 1], shape: [2, 1, 2]), [4, 1, 8, 9], shape: [2, 1, 2])
        assertValues(m.transposed().gather(axis: 1, indices: [2, 0, 1, 1], shape: [4, 1]), [8, 1, 6, 7], shape: [4, 1])
    }

    func testGatherGradients() {
        let x = Tensor.zeros([2, 3], requiresGrad: true)
        x.gather(axis: 1, indices: [1, 1, 1, 0, 2, 0], shape: [2, 3]).backward(Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3]))
        assertValues(x.grad!, [0, 6, 0, 10, 0, 5])
        let y = randomLeaf([2, 3, 4], seed: 82)
        assertGradCheck([y]) { $0[0].gather(axis: 2, indices: [0, 3, 3, 1, 1, 2, 0, 0, 0, 2, 2, 1], shape: [2, 3, 2]) }
        assertGradCheck([y]) { $0[0].gather(axis: 0, indices: (0..<12).map { $0 % 2 }, shape: [1, 3, 4]) }
        assertGradCheck([y]) { $0[0].gather(axis: 2, indices: [0, 3, 3, 1, 1, 2, 0, 0, 0, 2, 2, 1], shape: [2, 3, 2]).transposed() }
        assertGradCheck([y]) { $0[0].gather(axis: 2, indices: (0..<24).map { ($0 * 7) % 4 }, shape: [2, 3, 4]).transposed() }
        assertGradCheck([y]) { $0[0].gather(axis: -2, indices: [2, 2, 0, 1, 0, 1, 1, 1], shape: [2, 1, 4]) }
        assertGradCheck([y]) { $0[0].transposed().gather(axis: 1, indices: [1, 3, 0, 2, 0, 1], shape: [2, 1, 3]) }
    }

    // MARK: concat / stack / split / chunked

    func testConcatForward() {
        let a = Tensor([1, 2, 3, 4], shape: [2, 2]), b = Tensor([5, 6], shape: [1, 2]), c = Tensor([7, 8, 9, 10], shape: [2, 2])
        assertValues(Tensor.concat([a, b]), [1, 2, 3, 4, 5, 6], shape: [3, 2])
        assertValues(Tensor.concat([a, c], axis: 1), [1, 2, 7, 8, 3, 4, 9, 10], shape: [2, 4])
        assertValues(Tensor.concat([a, b.transposed(), c], axis: -1), [1, 2, 5, 7, 8, 3, 4, 6, 9, 10], shape: [2, 5])
        assertValues(Tensor.concat([a.transposed(), b]), [1, 3, 2, 4, 5, 6], shape: [3, 2])
        assertValues(Tensor.concat([a]), [1, 2, 3, 4], shape: [2, 2])
    }

    func testConcatWithEmptyPieces() {
        let a = Tensor([1, 2, 3, 4], shape: [2, 2], requiresGrad: true), e = Tensor.zeros([0, 2], requiresGrad: true)
        let y = Tensor.concat([e, a, e])
        assertValues(y, [1, 2, 3, 4], shape: [2, 2])
        y.backward(Tensor([1, 2, 3, 4], shape: [2, 2]))
        assertValues(a.grad!, [1, 2, 3, 4])
        XCTAssertEqual(e.grad?.shape, [0, 2])
    }

    func testConcatGradCheck() {
        let a = randomLeaf([2, 3, 2], seed: 83), b = randomLeaf([2, 1, 2], seed: 84), c = randomLeaf([2, 2, 2], seed: 85)
        assertGradCheck([a, b, c]) { Tensor.concat([$0[0], $0[1], $0[2]], axis: 1) }
        assertGradCheck([a, c]) { Tensor.concat([$0[0].transposed(), $0[1].transposed()], axis: -1) }
        assertGradCheck([a, b]) { Tensor.concat([$0[0], $0[0]], axis: 0) * Tensor.concat([$0[1], $0[1].expanded(to: [2, 1, 2])], axis: 0) }
        assertGradCheck([a]) { Tensor.concat([$0[0].slice(axis: 1, 2..<3), $0[0].slice(axis: 1, 0..<2)], axis: 1) }
    }

    func testStack() {
        let a = Tensor([1, 2, 3]), b = Tensor([4, 5, 6])
        assertValues(Tensor.stack([a, b]), [1, 2, 3, 4, 5, 6], shape: [2, 3])
        assertValues(Tensor.stack([a, b], axis: 1), [1, 4, 2, 5, 3, 6], shape: [3, 2])
        assertValues(Tensor.stack([a, b], axis: -1), [1, 4, 2, 5, 3, 6], shape: [3, 2])
        let p = Tensor([1, 2, 3, 4], shape: [2, 2]), q = Tensor([5, 6, 7, 8], shape: [2, 2])
        assertValues(Tensor.stack([p, q], axis: 1), [1, 2, 5, 6, 3, 4, 7, 8], shape: [2, 2, 2])
        assertValues(Tensor.stack([p, q.transposed()], axis: -1), [1, 5, 2, 7, 3, 6, 4, 8], shape: [2, 2, 2])
        let x = randomLeaf([2, 3], seed: 86), y = randomLeaf([2, 3], seed: 87)
        for axis in [0, 1, 2, -1, -3] { assertGradCheck([x, y]) { Tensor.stack([$0[0], $0[1], $0[0]], axis: axis) } }
    }

    func testSplitAndChunkedAreViewsAndRoundTrip() {
        let parts = m.split(sizes: [1, 3], axis: 1)
        XCTAssertEqual(parts.map(\.shape), [[3, 1], [3, 3]])
        assertValues(parts[0], [0, 4, 8])
        assertValues(parts[1], [1, 2, 3, 5, 6, 7, 9, 10, 11])
        XCTAssertTrue(parts[1].sharesStorage(with: m))
        assertValues(Tensor.concat(parts, axis: 1), m.scalars, shape: [3, 4])
        let rows = m.chunked(3)
        XCTAssertEqual(rows.map(\.shape), [[1, 4], [1, 4], [1, 4]])
        assertValues(rows[2], [8, 9, 10, 11])
        assertValues(Tensor.concat(rows), m.scalars)
        let cols = m.chunked(2, axis: -1)
        assertValues(cols[1], [2, 3, 6, 7, 10, 11], shape: [3, 2])
        assertValues(Tensor.concat(cols, axis: -1), m.scalars)
        // Stack then split along the new axis gives back the originals.
        let s = Tensor.stack([m, m * 2], axis: 1).split(sizes: [1, 1], axis: 1)
        assertValues(s[1].squeezed(axis: 1), (m * 2).scalars, shape: [3, 4])
        // Split with an empty piece.
        XCTAssertEqual(m.split(sizes: [0, 3], axis: 0).map(\.shape), [[0, 4], [3, 4]])
    }

    func testSplitChunkedGradCheck() {
        let x = randomLeaf([4, 3], seed: 88)
        assertGradCheck([x]) { let p = $0[0].split(sizes: [1, 3]); return p[1].sum(axis: 0, keepDims: true) * p[0] }
        assertGradCheck([x]) { let p = $0[0].chunked(3, axis: 1); return Tensor.concat([p[2], p[0]], axis: 1) }
        assertGradCheck([x]) { let p = $0[0].transposed().chunked(2, axis: -1); return p[0] - p[1] * p[1] }
    }
}
