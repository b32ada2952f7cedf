import CBLASShim
import Foundation

// Matrix products on `cblas_sgemm`. Transposed views become GEMM transpose flags and leading
// dimensions read from strides; a batch sharing one right-hand matrix folds into M.

extension Tensor {
    /// Matrix product with PyTorch `matmul` semantics: 1-D operands act as vectors, leading (batch)
    /// dimensions broadcast.
    public func matmul(_ other: Tensor) -> Tensor {
        precondition(rank >= 1 && other.rank >= 1, "matmul: scalars are not matrices (shapes \(shape) and \(other.shape))")
        // Vector · vector is a 0-D dot product; a 1-D left operand otherwise acts as a row.
        if rank == 1 && other.rank == 1 { return unsqueezed(axis: 0).matmul(other).squeezed(axis: 0) }
        if rank == 1 { return unsqueezed(axis: 0).matmul(other).squeezed(axis: -2) }
        if other.rank == 1 { return matmul(other.unsqueezed(axis: 1)).squeezed(axis: -1) }
        let a = self, b = other
        let y = Kernels.matmul(a, b)
        // Save only what the needed gradients read: dA needs B, dB needs A.
        let aShape = a.shape, bShape = b.shape
        let savedB = a.requiresGrad ? b : nil, savedA = b.requiresGrad ? a : nil
        return y.recording("matmul", [a, b]) { g in
            [savedB.map { Kernels.matmulGradLeft(g, $0, aShape: aShape) },
             savedA.map { Kernels.matmulGradRight($0, g, bShape: bShape) }]
        }
    }
}

infix operator ⊗: MultiplicationPrecedence
/// `a ⊗ b` is `a.matmul(b)`.
public func ⊗ (a: Tensor, b: Tensor) -> Tensor { a.matmul(b) }

extension Kernels {
    /// A tensor whose last two dims GEMM can read directly (itself, or a contiguous copy).
    static func gemmReadable(_ t: Tensor) -> Tensor {
        let r = t.rank
        return gemmLayout(rows: t.shape[r - 2], cols: t.shape[r - 1], rowStride: t.strides[r - 2], colStride: t.strides[r - 1]) == nil
            ? t.contiguousData() : t
    }

    /// Graph-free batched matmul of tensors of rank >= 2; output contiguous.
    static func matmul(_ a0: Tensor, _ b0: Tensor, op: String = "matmul") -> Tensor {
        let m = a0.shape[a0.rank - 2], k = a0.shape[a0.rank - 1]
        let k2 = b0.shape[b0.rank - 2], n = b0.shape[b0.rank - 1]
        precondition(k == k2, "\(op): inner dimensions differ: \(a0.shape) x \(b0.shape)")
        // Plain matrices: one GEMM, none of the batch bookkeeping below.
        if a0.rank == 2 && b0.rank == 2 && m > 0 && n > 0 && k > 0,
           let la = gemmLayout(rows: m, cols: k, rowStride: a0.strides[0], colStride: a0.strides[1]),
           let lb = gemmLayout(rows: k, cols: n, rowStride: b0.strides[0], colStride: b0.strides[1]) {
            let out = Tensor(uninitializedShape: [m, n])
            gemm(m: m, n: n, k: k, GEMMOperand(pointer: a0.pointer, transpose: la.transpose, ld: la.ld),
                 GEMMOperand(pointer: b0.pointer, transpose: lb.transpose, ld: lb.ld), beta: 0, out.pointer, ldc: n)
            return out
        }
        let aBatch = Array(a0.shape.dropLast(2)), bBatch = Array(b0.shape.dropLast(2))
        guard let batch = Shape.broadcast(aBatch, bBatch) else {
            preconditionFailure("\(op): batch dimensions of \(a0.shape) and \(b0.shape) cannot be broadcast")
        }
        let out = Tensor(uninitializedShape: batch + [m, n])
        if out.count == 0 { return out }
        if k == 0 { out.pointer.update(repeating: 0, count: out.count); return out }
        let a = gemmReadable(a0), b = gemmReadable(b0)
        let la = gemmLayout(rows: m, cols: k, rowStride: a.strides[a.rank - 2], colStride: a.strides[a.rank - 1])!
        let lb = gemmLayout(rows: k, cols: n, rowStride: b.strides[b.rank - 2], colStride: b.strides[b.rank - 1])!
        let batchCount = Shape.count(batch)

        // Shared right-hand matrix and a left operand whose rows form one strided run: one GEMM.
        if Shape.count(bBatch) == 1 && aBatch == batch && !la.transpose {
            let rows = StridedLoop.collapse(Array(a.shape.dropLast()), [Array(a.strides.dropLast())])
            let lda = batchCount * m == 1 ? Swift.max(k, 1) : rows.strides[0][0]
            if rows.shape.count == 1 && lda >= Swift.max(k, 1) {
                gemm(m: batchCount * m, n: n, k: k,
                     GEMMOperand(pointer: a.pointer, transpose: false, ld: lda),
                     GEMMOperand(pointer: b.pointer, transpose: lb.transpose, ld: lb.ld), beta: 0, out.pointer, ldc: n)
                return out
            }
        }

        let aStrides = Array(broadcastStrides(a, to: batch + [m, k]).dropLast(2))
        let bStrides = Array(broadcastStrides(b, to: batch + [k, n]).dropLast(2))
        let batchShape = batch
        let runOne = { (i: Int) in
            var rem = i, ao = 0, bo = 0
            for d in stride(from: batchShape.count - 1, through: 0, by: -1) {
                let idx = rem % batchShape[d]
                rem /= batchShape[d]
                ao += idx * aStrides[d]
                bo += idx * bStrides[d]
            }
            gemm(m: m, n: n, k: k,
                 GEMMOperand(pointer: a.pointer + ao, transpose: la.transpose, ld: la.ld),
                 GEMMOperand(pointer: b.pointer + bo, transpose: lb.transpose, ld: lb.ld),
                 beta: 0, out.pointer + i * m * n, ldc: n)
        }
        // Many small products: spread them over our threads with OpenBLAS single-threaded inside.
        if batchCount > 1 && Threading.threadCount > 1 && m * n * k < 1 << 21 {
            Threading.withBLASThreads(1) {
                Threading.parallelFor(batchCount, costPerItem: Threading.grainSize) { r in for i in r { runOne(i) } }
            }
        } else {
            for i in 0..<batchCount { runOne(i) }
        }
        return out
    }

    /// dA = dC · Bᵀ, summed over batch dims that A broadcast.
    static func matmulGradLeft(_ g: Tensor, _ b: Tensor, aShape: [Int]) -> Tensor {
        sumToShape(matmul(g, b.transposed()), aShape)
    }

    /// dB = Aᵀ · dC, summed over batch dims that B broadcast. A shared 2-D B takes one GEMM over
    /// the folded batch.
    static func matmulGradRight(_ a: Tensor, _ g: Tensor, bShape: [Int]) -> Tensor {
        if bShape.count == 2 && a.rank > 2 {
            let k = a.shape[a.rank - 1], n = g.shape[g.rank - 1]
            return matmul(a.reshaped([-1, k]).transposed(), g.reshaped([-1, n]))
        }
        return sumToShape(matmul(a.transposed(), g), bShape)
    }
}
