import Foundation

/// Layer normalisation over the last dimension with optional affine `weight` and `bias` of shape
/// [D] (PyTorch `F.layer_norm` with `normalized_shape = [D]`, biased variance). Keeps each row's
/// mean and reciprocal standard deviation for the backward pass.
public func layerNorm(_ input: Tensor, weight: Tensor?, bias: Tensor?, eps: Float = 1e-5) -> Tensor {
    let d = input.shape.last ?? 0
    if let weight { precondition(weight.shape == [d], "layer_norm: weight \(weight.shape) does not match last dim of input \(input.shape)") }
    if let bias { precondition(bias.shape == [d], "layer_norm: bias \(bias.shape) does not match last dim of input \(input.shape)") }
    let x = input.contiguousData()
    defer { withExtendedLifetime(x) {} }
    let rows = x.count / max(d, 1)
    let out = Tensor(uninitializedShape: x.shape)
    let mean = Tensor(uninitializedShape: [rows]), rstd = Tensor(uninitializedShape: [rows])
    let w = weight?.contiguousData(), bb = bias?.contiguousData()
    let xp = x.pointer, op = out.pointer, mp = mean.pointer, rp = rstd.pointer
    let wp = w?.pointer, bp = bb?.pointer
    withExtendedLifetime((w, bb)) { Kernels.forEachRow(rows, d) { r in
        let xr = xp + r * d, orow = op + r * d
        let m = Kernels.rowSum(xr, d) / Float(d)
        let rs = 1 / (Kernels.rowSumSquaredDeviations(xr, d, from: m) / Float(d) + eps).squareRoot()
        mp[r] = m
        rp[r] = rs
        normalizeRow(xr, orow, d, mean: m, rstd: rs, weight: wp, bias: bp)
    } }
    var inputs = [input]
    if let weight { inputs.append(weight) }
    if let bias { inputs.append(bias) }
    let hasWeight = weight != nil, hasBias = bias != nil
    return out.recording("layer_norm", inputs) { g in
        // Pointers are re-derived from the captured tensors so their buffers outlive the forward pass.
        let scale = w ?? Tensor.ones([d])
        let xp = x.pointer, mp = mean.pointer, rp = rstd.pointer, wp = scale.pointer
        let gc = g.contiguousData()
        defer { withExtendedLifetime((gc, scale)) {} }
        let gp = gc.pointer
        let dx = Tensor(uninitializedShape: x.shape)
        let dxp = dx.pointer
        // Row-parallel dx; dweight/dbias are column sums, done afterwards in one pass.
        Kernels.forEachRow(rows, d) { r in
            let xr = xp + r * d, gr = gp + r * d, dr = dxp + r * d
            let m = mp[r], rs = rp[r]
            // Means of g·w and of g·w·x̂ over the row, in eight lanes (see RowReductions.swift).
            var accG = SIMD8<Float>(), accGX = SIMD8<Float>(), j = 0
            let mv = SIMD8<Float>(repeating: m), rsv = SIMD8<Float>(repeating: rs)
            while j + 8 <= d {
                let gw = Kernels.load8(gr, j) * Kernels.load8(wp, j)
                accG += gw
                accGX += gw * ((Kernels.load8(xr, j) - mv) * rsv)
                j += 8
            }
            if j < d {
                let gw = Kernels.loadTail(gr, j, d, fill: 0) * Kernels.loadTail(wp, j, d, fill: 0)
                accG += gw
                accGX += gw * ((Kernels.loadTail(xr, j, d, fill: m) - mv) * rsv)
            }
            let meanG = accG.sum() / Float(d), meanGX = accGX.sum() / Float(d)
            for j in 0..<d {
                let gw = gr[j] * wp[j]
                dr[j] = (gw - meanG - (xr[j] - m) * rs * meanGX) * rs
            }
        }
        var grads: [Tensor?] = [dx.reshaped(input.shape)]
        if hasWeight {
            let dw = Tensor.zeros([d])
            let dwp = dw.pointer
            for r in 0..<rows {
                let xr = xp + r * d, gr = gp + r * d
                let m = mp[r], rs = rp[r]
                for j in 0..<d { dwp[j] += gr[j] * (xr[j] - m) * rs }
            }
            grads.append(dw)
        }
        if hasBias { grads.append(Kernels.sum(gc.reshaped([rows, d]), axes: [0]).reshaped([d])) }
        return grads
    }
}

/// out = (x - mean) · rstd [· weight] [+ bias] over one row, eight lanes at a time. The optional
/// affine parameters are resolved outside the loop, which a per-element `if let` kept scalar.
@inline(__always)
private func normalizeRow(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ d: Int, mean: Float, rstd: Float,
                          weight: UnsafeMutablePointer<Float>?, bias: UnsafeMutablePointer<Float>?) {
    let m = SIMD8<Float>(repeating: mean), rs = SIMD8<Float>(repeating: rstd)
    func each(_ f: (SIMD8<Float>, Int, Int) -> SIMD8<Float>) {
        var j = 0
        while j + 8 <= d { Kernels.store8(f((Kernels.load8(x, j) - m) * rs, j, d), out, j); j += 8 }
        if j < d { Kernels.storeTail(f((Kernels.loadTail(x, j, d, fill: 0) - m) * rs, j, d), out, j, d) }
    }
    // Rows of `weight`/`bias` are read with the same full-or-tail loads as x.
    func load(_ p: UnsafeMutablePointer<Float>, _ j: Int, _ n: Int) -> SIMD8<Float> {
        j + 8 <= n ? Kernels.load8(p, j) : Kernels.loadTail(p, j, n, fill: 0)
    }
    switch (weight, bias) {
    case let (w?, b?): each { y, j, n in y * load(w, j, n) + load(b, j, n) }
    case let (w?, nil): each { y, j, n in y * load(w, j, n) }
    case let (nil, b?): each { y, j, n in y + load(b, j, n) }
    case (nil, nil): each { y, _, _ in y }
    }
}

extension Tensor {
    /// Sets entries above the diagonal of the last two dims to `-inf` (a causal attention mask over
    /// [..., T_query, T_key], keys aligned to the end so cached prefixes work); their gradient is 0.
    public func causalMasked(fill: Float = -.infinity) -> Tensor {
        precondition(rank >= 2, "causal_mask: needs [..., T_query, T_key], got shape \(shape)")
        let tq = shape[rank - 2], tk = shape[rank - 1]
        let x = contiguousData()
        defer { withExtendedLifetime(x) {} }
        let y = Tensor(uninitializedShape: shape)
        let xp = x.pointer, yp = y.pointer
        let mats = count / Swift.max(tq * tk, 1)
        let shift = tk - tq
        Kernels.forEachRow(mats * tq, tk) { r in
            let i = r % tq
            let src = xp + r * tk, dst = yp + r * tk
            for j in 0..<tk { dst[j] = j > i + shift ? fill : src[j] }
        }
        return y.recording("causal_mask", [self]) { g in
            let gc = g.contiguousData()
            defer { withExtendedLifetime(gc) {} }
            let dx = Tensor(uninitializedShape: g.shape)
            let gp = gc.pointer, dp = dx.pointer
            Kernels.forEachRow(mats * tq, tk) { r in
                let i = r % tq
                for j in 0..<tk { dp[r * tk + j] = j > i + shift ? 0 : gp[r * tk + j] }
            }
            return [dx]
        }
    }
}
