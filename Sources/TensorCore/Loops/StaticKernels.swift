/// Elementwise kernels specialised by type rather than by closure value.
///
/// A closure handed to the worker threads stays an indirect call per element, which blocks
/// vectorisation. A generic function over one of these protocols is specialised per kernel type
/// instead, so the hot loops (GELU, residual adds, gradient sums) inline their arithmetic.
protocol UnaryKernel { static func apply(_ x: SIMD8<Float>) -> SIMD8<Float> }
protocol BinaryKernel { static func apply(_ a: Float, _ b: Float) -> Float }

enum GELUTanhKernel: UnaryKernel {
    @inline(__always) static func apply(_ x: SIMD8<Float>) -> SIMD8<Float> { Tensor.geluTanh(x) }
}
enum ExpKernel: UnaryKernel { @inline(__always) static func apply(_ x: SIMD8<Float>) -> SIMD8<Float> { FastMath.exp(x) } }
enum TanhKernel: UnaryKernel { @inline(__always) static func apply(_ x: SIMD8<Float>) -> SIMD8<Float> { FastMath.tanh(x) } }
enum SigmoidKernel: UnaryKernel { @inline(__always) static func apply(_ x: SIMD8<Float>) -> SIMD8<Float> { FastMath.sigmoid(x) } }
enum SiLUKernel: UnaryKernel { @inline(__always) static func apply(_ x: SIMD8<Float>) -> SIMD8<Float> { x * FastMath.sigmoid(x) } }
enum AddKernel: BinaryKernel { @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a + b } }

extension Kernels {
    static func map<K: UnaryKernel>(_ x: Tensor, _: K.Type) -> Tensor {
        let xc = x.contiguousData()
        let out = Tensor(uninitializedShape: x.shape)
        let xp = xc.pointer, op = out.pointer
        withExtendedLifetime(xc) {
            Threading.parallelFor(x.count, costPerItem: 4) { r in
                map8(xp + r.lowerBound, op + r.lowerBound, r.count) { K.apply($0) }
            }
        }
        return out
    }

    static func zip<K: BinaryKernel>(_ a: Tensor, _ b: Tensor, op: String, _: K.Type) -> Tensor {
        guard a.shape == b.shape && a.isContiguous && b.isContiguous else { return zip(a, b, op: op) { K.apply($0, $1) } }
        let out = Tensor(uninitializedShape: a.shape)
        let ap = a.pointer, bp = b.pointer, op = out.pointer
        Threading.parallelFor(a.count, costPerItem: 2) { r in
            for i in r { op[i] = K.apply(ap[i], bp[i]) }
        }
        return out
    }
}
