import TestSupport
import XCTest
@testable import TensorCore

/// The fused SwiGLU product silu(gate) · up: the same bits as the composed ops forward and backward
/// (so the Llama parity fixtures see no change), and finite-difference gradients.
final class SwiGLUTests: XCTestCase {
    func testMatchesComposedFormBitForBit() {
        // 37 elements: four full SIMD8 runs and a tail of 5; values out to ±12 reach both sigmoid tails.
        let gate = randomLeaf([37], seed: 11, low: -12, high: 12), up = randomLeaf([37], seed: 12, low: -3, high: 3)
        let fused = swiGLU(gate: gate, up: up), composed = gate.silu() * up
        XCTAssertEqual(fused.scalars, composed.scalars)
        let g = randomLeaf([37], seed: 13).detach()
        (fused * g).sum().backward()
        let (fusedGate, fusedUp) = (gate.grad!.scalars, up.grad!.scalars)
        gate.zeroGrad()
        up.zeroGrad()
        (composed * g).sum().backward()
        XCTAssertEqual(fusedGate, gate.grad!.scalars)
        XCTAssertEqual(fusedUp, up.grad!.scalars)
    }

    func testForwardValues() {
        // silu(0) = 0; silu(2) = 2 / (1 + e^-2).
        let y = swiGLU(gate: Tensor([0, 2, -1], shape: [1, 3]), up: Tensor([5, 3, 2], shape: [1, 3]))
        assertValues(y, [0, 3 * 2 / (1 + Float(Foundation.exp(-2.0))), 2 * -1 / (1 + Float(Foundation.exp(1.0)))], shape: [1, 3], accuracy: 1e-6)
    }

    func testGradCheck() {
        let gate = randomLeaf([2, 3, 5], seed: 14, low: -3, high: 3), up = randomLeaf([2, 3, 5], seed: 15)
        assertGradCheck([gate, up]) { swiGLU(gate: $0[0], up: $0[1]) }
        // Non-contiguous inputs: transposed views.
        let gt = randomLeaf([5, 4], seed: 16, low: -3, high: 3), ut = randomLeaf([5, 4], seed: 17)
        assertGradCheck([gt, ut]) { swiGLU(gate: $0[0].transposed(), up: $0[1].transposed()) }
    }
}
