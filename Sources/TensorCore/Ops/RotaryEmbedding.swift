import Foundation

/// Rotary position embedding in the "rotate half" layout of transformers' Llama family: for x of
/// shape [B, T, H, D] and tables cos, sin of shape [T, D/2] (one angle per position and frequency),
/// out[..., i] = x[i]·cos - x[i + D/2]·sin and out[..., i + D/2] = x[i + D/2]·cos + x[i]·sin.
/// The tables are constants (no gradient); the backward pass rotates the gradient by the opposite
/// angle. Returns a contiguous [B, T, H, D] tensor.
public func rotaryEmbedding(_ input: Tensor, cos: Tensor, sin: Tensor) -> Tensor {
    precondition(input.rank == 4 && input.shape[3] % 2 == 0,
                 "rotary_embedding: input \(input.shape) must be [B, T, H, D] with D even")
    let (t, h, d) = (input.shape[1], input.shape[2], input.shape[3])
    let half = d / 2
    precondition(cos.shape == [t, half] && sin.shape == [t, half],
                 "rotary_embedding: cos \(cos.shape) and sin \(sin.shape) must be [T, D/2] = [\(t), \(half)] for input \(input.shape)")
    let c = cos.contiguousData(), s = sin.contiguousData()
    func rotate(_ src: Tensor, sign: Float) -> Tensor {
        let x = src.contiguousData()
        let out = Tensor(uninitializedShape: src.shape)
        let xp = x.pointer, op = out.pointer, cp = c.pointer, sp = s.pointer
        let rows = x.count / max(d, 1)
        withExtendedLifetime((x, c, s)) {
            Kernels.forEachRow(rows, d) { r in
                let pos = (r / h) % t
                let xr = xp + r * d, orow = op + r * d, cr = cp + pos * half, sr = sp + pos * half
                for i in 0..<half {
                    let a = xr[i], b = xr[i + half], co = cr[i], si = sign * sr[i]
                    orow[i] = a * co - b * si
                    orow[i + half] = b * co + a * si
                }
            }
        }
        return out
    }
    return rotate(input, sign: 1).recording("rotary_embedding", [input]) { g in [rotate(g, sign: -1)] }
}
