import TestSupport
import XCTest
import TensorCore

final class LayerNormTests: XCTestCase {
    /// Reference layer norm of one row in Double (biased variance).
    func refRow(_ r: [Float], eps: Double = 1e-5) -> [Float] {
        let n = Double(r.count)
        let m = r.map(Double.init).reduce(0, +) / n
        let v = r.map { (Double($0) - m) * (Double($0) - m) }.reduce(0, +) / n
        return r.map { Float((Double($0) - m) / (v + eps).squareRoot()) }
    }

    func testForwardBiasedVarianceAndEps() {
        let x = Tensor([1, 2, 3, 4, -2, 0, 2, 8], shape: [2, 4])
        // Row 0: mean 2.5, biased variance 1.25.
        let s = Float(1 / (1.25 + 1e-5).squareRoot())
        assertValues(layerNorm(x, weight: nil, bias: nil), [-1.5 * s, -0.5 * s, 0.5 * s, 1.5 * s] + refRow([-2, 0, 2, 8]), shape: [2, 4])
        // eps matters when the variance is small: [0, 1e-3] has variance 2.5e-7.
        let y = layerNorm(Tensor([0, 1e-3]), weight: nil, bias: nil)
        let e = Float(5e-4 / (2.5e-7 + 1e-5).squareRoot())
        assertValues(y, [-e, e], accuracy: 1e-4)
        XCTAssertEqual(e, 0.15617, accuracy: 1e-4)
        assertValues(layerNorm(Tensor([0, 1e-3]), weight: nil, bias: nil, eps: 1e-3), [-0.0158094, 0.0158094], accuracy: 1e-5)
        // A constant row normalises to 0 (then the bias).
        assertValues(layerNorm(Tensor([3, 3, 3]), weight: Tensor([2, 2, 2]), bias: Tensor([1, -1, 0])), [1, -1, 0])
    }

    func testForwardAffine() {
        let x = Tensor([1, 2, 3, 4, -2, 0, 2, 8], shape: [2, 4])
        let w = Tensor([1, 2, -1, 0.5]), b = Tensor([0, 1, 2, 3])
        let n = refRow([1, 2, 3, 4]) + refRow([-2, 0, 2, 8])
        let expected = n.enumerated().map { $0.element * w.scalars[$0.offset % 4] + b.scalars[$0.offset % 4] }
        assertValues(layerNorm(x, weight: w, bias: b), expected)
        assertValues(layerNorm(x, weight: w, bias: nil), n.enumerated().map { $0.element * w.scalars[$0.offset % 4] })
        assertValues(layerNorm(x, weight: nil, bias: b), n.enumerated().map { $0.element + b.scalars[$0.offset % 4] })
        // Non-contiguous input: normalises the rows of the transposed view.
        let xt = Tensor([1, -2, 2, 0, 3, 2, 4, 8], shape: [4, 2]).transposed()
        assertValues(layerNorm(xt, weight: w, bias: b), expected)
    }

    func testNonContiguousWeightAndBias() {
        // weight = column 0, bias = column 1 of a [4, 2] parameter: strided [4] views.
        let p = Tensor([1, 0, 2, 1, -1, 2, 0.5, 3], shape: [4, 2])
        let w = p.select(axis: 1, 0), b = p.select(axis: 1, 1)
        XCTAssertFalse(w.isContiguous)
        let x = Tensor([1, 2, 3, 4, -2, 0, 2, 8], shape: [2, 4])
        let n = refRow([1, 2, 3, 4]) + refRow([-2, 0, 2, 8])
        let wv: [Float] = [1, 2, -1, 0.5], bv: [Float] = [0, 1, 2, 3]
        assertValues(layerNorm(x, weight: w, bias: b), n.enumerated().map { $0.element * wv[$0.offset % 4] + bv[$0.offset % 4] })
        let pl = randomLeaf([4, 2], seed: 70), xl = randomLeaf([3, 4], seed: 71)
        assertGradCheck([xl, pl]) { layerNorm($0[0], weight: $0[1].select(axis: 1, 0), bias: $0[1].select(axis: 1, 1)) }
        // A broadcast weight (stride 0).
        assertGradCheck([xl, randomLeaf([1], seed: 72)]) { layerNorm($0[0], weight: $0[1].expanded(to: [4]), bias: nil) }
    }

    func testGradCheck() {
        let x = randomLeaf([2, 3, 5], seed: 73, low: -2, high: 2)
        let w = randomLeaf([5], seed: 74, low: 0.5, high: 1.5), b = randomLeaf([5], seed: 75)
        assertGradCheck([x, w, b]) { layerNorm($0[0], weight: $0[1], bias: $0[2]) }
        assertGradCheck([x]) { layerNorm($0[0], weight: nil, bias: nil) }
        assertGradCheck([x, w]) { layerNorm($0[0], weight: $0[1], bias: nil) }
        assertGradCheck([x, b]) { layerNorm($0[0], weight: nil, bias: $0[1]) }
        let xt = randomLeaf([5, 4], seed: 76, low: -2, high: 2)
        assertGradCheck([xt, w, b]) { layerNorm($0[0].transposed(), weight: $0[1], bias: $0[2]) }
        // Output consumed by something that is not a plain projection.
        assertGradCheck([x, w, b]) { layerNorm($0[0], weight: $0[1], bias: $0[2]).pow(2).sum(axis: -1) }
        // Non-contiguous upstream gradients (the output is consumed through a transpose).
        assertGradCheck([x, w]) { layerNorm($0[0], weight: $0[1], bias: nil).transposed() }
        // One row: the upstream gradient is as large as dweight.
        let one = randomLeaf([5, 1], seed: 79, low: -2, high: 2)
        assertGradCheck([one, w]) { layerNorm($0[0].transposed(), weight: $0[1], bias: nil).transposed() }
        assertGradCheck([x, w, b]) { layerNorm($0[0], weight: $0[1], bias: $0[2]).transposed(0, 2) }
        // A row-sized reduction right after the op (same size as the saved per-row statistics).
        assertGradCheck([x, w]) { (layerNorm($0[0], weight: $0[1], bias: nil) * $0[0]).sum(axis: -1) }
    }

    func testBackwardSurvivesBufferReuse() {
        // Allocations of the saved statistics' size ([rows]) and the input's size between forward
        // and backward must not change the gradient.
        let x = Tensor([1, 2, 4, -1, 0, 3], shape: [2, 3], requiresGrad: true)
        let w = Tensor([1, 2, 3], requiresGrad: true)
        let seed = Tensor([0.5, -1, 2, 1, 1, -2], shape: [2, 3])
        func grads() -> ([Float], [Float]) {
            x.zeroGrad(); w.zeroGrad()
            let y = layerNorm(x, weight: w, bias: nil)
            var junk: [Tensor] = []
            for _ in 0..<4 { junk.append(Tensor.full([2], 1e6)); junk.append(Tensor.full([2, 3], -5)); junk.append(Tensor.full([3], 9)) }
            y.backward(seed)
            XCTAssertEqual(junk.count, 12)
            return (x.grad!.scalars, w.grad!.scalars)
        }
        let (gx, gw) = grads()
        // Reference: the same computation from differentiable primitives.
        x.zeroGrad(); w.zeroGrad()
        let mu = x.mean(axis: -1, keepDims: true)
        let c = x - mu
        let v = (c * c).mean(axis: -1, keepDims: true)
        let ref = c / (v + 1e-5).sqrt() * w
        assertValues(layerNorm(x.detach(), weight: w.detach(), bias: nil), ref.scalars, accuracy: 1e-5)
        ref.backward(seed)
        assertValues(Tensor(gx), x.grad!.scalars, accuracy: 1e-4)
        assertValues(Tensor(gw), w.grad!.scalars, accuracy: 1e-4)
    }

    // MARK: causalMasked

    func testCausalMaskSquare() {
        let x = Tensor((1...9).map(Float.init), shape: [3, 3])
        let inf = -Float.infinity
        assertValues(x.causalMasked(), [1, inf, inf, 4, 5, inf, 7, 8, 9], shape: [3, 3])
        assertValues(x.causalMasked(fill: 0), [1, 0, 0, 4, 5, 0, 7, 8, 9])
    }

    func testCausalMaskShortQueryAlignsKeysToEnd() {
        // T_query = 2, T_key = 4: query i sees keys 0 ... i + 2.
        let x = Tensor((1...8).map(Float.init), shape: [2, 4])
        let inf = -Float.infinity
        assertValues(x.causalMasked(), [1, 2, 3, inf, 5, 6, 7, 8], shape: [2, 4])
        // One query (decoding with a cache) sees every key.
        assertValues(Tensor([1, 2, 3], shape: [1, 3]).causalMasked(), [1, 2, 3])
        // Batched [2, 2, 3]: the pattern repeats per matrix.
        let b = Tensor((1...12).map(Float.init), shape: [2, 2, 3])
        assertValues(b.causalMasked(fill: -1), [1, 2, -1, 4, 5, 6, 7, 8, -1, 10, 11, 12], shape: [2, 2, 3])
        // A transposed input is masked in its logical layout.
        let t = Tensor((1...9).map(Float.init), shape: [3, 3]).transposed()
        assertValues(t.causalMasked(fill: 0), [1, 0, 0, 2, 5, 0, 3, 6, 9])
    }

    func testCausalMaskGradient() {
        let x = Tensor.ones([2, 3], requiresGrad: true)
        x.causalMasked().softmax().backward(Tensor([1, 2, 3, 1, 2, 3], shape: [2, 3]))
        // Query 0 sees keys 0 and 1 with p = 0.5 each; key 2 masked (0 gradient).
        assertValues(x.grad!, [-0.25, 0.25, 0, -1.0 / 3, 0, 1.0 / 3], accuracy: 1e-6)
        let y = randomLeaf([2, 3, 4], seed: 77)
        assertGradCheck([y]) { $0[0].causalMasked().softmax() }
        assertGradCheck([y]) { $0[0].causalMasked(fill: 0) }
        assertGradCheck([y]) { $0[0].causalMasked(fill: 0).transposed() }
        let z = randomLeaf([4, 4], seed: 78)
        assertGradCheck([z]) { $0[0].transposed().causalMasked(fill: -2) * $0[0] }
        // Masked entries get exactly zero gradient.
        let w = Tensor.ones([3, 3], requiresGrad: true)
        w.causalMasked(fill: 0).backward(Tensor.full([3, 3], 5))
        assertValues(w.grad!, [5, 0, 0, 5, 5, 0, 5, 5, 5])
    }
}
