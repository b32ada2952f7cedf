import Foundation

/// silu(gate) · up, the gated product of the Llama family's SwiGLU MLP, as one node. The composed
/// form (`gate.silu() * up`) keeps silu(gate) for the product's backward pass besides gate and up,
/// and runs its backward rules through per-element closures; this op keeps only gate and up and
/// evaluates both rules on SIMD8 vectors. Same arithmetic, in the same order, as the composed form.
public func swiGLU(gate: Tensor, up: Tensor) -> Tensor {
    precondition(gate.shape == up.shape, "swiglu: gate \(gate.shape) and up \(up.shape) must have the same shape")
    let a = gate.contiguousData(), b = up.contiguousData()
    let n = a.count
    let out = Tensor(uninitializedShape: a.shape)
    let ap = a.pointer, bp = b.pointer, op = out.pointer
    withExtendedLifetime((a, b)) {
        Kernels.forEachChunk8(n) { j, count in
            let x = Kernels.loadChunk8(ap, j, count), u = Kernels.loadChunk8(bp, j, count)
            Kernels.storeChunk8((x * FastMath.sigmoid(x)) * u, op, j, count)
        }
    }
    return out.recording("swiglu", [gate, up]) { g in
        let gc = g.contiguousData()
        let dGate = Tensor(uninitializedShape: a.shape), dUp = Tensor(uninitializedShape: a.shape)
        let gp = gc.pointer, dgp = dGate.pointer, dup = dUp.pointer
        withExtendedLifetime((a, b, gc)) {
            Kernels.forEachChunk8(n) { j, count in
                let x = Kernels.loadChunk8(ap, j, count), u = Kernels.loadChunk8(bp, j, count), gv = Kernels.loadChunk8(gp, j, count)
                let s = FastMath.sigmoid(x)
                // d/dx x·σ(x) = σ(x)·(1 + x·(1 - σ(x))); the upstream gradient of silu(gate) is g·up.
                Kernels.storeChunk8((gv * u) * s * (1 + x * (1 - s)), dgp, j, count)
                Kernels.storeChunk8(gv * (x * s), dup, j, count)
            }
        }
        return [dGate, dUp]
    }
}

extension Kernels {
    /// Runs `body(start, count)` over 0..<n in runs of 8 elements (the last one shorter), split across threads.
    @inline(__always)
    static func forEachChunk8(_ n: Int, _ body: (Int, Int) -> Void) {
        let vectors = (n + 7) / 8
        Threading.parallelFor(vectors, costPerItem: 32) { r in
            for v in r { body(v * 8, Swift.min(8, n - v * 8)) }
        }
    }

    @inline(__always)
    static func loadChunk8(_ p: UnsafeMutablePointer<Float>, _ j: Int, _ count: Int) -> SIMD8<Float> {
        count == 8 ? load8(p, j) : loadTail(p, j, j + count, fill: 0)
    }

    @inline(__always)
    static func storeChunk8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>, _ j: Int, _ count: Int) {
        if count == 8 { store8(v, p, j) } else { storeTail(v, p, j, j + count) }
    }
}
