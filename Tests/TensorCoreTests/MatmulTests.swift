import TestSupport
import XCTest
import TensorCore

/// Reference matmul in Double with PyTorch `matmul` semantics (1-D promotion, batch broadcasting).
private func referenceMatmul(_ a: Tensor, _ b: Tensor) -> (values: [Double], absValues: [Double], shape: [Int]) {
    var aShape = a.shape, bShape = b.shape
    let av = a.scalars.map(Double.init), bv = b.scalars.map(Double.init)
    let aVector = aShape.count == 1, bVector = bShape.count == 1
    if aVector { aShape = [1] + aShape }
    if bVector { bShape = bShape + [1] }
    let m = aShape[aShape.count - 2], k = aShape[aShape.count - 1]
    let n = bShape[bShape.count - 1]
    precondition(bShape[bShape.count - 2] == k)
    let aBatch = Array(aShape.dropLast(2)), bBatch = Array(bShape.dropLast(2))
    let r = max(aBatch.count, bBatch.count)
    let aB = [Int](repeating: 1, count: r - aBatch.count) + aBatch
    let bB = [Int](repeating: 1, count: r - bBatch.count) + bBatch
    var batch = [Int](repeating: 1, count: r)
    for d in 0..<r {
        precondition(aB[d] == bB[d] || aB[d] == 1 || bB[d] == 1)
        batch[d] = max(aB[d], bB[d])
        if aB[d] == 0 || bB[d] == 0 { batch[d] = 0 }
    }
    let batchCount = batch.reduce(1, *)
    var out = [Double](repeating: 0, count: batchCount * m * n)
    var absOut = out
    for i in 0..<batchCount {
        var rem = i, ai = 0, bi = 0, aMul = 1, bMul = 1
        for d in stride(from: r - 1, through: 0, by: -1) {
            let idx = rem % batch[d]
            rem /= batch[d]
            ai += (aB[d] == 1 ? 0 : idx) * aMul
            bi += (bB[d] == 1 ? 0 : idx) * bMul
            aMul *= aB[d]
            bMul *= bB[d]
        }
        for row in 0..<m {
            for col in 0..<n {
                var s = 0.0, sa = 0.0
                for t in 0..<k {
                    let p = av[ai * m * k + row * k + t] * bv[bi * k * n + t * n + col]
                    s += p
                    sa += abs(p)
                }
                out[i * m * n + row * n + col] = s
                absOut[i * m * n + row * n + col] = sa
            }
        }
    }
    var shape = batch + [m, n]
    if bVector { shape.removeLast() }
    if aVector { shape.remove(at: shape.count - (bVector ? 1 : 2)) }
    return (out, absOut, shape)
}

private func randomTensor(_ shape: [Int], _ gen: inout RandomGenerator, requiresGrad: Bool = false) -> Tensor {
    Tensor.uniform(shape, low: -1, high: 1, generator: &gen, requiresGrad: requiresGrad)
}

/// One matmul scenario: contiguous leaves and the (view-making) function that turns them into operands.
private struct MatmulCase: Sendable {
    let name: String
    let leafShapes: [[Int]]
    let operands: @Sendable ([Tensor]) -> (Tensor, Tensor)
    let expectedShape: [Int]

    init(_ name: String, _ a: [Int], _ b: [Int], expected: [Int],
         _ operands: @escaping @Sendable ([Tensor]) -> (Tensor, Tensor) = { ($0[0], $0[1]) }) {
        self.name = name
        self.leafShapes = [a, b]
        self.operands = operands
        self.expectedShape = expected
    }
}

private let matmulCases: [MatmulCase] = [
    MatmulCase("2-D", [3, 4], [4, 5], expected: [3, 5]),
    MatmulCase("NN square", [6, 6], [6, 6], expected: [6, 6]),
    MatmulCase("NT", [3, 4], [5, 4], expected: [3, 5]) { ($0[0], $0[1].transposed()) },
    MatmulCase("TN", [4, 3], [4, 5], expected: [3, 5]) { ($0[0].transposed(), $0[1]) },
    MatmulCase("TT", [4, 3], [5, 4], expected: [3, 5]) { ($0[0].T, $0[1].T) },
    MatmulCase("row vector times matrix", [1, 4], [4, 3], expected: [1, 3]),
    MatmulCase("matrix times column", [3, 4], [4, 1], expected: [3, 1]),
    MatmulCase("column times row (k=1)", [3, 1], [1, 4], expected: [3, 4]),
    MatmulCase("transposed column times row", [1, 3], [4, 1], expected: [3, 4]) { ($0[0].T, $0[1].T) },
    MatmulCase("1x1 transposed views", [1, 1], [1, 1], expected: [1, 1]) { ($0[0].T, $0[1].T) },
    MatmulCase("sliced A (ld > cols)", [4, 8], [5, 3], expected: [4, 3]) { ($0[0].slice(axis: 1, 0..<5), $0[1]) },
    MatmulCase("sliced A with offset", [4, 8], [5, 3], expected: [4, 3]) { ($0[0].slice(axis: 1, 2..<7), $0[1]) },
    MatmulCase("sliced rows and cols", [6, 8], [5, 3], expected: [3, 3]) {
        ($0[0].slice(axis: 0, 1..<4).slice(axis: 1, 3..<8), $0[1])
    },
    MatmulCase("sliced B", [4, 5], [5, 9], expected: [4, 3]) { ($0[0], $0[1].slice(axis: 1, 4..<7)) },
    MatmulCase("sliced then transposed A", [8, 7], [5, 2], expected: [4, 2]) {
        ($0[0].slice(axis: 1, 1..<5).slice(axis: 0, 0..<5).transposed(), $0[1])
    },
    MatmulCase("sliced then transposed B", [4, 5], [3, 9], expected: [4, 3]) {
        ($0[0], $0[1].slice(axis: 1, 2..<7).transposed())
    },
    MatmulCase("permuted 3-D A (copied)", [3, 4, 5], [4, 2], expected: [5, 3, 2]) {
        ($0[0].permuted([2, 0, 1]), $0[1])
    },
    MatmulCase("permuted 3-D B (copied)", [2, 3], [4, 5, 3], expected: [5, 2, 4]) {
        ($0[0], $0[1].permuted([1, 2, 0]))
    },
    MatmulCase("expanded A rows (stride 0)", [1, 4], [4, 3], expected: [5, 3]) { ($0[0].expanded(to: [5, 4]), $0[1]) },
    MatmulCase("expanded B columns (stride 0)", [3, 4], [4, 1], expected: [3, 6]) { ($0[0], $0[1].expanded(to: [4, 6])) },
    MatmulCase("1-D @ 2-D", [4], [4, 3], expected: [3]),
    MatmulCase("2-D @ 1-D", [3, 4], [4], expected: [3]),
    MatmulCase("1-D @ 1-D", [5], [5], expected: []),
    MatmulCase("1-D @ 3-D", [4], [2, 4, 3], expected: [2, 3]),
    MatmulCase("3-D @ 1-D", [2, 3, 4], [4], expected: [2, 3]),
    MatmulCase("strided 1-D @ 2-D", [4, 3], [4, 2], expected: [2]) { ($0[0].select(axis: 1, 1), $0[1]) },
    MatmulCase("2-D @ strided 1-D", [2, 4], [4, 3], expected: [2]) { ($0[0], $0[1].select(axis: 1, 2)) },
    MatmulCase("strided 1-D @ strided 1-D", [4, 3], [2, 4], expected: []) { ($0[0].select(axis: 1, 0), $0[1].select(axis: 0, 1)) },
    MatmulCase("transposed 2-D @ 1-D", [4, 3], [4], expected: [3]) { ($0[0].T, $0[1]) },
    MatmulCase("batched @ shared 2-D (fold into M)", [3, 4, 5], [5, 2], expected: [3, 4, 2]),
    MatmulCase("batched @ shared transposed 2-D", [3, 4, 5], [2, 5], expected: [3, 4, 2]) { ($0[0], $0[1].T) },
    MatmulCase("batched @ [1,k,n]", [3, 4, 5], [1, 5, 2], expected: [3, 4, 2]),
    MatmulCase("4-D batched @ shared 2-D", [2, 3, 4, 5], [5, 2], expected: [2, 3, 4, 2]),
    MatmulCase("batched A with m=1 @ 2-D", [3, 1, 5], [5, 2], expected: [3, 1, 2]),
    MatmulCase("batched column-sliced A @ 2-D (fold, ld > k)", [3, 4, 7], [5, 2], expected: [3, 4, 2]) {
        ($0[0].slice(axis: 2, 1..<6), $0[1])
    },
    MatmulCase("batched row-sliced A @ 2-D (no fold)", [3, 5, 4], [4, 2], expected: [3, 3, 2]) {
        ($0[0].slice(axis: 1, 1..<4), $0[1])
    },
    MatmulCase("batched transposed A @ 2-D", [3, 5, 4], [5, 2], expected: [3, 4, 2]) { ($0[0].transposed(), $0[1]) },
    MatmulCase("batch-transposed A @ 2-D", [4, 3, 5], [5, 2], expected: [3, 4, 2]) { ($0[0].transposed(0, 1), $0[1]) },
    MatmulCase("expanded batch A @ 2-D", [4, 5], [5, 2], expected: [3, 4, 2]) { ($0[0].expanded(to: [3, 4, 5]), $0[1]) },
    MatmulCase("[b,m,k] @ [b,k,n]", [3, 4, 5], [3, 5, 2], expected: [3, 4, 2]),
    MatmulCase("[b,m,k] @ [b,k,n] both transposed", [3, 5, 4], [3, 2, 5], expected: [3, 4, 2]) {
        ($0[0].transposed(), $0[1].transposed())
    },
    MatmulCase("broadcast [2,1,m,k] @ [3,k,n]", [2, 1, 4, 5], [3, 5, 2], expected: [2, 3, 4, 2]),
    MatmulCase("broadcast [2,1,m,k] @ [1,3,k,n]", [2, 1, 4, 5], [1, 3, 5, 2], expected: [2, 3, 4, 2]),
    MatmulCase("broadcast [m,k] @ [b,k,n]", [4, 5], [3, 5, 2], expected: [3, 4, 2]),
    MatmulCase("broadcast [m,k]ᵀ @ [b,k,n]", [5, 4], [3, 5, 2], expected: [3, 4, 2]) { ($0[0].T, $0[1]) },
    MatmulCase("broadcast [1,m,k] @ [b,k,n]", [1, 4, 5], [3, 5, 2], expected: [3, 4, 2]),
    MatmulCase("parallel batch of small matrices", [64, 4, 5], [64, 5, 3], expected: [64, 4, 3]),
    MatmulCase("parallel broadcast batch", [8, 1, 3, 4], [6, 4, 2], expected: [8, 6, 3, 2]),
]

private let zeroSizeCases: [MatmulCase] = [
    MatmulCase("m = 0", [0, 4], [4, 3], expected: [0, 3]),
    MatmulCase("n = 0", [3, 4], [4, 0], expected: [3, 0]),
    MatmulCase("k = 0", [3, 0], [0, 4], expected: [3, 4]),
    MatmulCase("k = 0 transposed", [0, 3], [4, 0], expected: [3, 4]) { ($0[0].T, $0[1].T) },
    MatmulCase("batch = 0", [0, 3, 4], [4, 2], expected: [0, 3, 2]),
    MatmulCase("batch = 0 both", [0, 3, 4], [0, 4, 2], expected: [0, 3, 2]),
    MatmulCase("k = 0 batched", [2, 3, 0], [2, 0, 4], expected: [2, 3, 4]),
    MatmulCase("k = 0 vectors", [0], [0], expected: []),
    MatmulCase("k = 0 vector @ matrix", [0], [0, 3], expected: [3]),
]

final class MatmulTests: XCTestCase {
    private var savedThreadCount = 1

    override func setUp() {
        super.setUp()
        savedThreadCount = Threading.threadCount
    }

    override func tearDown() {
        Threading.threadCount = savedThreadCount
        super.tearDown()
    }

    private func check(_ c: MatmulCase, seed: UInt64, file: StaticString = #filePath, line: UInt = #line) {
        var gen = RandomGenerator(seed: seed)
        let leaves = c.leafShapes.map { randomTensor($0, &gen) }
        let (a, b) = c.operands(leaves)
        let y = a.matmul(b)
        let ref = referenceMatmul(a, b)
        XCTAssertEqual(ref.shape, c.expectedShape, "\(c.name): reference shape (test bug)", file: file, line: line)
        XCTAssertEqual(y.shape, c.expectedShape, "\(c.name): shape", file: file, line: line)
        guard y.shape == c.expectedShape else { return }
        XCTAssertFalse(y.requiresGrad, "\(c.name): no input requires grad", file: file, line: line)
        let got = y.scalars
        var worst = 0.0
        for i in got.indices {
            let err = abs(Double(got[i]) - ref.values[i])
            let tol = 1e-5 + 1e-5 * ref.absValues[i]
            worst = max(worst, err - tol)
        }
        XCTAssertLessThanOrEqual(worst, 0, "\(c.name): worst excess error vs reference", file: file, line: line)
        // The ⊗ operator is the same product.
        XCTAssertEqual((a ⊗ b).scalars, got, "\(c.name): ⊗", file: file, line: line)
    }

    func testForwardMatchesReference() {
        for (i, c) in matmulCases.enumerated() { check(c, seed: UInt64(100 + i)) }
    }

    func testForwardMatchesReferenceSingleThreaded() {
        Threading.threadCount = 1
        for (i, c) in matmulCases.enumerated() { check(c, seed: UInt64(200 + i)) }
    }

    func testForwardZeroSizes() {
        for (i, c) in zeroSizeCases.enumerated() { check(c, seed: UInt64(300 + i)) }
    }

    func testKZeroGivesZerosEvenFromDirtyPool() {
        // Return dirty buffers of the output size to the pool first: the k = 0 product must still be 0.
        for _ in 0..<4 { _ = Tensor.full([3, 4], .nan) }
        let y = Tensor.zeros([3, 0]).matmul(Tensor.zeros([0, 4]))
        XCTAssertEqual(y.shape, [3, 4])
        XCTAssertEqual(y.scalars, [Float](repeating: 0, count: 12))
    }

    func testKnownValues() {
        let a = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
        let b = Tensor([7, 8, 9, 10, 11, 12], shape: [3, 2])
        XCTAssertEqual(a.matmul(b).scalars, [58, 64, 139, 154])
        XCTAssertEqual(a.matmul(a.T).scalars, [14, 32, 32, 77])
        XCTAssertEqual(a.T.matmul(a).scalars, [17, 22, 27, 22, 29, 36, 27, 36, 45])
        let dot = Tensor([1, 2, 3]).matmul(Tensor([4, 5, 6]))
        XCTAssertEqual(dot.shape, [])
        XCTAssertEqual(dot.item, 32)
    }

    func testLargeMatrices() {
        let big = MatmulCase("300x300", [300, 300], [300, 300], expected: [300, 300])
        check(big, seed: 7)
        let bigT = MatmulCase("300x300 TN", [300, 300], [300, 300], expected: [300, 300]) { ($0[0].T, $0[1]) }
        check(bigT, seed: 8)
        // m*n*k above the parallel-batch threshold: the batch loops serially with threaded BLAS.
        let bigBatch = MatmulCase("big batch", [2, 130, 130], [2, 130, 130], expected: [2, 130, 130])
        check(bigBatch, seed: 9)
        Threading.threadCount = 1
        check(big, seed: 10)
        check(bigBatch, seed: 11)
    }

    func testResultIsIndependentOfThreadCount() {
        var gen = RandomGenerator(seed: 42)
        let a = randomTensor([64, 6, 7], &gen), b = randomTensor([64, 7, 5], &gen)
        let parallel = a.matmul(b).scalars
        Threading.threadCount = 1
        let serial = a.matmul(b).scalars
        XCTAssertEqual(parallel, serial)
    }

    func testDoesNotModifyInputs() {
        var gen = RandomGenerator(seed: 3)
        let base = randomTensor([4, 8], &gen)
        let before = base.scalars
        let b = randomTensor([3, 5], &gen)
        let bBefore = b.scalars
        _ = base.slice(axis: 1, 0..<5).matmul(b.T)
        _ = base.permuted([1, 0]).slice(axis: 0, 0..<5).T.matmul(b.T)
        XCTAssertEqual(base.scalars, before)
        XCTAssertEqual(b.scalars, bBefore)
    }

    func testOutputIsContiguous() {
        var gen = RandomGenerator(seed: 4)
        let a = randomTensor([3, 5, 4], &gen), b = randomTensor([4, 2], &gen)
        XCTAssertTrue(a.transposed().matmul(a).isContiguous)
        XCTAssertTrue(a.matmul(b).isContiguous)
    }

    // MARK: Gradients

    private func gradCheckCase(_ c: MatmulCase, seed: UInt64, file: StaticString = #filePath, line: UInt = #line) {
        var gen = RandomGenerator(seed: seed)
        let leaves = c.leafShapes.map { randomTensor($0, &gen, requiresGrad: true) }
        let result = gradCheck(leaves, seed: seed) { xs in
            let (a, b) = c.operands(xs)
            return a.matmul(b)
        }
        XCTAssertTrue(result.passed, "\(c.name): \(result)", file: file, line: line)
        XCTAssertEqual(result.checkedElements, leaves.reduce(0) { $0 + $1.count }, "\(c.name)", file: file, line: line)
    }

    func testGradCheckAllCases() {
        for (i, c) in matmulCases.enumerated() { gradCheckCase(c, seed: UInt64(400 + i)) }
    }

    func testGradCheckSingleThreaded() {
        Threading.threadCount = 1
        for (i, c) in matmulCases.enumerated() { gradCheckCase(c, seed: UInt64(500 + i)) }
    }

    func testGradZeroSizes() {
        for c in zeroSizeCases {
            var gen = RandomGenerator(seed: 1)
            let leaves = c.leafShapes.map { randomTensor($0, &gen, requiresGrad: true) }
            let (a, b) = c.operands(leaves)
            let y = a.matmul(b)
            y.backward(Tensor.ones(y.shape))
            for (i, leaf) in leaves.enumerated() {
                let g = leaf.grad
                XCTAssertEqual(g?.shape, leaf.shape, "\(c.name): input \(i)")
                // With an empty output or k = 0 nothing flows: gradients are zero.
                XCTAssertEqual(g?.scalars, [Float](repeating: 0, count: leaf.count), "\(c.name): input \(i)")
            }
        }
    }

    func testGradientValuesForKnownProduct() {
        // y = a @ b, L = sum(y): dL/da = 1 @ bᵀ (row sums of b), dL/db = aᵀ @ 1 (column sums of a).
        let a = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3], requiresGrad: true)
        let b = Tensor([1, -1, 2, 0, 3, 5], shape: [3, 2], requiresGrad: true)
        a.matmul(b).sum().backward()
        XCTAssertEqual(a.grad?.scalars, [0, 2, 8, 0, 2, 8])
        XCTAssertEqual(b.grad?.scalars, [5, 5, 7, 7, 9, 9])
    }

    func testGradientOnlyForOperandThatRequiresIt() {
        var gen = RandomGenerator(seed: 5)
        let a = randomTensor([3, 4], &gen, requiresGrad: true)
        let b = randomTensor([4, 2], &gen)
        let y = a.matmul(b)
        XCTAssertTrue(y.requiresGrad)
        y.sum().backward()
        XCTAssertNotNil(a.grad)
        XCTAssertNil(b.grad)
        let expected = referenceMatmul(Tensor.ones([3, 2]), b.T).values.map(Float.init)
        for (g, e) in zip(a.grad!.scalars, expected) { XCTAssertEqual(g, e, accuracy: 1e-5) }
    }

    func testGradBatchedSharedWeightMatchesPerItemSum() {
        // The folded dB over a [b,m,k] @ [k,n] batch equals the sum of per-item Aᵢᵀ Gᵢ.
        var gen = RandomGenerator(seed: 6)
        let a = randomTensor([5, 3, 4], &gen)
        let w = randomTensor([4, 2], &gen, requiresGrad: true)
        let g = randomTensor([5, 3, 2], &gen)
        a.matmul(w).backward(g)
        var expected = [Double](repeating: 0, count: 8)
        let av = a.scalars, gv = g.scalars
        for i in 0..<5 { for r in 0..<3 { for kk in 0..<4 { for nn in 0..<2 {
            expected[kk * 2 + nn] += Double(av[i * 12 + r * 4 + kk]) * Double(gv[i * 6 + r * 2 + nn])
        } } } }
        for (x, e) in zip(w.grad!.scalars, expected) { XCTAssertEqual(Double(x), e, accuracy: 1e-4) }
    }
}
