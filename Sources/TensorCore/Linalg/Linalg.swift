import CBLASShim

/// Dense linear algebra through LAPACKE (graph-free: results carry no gradient).
public enum Linalg {
    public struct Error: Swift.Error, CustomStringConvertible, Equatable {
        public let routine: String
        public let info: Int
        public let reason: String
        public var description: String { "\(routine) failed (info \(info)): \(reason)" }
    }

    private static func squareMatrix(_ a: Tensor, op: String) -> Int {
        precondition(a.rank == 2 && a.shape[0] == a.shape[1], "\(op): expects a square matrix, got shape \(a.shape)")
        return a.shape[0]
    }

    /// A fresh contiguous copy LAPACK may overwrite.
    private static func scratchCopy(_ a: Tensor) -> Tensor {
        let c = Tensor(uninitializedShape: a.shape)
        Kernels.copy(from: a, to: c.pointer)
        return c
    }

    /// Solves A X = B for square A [n, n] and B [n] or [n, k] (LU with partial pivoting, `sgesv`).
    public static func solve(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        let n = squareMatrix(a, op: "solve")
        precondition((b.rank == 1 || b.rank == 2) && b.shape[0] == n, "solve: right-hand side \(b.shape) does not match matrix \(a.shape)")
        let lu = scratchCopy(a), x = scratchCopy(b)
        let k = b.rank == 1 ? 1 : b.shape[1]
        var pivots = [Int32](repeating: 0, count: n)
        let info = LAPACKE_sgesv(LAPACK_ROW_MAJOR, Int32(n), Int32(k), lu.pointer, Int32(n), &pivots, x.pointer, Int32(k))
        if info > 0 { throw Error(routine: "sgesv", info: Int(info), reason: "matrix is singular (U[\(info - 1), \(info - 1)] is zero)") }
        if info < 0 { throw Error(routine: "sgesv", info: Int(info), reason: "argument \(-info) was illegal") }
        return x
    }

    /// Lower-triangular L with A = L Lᵀ for a symmetric positive-definite A (`spotrf`).
    public static func cholesky(_ a: Tensor) throws -> Tensor {
        let n = squareMatrix(a, op: "cholesky")
        let l = scratchCopy(a)
        let info = LAPACKE_spotrf(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "L")), Int32(n), l.pointer, Int32(n))
        if info > 0 { throw Error(routine: "spotrf", info: Int(info), reason: "matrix is not positive definite (leading minor \(info))") }
        if info < 0 { throw Error(routine: "spotrf", info: Int(info), reason: "argument \(-info) was illegal") }
        for i in 0..<n { for j in (i + 1)..<max(n, i + 1) { l.pointer[i * n + j] = 0 } }
        return l
    }

    /// Thin QR of A [m, n], m >= n: Q [m, n] with orthonormal columns and upper-triangular R [n, n]
    /// with a non-negative diagonal (`sgeqrf` + `sorgqr`).
    public static func qr(_ a: Tensor) throws -> (q: Tensor, r: Tensor) {
        precondition(a.rank == 2 && a.shape[0] >= a.shape[1], "qr: expects [m, n] with m >= n, got shape \(a.shape)")
        let m = a.shape[0], n = a.shape[1]
        let q = scratchCopy(a)
        var tau = [Float](repeating: 0, count: max(n, 1))
        var info = LAPACKE_sgeqrf(LAPACK_ROW_MAJOR, Int32(m), Int32(n), q.pointer, Int32(n), &tau)
        if info != 0 { throw Error(routine: "sgeqrf", info: Int(info), reason: "argument \(-info) was illegal") }
        let r = Tensor.zeros([n, n])
        for i in 0..<n { for j in i..<n { r.pointer[i * n + j] = q.pointer[i * n + j] } }
        info = LAPACKE_sorgqr(LAPACK_ROW_MAJOR, Int32(m), Int32(n), Int32(n), q.pointer, Int32(n), &tau)
        if info != 0 { throw Error(routine: "sorgqr", info: Int(info), reason: "argument \(-info) was illegal") }
        // Make diag(R) non-negative so the factorisation is unique (flip Q's matching columns).
        for i in 0..<n where r.pointer[i * n + i] < 0 {
            for j in i..<n { r.pointer[i * n + j] = -r.pointer[i * n + j] }
            for row in 0..<m { q.pointer[row * n + i] = -q.pointer[row * n + i] }
        }
        return (q, r)
    }

    /// Singular values of A [m, n] in descending order (`sgesdd`, no vectors).
    public static func singularValues(_ a: Tensor) throws -> [Float] {
        precondition(a.rank == 2, "singular_values: expects a matrix, got shape \(a.shape)")
        let m = a.shape[0], n = a.shape[1]
        let work = scratchCopy(a)
        var s = [Float](repeating: 0, count: max(min(m, n), 1))
        // U and Vᵀ are not referenced with jobz = "N", but row-major LAPACKE still requires
        // ldu >= 1 and ldvt >= n (ldvt = 1 fails with info -11).
        var u: Float = 0, vt: Float = 0
        let info = LAPACKE_sgesdd(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "N")), Int32(m), Int32(n), work.pointer, Int32(max(n, 1)),
                                  &s, &u, 1, &vt, Int32(max(n, 1)))
        if info > 0 { throw Error(routine: "sgesdd", info: Int(info), reason: "SVD did not converge") }
        if info < 0 { throw Error(routine: "sgesdd", info: Int(info), reason: "argument \(-info) was illegal") }
        return Array(s.prefix(min(m, n)))
    }

    /// A random matrix [rows, cols] with orthonormal rows or columns, scaled by `gain`
    /// (PyTorch `nn.init.orthogonal_`: QR of a Gaussian matrix, signs fixed by diag(R)).
    public static func orthogonal(_ rows: Int, _ cols: Int, gain: Float = 1, generator: inout RandomGenerator) throws -> Tensor {
        let tall = rows >= cols
        let g = Tensor.normal(tall ? [rows, cols] : [cols, rows], generator: &generator)
        let q = try qr(g).q
        let oriented = tall ? q : q.T.contiguousData()
        return withNoGrad { oriented * gain }
    }
}
