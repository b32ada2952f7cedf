import TestSupport
import XCTest
import TensorCore

/// The fused ops (linear, attention) against the same computation composed from basic ops.
final class FusedOpsTests: XCTestCase {
    func assertClose(_ a: Tensor, _ b: Tensor, tol: Float = 1e-5, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.shape, b.shape, file: file, line: line)
        for (x, y) in zip(a.scalars, b.scalars) {
            XCTAssertEqual(x, y, accuracy: tol * max(1, abs(y)), file: file, line: line)
        }
    }

    func testLinearMatchesMatmulPlusBias() {
        var rng = RandomGenerator(seed: 1)
        let x = Tensor.normal([2, 3, 5], generator: &rng)
        let w = Tensor.normal([4, 5], generator: &rng)
        let b = Tensor.normal([4], generator: &rng)
        assertClose(linear(x, weight: w, bias: b), x.matmul(w.T) + b)
        assertClose(linear(x, weight: w), x.matmul(w.T))
    }

    func testLinearGradients() {
        var rng = RandomGenerator(seed: 2)
        let x = Tensor.normal([2, 3, 5], generator: &rng, requiresGrad: true)
        let w = Tensor.normal([4, 5], generator: &rng, requiresGrad: true)
        let b = Tensor.normal([4], generator: &rng, requiresGrad: true)
        let r = gradCheck([x, w, b]) { linear($0[0], weight: $0[1], bias: $0[2]) }
        XCTAssertTrue(r.passed, r.description)
        let noBias = gradCheck([x, w]) { linear($0[0], weight: $0[1]) }
        XCTAssertTrue(noBias.passed, noBias.description)
        // A transposed (non-contiguous) input and a weight viewed through a transpose.
        let wt = Tensor.normal([5, 4], generator: &rng, requiresGrad: true)
        let x2 = Tensor.normal([5, 3], generator: &rng, requiresGrad: true)
        let strided = gradCheck([x2, wt]) { linear($0[0].T, weight: $0[1].T) }
        XCTAssertTrue(strided.passed, strided.description)
    }

    func composedAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor, causal: Bool) -> Tensor {
        let hd = q.shape[3]
        var scores = q.matmul(k.transposed()) * (1 / Float(hd).squareRoot())
        if causal { scores = scores.causalMasked() }
        return scores.softmax(axis: -1).matmul(v)
    }

    func testAttentionMatchesComposedOps() {
        var rng = RandomGenerator(seed: 3)
        for (tq, tk, causal) in [(5, 5, true), (5, 5, false), (2, 6, true), (1, 4, true)] {
            let q = Tensor.normal([2, 3, tq, 4], generator: &rng)
            let k = Tensor.normal([2, 3, tk, 4], generator: &rng)
            let v = Tensor.normal([2, 3, tk, 4], generator: &rng)
            assertClose(scaledDotProductAttention(q, k, v, causal: causal), composedAttention(q, k, v, causal: causal))
        }
    }

    func testAttentionGradientsThroughFusedQKVViews() {
        // q, k, v as strided views of one [B, T, 3 * H * hd] projection, as a GPT block makes them.
        var rng = RandomGenerator(seed: 4)
        let (b, t, h, hd) = (2, 4, 2, 3)
        let qkv = Tensor.normal([b, t, 3 * h * hd], generator: &rng, requiresGrad: true)
        func heads(_ x: Tensor, _ i: Int) -> Tensor {
            x.slice(axis: 2, (i * h * hd)..<((i + 1) * h * hd)).reshaped([b, t, h, hd]).transposed(1, 2)
        }
        let fused = gradCheck([qkv]) { x in
            scaledDotProductAttention(heads(x[0], 0), heads(x[0], 1), heads(x[0], 2), causal: true)
        }
        XCTAssertTrue(fused.passed, fused.description)
        let q = Tensor.normal([1, 2, 3, 4], generator: &rng, requiresGrad: true)
        let k = Tensor.normal([1, 2, 5, 4], generator: &rng, requiresGrad: true)
        let v = Tensor.normal([1, 2, 5, 4], generator: &rng, requiresGrad: true)
        let cross = gradCheck([q, k, v]) { scaledDotProductAttention($0[0], $0[1], $0[2], causal: true, scale: 0.7) }
        XCTAssertTrue(cross.passed, cross.description)
    }

    func testAttentionOutputMergesHeadsWithoutCopy() {
        var rng = RandomGenerator(seed: 5)
        let q = Tensor.normal([2, 3, 4, 5], generator: &rng)
        let y = scaledDotProductAttention(q, q, q, causal: true)
        XCTAssertTrue(y.transposed(1, 2).isContiguous)
    }
}

final class FusedSelfAttentionTests: XCTestCase {
    func testFusedQKVAttentionMatchesTheViewChainAndGradchecks() {
        var rng = RandomGenerator(seed: 8)
        let (b, t, h, hd) = (2, 5, 3, 2)
        let d = h * hd
        let qkv = Tensor.normal([b, t, 3 * d], generator: &rng, requiresGrad: true)
        func heads(_ x: Tensor, _ i: Int) -> Tensor {
            x.slice(axis: 2, (i * d)..<((i + 1) * d)).reshaped([b, t, h, hd]).transposed(1, 2)
        }
        let viaViews = scaledDotProductAttention(heads(qkv, 0), heads(qkv, 1), heads(qkv, 2), causal: true)
            .transposed(1, 2).reshaped([b, t, d])
        let fused = causalSelfAttention(qkv: qkv, heads: h)
        XCTAssertEqual(fused.shape, [b, t, d])
        for (x, y) in zip(fused.scalars, viaViews.scalars) { XCTAssertEqual(x, y, accuracy: 1e-6) }
        // Same gradients as the view chain, and finite differences agree.
        let w = Tensor.normal([b, t, d], generator: &rng)
        (viaViews * w).sum().backward()
        let expected = qkv.grad!.scalars
        qkv.zeroGrad()
        (fused * w).sum().backward()
        for (x, y) in zip(qkv.grad!.scalars, expected) { XCTAssertEqual(x, y, accuracy: 1e-5) }
        let r = gradCheck([qkv]) { causalSelfAttention(qkv: $0[0], heads: h) }
        XCTAssertTrue(r.passed, r.description)
    }

    /// Right padding never changes a sequence's attention output or its gradients: causal masking
    /// hides the padded keys, and the row reductions do not depend on row length.
    func testRightPaddingLeavesAttentionBitIdentical() {
        var rng = RandomGenerator(seed: 12)
        let (t, pad, h, hd) = (11, 8, 2, 16)
        let d = h * hd
        let real = Tensor.normal([1, t, 3 * d], generator: &rng)
        let padded = Tensor.concat([real, Tensor.normal([1, pad, 3 * d], generator: &rng)], axis: 1)
        let g = Tensor.normal([1, t, d], generator: &rng)
        func run(_ qkv: Tensor) -> (out: [Float], grad: [Float]) {
            let leaf = qkv.detach().requiringGrad()
            let out = causalSelfAttention(qkv: leaf, heads: h)
            // Upstream gradient only on the real positions.
            let upstream = Tensor.concat([g, Tensor.zeros([1, leaf.shape[1] - t, d])], axis: 1)
            (out * upstream).sum().backward()
            return (Array(out.scalars.prefix(t * d)), Array(leaf.grad!.scalars.prefix(t * 3 * d)))
        }
        let alone = run(real), withPadding = run(padded)
        // Equal to the last bit of OpenBLAS (att·V sums over all keys, and a longer K may be summed
        // in another order; measured: 1 ulp at most): padding must not leak into real positions.
        for (x, y) in zip(alone.out, withPadding.out) { XCTAssertEqual(x, y, accuracy: 1e-6) }
        for (x, y) in zip(alone.grad, withPadding.grad) { XCTAssertEqual(x, y, accuracy: 1e-6) }
    }
}
