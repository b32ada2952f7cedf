import Foundation

extension Tensor {
    /// Repeats each slice along `axis` `times` times in place (PyTorch `repeat_interleave(times,
    /// dim=axis)`): [a, b] along axis 0 with times 2 gives [a, a, b, b]. Grouped-query attention uses
    /// it to share each key/value head among `times` query heads; the backward pass sums each group.
    /// Returns a contiguous tensor.
    public func repeatInterleaved(_ times: Int, axis: Int) -> Tensor {
        precondition(times >= 1, "repeat_interleave: times \(times) must be >= 1")
        let a = Shape.axis(axis, rank: rank, op: "repeat_interleave")
        if times == 1 { return self }
        let outer = shape[..<a].reduce(1, *), n = shape[a], inner = shape[(a + 1)...].reduce(1, *)
        var outShape = shape
        outShape[a] = n * times
        let x = contiguousData()
        let out = Tensor(uninitializedShape: outShape)
        let xp = x.pointer, op = out.pointer
        withExtendedLifetime(x) {
            Kernels.forEachRow(outer * n, inner * times) { row in
                let src = xp + row * inner, dst = op + row * times * inner
                for k in 0..<times { (dst + k * inner).update(from: src, count: inner) }
            }
        }
        let sourceShape = shape
        return out.recording("repeat_interleave", [self]) { g in
            let gc = g.contiguousData()
            let dx = Tensor(uninitializedShape: sourceShape)
            let gp = gc.pointer, dp = dx.pointer
            withExtendedLifetime(gc) {
                Kernels.forEachRow(outer * n, inner * times) { row in
                    let src = gp + row * times * inner, dst = dp + row * inner
                    dst.update(from: src, count: inner)
                    for k in 1..<times { for j in 0..<inner { dst[j] += src[k * inner + j] } }
                }
            }
            return [dx]
        }
    }
}
