import TestSupport
import XCTest
@testable import LanguageModels

/// Forward values and finite-difference gradient checks of the ops the Llama family adds: fused
/// RMSNorm, rotary embedding, repeat-interleave (grouped-query attention's head sharing).
final class LlamaOpsGradTests: XCTestCase {
    func testRMSNormMatchesComposedFormAndGradCheck() {
        let x = randomLeaf([2, 3, 5], seed: 1, low: -2, high: 2), w = randomLeaf([5], seed: 2, low: 0.5, high: 1.5)
        let composed = x * ((x * x).mean(axis: -1, keepDims: true) + 1e-3).pow(-0.5) * w
        assertValues(rmsNorm(x, weight: w, eps: 1e-3), composed.scalars, shape: [2, 3, 5], accuracy: 1e-5)
        // Row [3, 4]: mean square 12.5, so [3, 4] / sqrt(12.5) scaled by [1, 2].
        let s = Float(1 / (12.5 + 1e-6).squareRoot())
        assertValues(rmsNorm(Tensor([3, 4], shape: [1, 2]), weight: Tensor([1, 2]), eps: 1e-6), [3 * s, 8 * s])
        assertGradCheck([x, w]) { rmsNorm($0[0], weight: $0[1], eps: 1e-3) }
        // A non-contiguous input (transposed view).
        let xt = randomLeaf([5, 4], seed: 3)
        assertGradCheck([xt, w]) { rmsNorm($0[0].transposed(), weight: $0[1], eps: 1e-5) }
    }

    func testRotaryEmbeddingForward() {
        // One position, one head, D = 4: pairs (x0, x2) and (x1, x3) rotate by angles a0 and a1.
        let a0: Float = 0.3, a1: Float = -1.1
        let cos = Tensor([Foundation.cos(a0), Foundation.cos(a1)], shape: [1, 2]), sin = Tensor([Foundation.sin(a0), Foundation.sin(a1)], shape: [1, 2])
        let x = Tensor([1, 2, 3, 4], shape: [1, 1, 1, 4])
        let y = rotaryEmbedding(x, cos: cos, sin: sin)
        assertValues(y, [1 * Foundation.cos(a0) - 3 * Foundation.sin(a0), 2 * Foundation.cos(a1) - 4 * Foundation.sin(a1),
                         3 * Foundation.cos(a0) + 1 * Foundation.sin(a0), 4 * Foundation.cos(a1) + 2 * Foundation.sin(a1)], shape: [1, 1, 1, 4])
        // A rotation keeps each pair's length.
        XCTAssertEqual(y.scalars[0] * y.scalars[0] + y.scalars[2] * y.scalars[2], 10, accuracy: 1e-5)
    }

    func testRotaryEmbeddingGradCheckPerPosition() {
        let x = randomLeaf([2, 3, 2, 6], seed: 4)
        let (cos, sin) = LlamaRotary(LlamaConfig(vocabSize: 4, hiddenSize: 12, intermediateSize: 4, layers: 1, heads: 2)).tables(5..<8)
        assertGradCheck([x]) { rotaryEmbedding($0[0], cos: cos, sin: sin) }
        // A strided input: [B, H, T, D] transposed to [B, T, H, D].
        let xt = randomLeaf([2, 2, 3, 6], seed: 5)
        assertGradCheck([xt]) { rotaryEmbedding($0[0].transposed(1, 2), cos: cos, sin: sin) }
    }

    func testRepeatInterleavedForwardAndGradCheck() {
        let x = Tensor([1, 2, 3, 4, 5, 6], shape: [1, 3, 2])
        assertValues(x.repeatInterleaved(2, axis: 1), [1, 2, 1, 2, 3, 4, 3, 4, 5, 6, 5, 6], shape: [1, 6, 2])
        assertValues(x.repeatInterleaved(3, axis: 2), [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 6], shape: [1, 3, 6])
        XCTAssertTrue(x.repeatInterleaved(1, axis: 0) === x)
        let leaf = randomLeaf([2, 2, 3, 4], seed: 6)
        assertGradCheck([leaf]) { $0[0].repeatInterleaved(3, axis: 1) }
        assertGradCheck([leaf]) { $0[0].transposed(1, 2).repeatInterleaved(2, axis: 1) }
    }

    /// The whole grouped-query attention layer (projections with biases, rotary embedding, head
    /// repeat, causal attention), against finite differences in its input and its weights.
    func testGroupedQueryAttentionGradCheck() {
        let c = LlamaConfig(family: .qwen2, vocabSize: 5, hiddenSize: 8, intermediateSize: 4, layers: 1, heads: 4, kvHeads: 2,
                            initializerRange: 0.5)
        var g = RandomGenerator(seed: 7)
        let attention = LlamaAttention(c, generator: &g)
        let x = randomLeaf([2, 3, 8], seed: 8)
        let (cos, sin) = LlamaRotary(c).tables(0..<3)
        let weights = [attention.qProj.weight, attention.kProj.weight, attention.vProj.bias!, attention.oProj.weight]
        assertGradCheck([x] + weights) { _ in attention(x, cos: cos, sin: sin, layer: 0, cache: nil) }
    }
}
