import CFusedKernels
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
    let (b, h, tq, tk, hd) = (q.shape[0], q.shape[1], q.shape[2], k.shape[2], q.shape[3])
    precondition(!causal || tk >= tq, "attention: causal attention needs at least as many keys (\(tk)) as queries (\(tq))")
    let kernel = AttentionKernel(q: AttentionOperand(q), k: AttentionOperand(k), v: AttentionOperand(v),
                                 b: b, h: h, tq: tq, tk: tk, hd: hd, scale: scale ?? 1 / Float(hd).squareRoot(), causal: causal)
    let (att, yBuffer) = kernel.forward()
    let y = Tensor(storage: yBuffer.storage, shape: [b, h, tq, hd], strides: [tq * h * hd, hd, h * hd, 1], offset: 0)
    return y.recording("attention", [q, k, v]) { g in
        let dq = Tensor(uninitializedShape: q.shape), dk = Tensor(uninitializedShape: k.shape), dv = Tensor(uninitializedShape: v.shape)
        func target(_ t: Tensor, _ rows: Int) -> AttentionKernel.Target {
            .init(base: t.pointer, batchStride: h * rows * hd, headStride: rows * hd, ld: hd)
        }
        kernel.backward(AttentionOperand(g), att: att, dq: target(dq, tq), dk: target(dk, tk), dv: target(dv, tk))
        return [dq, dk, dv]
    }
}

/// Causal self-attention straight from a fused projection qkv [B, T, 3·d] (q, k, v side by side, as
/// GPT-2's c_attn makes them) to the merged heads [B, T, d]. The same kernel as
/// `scaledDotProductAttention`, but the backward pass writes dq, dk and dv into one [B, T, 3·d]
/// gradient, so no slice, permute or reshape nodes (and their zero-filled copies) stand between
/// the projection and the attention.
public func causalSelfAttention(qkv: Tensor, heads: Int) -> Tensor {
    precondition(qkv.rank == 3 && qkv.shape[2] % (3 * heads) == 0,
                 "causal_self_attention: qkv \(qkv.shape) must be [B, T, 3 * d] with d divisible by \(heads) heads")
    let x = qkv.contiguousData()
    let (b, t) = (qkv.shape[0], qkv.shape[1])
    let d = qkv.shape[2] / 3, hd = d / heads
    func part(_ i: Int) -> AttentionOperand {
        AttentionOperand(Tensor(storage: x.storage, shape: [b, heads, t, hd], strides: [t * 3 * d, hd, 3 * d, 1], offset: x.offset + i * d))
    }
    let kernel = AttentionKernel(q: part(0), k: part(1), v: part(2), b: b, h: heads, tq: t, tk: t, hd: hd,
                                 scale: 1 / Float(hd).squareRoot(), causal: true)
    let (att, yBuffer) = kernel.forward()
    let y = Tensor(storage: yBuffer.storage, shape: [b, t, d], strides: [t * d, d, 1], offset: 0)
    return y.recording("causal_self_attention", [qkv]) { g in
        let dqkv = Tensor(uninitializedShape: [b, t, 3 * d])
        func target(_ i: Int) -> AttentionKernel.Target {
            .init(base: dqkv.pointer + i * d, batchStride: t * 3 * d, headStride: hd, ld: 3 * d)
        }
        let gc = g.contiguousData()
        let gHeads = Tensor(storage: gc.storage, shape: [b, heads, t, hd], strides: [t * d, hd, d, 1], offset: gc.offset)
        kernel.backward(AttentionOperand(gHeads), att: att, dq: target(0), dk: target(1), dv: target(2))
        return [dqkv]
    }
}

/// The per-(batch, head) GEMMs and softmax of attention, forward and backward.
struct AttentionKernel {
    let q: AttentionOperand, k: AttentionOperand, v: AttentionOperand
    let b: Int, h: Int, tq: Int, tk: Int, hd: Int
    let scale: Float
    let causal: Bool

    /// The C kernel's instruction set when it runs this attention (one fused call per head), nil
    /// for the per-head GEMMs: up to `NativeKernels.attentionMaxKeys` keys and head size 256.
    var fusedISA: Int32? {
        guard let isa = NativeKernels.isa, tq > 0, tk > 0, hd > 0,
              tk <= NativeKernels.attentionMaxKeys, hd <= 256 else { return nil }
        return isa
    }

    /// Where a gradient for (batch, head) goes: a [T, hd] matrix at base + b·batchStride + h·headStride.
    struct Target {
        let base: UnsafeMutablePointer<Float>
        let batchStride: Int, headStride: Int, ld: Int
        func pointer(_ bi: Int, _ hi: Int) -> UnsafeMutablePointer<Float> { base + bi * batchStride + hi * headStride }
    }

    /// The attention probabilities [B, H, Tq, Tk] and the output in [B, Tq, H, hd] order.
    func forward() -> (Tensor, Tensor) {
        let att = Tensor(uninitializedShape: [b, h, tq, tk])
        let yBuffer = Tensor(uninitializedShape: [b, tq, h, hd])
        let ap = att.pointer, yp = yBuffer.pointer
        let shift = tk - tq
        if let isa = fusedISA {
            AttentionOperand.forEachHead(b * h) { bh in
                let bi = bh / h, hi = bh % h
                let (qm, km, vm) = (q.matrix(bi, hi), k.matrix(bi, hi), v.matrix(bi, hi))
                let status = cfk_attention_forward(isa, tq, tk, hd, scale, causal ? 1 : 0, qm.pointer, qm.ld, km.pointer, km.ld,
                                                   vm.pointer, vm.ld, ap + bh * tq * tk, yp + (bi * tq * h + hi) * hd, h * hd)
                precondition(status == 0, "attention: no memory for a \(tk) x \(hd) scratch matrix")
            }
            return (att, yBuffer)
        }
        AttentionOperand.forEachHead(b * h) { bh in
            let bi = bh / h, hi = bh % h
            let a = ap + bh * tq * tk
            Kernels.gemm(m: tq, n: tk, k: hd, alpha: scale, q.matrix(bi, hi), k.matrix(bi, hi, transposed: true), beta: 0, a, ldc: tk)
            for i in 0..<tq {
                let row = a + i * tk
                let visible = causal ? min(i + shift + 1, tk) : tk
                let m = Kernels.rowMax(row, visible)
                Kernels.expRow(row, row, visible, minus: m)
                let inv = 1 / Kernels.rowSum(row, visible)
                for j in 0..<visible { row[j] *= inv }
                for j in visible..<tk { row[j] = 0 }
            }
            Kernels.gemm(m: tq, n: hd, k: tk, Kernels.GEMMOperand(pointer: a, transpose: false, ld: tk), v.matrix(bi, hi),
                         beta: 0, yp + (bi * tq * h + hi) * hd, ldc: h * hd)
        }
        return (att, yBuffer)
    }

    /// Writes dq, dk, dv for the output gradient `g` (a [B, H, Tq, hd] operand).
    func backward(_ g: AttentionOperand, att: Tensor, dq: Target, dk: Target, dv: Target) {
        if let isa = fusedISA {
            let ap = att.pointer
            withExtendedLifetime(att) {
                AttentionOperand.forEachHead(b * h) { bh in
                    let bi = bh / h, hi = bh % h
                    let (qm, km, vm, gm) = (q.matrix(bi, hi), k.matrix(bi, hi), v.matrix(bi, hi), g.matrix(bi, hi))
                    let status = cfk_attention_backward(isa, tq, tk, hd, scale, causal ? 1 : 0, qm.pointer, qm.ld, km.pointer, km.ld,
                                                        vm.pointer, vm.ld, ap + bh * tq * tk, gm.pointer, gm.ld,
                                                        dq.pointer(bi, hi), dq.ld, dk.pointer(bi, hi), dk.ld, dv.pointer(bi, hi), dv.ld)
                    precondition(status == 0, "attention: no memory for a \(tq) x \(tk) scratch matrix")
                }
            }
            return
        }
        let dAtt = Tensor(uninitializedShape: [b, h, tq, tk])
        let ap = att.pointer, dap = dAtt.pointer
        withExtendedLifetime((att, dAtt)) {
            AttentionOperand.forEachHead(b * h) { bh in
                let bi = bh / h, hi = bh % h
                let a = Kernels.GEMMOperand(pointer: ap + bh * tq * tk, transpose: false, ld: tk)
                let at = Kernels.GEMMOperand(pointer: ap + bh * tq * tk, transpose: true, ld: tk)
                let da = dap + bh * tq * tk
                // dV = attᵀ dY; dAtt = dY Vᵀ
                Kernels.gemm(m: tk, n: hd, k: tq, at, g.matrix(bi, hi), beta: 0, dv.pointer(bi, hi), ldc: dv.ld)
                Kernels.gemm(m: tq, n: tk, k: hd, g.matrix(bi, hi), v.matrix(bi, hi, transposed: true), beta: 0, da, ldc: tk)
                // dS = att * (dAtt - rowsum(dAtt * att)) * scale; masked entries have att = 0.
                for i in 0..<tq {
                    let ar = a.pointer + i * tk, dr = da + i * tk
                    let dot = Kernels.rowDot(ar, dr, tk)
                    for j in 0..<tk { dr[j] = ar[j] * (dr[j] - dot) * scale }
                }
                // dQ = dS K; dK = dSᵀ Q
                Kernels.gemm(m: tq, n: hd, k: tk, Kernels.GEMMOperand(pointer: da, transpose: false, ld: tk), k.matrix(bi, hi),
                             beta: 0, dq.pointer(bi, hi), ldc: dq.ld)
                Kernels.gemm(m: tk, n: hd, k: tq, Kernels.GEMMOperand(pointer: da, transpose: true, ld: tk), q.matrix(bi, hi),
                             beta: 0, dk.pointer(bi, hi), ldc: dk.ld)
            }
        }
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
