/// Branch-free exp and tanh on eight lanes at a time (glibc's `expf`/`tanhf` are scalar calls and
/// dominated the GELU and softmax kernels). Relative error below 2e-7 over the whole Float range:
/// exp reduces x = n ln2 + r with |r| <= ln2/2 and evaluates a degree-6 polynomial.
///
/// The hot loops call the SIMD8 forms directly: a loop of scalar calls left the compiler one
/// 4-wide dependency chain of ~80 cycles per iteration, and GELU ran latency-bound. The scalar
/// forms are lane 0 of the vector ones, so both give the same bits.
public enum FastMath {
    public typealias Vector = SIMD8<Float>

    @inline(__always)
    public static func exp(_ x: Vector) -> Vector {
        // Clamp with selects rather than min/max so that a NaN stays NaN all the way through.
        let y = expCore(x.replacing(with: -87.3, where: x .< -87.3).replacing(with: 88.7, where: x .> 88.7))
        // The limits expf has: exp(-inf) = 0, so masked logits get exactly zero probability and a
        // fully masked softmax row is 0/0 = NaN as in PyTorch, and overflow gives inf. NaN fails
        // both tests and propagates through p.
        return y.replacing(with: 0, where: x .< -87.3).replacing(with: .infinity, where: x .> 88.722_83)
    }

    /// exp for x in [-87.3, 88.7], without the limits.
    @inline(__always)
    package static func expCore(_ clamped: Vector) -> Vector {
        // Round x·log2(e) to the nearest integer n by adding 1.5·2^23: n then sits in the low
        // mantissa bits of `shifted`, so 2^n is built with wrapping integer ops (no trapping
        // conversion, no rintf call).
        let shifted = clamped * 1.442_695_04 + 12_582_912
        let n = shifted - 12_582_912
        // Cody-Waite: ln2 split into a high part exact in Float and a small correction.
        let r = (clamped - n * 0.693_145_75) - n * 1.428_606_8e-6
        var p = Vector(repeating: 1.0 / 720)
        p = p * r + 1.0 / 120
        p = p * r + 1.0 / 24
        p = p * r + 1.0 / 6
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        let exponent = (unsafeBitCast(shifted, to: SIMD8<UInt32>.self) &- 0x4B40_0000 &+ 127) &<< 23
        return p * unsafeBitCast(exponent, to: Vector.self)
    }

    @inline(__always)
    public static func tanh(_ x: Vector) -> Vector {
        // 1 - 2 / (e^z + 1) with z = 2x. It rounds to exactly 1 for z > 18.1 and to exactly -1 for
        // z < -16.7, so clamping z to ±20 changes no result and lets exp skip its limits (a third
        // of GELU's instructions). The selects keep a NaN.
        let z = 2 * x
        let clamped = z.replacing(with: -20, where: z .< -20).replacing(with: 20, where: z .> 20)
        return 1 - 2 / (expCore(clamped) + 1)
    }

    @inline(__always)
    public static func sigmoid(_ x: Vector) -> Vector { 1 / (1 + exp(-x)) }

    @inline(__always)
    public static func exp(_ x: Float) -> Float { exp(Vector(repeating: x))[0] }

    @inline(__always)
    public static func tanh(_ x: Float) -> Float { tanh(Vector(repeating: x))[0] }

    @inline(__always)
    public static func sigmoid(_ x: Float) -> Float { sigmoid(Vector(repeating: x))[0] }
}

extension Kernels {
    /// dst[j] = exp(src[j] - shift) for j in 0..<n (softmax rows). A plain loop rather than `map8`
    /// with a closure: through the closure the attention kernel called exp out of line.
    @inline(__always)
    package static func expRow(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int, minus shift: Float) {
        let s = SIMD8<Float>(repeating: shift)
        var j = 0
        while j + 8 <= n { store8(FastMath.exp(load8(src, j) - s), dst, j); j += 8 }
        if j < n { storeTail(FastMath.exp(loadTail(src, j, n, fill: 0) - s), dst, j, n) }
    }

    /// dst[j] = f(src[j]) for j in 0..<n, eight at a time; the tail is one padded partial vector.
    /// `src` and `dst` may be the same row.
    @inline(__always)
    package static func map8(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int,
                     _ f: (SIMD8<Float>) -> SIMD8<Float>) {
        var j = 0
        while j + 8 <= n { store8(f(load8(src, j)), dst, j); j += 8 }
        if j < n { storeTail(f(loadTail(src, j, n, fill: 0)), dst, j, n) }
    }
}
