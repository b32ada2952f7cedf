import CFusedKernels
import Foundation

/// TensorCore's own C kernels (the CFusedKernels target): GEMMs with a few rows, which OpenBLAS
/// spends mostly packing (KV-cache decoding), and the attention of short sequences, one fused call
/// per (batch, head) instead of six GEMMs. Each has AVX2/FMA code, chosen at run time, and a
/// portable C version.
public enum NativeKernels {
    public enum Mode: String, Sendable, CaseIterable {
        /// The AVX2/FMA code when the CPU runs it, else the portable C code (the default).
        case automatic = "auto"
        /// The portable C code even where AVX2 runs (for tests and comparisons).
        case portable
        /// OpenBLAS for every product and the per-head GEMM attention, as before these kernels.
        case off
    }

    /// Which code runs. Initialised from the environment variable `TENSORCORE_KERNELS` (auto,
    /// portable or off; anything else means auto). Set it between computations, not during one.
    nonisolated(unsafe) public static var mode: Mode = Mode(rawValue: ProcessInfo.processInfo.environment["TENSORCORE_KERNELS"] ?? "") ?? .automatic

    /// Whether this CPU (and OS) runs the AVX2/FMA code.
    public static let cpuHasAVX2FMA: Bool = cfk_cpu_has_avx2_fma() != 0

    /// The `use_avx2` argument of the C entry points, nil when the kernels are off.
    package static var isa: Int32? {
        switch mode {
        case .off: return nil
        case .portable: return 0
        case .automatic: return cpuHasAVX2FMA ? 1 : 0
        }
    }

    /// x Wᵀ products with at most this many rows go to the small-M kernel. Chosen by timing
    /// against OpenBLAS 0.3.21 (one thread, min of 15 runs) on GPT-2 and SmolLM decoding shapes:
    /// 1.1-3x faster up to 32 rows at k <= 576 and 16 rows at k = 1536, where the 4-row block of
    /// A no longer fits in L1 beside the weight rows (0.85x at 32 rows).
    package static func smallGEMMMaxRows(k: Int) -> Int { k <= 1024 ? 32 : 16 }

    /// Attention with at most this many keys runs the fused per-head kernel.
    package static let attentionMaxKeys = 512
}
