import Foundation

// Fused scaled dot-product attention. Each (batch, head) pair runs its own small GEMMs; pairs are
// spread over TensorCore's threads while OpenBLAS is pinned to one thread. The attention matrix is
// kept for the backward pass; q, k and v are read in place through their strides (for instance as
// views into one fused qkv projection), and the output is written in [B, T, H, hd] order so that
// merging heads afterwards is a free reshape.

/// softmax(q kᵀ · scale [+ causal mask]) v for q [B, H, Tq, hd] and k, v [B, H, Tk, hd].
/// With `causal`, query i attends to keys 0...(i + Tk - Tq) (keys aligned to the end, so a cached
/// prefix works). Returns [B, H, Tq, hd] as a view of a contiguous [B, Tq, H, hd] buffer.
public func scaledDotProductAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor, causal: Bool,
                                      scale: Float? = nil) -> Tensor {
    precondition(q.rank == 4 && k.rank == 4 && v.rank == 4 && k.shape == v.shape &&
                 q.shape[0] == k.shape[0] && q.shape[1] == k.shape[1] && q.shape[3] == k.shape[3],
                 "attention: q \(q.shape), k \(k.shape), v \(v.shape) must be [B, H, Tq, hd], [B, H, Tk, hd], [B, H, Tk, hd]")
    let b = q.shape[0], h = q.shape[1], tq = q.shape[2], tk = k.shape[2], hd = q.shape[3]
    precondition(!causal || tk >= tq, "attention: causal attention needs at least as many keys (\(tk)) as queries (\(tq))")
    let s = scale ?? 1 / Float(hd).squareRoot()
    let qs = AttentionOperand(q), ks = AttentionOperand(k), vs = AttentionOperand(v)
    let att = Tensor(uninitializedShape: [b, h, tq, tk])
    let yBuffer = Tensor(uninitializedShape: [b, tq, h, hd])
    let ap = att.pointer, yp = yBuffer.pointer
    let shift = tk - tq

    AttentionOperand.forEachHead(b * h) { bh in
        let bi = bh / h, hi = bh % h
        let a = ap + bh * tq * tk
        Kernels.gemm(m: tq, n: tk, k: hd, alpha: s, qs.matrix(bi, hi), ks.matrix(bi, hi, transposed: true), beta: 0, a, ldc: tk)
        for i in 0..<tq {
            let row = a + i * tk
            let visible = causal ? min(i + shift + 1, tk) : tk
            var m = -Float.infinity
            for j in 0..<visible { m = max(m, row[j]) }
            var sum: Float = 0
            for j in 0..<visible { let e = FastMath.exp(row[j] - m); row[j] = e; sum += e }
            let inv = 1 / sum
            for j in 0..<visible { row[j] *= inv }
            for j in visible..<tk { row[j] = 0 }
        }
        Kernels.gemm(m: tq, n: hd, k: tk, Kernels.GEMMOperand(pointer: a, transpose: false, ld: tk), vs.matrix(bi, hi),
                     beta: 0, yp + (bi * tq * h + hi) * hd, ldc: h * hd)
    }
    let y = Tensor(storage: yBuffer.storage, shape: [b, h, tq, hd], strides: [tq * h * hd, hd, h * hd, 1], offset: 0)
    return y.recording("attention", [q, k, v]) { g in
        let ap = att.pointer  // the closure keeps `att` alive for the backward pass
        let gs = AttentionOperand(g)
        let dq = Tensor(uninitializedShape: q.shape), dk = Tensor(uninitializedShape: k.shape), dv = Tensor(uninitializedShape: v.shape)
        let dAtt = Tensor(uninitializedShape: [b, h, tq, tk])
        let dqp = dq.pointer, dkp = dk.pointer, dvp = dv.pointer, dap = dAtt.pointer
        AttentionOperand.forEachHead(b * h) { bh in
            let bi = bh / h, hi = bh % h
            let a = Kernels.GEMMOperand(pointer: ap + bh * tq * tk, transpose: false, ld: tk)
            let at = Kernels.GEMMOperand(pointer: ap + bh * tq * tk, transpose: true, ld: tk)
            let da = dap + bh * tq * tk
            // dV = attᵀ dY; dAtt = dY Vᵀ
            Kernels.gemm(m: tk, n: hd, k: tq, at, gs.matrix(bi, hi), beta: 0, dvp + bh * tk * hd, ldc: hd)
            Kernels.gemm(m: tq, n: tk, k: hd, gs.matrix(bi, hi), vs.matrix(bi, hi, transposed: true), beta: 0, da, ldc: tk)
            // dS = att * (dAtt - rowsum(dAtt * att)) * scale; masked entries have att = 0.
            for i in 0..<tq {
                let ar = a.pointer + i * tk, dr = da + i * tk
                var dot: Float = 0
                for j in 0..<tk { dot += ar[j] * dr[j] }
                for j in 0..<tk { dr[j] = ar[j] * (dr[j] - dot) * s }
            }
            // dQ = dS K; dK = dSᵀ Q
            let ds = Kernels.GEMMOperand(pointer: da, transpose: false, ld: tk)
            let dst = Kernels.GEMMOperand(pointer: da, transpose: true, ld: tk)
            Kernels.gemm(m: tq, n: hd, k: tk, ds, ks.matrix(bi, hi), beta: 0, dqp + bh * tq * hd, ldc: hd)
            Kernels.gemm(m: tk, n: hd, k: tq, dst, qs.matrix(bi, hi), beta: 0, dkp + bh * tk * hd, ldc: hd)
        }
        return [dq, dk, dv]
    }
}

/// A [B, H, T, hd] tensor read per (batch, head) as a [T, hd] matrix with unit column stride.
struct AttentionOperand {
    let tensor: Tensor
    init(_ t: Tensor) {
        let readable = (t.strides[3] == 1 || t.shape[3] == 1) && (t.shape[2] == 1 || t.strides[2] >= t.shape[3])
        tensor = readable ? t : t.contiguousData()
    }

    func matrix(_ b: Int, _ h: Int, transposed: Bool = false) -> Kernels.GEMMOperand {
        let st = tensor.strides
        let ld = tensor.shape[2] == 1 ? max(tensor.shape[3], 1) : st[2]
        return Kernels.GEMMOperand(pointer: tensor.pointer + b * st[0] + h * st[1], transpose: transposed, ld: ld)
    }

    /// Runs `body` for every (batch, head) index, in parallel with OpenBLAS single-threaded.
    static func forEachHead(_ count: Int, _ body: (Int) -> Void) {
        Threading.withBLASThreads(1) {
            Threading.parallelFor(count, costPerItem: Threading.grainSize) { r in for i in r { body(i) } }
        }
    }
}
