import CBLASShim
import CFusedKernels
import Foundation

// Pointer-level GEMM on `cblas_sgemm`: transpose flags and leading dimensions instead of copies,
// large products split across the worker pool, products of a few rows on TensorCore's own kernel.

extension Kernels {
    /// How GEMM reads a strided 2-D view: transposed or not, and its leading dimension.
    package struct GEMMOperand {
        package let pointer: UnsafeMutablePointer<Float>
        package let transpose: Bool
        package let ld: Int
        package init(pointer: UnsafeMutablePointer<Float>, transpose: Bool, ld: Int) {
            self.pointer = pointer
            self.transpose = transpose
            self.ld = ld
        }
    }

    /// Reads a [rows, cols] view with strides (rowStride, colStride); nil when neither layout fits.
    package static func gemmLayout(rows: Int, cols: Int, rowStride: Int, colStride: Int) -> (transpose: Bool, ld: Int)? {
        if (cols == 1 || colStride == 1) && (rows == 1 || rowStride >= Swift.max(1, cols)) {
            return (false, rows == 1 ? Swift.max(cols, 1) : rowStride)
        }
        if (rows == 1 || rowStride == 1) && (cols == 1 || colStride >= Swift.max(1, rows)) {
            return (true, cols == 1 ? Swift.max(rows, 1) : colStride)
        }
        return nil
    }

    /// C[m, n] = alpha * op(A)[m, k] * op(B)[k, n] + beta * C, C row-major with leading dim ldc.
    /// With `Threading.splitGEMM`, a large product is cut into row (or column) blocks that run on
    /// TensorCore's threads, each a single-threaded GEMM, so only one thread pool ever runs.
    package static func gemm(m: Int, n: Int, k: Int, alpha: Float = 1,
                     _ a: GEMMOperand, _ b: GEMMOperand, beta: Float, _ c: UnsafeMutablePointer<Float>, ldc: Int) {
        let parts = Threading.threadCount
        // Which kernel runs is decided on the whole product, never per block, so that any number of
        // threads gives the bits of one; a product on the small-row kernel is split by columns only.
        let small = usesSmallRowKernel(m: m, n: n, k: k, a, b)
        let byRows = m >= n && !small
        if Threading.splitGEMM && parts > 1 && !Threading.inParallelRegion && 2 * m * n * k >= Threading.splitGEMMMinFlops
            && (byRows ? m : n) >= 2 * parts {
            let total = byRows ? m : n
            Threading.parallelFor(parts, costPerItem: Threading.grainSize) { range in
                for part in range {
                    let lo = total * part / parts, hi = total * (part + 1) / parts
                    if byRows {
                        let ap = a.transpose ? a.pointer + lo : a.pointer + lo * a.ld
                        sgemm(m: hi - lo, n: n, k: k, alpha: alpha, GEMMOperand(pointer: ap, transpose: a.transpose, ld: a.ld), b,
                              beta: beta, c + lo * ldc, ldc: ldc, small: small)
                    } else {
                        let bp = b.transpose ? b.pointer + lo * b.ld : b.pointer + lo
                        sgemm(m: m, n: hi - lo, k: k, alpha: alpha, a, GEMMOperand(pointer: bp, transpose: b.transpose, ld: b.ld),
                              beta: beta, c + lo, ldc: ldc, small: small)
                    }
                }
            }
            return
        }
        sgemm(m: m, n: n, k: k, alpha: alpha, a, b, beta: beta, c, ldc: ldc, small: small)
    }

    /// A few rows times a linear layer's weight (x·Wᵀ, decoding), where OpenBLAS would spend most of
    /// the call packing the weight.
    private static func usesSmallRowKernel(m: Int, n: Int, k: Int, _ a: GEMMOperand, _ b: GEMMOperand) -> Bool {
        NativeKernels.isa != nil && b.transpose && !a.transpose && m > 0 && n > 0 && k > 0 && m <= NativeKernels.smallGEMMMaxRows(k: k)
    }

    @inline(__always)
    private static func sgemm(m: Int, n: Int, k: Int, alpha: Float, _ a: GEMMOperand, _ b: GEMMOperand, beta: Float,
                              _ c: UnsafeMutablePointer<Float>, ldc: Int, small: Bool) {
        if small, let isa = NativeKernels.isa {
            precondition(a.ld >= k && b.ld >= k && ldc >= n,
                         "gemm (small-row kernel): m \(m), n \(n), k \(k) need lda \(a.ld) >= k, ldb \(b.ld) >= k, ldc \(ldc) >= n")
            cfk_sgemm_abt_small(isa, m, n, k, alpha, a.pointer, a.ld, b.pointer, b.ld, beta, c, ldc)
            return
        }
        var beta = beta
        // OpenBLAS applies beta in a separate pass before its kernel accumulates into C, and its
        // beta = 0 pass is slower than glibc's memset: zeroing here and accumulating with beta = 1
        // gives the same bits 8-25% sooner on this model's shapes (most on the attention GEMMs).
        if beta == 0 {
            if ldc == n || m == 1 {
                memset(c, 0, m * n * MemoryLayout<Float>.stride)
            } else {
                for r in 0..<m { memset(c + r * ldc, 0, n * MemoryLayout<Float>.stride) }
            }
            beta = 1
        }
        cblas_sgemm(CblasRowMajor, a.transpose ? CblasTrans : CblasNoTrans, b.transpose ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a.pointer, Int32(a.ld), b.pointer, Int32(b.ld),
                    beta, c, Int32(ldc))
    }
}
