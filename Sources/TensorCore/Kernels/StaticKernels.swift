/// Elementwise kernels specialised by type rather than by closure value.
///
/// A closure handed through `concurrentPerform` stays an indirect call per element, which blocks
/// vectorisation. A generic function over one of these protocols is specialised per kernel type
/// instead, so the hot loops (GELU, residual adds, gradient sums) inline their arithmetic.
protocol UnaryKernel { static func apply(_ x: Float) -> Float }
protocol BinaryKernel { static func apply(_ a: Float, _ b: Float) -> Float }

enum AddKernel: BinaryKernel { @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a + b } }
enum GELUTanhKernel: UnaryKernel { @inline(__always) static func apply(_ x: Float) -> Float { Tensor.geluTanh(x) } }

extension Kernels {
    static func map<K: UnaryKernel>(_ x: Tensor, _: K.Type) -> Tensor {
        guard x.isContiguous else { return map(x) { K.apply($0) } }
        let out = Tensor(uninitializedShape: x.shape)
        let xp = x.pointer, op = out.pointer
        Threading.parallelFor(x.count, costPerItem: 4) { r in
            for i in r { op[i] = K.apply(xp[i]) }
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
