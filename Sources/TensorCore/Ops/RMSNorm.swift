import Foundation

/// Root-mean-square normalisation over the last dimension, x · rsqrt(mean(x²) + eps) · weight, as
/// transformers' `LlamaRMSNorm` (statistics in Float32). One node instead of the five of the composed
/// form; keeps each row's reciprocal RMS for the backward pass.
public func rmsNorm(_ input: Tensor, weight: Tensor, eps: Float) -> Tensor {
    let d = input.shape.last ?? 0
    precondition(weight.shape == [d], "rms_norm: weight \(weight.shape) does not match last dim of input \(input.shape)")
    let x = input.contiguousData(), w = weight.contiguousData()
    let rows = x.count / max(d, 1)
    let out = Tensor(uninitializedShape: x.shape)
    let rstd = Tensor(uninitializedShape: [rows])
    let xp = x.pointer, wp = w.pointer, op = out.pointer, rp = rstd.pointer
    withExtendedLifetime((x, w)) {
        Kernels.forEachRow(rows, d) { r in
            let xr = xp + r * d, orow = op + r * d
            let rs = 1 / (Kernels.rowDot(xr, xr, d) / Float(d) + eps).squareRoot()
            rp[r] = rs
            for j in 0..<d { orow[j] = xr[j] * rs * wp[j] }
        }
    }
    return out.recording("rms_norm", [input, weight]) { g in
        let gc = g.contiguousData()
        let xp = x.pointer, wp = w.pointer, rp = rstd.pointer, gp = gc.pointer
        let dx = Tensor(uninitializedShape: x.shape)
        let dxp = dx.pointer
        // With x̂ = x·r and u = g·w: dx = r·(u - x̂·mean(u·x̂)); dweight = Σ_rows g·x̂.
        withExtendedLifetime((x, w, rstd, gc)) {
            Kernels.forEachRow(rows, d) { r in
                let xr = xp + r * d, gr = gp + r * d, dr = dxp + r * d
                let rs = rp[r]
                var dot: Float = 0
                for j in 0..<d { dot += gr[j] * wp[j] * xr[j] }
                let c = dot * rs * rs / Float(d)
                for j in 0..<d { dr[j] = rs * (gr[j] * wp[j] - xr[j] * c) }
            }
        }
        let dw = Tensor.zeros([d])
        let dwp = dw.pointer
        withExtendedLifetime((x, rstd, gc)) {
            for r in 0..<rows {
                let xr = xp + r * d, gr = gp + r * d, rs = rp[r]
                for j in 0..<d { dwp[j] += gr[j] * xr[j] * rs }
            }
        }
        return [dx.reshaped(input.shape), dw]
    }
}
