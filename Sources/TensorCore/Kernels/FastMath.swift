/// Branch-free exp and tanh that the compiler can vectorise (glibc's `expf`/`tanhf` are scalar
/// calls and dominated the GELU and softmax kernels). Relative error below 2e-7 over the whole
/// Float range: exp reduces x = n ln2 + r with |r| <= ln2/2 and evaluates a degree-6 polynomial.
public enum FastMath {
    @inline(__always)
    public static func exp(_ x: Float) -> Float {
        let clamped = Swift.min(Swift.max(x, -87.3), 88.7)
        // Round x·log2(e) to the nearest integer n by adding 1.5·2^23: n then sits in the low
        // mantissa bits of `shifted`, so 2^n is built with wrapping integer ops (no trapping
        // conversion, no rintf call), which keeps the loop vectorisable.
        let shifted = clamped * 1.442_695_04 + 12_582_912
        let n = shifted - 12_582_912
        // Cody-Waite: ln2 split into a high part exact in Float and a small correction.
        let r = (clamped - n * 0.693_145_75) - n * 1.428_606_8e-6
        var p: Float = 1.0 / 720
        p = p * r + 1.0 / 120
        p = p * r + 1.0 / 24
        p = p * r + 1.0 / 6
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        let scale = Float(bitPattern: (shifted.bitPattern &- 0x4B40_0000 &+ 127) << 23)
        // The limits expf has (selects, still vectorisable): exp(-inf) = 0, so masked logits get
        // exactly zero probability and a fully masked softmax row is 0/0 = NaN as in PyTorch, and
        // overflow gives inf. NaN fails both tests and propagates through p.
        return x < -87.3 ? 0 : (x > 88.722_83 ? .infinity : p * scale)
    }

    @inline(__always)
    public static func tanh(_ x: Float) -> Float {
        // 1 - 2 / (e^{2x} + 1): exact limits ±1, no overflow thanks to exp's clamp.
        1 - 2 / (exp(2 * x) + 1)
    }

    @inline(__always)
    public static func sigmoid(_ x: Float) -> Float { 1 / (1 + exp(-x)) }
}
