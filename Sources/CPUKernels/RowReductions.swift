// Reductions along one contiguous row (layer norm, softmax, attention).
//
// A loop `s += p[j]` is one dependency chain the compiler may not reorder (Float addition is not
// associative), so it never vectorises and runs at one add per FP-add latency. These keep eight
// independent partial results in a SIMD8 register and combine them at the end; the order of the
// additions differs from a serial sum only in the last bits. Element j always lands in lane j % 8,
// the tail included (a partial vector padded with the neutral value), so trailing zeros, such as
// masked attention scores of a longer padded batch, never change a reduction.

extension Kernels {
    @inline(__always)
    package static func load8(_ p: UnsafePointer<Float>, _ j: Int) -> SIMD8<Float> {
        UnsafeRawPointer(p + j).loadUnaligned(as: SIMD8<Float>.self)
    }

    @inline(__always)
    package static func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>, _ j: Int) {
        UnsafeMutableRawPointer(p + j).storeBytes(of: v, as: SIMD8<Float>.self)
    }

    /// p[j..<n] (fewer than 8 values) in lanes 0..., the other lanes `fill`.
    @inline(__always)
    package static func loadTail(_ p: UnsafePointer<Float>, _ j: Int, _ n: Int, fill: Float) -> SIMD8<Float> {
        var v = SIMD8<Float>(repeating: fill)
        for l in 0..<(n - j) { v[l] = p[j + l] }
        return v
    }

    /// Writes lanes 0..<(n - j) of `v` to p[j..<n] (fewer than 8 values).
    @inline(__always)
    package static func storeTail(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>, _ j: Int, _ n: Int) {
        for l in 0..<(n - j) { p[j + l] = v[l] }
    }

    /// p[0] + ... + p[n-1].
    @inline(__always)
    package static func rowSum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = SIMD8<Float>(), j = 0
        while j + 8 <= n { acc += load8(p, j); j += 8 }
        if j < n { acc += loadTail(p, j, n, fill: 0) }
        return acc.sum()
    }

    /// Σ (p[j] - center)².
    @inline(__always)
    package static func rowSumSquaredDeviations(_ p: UnsafePointer<Float>, _ n: Int, from center: Float) -> Float {
        var acc = SIMD8<Float>(), j = 0
        let c = SIMD8<Float>(repeating: center)
        while j + 8 <= n { let d = load8(p, j) - c; acc += d * d; j += 8 }
        if j < n { let d = loadTail(p, j, n, fill: center) - c; acc += d * d }
        return acc.sum()
    }

    /// Σ a[j] · b[j].
    @inline(__always)
    package static func rowDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = SIMD8<Float>(), j = 0
        while j + 8 <= n { acc += load8(a, j) * load8(b, j); j += 8 }
        if j < n { acc += loadTail(a, j, n, fill: 0) * loadTail(b, j, n, fill: 0) }
        return acc.sum()
    }

    /// The largest of p[0..<n] (-inf for n = 0). NaNs are skipped here, as `Swift.max` skips
    /// them; they still reach the caller's output through the values themselves.
    @inline(__always)
    package static func rowMax(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = SIMD8<Float>(repeating: -.infinity), j = 0
        while j + 8 <= n {
            let v = load8(p, j)
            acc.replace(with: v, where: v .> acc)
            j += 8
        }
        if j < n {
            let v = loadTail(p, j, n, fill: -.infinity)
            acc.replace(with: v, where: v .> acc)
        }
        return acc.max()
    }
}
