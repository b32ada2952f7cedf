import TensorCore
/// Scales all gradients so that their global L2 norm is at most `maxNorm` (PyTorch
/// `clip_grad_norm_`: factor maxNorm / (norm + 1e-6), applied only when it is below 1).
/// Returns the norm before clipping.
@discardableResult
public func clipGradNorm(_ parameters: [Tensor], maxNorm: Float) -> Float {
    var total: Double = 0
    for p in parameters {
        guard let g = p.grad else { continue }
        let c = g.contiguousData()
        defer { withExtendedLifetime(c) {} }
        let gp = c.pointer
        for i in 0..<c.count { total += Double(gp[i]) * Double(gp[i]) }
    }
    let norm = Float(total.squareRoot())
    let factor = maxNorm / (norm + 1e-6)
    if factor < 1 {
        for p in parameters {
            guard let g = p.grad else { continue }
            precondition(g.isContiguous, "clipGradNorm: gradient of shape \(g.shape) is not contiguous")
            let gp = g.pointer
            for i in 0..<g.count { gp[i] *= factor }
        }
    }
    return norm
}
