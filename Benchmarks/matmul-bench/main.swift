import ArgumentParser
import CBLASShim
import Foundation
import TensorCore

/// GFLOP/s of `Tensor.matmul` against a direct `cblas_sgemm` on the same buffers, interleaved.
@main
struct MatmulBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "matmul-bench",
        abstract: "Compare Tensor.matmul with raw cblas_sgemm: square sizes, transposes, transformer shapes, batched attention.")

    @Option(help: "Thread counts to measure (comma-separated, each 1...256).") var threads = "1,2"
    @Option(help: "Minimum seconds of timing per case and contender (finite, > 0).") var seconds = 0.3
    @Flag(help: "Print one JSON object per line instead of a table.") var json = false
    @Flag(help: "Only square sizes (quick).") var quick = false

    func validate() throws {
        do { try EnvironmentSettings.check() } catch { throw ValidationError("\(error)") }
        _ = try parsedThreadCounts()
        guard seconds.isFinite && seconds > 0 else { throw ValidationError("--seconds must be finite and > 0, got \(seconds)") }
    }

    /// --threads as numbers, refusing anything but a comma-separated list of counts in 1...256.
    func parsedThreadCounts() throws -> [Int] {
        let counts = threads.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !counts.isEmpty, counts.allSatisfy({ $0.map { (1...256).contains($0) } ?? false }) else {
            throw ValidationError("--threads must be a comma-separated list of thread counts in 1...256, got '\(threads)'")
        }
        return counts.compactMap { $0 }
    }

    struct Case {
        var m, n, k: Int
        var transA = false, transB = false
        var batch = 1
        var label: String
    }

    func cases() -> [Case] {
        var out = [64, 128, 256, 512, 1024, 2048].map { Case(m: $0, n: $0, k: $0, label: "square") }
        if quick { return out }
        out += [Case(m: 512, n: 512, k: 512, transA: true, label: "Aᵀ"), Case(m: 512, n: 512, k: 512, transB: true, label: "Bᵀ"),
                Case(m: 512, n: 512, k: 512, transA: true, transB: true, label: "AᵀBᵀ")]
        // Transformer step shapes: M = batch x seq, N and K in {d, 3d, 4d, vocab}.
        for (bt, d, v) in [(2048, 128, 64), (1024, 512, 256)] {
            out += [Case(m: bt, n: 3 * d, k: d, transB: true, label: "qkv d=\(d)"), Case(m: bt, n: 4 * d, k: d, transB: true, label: "fc d=\(d)"),
                    Case(m: bt, n: d, k: 4 * d, transB: true, label: "proj d=\(d)"), Case(m: bt, n: v, k: d, transB: true, label: "lm head d=\(d)")]
        }
        // Batched attention products [B*H, T, hd] x [B*H, hd, T] and [B*H, T, T] x [B*H, T, hd].
        out += [Case(m: 64, n: 64, k: 32, transB: true, batch: 128, label: "attn qkᵀ"), Case(m: 64, n: 32, k: 64, batch: 128, label: "attn av"),
                Case(m: 128, n: 128, k: 64, transB: true, batch: 64, label: "attn qkᵀ"), Case(m: 128, n: 64, k: 128, batch: 64, label: "attn av")]
        return out
    }

    /// Best-of-repeats seconds per call of `body`, timing at least `seconds` in total.
    func time(_ body: () -> Void) -> Double {
        body()
        var best = Double.infinity, total = 0.0
        while total < seconds {
            let reps = 3
            let t0 = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<reps { body() }
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            best = min(best, dt / Double(reps))
            total += dt
        }
        return best
    }

    func run() throws {
        let threadCounts = try parsedThreadCounts()
        if !json { print("case            m     n     k  tA tB batch thr  tensor GF/s  cblas GF/s  ratio") }
        var rng = RandomGenerator(seed: 0)
        for c in cases() {
            // Stored layouts: A is [k, m] when transposed, B is [n, k] when transposed.
            let aStore = Tensor.normal([c.batch] + (c.transA ? [c.k, c.m] : [c.m, c.k]), generator: &rng)
            let bStore = Tensor.normal([c.batch] + (c.transB ? [c.n, c.k] : [c.k, c.n]), generator: &rng)
            let a = c.transA ? aStore.transposed() : aStore
            let b = c.transB ? bStore.transposed() : bStore
            let out = Tensor.zeros([c.batch, c.m, c.n])
            let flops = 2.0 * Double(c.m * c.n * c.k * c.batch)
            for t in threadCounts {
                Threading.threadCount = t
                // Raw OpenBLAS with its own threads at the same count (TensorCore may pin it to 1).
                let direct = {
                    Threading.withBLASThreads(t) {
                        aStore.withUnsafeBufferPointer { aData in bStore.withUnsafeBufferPointer { bData in
                            out.withUnsafeMutableBufferPointer { outData in
                                let lda = Int32(c.transA ? c.m : c.k), ldb = Int32(c.transB ? c.k : c.n)
                                for i in 0..<c.batch {
                                    cblas_sgemm(CblasRowMajor, c.transA ? CblasTrans : CblasNoTrans, c.transB ? CblasTrans : CblasNoTrans,
                                                Int32(c.m), Int32(c.n), Int32(c.k), 1, aData.baseAddress! + i * c.m * c.k, lda,
                                                bData.baseAddress! + i * c.k * c.n, ldb, 0, outData.baseAddress! + i * c.m * c.n, Int32(c.n))
                                }
                            }
                        } }
                    }
                }
                let (lhs, rhs) = c.batch == 1 ? (a.squeezed(axis: 0), b.squeezed(axis: 0)) : (a, b)
                let viaTensor = { _ = withNoGrad { lhs.matmul(rhs) } }
                // Interleave the two contenders twice and keep each one's best.
                var tTensor = Double.infinity, tBLAS = Double.infinity
                for _ in 0..<2 {
                    tBLAS = min(tBLAS, time(direct))
                    tTensor = min(tTensor, time(viaTensor))
                }
                let gT = flops / tTensor / 1e9, gB = flops / tBLAS / 1e9
                if json {
                    let row: [String: Any] = ["m": c.m, "n": c.n, "k": c.k, "transA": c.transA, "transB": c.transB, "batch": c.batch,
                                              "threads": t, "tensor_gflops": (gT * 10).rounded() / 10, "cblas_gflops": (gB * 10).rounded() / 10]
                    print(String(data: try JSONSerialization.data(withJSONObject: row, options: [.sortedKeys]), encoding: .utf8)!)
                } else {
                    print(String(format: "%-12@ %5d %5d %5d  %@  %@ %5d %3d  %11.1f %11.1f  %5.2f", c.label as NSString, c.m, c.n, c.k,
                                 c.transA ? "T" : "-", c.transB ? "T" : "-", c.batch, t, gT, gB, gT / gB))
                }
            }
        }
    }
}
