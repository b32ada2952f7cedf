import TestSupport
import XCTest
import TensorCore

/// Row-major [m, n] values of a 2-D tensor as Doubles.
private func matrix(_ t: Tensor) -> [[Double]] {
    let v = t.scalars.map(Double.init), n = t.shape[1]
    return (0..<t.shape[0]).map { r in Array(v[(r * n)..<((r + 1) * n)]) }
}

private func product(_ a: [[Double]], _ b: [[Double]]) -> [[Double]] {
    let k = b.count, n = b.first?.count ?? 0
    return a.map { row in (0..<n).map { j in (0..<k).reduce(0.0) { $0 + row[$1] * b[$1][j] } } }
}

private func transpose(_ a: [[Double]]) -> [[Double]] {
    guard let cols = a.first?.count else { return [] }
    return (0..<cols).map { j in a.map { $0[j] } }
}

private func assertMatricesClose(_ a: [[Double]], _ b: [[Double]], accuracy: Double, _ message: String = "",
                                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, "rows \(message)", file: file, line: line)
    XCTAssertEqual(a.first?.count, b.first?.count, "cols \(message)", file: file, line: line)
    for (ra, rb) in zip(a, b) {
        for (x, y) in zip(ra, rb) where !(abs(x - y) <= accuracy) {
            return XCTFail("\(a) != \(b) (accuracy \(accuracy)) \(message)", file: file, line: line)
        }
    }
}

private func identity(_ n: Int, scale: Double = 1) -> [[Double]] {
    (0..<n).map { i in (0..<n).map { $0 == i ? scale : 0 } }
}

final class LinalgTests: XCTestCase {
    // MARK: solve

    func testSolveKnownSystem() throws {
        // 2x + y - z = 8, -3x - y + 2z = -11, -2x + y + 2z = -3  ->  x = 2, y = 3, z = -1
        let a = Tensor([2, 1, -1, -3, -1, 2, -2, 1, 2], shape: [3, 3])
        let b = Tensor([8, -11, -3])
        let x = try Linalg.solve(a, b)
        XCTAssertEqual(x.shape, [3])
        let v = x.scalars
        XCTAssertEqual(v[0], 2, accuracy: 1e-5)
        XCTAssertEqual(v[1], 3, accuracy: 1e-5)
        XCTAssertEqual(v[2], -1, accuracy: 1e-5)
        // Inputs are not overwritten by LAPACK.
        XCTAssertEqual(a.scalars, [2, 1, -1, -3, -1, 2, -2, 1, 2])
        XCTAssertEqual(b.scalars, [8, -11, -3])
    }

    func testSolveMultipleRightHandSides() throws {
        var gen = RandomGenerator(seed: 11)
        // Diagonally dominant, so well conditioned.
        let r = Tensor.uniform([4, 4], low: -1, high: 1, generator: &gen)
        let a = r + Tensor.full([4], 5).reshaped([4, 1]) * Tensor([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1], shape: [4, 4])
        let xTrue = Tensor.uniform([4, 3], low: -2, high: 2, generator: &gen)
        let b = a.matmul(xTrue)
        let x = try Linalg.solve(a, b)
        XCTAssertEqual(x.shape, [4, 3])
        assertMatricesClose(matrix(x), matrix(xTrue), accuracy: 1e-4)
        // Each column solved alone agrees with the multi-RHS solve.
        for c in 0..<3 {
            let col = try Linalg.solve(a, b.select(axis: 1, c))
            for (u, w) in zip(col.scalars, x.select(axis: 1, c).scalars) { XCTAssertEqual(u, w, accuracy: 1e-5) }
        }
    }

    func testSolveNonContiguousInputs() throws {
        // Aᵀ as a transposed view and B as a column-sliced view.
        let at = Tensor([2, -3, -2, 1, -1, 1, -1, 2, 2], shape: [3, 3])
        let bWide = Tensor([8, 0, -11, 0, -3, 0], shape: [3, 2])
        let x = try Linalg.solve(at.T, bWide.slice(axis: 1, 0..<1))
        XCTAssertEqual(x.shape, [3, 1])
        let v = x.scalars
        XCTAssertEqual(v[0], 2, accuracy: 1e-5)
        XCTAssertEqual(v[1], 3, accuracy: 1e-5)
        XCTAssertEqual(v[2], -1, accuracy: 1e-5)
    }

    func testSolveSingularThrows() {
        let a = Tensor([1, 2, 2, 4], shape: [2, 2])
        XCTAssertThrowsError(try Linalg.solve(a, Tensor([1, 2]))) { error in
            guard let e = error as? Linalg.Error else { return XCTFail("wrong error type \(error)") }
            XCTAssertEqual(e.routine, "sgesv")
            XCTAssertGreaterThan(e.info, 0)
        }
        let zero = Tensor.zeros([3, 3])
        XCTAssertThrowsError(try Linalg.solve(zero, Tensor.ones([3, 2]))) { XCTAssertTrue($0 is Linalg.Error) }
    }

    // MARK: cholesky

    func testCholeskyKnownMatrix() throws {
        // A = L Lᵀ with L = [[2,0,0],[6,1,0],[-8,5,3]]
        let a = Tensor([4, 12, -16, 12, 37, -43, -16, -43, 98], shape: [3, 3])
        let l = try Linalg.cholesky(a)
        XCTAssertEqual(l.shape, [3, 3])
        assertMatricesClose(matrix(l), [[2, 0, 0], [6, 1, 0], [-8, 5, 3]], accuracy: 1e-4)
        assertMatricesClose(product(matrix(l), transpose(matrix(l))), matrix(a), accuracy: 1e-3)
        XCTAssertEqual(a.scalars, [4, 12, -16, 12, 37, -43, -16, -43, 98], "input untouched")
    }

    func testCholeskyRandomSPD() throws {
        var gen = RandomGenerator(seed: 12)
        let m = Tensor.normal([6, 6], generator: &gen)
        let spd = m.matmul(m.T) + Tensor([1, 0, 0, 0, 0, 0,
                                          0, 1, 0, 0, 0, 0,
                                          0, 0, 1, 0, 0, 0,
                                          0, 0, 0, 1, 0, 0,
                                          0, 0, 0, 0, 1, 0,
                                          0, 0, 0, 0, 0, 1], shape: [6, 6])
        let l = try Linalg.cholesky(spd)
        let lm = matrix(l)
        for i in 0..<6 {
            XCTAssertGreaterThan(lm[i][i], 0, "positive diagonal")
            for j in (i + 1)..<6 { XCTAssertEqual(lm[i][j], 0, "upper triangle of L must be exactly zero") }
        }
        assertMatricesClose(product(lm, transpose(lm)), matrix(spd), accuracy: 1e-3)
    }

    func testCholeskyNonSPDThrows() {
        let indefinite = Tensor([1, 2, 2, 1], shape: [2, 2])
        XCTAssertThrowsError(try Linalg.cholesky(indefinite)) { error in
            guard let e = error as? Linalg.Error else { return XCTFail("wrong error type \(error)") }
            XCTAssertEqual(e.routine, "spotrf")
            XCTAssertEqual(e.info, 2)
        }
        XCTAssertThrowsError(try Linalg.cholesky(Tensor([-1, 0, 0, 1], shape: [2, 2]))) { error in
            XCTAssertEqual((error as? Linalg.Error)?.info, 1)
        }
    }

    // MARK: qr

    private func checkQR(_ a: Tensor, file: StaticString = #filePath, line: UInt = #line) throws {
        let m = a.shape[0], n = a.shape[1]
        let (q, r) = try Linalg.qr(a)
        XCTAssertEqual(q.shape, [m, n], file: file, line: line)
        XCTAssertEqual(r.shape, [n, n], file: file, line: line)
        let qm = matrix(q), rm = matrix(r)
        assertMatricesClose(product(transpose(qm), qm), identity(n), accuracy: 1e-4, "QᵀQ", file: file, line: line)
        for i in 0..<n {
            XCTAssertGreaterThanOrEqual(rm[i][i], 0, "diag(R) non-negative", file: file, line: line)
            for j in 0..<i { XCTAssertEqual(rm[i][j], 0, "R upper triangular", file: file, line: line) }
        }
        assertMatricesClose(product(qm, rm), matrix(a), accuracy: 1e-4, "QR == A", file: file, line: line)
    }

    func testQRSquareAndTall() throws {
        try checkQR(Tensor([12, -51, 4, 6, 167, -68, -4, 24, -41], shape: [3, 3]) * 0.01)
        var gen = RandomGenerator(seed: 13)
        try checkQR(Tensor.normal([7, 4], generator: &gen))
        try checkQR(Tensor.normal([5, 1], generator: &gen))
        try checkQR(Tensor.normal([6, 6], generator: &gen))
        // A view input.
        try checkQR(Tensor.normal([3, 6], generator: &gen).T)
    }

    func testQRKnownFactorisation() throws {
        // Classic example: A = [[12,-51,4],[6,167,-68],[-4,24,-41]], R = [[14,21,-14],[0,175,-70],[0,0,35]].
        let (q, r) = try Linalg.qr(Tensor([12, -51, 4, 6, 167, -68, -4, 24, -41], shape: [3, 3]))
        assertMatricesClose(matrix(r), [[14, 21, -14], [0, 175, -70], [0, 0, 35]], accuracy: 1e-3)
        assertMatricesClose(matrix(q), [[6.0 / 7, -69.0 / 175, -58.0 / 175],
                                        [3.0 / 7, 158.0 / 175, 6.0 / 175],
                                        [-2.0 / 7, 6.0 / 35, -33.0 / 35]], accuracy: 1e-5)
    }

    func testQRNegativeDiagonalIsFlipped() throws {
        // -I: Householder would give R = -I or I; the normalised answer is Q = -I, R = I.
        let (q, r) = try Linalg.qr(Tensor([-1, 0, 0, -1], shape: [2, 2]))
        assertMatricesClose(matrix(r), identity(2), accuracy: 1e-6)
        assertMatricesClose(matrix(q), identity(2, scale: -1), accuracy: 1e-6)
    }

    // MARK: singular values

    func testSingularValuesOfDiagonal() throws {
        let s = try Linalg.singularValues(Tensor([3, 0, 0, 0, -5, 0, 0, 0, 1], shape: [3, 3]))
        XCTAssertEqual(s.count, 3)
        XCTAssertEqual(s[0], 5, accuracy: 1e-5)
        XCTAssertEqual(s[1], 3, accuracy: 1e-5)
        XCTAssertEqual(s[2], 1, accuracy: 1e-5)
    }

    func testSingularValuesOf2x2() throws {
        // [[3, 0], [4, 5]]: AᵀA = [[25, 20], [20, 25]], eigenvalues 45 and 5.
        let s = try Linalg.singularValues(Tensor([3, 0, 4, 5], shape: [2, 2]))
        XCTAssertEqual(s.count, 2)
        XCTAssertEqual(s[0], Float(45).squareRoot(), accuracy: 1e-5)
        XCTAssertEqual(s[1], Float(5).squareRoot(), accuracy: 1e-5)
    }

    func testSingularValuesRectangular() throws {
        // Rank one: u vᵀ with |u| = 3, |v| = 5 has the single singular value 15.
        let u: [Float] = [1, 2, 2], v: [Float] = [3, 4]
        let a = Tensor(u.flatMap { x in v.map { x * $0 } }, shape: [3, 2])
        let s = try Linalg.singularValues(a)
        XCTAssertEqual(s.count, 2)
        XCTAssertEqual(s[0], 15, accuracy: 1e-4)
        XCTAssertEqual(s[1], 0, accuracy: 1e-4)
        let st = try Linalg.singularValues(a.T)
        XCTAssertEqual(st.count, 2)
        XCTAssertEqual(st[0], 15, accuracy: 1e-4)
        // Wide and tall random matrices: descending, and sum of squares equals the Frobenius norm².
        var gen = RandomGenerator(seed: 14)
        for shape in [[3, 7], [7, 3]] {
            let m = Tensor.normal(shape, generator: &gen)
            let sv = try Linalg.singularValues(m)
            XCTAssertEqual(sv.count, 3)
            XCTAssertEqual(sv, sv.sorted(by: >))
            let fro = m.scalars.reduce(0.0) { $0 + Double($1) * Double($1) }
            XCTAssertEqual(sv.reduce(0.0) { $0 + Double($1) * Double($1) }, fro, accuracy: 1e-3 * fro)
        }
    }

    // MARK: orthogonal init

    private func checkOrthogonal(_ rows: Int, _ cols: Int, gain: Float, seed: UInt64,
                                 file: StaticString = #filePath, line: UInt = #line) throws {
        var gen = RandomGenerator(seed: seed)
        let w = try Linalg.orthogonal(rows, cols, gain: gain, generator: &gen)
        XCTAssertEqual(w.shape, [rows, cols], file: file, line: line)
        XCTAssertFalse(w.requiresGrad, file: file, line: line)
        let wm = matrix(w)
        let g2 = Double(gain) * Double(gain)
        if rows >= cols {
            assertMatricesClose(product(transpose(wm), wm), identity(cols, scale: g2), accuracy: 1e-4 * max(1, g2),
                                "WᵀW for \(rows)x\(cols)", file: file, line: line)
        } else {
            assertMatricesClose(product(wm, transpose(wm)), identity(rows, scale: g2), accuracy: 1e-4 * max(1, g2),
                                "WWᵀ for \(rows)x\(cols)", file: file, line: line)
        }
        // Deterministic for a seed.
        var gen2 = RandomGenerator(seed: seed)
        XCTAssertEqual(try Linalg.orthogonal(rows, cols, gain: gain, generator: &gen2).scalars, w.scalars,
                       file: file, line: line)
    }

    func testOrthogonalTallWideSquare() throws {
        try checkOrthogonal(8, 3, gain: 1, seed: 1)
        try checkOrthogonal(3, 8, gain: 1, seed: 2)
        try checkOrthogonal(5, 5, gain: 1, seed: 3)
        try checkOrthogonal(10, 4, gain: 2, seed: 4)
        try checkOrthogonal(4, 10, gain: 0.5, seed: 5)
        try checkOrthogonal(1, 6, gain: 1, seed: 6)
        try checkOrthogonal(6, 1, gain: 3, seed: 7)
    }

    func testOrthogonalDiffersAcrossSeeds() throws {
        var g1 = RandomGenerator(seed: 1), g2 = RandomGenerator(seed: 2)
        let a = try Linalg.orthogonal(4, 4, generator: &g1), b = try Linalg.orthogonal(4, 4, generator: &g2)
        XCTAssertNotEqual(a.scalars, b.scalars)
    }
}
