import Foundation
import TestSupport
import XCTest
@testable import TensorCore

/// TensorCore's C kernels (the CFusedKernels target) against the OpenBLAS GEMMs and the Swift
/// attention they replace (`NativeKernels.mode = .off`), for the AVX2 code (`.automatic` on a CPU
/// with AVX2/FMA, as this project's machines have) and the portable C code. Tolerance: 1e-5
/// relative, of the sum of the terms' magnitudes for GEMM and of max(1, |expected|) for attention.
final class NativeKernelsTests: ThreadSettingsTestCase {
    private var savedMode = NativeKernels.Mode.automatic

    override func setUp() {
        super.setUp()
        savedMode = NativeKernels.mode
    }

    override func tearDown() {
        NativeKernels.mode = savedMode
        super.tearDown()
    }

    private let kernelModes: [NativeKernels.Mode] = [.automatic, .portable]

    func testDetectsAVX2AndFMAExactlyWhenTheKernelListsThem() throws {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else {
            throw XCTSkip("no /proc/cpuinfo")
        }
        let flags = info.split(separator: "\n").first { $0.hasPrefix("flags") }
            .map { Set($0.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == ":" }).map(String.init)) } ?? []
        XCTAssertEqual(NativeKernels.cpuHasAVX2FMA, flags.contains("avx2") && flags.contains("fma"))
    }

    func testEnvironmentSpellingsOfTheModes() {
        XCTAssertEqual(NativeKernels.Mode(rawValue: "auto"), .automatic)
        XCTAssertEqual(NativeKernels.Mode(rawValue: "portable"), .portable)
        XCTAssertEqual(NativeKernels.Mode(rawValue: "off"), .off)
        NativeKernels.mode = .off
        XCTAssertNil(NativeKernels.isa)
        NativeKernels.mode = .portable
        XCTAssertEqual(NativeKernels.isa, 0)
        NativeKernels.mode = .automatic
        XCTAssertEqual(NativeKernels.isa, NativeKernels.cpuHasAVX2FMA ? 1 : 0)
    }

    // MARK: small-M GEMM

    /// One GEMM's operands with padded leading dimensions; C's padding is NaN and must stay so.
    private struct GEMMCase {
        let m: Int, n: Int, k: Int, transA: Bool, transB: Bool, alpha: Float, beta: Float
        let a: [Float], b: [Float], c0: [Float]
        var lda: Int { (transA ? m : k) + 2 }
        var ldb: Int { (transB ? k : n) + 1 }
        var ldc: Int { n + 3 }

        init(m: Int, n: Int, k: Int, transA: Bool, transB: Bool, beta: Float, rng: inout RandomGenerator) {
            self.m = m
            self.n = n
            self.k = k
            self.transA = transA
            self.transB = transB
            self.alpha = 0.75
            self.beta = beta
            let aCount = (transA ? k : m) * ((transA ? m : k) + 2), bCount = (transB ? n : k) * ((transB ? k : n) + 1)
            a = (0..<aCount).map { _ in rng.nextUniform() * 2 - 1 }
            b = (0..<bCount).map { _ in rng.nextUniform() * 2 - 1 }
            // beta = 0 must not read C: NaN there would show.
            c0 = (0..<(m * (n + 3))).map { i in i % (n + 3) >= n || beta == 0 ? .nan : rng.nextUniform() * 2 - 1 }
        }

        func aAt(_ i: Int, _ p: Int) -> Float { transA ? a[p * lda + i] : a[i * lda + p] }
        func bAt(_ p: Int, _ j: Int) -> Float { transB ? b[j * ldb + p] : b[p * ldb + j] }

        func run() -> [Float] {
            var a = a, b = b, c = c0
            let (m, n, k, lda, ldb, ldc) = (m, n, k, lda, ldb, ldc)
            a.withUnsafeMutableBufferPointer { ap in
                b.withUnsafeMutableBufferPointer { bp in
                    c.withUnsafeMutableBufferPointer { cp in
                        Kernels.gemm(m: m, n: n, k: k, alpha: alpha,
                                     Kernels.GEMMOperand(pointer: ap.baseAddress!, transpose: transA, ld: lda),
                                     Kernels.GEMMOperand(pointer: bp.baseAddress!, transpose: transB, ld: ldb),
                                     beta: beta, cp.baseAddress!, ldc: ldc)
                    }
                }
            }
            return c
        }

        /// |alpha| Σ_p |A(i, p) B(p, j)| + |beta C(i, j)|: the scale of rounding differences.
        func magnitude(_ i: Int, _ j: Int) -> Float {
            var s: Float = 0
            for p in 0..<k { s += abs(aAt(i, p) * bAt(p, j)) }
            return abs(alpha) * s + (beta == 0 ? 0 : abs(beta * c0[i * ldc + j]))
        }
    }

    private func assertMatches(_ got: [Float], _ expected: [Float], _ g: GEMMCase, _ what: String,
                               file: StaticString = #filePath, line: UInt = #line) {
        for i in 0..<g.m {
            for j in 0..<g.ldc {
                let x = got[i * g.ldc + j], y = expected[i * g.ldc + j]
                if j >= g.n {
                    XCTAssertTrue(x.isNaN, "\(what): padding C[\(i), \(j)] was written", file: file, line: line)
                } else if !(abs(x - y) <= 1e-5 * max(g.magnitude(i, j), 1e-6)) {
                    XCTFail("\(what): C[\(i), \(j)] = \(x), OpenBLAS \(y)", file: file, line: line)
                    return
                }
            }
        }
    }

    func testSmallMGEMMMatchesOpenBLASOnOddShapes() {
        var rng = RandomGenerator(seed: 21)
        for m in [1, 2, 3, 4, 5, 7, 8, 17, 32] {
            for (n, k) in [(1, 1), (3, 17), (17, 3), (64, 64), (65, 65), (9, 130), (130, 9)] {
                for transA in [false, true] {
                    for transB in [true, false] {
                        for beta: Float in [0, 0.5, 1] {
                            // Only x Wᵀ (transB, A untransposed) reaches the kernel; the others must
                            // still be OpenBLAS's.
                            let g = GEMMCase(m: m, n: n, k: k, transA: transA, transB: transB, beta: beta, rng: &rng)
                            NativeKernels.mode = .off
                            let expected = g.run()
                            for mode in kernelModes {
                                NativeKernels.mode = mode
                                assertMatches(g.run(), expected, g, "\(mode) m \(m) n \(n) k \(k) transA \(transA) transB \(transB) beta \(beta)")
                            }
                        }
                    }
                }
            }
        }
    }

    /// A decoding-sized product is split into column blocks across threads: every column is
    /// computed the same way in any block, so 3 and 8 threads give one thread's bits.
    func testSmallMGEMMAcrossThreadsGivesTheSameBits() {
        var rng = RandomGenerator(seed: 22)
        for m in [4, 19] {
            let g = GEMMCase(m: m, n: 2053, k: 300, transA: false, transB: true, beta: 0, rng: &rng)
            NativeKernels.mode = .off
            Threading.threadCount = 1
            let blas = g.run()
            for mode in kernelModes {
                NativeKernels.mode = mode
                Threading.threadCount = 1
                let one = g.run()
                assertMatches(one, blas, g, "\(mode) m \(m)")
                for threads in [3, 8] {
                    Threading.threadCount = threads
                    let many = g.run()
                    XCTAssertTrue(zip(one, many).allSatisfy { $0.bitPattern == $1.bitPattern },
                                  "\(mode) m \(m): \(threads) threads differ from one")
                }
            }
        }
    }

    /// Which kernel runs is decided on the whole product: a product of more rows than the small-row
    /// kernel takes never reaches it through its thread blocks (the decode shape of a 64-prompt
    /// chunk, 64 x 64 x 256, used to at 2 threads), so with the kernels on it gives exactly the
    /// bits of OpenBLAS at the same thread count.
    func testRowBlocksOfALargerProductStayOnOpenBLAS() {
        var rng = RandomGenerator(seed: 23)
        for (m, n, k) in [(64, 64, 256), (65, 48, 512), (33, 33, 1024), (96, 40, 300)] {
            let g = GEMMCase(m: m, n: n, k: k, transA: false, transB: true, beta: 0, rng: &rng)
            for threads in [1, 2, 3, 8] {
                Threading.threadCount = threads
                NativeKernels.mode = .off
                let blas = g.run()
                for mode in kernelModes {
                    NativeKernels.mode = mode
                    XCTAssertTrue(zip(blas, g.run()).allSatisfy { $0.bitPattern == $1.bitPattern },
                                  "\(mode) \(m)x\(n)x\(k) at \(threads) threads: a block went to the small-row kernel")
                }
            }
        }
    }

    func testLinearWithAFewRowsMatchesOpenBLAS() {
        var rng = RandomGenerator(seed: 23)
        let x = Tensor.normal([3, 65], generator: &rng), w = Tensor.normal([17, 65], generator: &rng)
        let bias = Tensor.normal([17], generator: &rng)
        NativeKernels.mode = .off
        let expected = linear(x, weight: w, bias: bias).scalars
        for mode in kernelModes {
            NativeKernels.mode = mode
            let got = linear(x, weight: w, bias: bias).scalars
            for (a, b) in zip(got, expected) { XCTAssertEqual(a, b, accuracy: 1e-5 * max(1, abs(b)), "\(mode)") }
        }
    }

    // MARK: fused attention

    private struct AttentionResult { let y: [Float], dq: [Float], dk: [Float], dv: [Float] }

    private func attention(_ q: Tensor, _ k: Tensor, _ v: Tensor, _ g: Tensor, causal: Bool) -> AttentionResult {
        let (ql, kl, vl) = (q.detach().requiringGrad(), k.detach().requiringGrad(), v.detach().requiringGrad())
        let y = scaledDotProductAttention(ql, kl, vl, causal: causal)
        (y * g).sum().backward()
        return AttentionResult(y: y.scalars, dq: ql.grad!.scalars, dk: kl.grad!.scalars, dv: vl.grad!.scalars)
    }

    private func assertClose(_ got: AttentionResult, _ expected: AttentionResult, _ what: String,
                             file: StaticString = #filePath, line: UInt = #line) {
        for (name, x, y) in [("y", got.y, expected.y), ("dq", got.dq, expected.dq), ("dk", got.dk, expected.dk), ("dv", got.dv, expected.dv)] {
            XCTAssertEqual(x.count, y.count, file: file, line: line)
            if let i = x.indices.first(where: { !(abs(x[$0] - y[$0]) <= 1e-5 * max(1, abs(y[$0]))) }) {
                XCTFail("\(what): \(name)[\(i)] = \(x[i]), Swift path \(y[i])", file: file, line: line)
            }
        }
    }

    func testFusedAttentionMatchesTheGEMMPathOnOddShapes() {
        var rng = RandomGenerator(seed: 24)
        for (tq, tk) in [(1, 1), (1, 17), (3, 3), (5, 20), (17, 17), (64, 64), (65, 65)] {
            for hd in [1, 3, 17, 32] {
                for causal in [true, false] {
                    let q = Tensor.normal([2, 3, tq, hd], generator: &rng)
                    let k = Tensor.normal([2, 3, tk, hd], generator: &rng), v = Tensor.normal([2, 3, tk, hd], generator: &rng)
                    let g = Tensor.normal([2, 3, tq, hd], generator: &rng)
                    NativeKernels.mode = .off
                    let expected = attention(q, k, v, g, causal: causal)
                    for mode in kernelModes {
                        NativeKernels.mode = mode
                        assertClose(attention(q, k, v, g, causal: causal), expected, "\(mode) tq \(tq) tk \(tk) hd \(hd) causal \(causal)")
                    }
                }
            }
        }
    }

    /// GPT's path: q, k, v as strided views of one fused projection, gradients into one buffer.
    func testFusedSelfAttentionMatchesTheGEMMPath() {
        var rng = RandomGenerator(seed: 25)
        let (b, t, h, hd) = (2, 19, 3, 8)
        let qkv = Tensor.normal([b, t, 3 * h * hd], generator: &rng)
        let g = Tensor.normal([b, t, h * hd], generator: &rng)
        func run() -> ([Float], [Float]) {
            let leaf = qkv.detach().requiringGrad()
            let y = causalSelfAttention(qkv: leaf, heads: h)
            (y * g).sum().backward()
            return (y.scalars, leaf.grad!.scalars)
        }
        NativeKernels.mode = .off
        let (y0, d0) = run()
        for mode in kernelModes {
            NativeKernels.mode = mode
            let (y, d) = run()
            for (x, e) in zip(y + d, y0 + d0) { XCTAssertEqual(x, e, accuracy: 1e-5 * max(1, abs(e)), "\(mode)") }
        }
    }

    /// Heads run in parallel; each is one call on its own data, so 3 and 8 threads give one
    /// thread's bits.
    func testFusedAttentionAcrossThreadsGivesTheSameBits() {
        var rng = RandomGenerator(seed: 26)
        let q = Tensor.normal([3, 4, 33, 16], generator: &rng), k = Tensor.normal([3, 4, 33, 16], generator: &rng)
        let v = Tensor.normal([3, 4, 33, 16], generator: &rng), g = Tensor.normal([3, 4, 33, 16], generator: &rng)
        for mode in kernelModes {
            NativeKernels.mode = mode
            Threading.threadCount = 1
            let one = attention(q, k, v, g, causal: true)
            for threads in [3, 8] {
                Threading.threadCount = threads
                let many = attention(q, k, v, g, causal: true)
                XCTAssertEqual(many.y + many.dq + many.dk + many.dv, one.y + one.dq + one.dk + one.dv, "\(mode), \(threads) threads")
            }
        }
    }

    func testFusedAttentionGradientsAgreeWithFiniteDifferences() {
        for mode in kernelModes {
            NativeKernels.mode = mode
            for (tq, tk, causal) in [(3, 3, true), (2, 5, true), (3, 4, false)] {
                let q = randomLeaf([1, 2, tq, 5], seed: 31), k = randomLeaf([1, 2, tk, 5], seed: 32)
                let v = randomLeaf([1, 2, tk, 5], seed: 33)
                assertGradCheck([q, k, v]) { scaledDotProductAttention($0[0], $0[1], $0[2], causal: causal, scale: 0.7) }
            }
        }
    }
}
