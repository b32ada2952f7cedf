import TestSupport
import XCTest
@testable import TensorCore  // buffer lifetimes and the pool's raw buffers are internal

private func assertClose(_ got: [Float]?, _ expected: [Float], accuracy: Float = 1e-5,
                         _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    guard let got else { return XCTFail("nil gradient; expected \(expected) \(message)", file: file, line: line) }
    XCTAssertEqual(got.count, expected.count, message, file: file, line: line)
    for (g, e) in zip(got, expected) where !(abs(g - e) <= accuracy * max(1, abs(e))) {
        return XCTFail("\(got) != \(expected) \(message)", file: file, line: line)
    }
}

final class AutogradTests: XCTestCase {
    // MARK: Engine basics

    func testLeafGradientOfSimpleGraph() {
        let x = Tensor([1, 2, 3], requiresGrad: true)
        let y = (x * 3 + 1).sum()
        XCTAssertTrue(y.requiresGrad)
        XCTAssertFalse(y.isLeaf)
        XCTAssertTrue(x.isLeaf)
        XCTAssertNil(x.grad)
        y.backward()
        assertClose(x.grad?.scalars, [3, 3, 3])
        XCTAssertEqual(x.grad?.shape, [3])
    }

    func testGradientsAccumulateAcrossBackwardCalls() {
        let x = Tensor([1, 2, 3], requiresGrad: true)
        (x * x).sum().backward()
        assertClose(x.grad?.scalars, [2, 4, 6])
        (x * x).sum().backward()
        assertClose(x.grad?.scalars, [4, 8, 12])
        (x * 5).sum().backward()
        assertClose(x.grad?.scalars, [9, 13, 17])
    }

    func testZeroGradResetsAccumulation() {
        let x = Tensor([1, 2], requiresGrad: true)
        (x * x).sum().backward()
        x.zeroGrad()
        XCTAssertNil(x.grad)
        (x * 3).sum().backward()
        assertClose(x.grad?.scalars, [3, 3])
    }

    func testTensorUsedTwiceSumsGradients() {
        let x = Tensor([1, -2, 3], requiresGrad: true)
        (x * x).sum().backward()
        assertClose(x.grad?.scalars, [2, -4, 6])

        let z = Tensor([0.5, 2], requiresGrad: true)
        (z + z + z).sum().backward()
        assertClose(z.grad?.scalars, [3, 3])
    }

    func testDiamondThroughSharedIntermediate() {
        // h = 2x is one node feeding two branches: y = h*h + 3h, dy/dx = (2h + 3) * 2.
        let x = Tensor([1, 2, -1], requiresGrad: true)
        let h = x * 2
        let y = (h * h + h * 3).sum()
        y.backward()
        assertClose(x.grad?.scalars, [14, 22, -2])
        // Non-leaf tensors do not keep a .grad (PyTorch without retain_grad).
        XCTAssertNil(h.grad)
    }

    func testDeepDiamondWithUnevenBranches() {
        // a = x*x (node), b = a*3 then (b - a) then * a: L = sum((3a - a) * a) = sum(2a²) = sum(2x⁴)
        // dL/dx = 8x³. Branches of different depth reach `a` in a single topological pass.
        let x = Tensor([1, 2, -0.5], requiresGrad: true)
        let a = x * x
        let b = a * 3
        let c = b - a
        let loss = (c * a).sum()
        loss.backward()
        assertClose(x.grad?.scalars, [8, 64, -1], accuracy: 1e-4)
    }

    func testTwoLeavesAndMatmulChain() {
        // L = sum(relu-free MLP): y = (x @ w1) @ w2, compared with hand-derived gradients.
        let x = Tensor([1, 2], shape: [1, 2], requiresGrad: true)
        let w1 = Tensor([1, 0, -1, 2, 1, 0], shape: [2, 3], requiresGrad: true)
        let w2 = Tensor([1, 2, 3], shape: [3, 1], requiresGrad: true)
        let h = x.matmul(w1)                  // [5, 2, -1]
        let y = h.matmul(w2)                  // 5 + 4 - 3 = 6
        XCTAssertEqual(y.item, 6)
        y.backward()
        assertClose(w2.grad?.scalars, [5, 2, -1])
        assertClose(w1.grad?.scalars, [1, 2, 3, 2, 4, 6])
        assertClose(x.grad?.scalars, [-2, 4])
    }

    func testBackwardWithExplicitSeedGradient() {
        let x = Tensor([1, 2, 3], requiresGrad: true)
        let y = x * x
        y.backward(Tensor([1, 0.5, -2]))
        assertClose(x.grad?.scalars, [2, 2, -12])
    }

    func testBackwardOnLeafCopiesSeed() {
        let x = Tensor([1, 2], requiresGrad: true)
        let seed = Tensor([5, 7])
        x.backward(seed)
        assertClose(x.grad?.scalars, [5, 7])
        XCTAssertFalse(x.grad!.sharesStorage(with: seed), "leaf gradient must not alias the seed")
        x.backward(seed)
        assertClose(x.grad?.scalars, [10, 14])
        XCTAssertEqual(seed.scalars, [5, 7], "accumulation must not write into the seed")
    }

    func testScalarBackwardDefaultSeedIsOne() {
        let x = Tensor(scalar: 3, requiresGrad: true)
        (x * x * x).backward()
        assertClose(x.grad?.scalars, [27])
        XCTAssertEqual(x.grad?.shape, [])
    }

    func testLeafGradientsDoNotAlias() {
        let a = Tensor([1, 2, 3], requiresGrad: true)
        let b = Tensor([4, 5, 6], requiresGrad: true)
        (a + b).sum().backward()
        assertClose(a.grad?.scalars, [1, 1, 1])
        assertClose(b.grad?.scalars, [1, 1, 1])
        XCTAssertFalse(a.grad!.sharesStorage(with: b.grad!))
        // Accumulating into a.grad must leave b.grad alone.
        (a * 2).sum().backward()
        assertClose(a.grad?.scalars, [3, 3, 3])
        assertClose(b.grad?.scalars, [1, 1, 1])
        (b * 10).sum().backward()
        assertClose(a.grad?.scalars, [3, 3, 3])
        assertClose(b.grad?.scalars, [11, 11, 11])
    }

    func testLeafGradientsDoNotAliasWithSeedPassThrough() {
        // The seed itself reaches both leaves untouched by add's rule.
        let a = Tensor([1, 2], requiresGrad: true)
        let b = Tensor([3, 4], requiresGrad: true)
        let seed = Tensor([1, 1])
        (a + b).backward(seed)
        (a + a).backward(seed)
        assertClose(a.grad?.scalars, [3, 3])
        assertClose(b.grad?.scalars, [1, 1])
        XCTAssertEqual(seed.scalars, [1, 1])
    }

    func testGradientThroughViews() {
        // Gradients flow through slice/transpose/reshape views to the base leaf.
        let x = Tensor((0..<6).map(Float.init), shape: [2, 3], requiresGrad: true)
        let y = x.T.slice(axis: 0, 1..<3).reshaped([4]) * Tensor([1, 2, 3, 4])
        y.sum().backward()
        // x.T = [[0,3],[1,4],[2,5]]; rows 1..<3 -> [1,4,2,5] = x[0,1], x[1,1], x[0,2], x[1,2]
        assertClose(x.grad?.scalars, [0, 1, 3, 0, 2, 4])
    }

    func testBroadcastGradientIsReduced() {
        let x = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3], requiresGrad: true)
        let bias = Tensor([10, 20, 30], requiresGrad: true)
        (x + bias).sum().backward()
        assertClose(bias.grad?.scalars, [2, 2, 2])
        XCTAssertEqual(bias.grad?.shape, [3])
    }

    // MARK: Grad mode, detach

    func testNoGradRecordsNothing() {
        let x = Tensor([1, 2], requiresGrad: true)
        XCTAssertTrue(GradMode.isEnabled)
        let y = withNoGrad { () -> Tensor in
            XCTAssertFalse(GradMode.isEnabled)
            return (x * x).matmul(x)
        }
        XCTAssertTrue(GradMode.isEnabled)
        XCTAssertFalse(y.requiresGrad)
        XCTAssertTrue(y.isLeaf)
        XCTAssertEqual(y.item, 9)
        // Nested no-grad restores the outer state, including when the body throws.
        struct Boom: Error {}
        let innerThrew: Bool = withNoGrad {
            let threw = (try? withNoGrad { () throws -> Int in throw Boom() }) == nil
            XCTAssertFalse(GradMode.isEnabled)
            return threw
        }
        XCTAssertTrue(innerThrew)
        XCTAssertThrowsError(try withNoGrad { throw Boom() })
        XCTAssertTrue(GradMode.isEnabled)
        // Recording resumes afterwards.
        XCTAssertTrue((x * x).requiresGrad)
    }

    func testOpsOnPlainTensorsDoNotRequireGrad() {
        let a = Tensor([1, 2]), b = Tensor([3, 4])
        XCTAssertFalse((a * b + a).requiresGrad)
        XCTAssertFalse(a.matmul(b).requiresGrad)
        XCTAssertTrue((a * Tensor([1, 1], requiresGrad: true)).requiresGrad)
    }

    func testDetachStopsGradient() {
        let x = Tensor([1, 2, 3], requiresGrad: true)
        let d = x.detach()
        XCTAssertFalse(d.requiresGrad)
        XCTAssertTrue(d.isLeaf)
        XCTAssertTrue(d.sharesStorage(with: x), "detach shares storage")
        XCTAssertEqual(d.scalars, x.scalars)
        (d * x).sum().backward()
        assertClose(x.grad?.scalars, [1, 2, 3])
        XCTAssertNil(d.grad)

        // Detaching an intermediate cuts everything upstream.
        let w = Tensor([2, 2, 2], requiresGrad: true)
        let h = (w * x).detach()
        XCTAssertFalse(h.requiresGrad)
        let z = Tensor([1, 1, 1], requiresGrad: true)
        (h * z).sum().backward()
        XCTAssertNil(w.grad)
        assertClose(z.grad?.scalars, [2, 4, 6])
    }

    func testRequiringGradAndSetGrad() {
        let x = Tensor([1, 2])
        XCTAssertFalse(x.requiresGrad)
        x.requiringGrad()
        XCTAssertTrue(x.requiresGrad)
        (x * 4).sum().backward()
        assertClose(x.grad?.scalars, [4, 4])
        x.setGrad(Tensor([1, 1]))
        (x * 4).sum().backward()
        assertClose(x.grad?.scalars, [5, 5])
        x.setGrad(nil)
        XCTAssertNil(x.grad)
        x.requiringGrad(false)
        XCTAssertFalse((x * 2).requiresGrad)
    }

    func testDeepChainBackward() {
        // Long graphs must neither recurse in backward nor when they are released.
        let x = Tensor([1], requiresGrad: true)
        var y = x
        for _ in 0..<20_000 { y = y * 1 }
        y.sum().backward()
        assertClose(x.grad?.scalars, [1])
    }

    func testDeepChainReleasedWithoutBackward() {
        let x = Tensor([1], requiresGrad: true)
        do {
            var y = x
            for _ in 0..<200_000 { y = y + 1 }
            XCTAssertEqual(y.item, 200_001)
        }
        // Rules that capture their inputs (mul keeps both factors) chain through closures too.
        do {
            var y = x
            for _ in 0..<100_000 { y = y * x }
            XCTAssertEqual(y.item, 1)
        }
        // Dropping the graphs must not overflow the stack.
        XCTAssertNil(x.grad)
    }

    // MARK: Memory

    /// Builds h = x * 2 (saved by the following mul's rule) and returns a weak reference to h's storage.
    private func buildGraph(_ x: Tensor) -> (loss: Tensor, saved: () -> TensorStorage?) {
        let h = x * 2
        weak var storage = h.storage
        let loss = (h * h).sum()
        return (loss, { storage })
    }

    func testSavedActivationsReleasedAfterBackward() {
        let x = Tensor.ones([1000], requiresGrad: true)
        let (loss, saved) = buildGraph(x)
        XCTAssertNotNil(saved(), "the graph keeps the activation its backward rule needs")
        loss.backward()
        XCTAssertNil(saved(), "backward releases saved activations even while the loss is alive")
        assertClose(Array(x.grad!.scalars.prefix(2)), [8, 8])
    }

    func testDroppedGraphReleasesActivations() {
        let x = Tensor.ones([1000], requiresGrad: true)
        var saved: () -> TensorStorage? = { nil }
        do {
            let g = buildGraph(x)
            saved = g.saved
            XCTAssertNotNil(saved())
        }
        XCTAssertNil(saved(), "an unreferenced graph frees its activations without backward")

        weak var mm: TensorStorage?
        do {
            let w = Tensor.ones([8, 8], requiresGrad: true)
            let h = x.reshaped([125, 8]).matmul(w)
            mm = h.storage
            _ = h.matmul(w).sum()
        }
        XCTAssertNil(mm)
    }

    func testMatmulSavesOnlyWhatItsGradientsNeed() {
        // dA = G Bᵀ does not read A: with a frozen B, the activation A is not kept by the graph.
        let x = Tensor.ones([4, 3], requiresGrad: true)
        let frozen = Tensor.ones([3, 2])
        weak var activation: TensorStorage?
        let y: Tensor
        do {
            let a = x * 2
            activation = a.storage
            y = a.matmul(frozen)
        }
        XCTAssertNil(activation)
        y.sum().backward()
        assertClose(x.grad?.scalars, [Float](repeating: 4, count: 12))
        // With a trainable B, A is needed for dB and must be kept.
        let w = Tensor.ones([3, 2], requiresGrad: true)
        weak var kept: TensorStorage?
        let z: Tensor
        do {
            let a = x * 2
            kept = a.storage
            z = a.matmul(w)
        }
        XCTAssertNotNil(kept)
        z.sum().backward()
        XCTAssertNil(kept)
        assertClose(w.grad?.scalars, [Float](repeating: 8, count: 6))
    }

    func testDroppedGraphReleasesOutputsSavedByTheirOwnRule() {
        // exp, sqrt, tanh, sigmoid and softmax keep their output for backward; dropping such a graph
        // without backward must still free it (no output -> node -> rule -> output cycle).
        let x = Tensor.ones([100], requiresGrad: true)
        let ops: [(String, (Tensor) -> Tensor)] = [
            ("exp", { $0.exp() }), ("sqrt", { $0.sqrt() }), ("tanh", { $0.tanh() }),
            ("sigmoid", { $0.sigmoid() }), ("softmax", { $0.softmax() }), ("pow", { $0.pow($0) }),
        ]
        for (name, op) in ops {
            weak var storage: TensorStorage?
            weak var graphTensor: Tensor?
            do {
                let y = op(x)
                XCTAssertTrue(y.requiresGrad, name)
                storage = y.storage
                graphTensor = y
            }
            XCTAssertNil(graphTensor, "\(name): output tensor leaked")
            XCTAssertNil(storage, "\(name): output buffer leaked")
        }
        // The saved output is still usable by backward when the graph is kept.
        let y = x.exp()
        y.sum().backward()
        assertClose(Array(x.grad!.scalars.prefix(1)), [Float(M_E)])
    }

    func testReleasedBuffersReturnToPool() {
        let n = 12_347  // an unusual size nothing else uses
        BufferPool.shared.drain()
        XCTAssertEqual(BufferPool.shared.pooledCount, 0)
        let x = Tensor.ones([n], requiresGrad: true)
        do {
            let h = x * 3
            let loss = (h * h).sum()
            loss.backward()
        }
        // h, h*h and gradient temporaries of n floats went back to the pool.
        XCTAssertGreaterThanOrEqual(BufferPool.shared.pooledCount, 2 * n)
        // The grad stays owned by x.
        XCTAssertEqual(x.grad?.count, n)
        assertClose(Array(x.grad!.scalars.prefix(1)), [18])
    }

    // MARK: Anomaly detection

    func testAnomalyForwardNamesFirstOp() {
        let x = Tensor([1, -1, 2], requiresGrad: true)
        XCTAssertThrowsError(try withAnomalyDetection { _ = (x.log() * 2).sum() }) { error in
            guard let e = error as? AnomalyError else { return XCTFail("wrong error \(error)") }
            XCTAssertEqual(e.op, "log")
            XCTAssertEqual(e.phase, "forward")
            XCTAssertEqual(e.index, 1)
            XCTAssertEqual(e.shape, [3])
            XCTAssertTrue(e.value.isNaN)
            XCTAssertTrue(e.description.contains("log"))
        }
    }

    func testAnomalyForwardWithoutGradStillChecked() {
        let x = Tensor([1, -1])
        XCTAssertThrowsError(try withAnomalyDetection { _ = x.sqrt() }) { error in
            XCTAssertEqual((error as? AnomalyError)?.op, "sqrt")
            XCTAssertEqual((error as? AnomalyError)?.phase, "forward")
        }
    }

    func testAnomalyInMatmulForward() {
        let a = Tensor([1e20, 1e20], shape: [1, 2])
        let b = Tensor([1e20, 1], shape: [2, 1])
        XCTAssertThrowsError(try withAnomalyDetection { _ = a.matmul(b) }) { error in
            XCTAssertEqual((error as? AnomalyError)?.op, "matmul")
            XCTAssertEqual((error as? AnomalyError)?.phase, "forward")
            XCTAssertEqual((error as? AnomalyError)?.value, .infinity)
        }
    }

    func testAnomalyBackwardNamesOp() {
        let x = Tensor([4, 0, 1], requiresGrad: true)
        XCTAssertThrowsError(try withAnomalyDetection { x.sqrt().sum().backward() }) { error in
            guard let e = error as? AnomalyError else { return XCTFail("wrong error \(error)") }
            XCTAssertEqual(e.op, "sqrt")
            XCTAssertEqual(e.phase, "backward")
            XCTAssertEqual(e.index, 1)
            XCTAssertEqual(e.value, .infinity)
        }
    }

    func testAnomalyBackwardInMatmulRule() {
        let a = Tensor([1e-30], shape: [1, 1], requiresGrad: true)
        let b = Tensor([1e20], shape: [1, 1])
        XCTAssertThrowsError(try withAnomalyDetection {
            a.matmul(b).backward(Tensor([1e20], shape: [1, 1]))
        }) { error in
            XCTAssertEqual((error as? AnomalyError)?.op, "matmul")
            XCTAssertEqual((error as? AnomalyError)?.phase, "backward")
        }
    }

    func testAnomalyBackwardNamesRuleNotInternalViews() {
        // A non-finite gradient first appears as the output of sum's rule, which reshapes and
        // expands internally; the report must name the recorded op and the backward phase.
        let x = Tensor([1, 2, 3, 4], shape: [2, 2], requiresGrad: true)
        XCTAssertThrowsError(try withAnomalyDetection {
            x.sum(axis: 1).backward(Tensor([.infinity, 1]))
        }) { error in
            XCTAssertEqual((error as? AnomalyError)?.op, "sum")
            XCTAssertEqual((error as? AnomalyError)?.phase, "backward")
        }
    }

    func testNoAnomalyModeNothingThrown() throws {
        let x = Tensor([-1, 0], requiresGrad: true)
        let y = x.log()
        XCTAssertTrue(y.scalars[0].isNaN)
        let z = x.sqrt()
        z.sum().backward()
        XCTAssertEqual(x.grad?.scalars[1], .infinity)
        // A clean body under anomaly mode returns its value, even after an earlier anomaly.
        XCTAssertThrowsError(try withAnomalyDetection { _ = x.log() })
        let v = try withAnomalyDetection { (Tensor([1, 2], requiresGrad: true) * 2).sum().item }
        XCTAssertEqual(v, 6)
        // NaNs made outside anomaly mode are not reported by a later anomaly block.
        _ = Tensor([-1]).log()
        XCTAssertNoThrow(try withAnomalyDetection { _ = Tensor([1]).log() })
    }

    func testNestedAnomalyBlocks() {
        // The outer block's anomaly survives a clean inner block.
        XCTAssertThrowsError(try withAnomalyDetection {
            _ = Tensor([-1]).log()
            try withAnomalyDetection { _ = Tensor([4]).sqrt() }
        }) { error in
            XCTAssertEqual((error as? AnomalyError)?.op, "log")
        }
        // An inner anomaly is thrown by the inner block only; once caught, the outer block is clean.
        var innerOp: String?
        XCTAssertNoThrow(try withAnomalyDetection {
            do { try withAnomalyDetection { _ = Tensor([-1]).sqrt() } } catch { innerOp = (error as? AnomalyError)?.op }
            _ = Tensor([1]).log()
        })
        XCTAssertEqual(innerOp, "sqrt")
        // Anomaly mode is off again afterwards.
        _ = Tensor([-1]).log()
        XCTAssertNoThrow(try withAnomalyDetection { _ = Tensor([2]).log() })
    }

    func testAnomalyRethrowsBodyErrors() {
        struct Boom: Error {}
        XCTAssertThrowsError(try withAnomalyDetection { throw Boom() }) { error in
            XCTAssertTrue(error is Boom)
        }
        XCTAssertNoThrow(try withAnomalyDetection { _ = Tensor([1]).sqrt() })
    }

    // MARK: gradCheck itself

    func testGradCheckPassesForCorrectGradient() {
        let x = Tensor([0.5, -1, 2], requiresGrad: true)
        let w = Tensor([1, 2, 3], shape: [3, 1], requiresGrad: true)
        let r = gradCheck([x, w]) { xs in (xs[0] * xs[0]).reshaped([1, 3]).matmul(xs[1]) }
        XCTAssertTrue(r.passed, "\(r)")
        XCTAssertEqual(r.checkedElements, 6)
        XCTAssertNil(x.grad, "gradCheck leaves no gradient behind")
        XCTAssertEqual(x.scalars, [0.5, -1, 2], "gradCheck restores perturbed inputs")
    }

    func testGradCheckDetectsWrongGradient() {
        // detach hides one factor from autograd: backward gives x, the true derivative is 2x.
        let x = Tensor([1, 2, 3], requiresGrad: true)
        let r = gradCheck([x]) { xs in xs[0].detach() * xs[0] }
        XCTAssertFalse(r.passed, "\(r)")
        // The worst element is where |x * w| (the error) is largest; w is gradCheck's projection.
        let ws = w(seed: 0, count: 3)
        let errors = (0..<3).map { abs(Double(x.scalars[$0]) * ws[$0]) }
        let worst = errors.indices.max { errors[$0] < errors[$1] }!
        XCTAssertEqual(r.worstInput, 0)
        XCTAssertEqual(r.worstIndex, worst)
        XCTAssertEqual(r.analytic, Double(x.scalars[worst]) * ws[worst], accuracy: 1e-4)
        XCTAssertEqual(r.numeric, 2 * Double(x.scalars[worst]) * ws[worst], accuracy: 1e-3)
    }

    func testGradCheckFailsWhenFiniteDifferenceIsNaN() {
        // sqrt at 0.005 with step 0.01 evaluates sqrt of a negative number: the check is meaningless
        // and must not pass.
        let x = Tensor([0.005], requiresGrad: true)
        let r = gradCheck([x]) { xs in xs[0].sqrt() }
        XCTAssertFalse(r.passed, "\(r)")
        XCTAssertTrue(r.numeric.isNaN, "the report shows the offending element: \(r)")
        XCTAssertEqual(r.analytic, Double(0.5 / Float(0.005).squareRoot()) * w(seed: 0, count: 1)[0], accuracy: 1e-3)
    }

    func testGradCheckFailsOnNonFiniteAnalytic() {
        let x = Tensor([0], requiresGrad: true)
        let r = gradCheck([x], eps: 1e-3) { xs in (xs[0] * xs[0]).sqrt() }
        XCTAssertFalse(r.passed, "\(r)")
    }

    /// The projection weights gradCheck draws for an output of `count` elements.
    private func w(seed: UInt64, count: Int) -> [Double] {
        var gen = RandomGenerator(seed: seed)
        return Tensor.uniform([count], low: -1, high: 1, generator: &gen).scalars.map(Double.init)
    }
}
