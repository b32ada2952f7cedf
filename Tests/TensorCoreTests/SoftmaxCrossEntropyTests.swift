import TestSupport
import XCTest
import TensorCore

final class SoftmaxCrossEntropyTests: XCTestCase {
    /// Reference log-softmax of one row in Double.
    func refLogSoftmax(_ r: [Float]) -> [Float] {
        let m = Double(r.max()!)
        let lse = Foundation.log(r.map { Foundation.exp(Double($0) - m) }.reduce(0, +)) + m
        return r.map { Float(Double($0) - lse) }
    }

    // MARK: softmax / logSoftmax

    func testSoftmaxForward() {
        let x = Tensor([1, 2, 3, 0, 0, 0], shape: [2, 3])
        let ls = refLogSoftmax([1, 2, 3])
        let l3 = -Float(Foundation.log(3.0))
        let third: Float = 1.0 / 3
        assertValues(x.logSoftmax(), ls + [l3, l3, l3], shape: [2, 3])
        let p: [Float] = ls.map { Foundation.exp($0) }
        assertValues(x.softmax(), p + [third, third, third], shape: [2, 3])
        // Along axis 0 of the same matrix.
        let col = refLogSoftmax([1, 0])
        assertValues(x.softmax(axis: 0).slice(axis: 1, 0..<1), col.map { Foundation.exp($0) }, shape: [2, 1])
        assertValues(x.logSoftmax(axis: 0).select(axis: 1, 2), refLogSoftmax([3, 0]), shape: [2])
        // Rows sum to 1 along any axis.
        let r = randomLeaf([2, 3, 4], seed: 60, low: -5, high: 5)
        for axis in [0, 1, 2, -1] {
            let s = r.softmax(axis: axis).sum(axis: axis)
            for v in s.scalars { XCTAssertEqual(v, 1, accuracy: 1e-5) }
        }
    }

    func testSoftmaxStableForLargeInputs() {
        let x = Tensor([1000, 1000, 0, -1000, 1000, 999], shape: [2, 3])
        let s = x.softmax()
        XCTAssertTrue(s.scalars.allSatisfy(\.isFinite))
        assertValues(s.select(axis: 0, 0), [0.5, 0.5, 0], accuracy: 1e-6)
        assertValues(x.logSoftmax().select(axis: 0, 0), [-Float(Foundation.log(2.0)), -Float(Foundation.log(2.0)), -1000 - Float(Foundation.log(2.0))], accuracy: 1e-6)
        assertValues(x.logSoftmax().select(axis: 0, 1), refLogSoftmax([-1000, 1000, 999]), accuracy: 1e-6)
        assertValues(Tensor([1000, 0]).logSoftmax(), [0, -1000])
        assertValues(Tensor([-1000, -1000]).softmax(), [0.5, 0.5])
        // -inf entries (masked logits) get probability 0 and finite gradients elsewhere.
        let m = Tensor([0, -.infinity, 0], requiresGrad: true)
        assertValues(m.softmax(), [0.5, 0, 0.5])
        m.softmax().backward(Tensor([1, 2, 3]))
        assertValues(m.grad!, [-0.5, 0, 0.5])
    }

    /// A row's softmax must not depend on masked (-inf) entries after it (the row reductions keep
    /// element j in lane j % 8 whatever the row length).
    func testTrailingMaskedEntriesChangeNothing() {
        var g = RandomGenerator(seed: 8)
        for n in 1...20 {
            let x = Tensor.normal([n], std: 3, generator: &g)
            for pad in [1, 3, 7, 8, 13] {
                let padded = Tensor.concat([x, Tensor(Array(repeating: -Float.infinity, count: pad))])
                XCTAssertEqual(Array(padded.softmax().scalars.prefix(n)), x.softmax().scalars, "n \(n), pad \(pad)")
                XCTAssertEqual(Array(padded.logSoftmax().scalars.prefix(n)), x.logSoftmax().scalars, "n \(n), pad \(pad)")
            }
        }
    }

    func testFullyMaskedRowsGiveNaNLikePyTorch() {
        let x = Tensor([-.infinity, -.infinity, 0, 1], shape: [2, 2])
        assertValues(x.softmax(), [.nan, .nan, 0.26894142, 0.7310586])
        assertValues(x.logSoftmax(), [.nan, .nan, -1.3132616, -0.3132617])
        // A +inf logit: PyTorch gives NaN for the whole row (inf - inf), softmax and log-softmax.
        let inf = Tensor([.infinity, 0, 0, 1], shape: [2, 2])
        assertValues(inf.softmax(), [.nan, .nan, 0.26894142, 0.7310586])
        assertValues(inf.logSoftmax(), [.nan, .nan, -1.3132616, -0.3132617])
    }

    func testNaNPropagatesThroughSoftmax() {
        // PyTorch: a NaN logit makes its whole row NaN; other rows are untouched.
        let x = Tensor([1, .nan, 0, 0], shape: [2, 2])
        assertValues(x.softmax(), [.nan, .nan, 0.5, 0.5])
        assertValues(x.logSoftmax(), [.nan, .nan, -0.6931472, -0.6931472])
        XCTAssertTrue(crossEntropy(logits: x, targets: [0, 1]).item.isNaN)
    }

    func testCrossEntropyWithMaskedClasses() {
        // A -inf logit (masked class) has probability 0 and gets zero gradient.
        let x = Tensor([0, -.infinity, 0, 2, 1, -.infinity], shape: [2, 3], requiresGrad: true)
        let loss = crossEntropy(logits: x, targets: [0, 1], reduction: .none)
        assertValues(loss, [Float(Foundation.log(2.0)), -refLogSoftmax([2, 1])[1]])
        loss.backward(Tensor([1, 1]))
        let p = refLogSoftmax([2, 1]).map { Foundation.exp($0) }
        assertValues(x.grad!, [-0.5, 0, 0.5, p[0], p[1] - 1, 0])
    }

    func testSoftmaxGradCheck() {
        let x = randomLeaf([2, 3, 4], seed: 61, low: -2, high: 2)
        for axis in [-1, 0, 1, 2] {
            assertGradCheck([x]) { $0[0].softmax(axis: axis) }
            assertGradCheck([x]) { $0[0].logSoftmax(axis: axis) }
        }
        assertGradCheck([x]) { $0[0].transposed().softmax() }
        assertGradCheck([x]) { $0[0].transposed(0, 2).logSoftmax(axis: 1) }
        assertGradCheck([x]) { $0[0].slice(axis: 2, 1..<4).softmax() * $0[0].slice(axis: 2, 0..<3) }
        assertGradCheck([x]) { $0[0].logSoftmax().exp() - $0[0].softmax() * 2 }
    }

    // MARK: crossEntropy

    func testCrossEntropyForwardReductions() {
        let logits = Tensor([1, 2, 3, 0.5, -1, 2, 0, 0, 0], shape: [3, 3])
        let targets = [2, 0, 1]
        let expected = [-refLogSoftmax([1, 2, 3])[2], -refLogSoftmax([0.5, -1, 2])[0], Float(Foundation.log(3.0))]
        assertValues(crossEntropy(logits: logits, targets: targets, reduction: .none), expected, shape: [3])
        assertValues(crossEntropy(logits: logits, targets: targets, reduction: .sum), [expected.reduce(0, +)], shape: [])
        assertValues(crossEntropy(logits: logits, targets: targets), [expected.reduce(0, +) / 3], shape: [])
        // Leading dims [1, 3]: .none keeps them.
        assertValues(crossEntropy(logits: logits.reshaped([1, 3, 3]), targets: targets, reduction: .none), expected, shape: [1, 3])
        // Stable for huge logits.
        let big = crossEntropy(logits: Tensor([1000, 0, -1000, 1000], shape: [2, 2]), targets: [1, 0], reduction: .none)
        assertValues(big, [1000, 2000])
    }

    func testCrossEntropyIgnoreIndex() {
        let logits = Tensor([1, 2, 3, 0.5, -1, 2, 0, 0, 0, 4, 1, 1], shape: [4, 3], requiresGrad: true)
        let targets = [2, -100, 1, -100]
        let l0 = -refLogSoftmax([1, 2, 3])[2], l2 = Float(Foundation.log(3.0))
        // Mean over the two non-ignored rows only.
        let loss = crossEntropy(logits: logits, targets: targets)
        XCTAssertEqual(loss.item, (l0 + l2) / 2, accuracy: 1e-6)
        assertValues(crossEntropy(logits: logits, targets: targets, reduction: .sum), [l0 + l2])
        assertValues(crossEntropy(logits: logits, targets: targets, reduction: .none), [l0, 0, l2, 0])
        loss.backward()
        let g = logits.grad!
        // Ignored rows get exactly zero gradient; the others softmax - onehot, over 2.
        assertValues(g.select(axis: 0, 1), [0, 0, 0], accuracy: 0)
        assertValues(g.select(axis: 0, 3), [0, 0, 0], accuracy: 0)
        let p0 = refLogSoftmax([1, 2, 3]).map { Foundation.exp($0) }
        assertValues(g.select(axis: 0, 0), [p0[0] / 2, p0[1] / 2, (p0[2] - 1) / 2])
        assertValues(g.select(axis: 0, 2), [1.0 / 6, (1.0 / 3 - 1) / 2, 1.0 / 6])
        // A custom ignore index, which may also be a valid class.
        assertValues(crossEntropy(logits: logits, targets: [2, 0, 1, 0], ignoreIndex: 0), [(l0 + l2) / 2])
    }

    func testCrossEntropyAllIgnored() {
        let logits = Tensor([1, 2, 3, 4], shape: [2, 2], requiresGrad: true)
        XCTAssertTrue(crossEntropy(logits: logits, targets: [-100, -100]).item.isNaN)  // 0/0 as in PyTorch
        XCTAssertEqual(crossEntropy(logits: logits, targets: [-100, -100], reduction: .sum).item, 0)
        let loss = crossEntropy(logits: logits, targets: [-100, -100], reduction: .sum)
        loss.backward()
        assertValues(logits.grad!, [0, 0, 0, 0], accuracy: 0)
    }

    func testCrossEntropyGradCheck() {
        let x = randomLeaf([2, 3, 5], seed: 62, low: -2, high: 2)
        let targets = [4, 0, -100, 2, 2, 1]
        for reduction in [LossReduction.mean, .sum, .none] {
            assertGradCheck([x]) { crossEntropy(logits: $0[0], targets: targets, reduction: reduction) }
            assertGradCheck([x]) { crossEntropy(logits: $0[0], targets: [1, 1, 1, 3, 0, 4], reduction: reduction) }
        }
        // Non-contiguous logits: a transposed [5, 3] leaf seen as [3, 5], and a slice of the classes.
        let y = randomLeaf([5, 3], seed: 63, low: -2, high: 2)
        assertGradCheck([y]) { crossEntropy(logits: $0[0].transposed(), targets: [0, 4, 2]) }
        assertGradCheck([y]) { crossEntropy(logits: $0[0].slice(axis: 1, 1..<3), targets: [0, 1, 1, -100, 0], reduction: .sum) }
        // A non-contiguous upstream gradient for .none.
        assertGradCheck([x]) { crossEntropy(logits: $0[0], targets: targets, reduction: .none).transposed() }
        assertGradCheck([x]) { $0[0].softmax().transposed(0, 2) }
        assertGradCheck([x]) { $0[0].logSoftmax(axis: 1).transposed() }
        // Loss used twice in one graph.
        assertGradCheck([x]) { crossEntropy(logits: $0[0], targets: targets) * crossEntropy(logits: $0[0], targets: targets, reduction: .sum) }
    }

    func testCrossEntropyMatchesLogSoftmaxPath() {
        let x = randomLeaf([4, 6], seed: 64, low: -3, high: 3)
        let t = [5, 0, 3, 3]
        let fused = crossEntropy(logits: x, targets: t, reduction: .none)
        let ls = x.logSoftmax()
        let manual = t.enumerated().map { -ls[$0.offset, $0.element] }
        assertValues(fused, manual)
    }

    func testCrossEntropyBackwardSurvivesBufferReuse() {
        // Tensors the size of the logits allocated between forward and backward must not change the
        // gradient (the softmax kept for backward must stay owned by the graph).
        let x = Tensor([1, 2, 3, 0, 0, 0], shape: [2, 3], requiresGrad: true)
        let loss = crossEntropy(logits: x, targets: [2, 0], reduction: .sum)
        var junk: [Tensor] = []
        for _ in 0..<4 { junk.append(Tensor.full([2, 3], 7)); junk.append(Tensor.full([6], -3)) }
        loss.backward()
        let p0 = refLogSoftmax([1, 2, 3]).map { Foundation.exp($0) }
        assertValues(x.grad!, [p0[0], p0[1], p0[2] - 1, 1.0 / 3 - 1, 1.0 / 3, 1.0 / 3])
        XCTAssertEqual(junk.count, 8)
    }
}
