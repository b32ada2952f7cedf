import TestSupport
import XCTest
import TensorCore

final class UnaryTests: XCTestCase {
    func testSmoothUnaryGradCheck() {
        let x = randomLeaf([3, 4], seed: 30, low: -2, high: 2)
        let ops: [(String, (Tensor) -> Tensor)] = [
            ("exp", { $0.exp() }), ("tanh", { $0.tanh() }), ("sigmoid", { $0.sigmoid() }),
            ("logSigmoid", { $0.logSigmoid() }), ("softplus", { $0.softplus() }), ("silu", { $0.silu() }),
            ("gelu", { $0.gelu() }), ("gelu_tanh", { $0.gelu(approximate: .tanh) }),
        ]
        for (name, op) in ops {
            let r = gradCheck([x], seed: 3) { op($0[0]) }
            XCTAssertTrue(r.passed, "\(name): \(r)")
            let rt = gradCheck([x], seed: 4) { op($0[0].transposed()) }
            XCTAssertTrue(rt.passed, "\(name) on a transposed view: \(rt)")
        }
    }

    func testPositiveDomainGradCheck() {
        let x = randomLeaf([2, 5], seed: 31, low: 0.5, high: 3)
        assertGradCheck([x]) { $0[0].log() }
        assertGradCheck([x]) { $0[0].sqrt() }
        assertGradCheck([x]) { $0[0].slice(axis: 1, 1..<4).log() }
        assertGradCheck([x]) { $0[0].transposed().sqrt() }
    }

    func testKinkedUnaryGradCheckAwayFromKinks() {
        let x = awayFromZeroLeaf([3, 4], seed: 32)
        assertGradCheck([x]) { $0[0].relu() }
        assertGradCheck([x]) { $0[0].abs() }
        assertGradCheck([x]) { $0[0].transposed().relu() * $0[0].transposed().abs() }
    }

    func testKinkGradientsMatchPyTorch() {
        let x = Tensor([-1, 0, 2], requiresGrad: true)
        assertValues(gradient(of: x) { $0.abs() }!, [-1, 0, 1])   // abs'(0) = 0
        assertValues(gradient(of: x) { $0.relu() }!, [0, 0, 1])   // relu'(0) = 0
        assertValues(x.abs(), [1, 0, 2])
        assertValues(x.relu(), [0, 0, 2])
    }

    func testGELUKnownValues() {
        let x = Tensor([-1, 0, 1, 2, -3])
        assertValues(x.gelu(), [-0.1586553, 0, 0.8413447, 1.9544997, -0.0040497], accuracy: 2e-6)
        assertValues(x.gelu(approximate: .tanh), [-0.1588080, 0, 0.8411920, 1.9545977, -0.0036374], accuracy: 2e-6)
        // Derivatives at 1 (PyTorch): exact 1.0833155, tanh 1.0829640.
        let one = Tensor([1], requiresGrad: true)
        XCTAssertEqual(gradient(of: one) { $0.gelu() }!.item, 1.0833155, accuracy: 1e-5)
        XCTAssertEqual(gradient(of: one) { $0.gelu(approximate: .tanh) }!.item, 1.0829640, accuracy: 1e-5)
    }

    func testSigmoidFamilyValuesAndStability() {
        let x = Tensor([-100, -1, 0, 1, 100], requiresGrad: true)
        assertValues(x.sigmoid(), [0, 0.26894142, 0.5, 0.73105858, 1], accuracy: 1e-6)
        let ls = x.logSigmoid()
        XCTAssertTrue(ls.scalars.allSatisfy(\.isFinite))
        assertValues(ls, [-100, -1.3132616, -0.6931472, -0.3132617, 0], accuracy: 1e-6)
        assertValues(gradient(of: x) { $0.logSigmoid() }!, [1, 0.7310586, 0.5, 0.26894142, 0], accuracy: 1e-6)
        let sp = x.softplus()
        XCTAssertTrue(sp.scalars.allSatisfy(\.isFinite))
        assertValues(sp, [0, 0.3132617, 0.6931472, 1.3132616, 100], accuracy: 1e-6)
        assertValues(x.silu(), [-3.7200760e-42, -0.26894142, 0, 0.7310586, 100], accuracy: 1e-6)
        assertValues(x.tanh(), [-1, -0.7615942, 0, 0.7615942, 1], accuracy: 1e-6)
        let g = gradient(of: x) { $0.sigmoid() }!
        XCTAssertTrue(g.scalars.allSatisfy(\.isFinite))
        XCTAssertEqual(g[2], 0.25, accuracy: 1e-7)
    }

    func testNonFiniteInputsFollowPyTorch() {
        // exp(-inf) = 0, exp(large) = inf, and NaN propagates (never a trap) through every op.
        assertValues(Tensor([-.infinity, -100, 100, .infinity]).exp(), [0, 3.7200760e-44, .infinity, .infinity], accuracy: 1e-6)
        let nan = Tensor([.nan, 1])
        for (name, y) in [("exp", nan.exp()), ("tanh", nan.tanh()), ("sigmoid", nan.sigmoid()), ("gelu", nan.gelu()),
                          ("gelu_tanh", nan.gelu(approximate: .tanh)), ("silu", nan.silu()), ("logSigmoid", nan.logSigmoid()),
                          ("softplus", nan.softplus()), ("log", nan.log()), ("sqrt", nan.sqrt()), ("relu", nan.relu())] {
            XCTAssertTrue(y.scalars[0].isNaN, "\(name)(NaN) = \(y.scalars[0])")
            XCTAssertFalse(y.scalars[1].isNaN, "\(name)(1)")
        }
        assertValues(Tensor([-.infinity, .infinity]).tanh(), [-1, 1])
        assertValues(Tensor([-.infinity, .infinity]).sigmoid(), [0, 1])
        assertValues(Tensor([-.infinity, .infinity]).gelu(approximate: .tanh), [.nan, .infinity])
    }

    func testExpLogSqrtValues() {
        assertValues(Tensor([0, 1, -1]).exp(), [1, 2.7182817, 0.36787944])
        assertValues(Tensor([1, 2.7182817, 0.25]).log(), [0, 1, -1.3862944])
        assertValues(Tensor([4, 0.25, 0]).sqrt(), [2, 0.5, 0])
        assertValues(Tensor([0]).log(), [-.infinity])
    }
}
