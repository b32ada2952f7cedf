import Foundation
import CBLASShim

/// Thread settings for TensorCore's own loops and for OpenBLAS.
///
/// The two never run at full width at once: TensorCore's elementwise and row-wise kernels run
/// between GEMM calls, and work that fans out GEMMs itself (per-head attention) pins OpenBLAS to one
/// thread with `withBLASThreads(1)`.
public enum Threading {
    /// Worker threads for TensorCore's loops and for OpenBLAS. Initialised from the environment
    /// variable `TENSORCORE_NUM_THREADS`, else the number of active processors.
    public static var threadCount: Int {
        get { _threadCount }
        set {
            precondition(newValue >= 1, "Threading.threadCount: \(newValue) must be at least 1")
            _threadCount = newValue
            openblas_set_num_threads(splitGEMM ? 1 : Int32(newValue))
        }
    }

    nonisolated(unsafe) private static var _threadCount: Int = {
        let env = ProcessInfo.processInfo.environment["TENSORCORE_NUM_THREADS"].flatMap(Int.init)
        let n = max(env ?? ProcessInfo.processInfo.activeProcessorCount, 1)
        openblas_set_num_threads(splitGEMM ? 1 : Int32(n))
        return n
    }()

    /// Whether large GEMMs are split across TensorCore's threads (OpenBLAS then stays single-
    /// threaded, so its idle workers never spin against ours) instead of using OpenBLAS threads.
    /// Environment: TENSORCORE_GEMM=split or blas.
    nonisolated(unsafe) public static var splitGEMM: Bool = ProcessInfo.processInfo.environment["TENSORCORE_GEMM"] != "blas"

    /// Products below this many FLOPs run as one GEMM call.
    nonisolated(unsafe) public static var splitGEMMMinFlops = 1 << 20

    /// True while a `parallelFor` region runs (on any thread): nested work stays on its thread.
    package static var inParallelRegion: Bool { WorkerPool.shared.isBusy }

    /// Elements below which a loop stays on the calling thread.
    nonisolated(unsafe) public static var grainSize = 1 << 15

    /// OpenBLAS's current thread count.
    public static var blasThreads: Int { Int(openblas_get_num_threads()) }

    /// Runs `body` with OpenBLAS set to `n` threads, restoring the previous count afterwards.
    public static func withBLASThreads<R>(_ n: Int, _ body: () throws -> R) rethrows -> R {
        let previous = openblas_get_num_threads()
        if previous == Int32(n) { return try body() }
        openblas_set_num_threads(Int32(n))
        defer { openblas_set_num_threads(previous) }
        return try body()
    }

    /// Splits `0..<count` into contiguous chunks and runs them on up to `threadCount` threads when
    /// `count * costPerItem` exceeds the grain size.
    @inlinable
    public static func parallelFor(_ count: Int, costPerItem: Int = 1, _ body: (Range<Int>) -> Void) {
        let chunks = min(threadCount, count, max(1, count * costPerItem / grainSize))
        if chunks <= 1 {
            if count > 0 { body(0..<count) }
            return
        }
        runChunks(count, chunks, body)
    }

    @usableFromInline
    package static func runChunks(_ count: Int, _ chunks: Int, _ body: (Range<Int>) -> Void) {
        let ran = WorkerPool.shared.run(chunks: chunks) { c in
            let lo = count * c / chunks, hi = count * (c + 1) / chunks
            if lo < hi { body(lo..<hi) }
        }
        if !ran { body(0..<count) }  // another thread's region is running: stay on this one
    }
}
