import TestSupport
import XCTest
import TensorCore

final class Expm1Tests: XCTestCase {
    func testGradCheck() {
        let x = randomLeaf([3, 4], seed: 40, low: -3, high: 1)
        assertGradCheck([x]) { $0[0].expm1() }
        assertGradCheck([x]) { $0[0].transposed().expm1() }
        // log(1 - e^x) as ORPO uses it, on x < 0.
        let negative = randomLeaf([2, 5], seed: 41, low: -4, high: -0.3)
        assertGradCheck([negative]) { (-$0[0].expm1()).log() }
    }

    func testKeepsPrecisionNearZero() {
        // float64: expm1(1e-10) = 1.00000000005e-10; exp(1e-10) - 1 is 0 in float32.
        let x = Tensor([1e-10, -1e-4, 0, 1], requiresGrad: true)
        assertValues(x.expm1(), [1e-10, -9.9995e-5, 0, 1.7182817], accuracy: 1e-6)
        XCTAssertEqual(x.expm1().scalars[0] / 1e-10, 1, accuracy: 1e-6)
        XCTAssertEqual(x.exp().scalars[0] - 1, 0)
        // log(1 - e^-1e-4) = log(9.99950002e-5) = -9.21039036 (float64).
        XCTAssertEqual((-Tensor([-1e-4]).expm1()).log().item, -9.21039036, accuracy: 1e-5)
        // d/dx expm1 = e^x.
        assertValues(gradient(of: x) { $0.expm1() }!, [1, 0.99990000, 1, 2.7182817], accuracy: 1e-6)
    }
}
