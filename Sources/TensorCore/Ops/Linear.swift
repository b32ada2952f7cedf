// The fused affine map of `nn.Linear`: y = x Wᵀ + b with W stored [out, in] as in PyTorch.
// The bias is laid into the output before GEMM runs with beta = 1; Wᵀ is a transpose flag.

/// y[..., out] = x[..., in] · weightᵀ + bias, for weight [out, in] and bias [out].
public func linear(_ input: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
    precondition(weight.rank == 2 && input.rank >= 1 && input.shape.last == weight.shape[1],
                 "linear: input \(input.shape) does not match weight \(weight.shape) ([out, in])")
    let outF = weight.shape[0], inF = weight.shape[1]
    if let bias { precondition(bias.shape == [outF], "linear: bias \(bias.shape) does not match weight \(weight.shape)") }
    let x2 = Kernels.gemmReadable(withNoGrad { input.reshaped([-1, inF]) })
    let w = Kernels.gemmReadable(weight)
    let rows = x2.shape[0]
    let out = Tensor(uninitializedShape: Array(input.shape.dropLast()) + [outF])
    if let bias {
        let bc = bias.contiguousData()
        let b = bc.pointer, o = out.pointer
        withExtendedLifetime(bc) {
            Threading.parallelFor(rows, costPerItem: outF) { r in for i in r { (o + i * outF).update(from: b, count: outF) } }
        }
    }
    if rows > 0 && outF > 0 {
        if inF == 0 {
            if bias == nil { out.pointer.update(repeating: 0, count: out.count) }
        } else {
            Kernels.gemm(m: rows, n: outF, k: inF, Kernels.gemmOperand(x2), Kernels.gemmOperand(w, transposed: true),
                         beta: bias == nil ? 0 : 1, out.pointer, ldc: outF)
        }
    }
    var inputs = [input, weight]
    if let bias { inputs.append(bias) }
    let inShape = input.shape
    // The backward pass keeps the input only for the weight's gradient: a frozen layer (LoRA's
    // base) then holds no activation of its own.
    let needInput = input.requiresGrad, keptInput = weight.requiresGrad ? x2 : nil
    return out.recording("linear", inputs) { g in
        let g2 = g.contiguousData().reshaped([rows, outF])
        defer { withExtendedLifetime(g2) {} }
        var grads: [Tensor?] = []
        if needInput {
            let dx = Tensor(uninitializedShape: [rows, inF])
            Kernels.gemm(m: rows, n: inF, k: outF, Kernels.gemmOperand(g2), Kernels.gemmOperand(w), beta: 0, dx.pointer, ldc: inF)
            grads.append(dx.reshaped(inShape))
        } else {
            grads.append(nil)
        }
        if let keptInput {
            let dw = Tensor(uninitializedShape: [outF, inF])
            Kernels.gemm(m: outF, n: inF, k: rows, Kernels.gemmOperand(g2, transposed: true), Kernels.gemmOperand(keptInput),
                         beta: 0, dw.pointer, ldc: inF)
            grads.append(dw)
        } else {
            grads.append(nil)
        }
        if bias != nil { grads.append(Kernels.sum(g2, axes: [0]).reshaped([outF])) }
        return grads
    }
}

extension Kernels {
    /// GEMM's view of a 2-D tensor (or of its transpose). The tensor must be GEMM-readable:
    /// unit stride along one of its two dims.
    static func gemmOperand(_ t: Tensor, transposed: Bool = false) -> GEMMOperand {
        precondition(t.rank == 2, "gemm: operand of shape \(t.shape) is not a matrix")
        let rows = transposed ? t.shape[1] : t.shape[0], cols = transposed ? t.shape[0] : t.shape[1]
        let rs = transposed ? t.strides[1] : t.strides[0], cs = transposed ? t.strides[0] : t.strides[1]
        guard let l = gemmLayout(rows: rows, cols: cols, rowStride: rs, colStride: cs) else {
            preconditionFailure("gemm: operand of shape \(t.shape) with strides \(t.strides) needs a copy first")
        }
        return GEMMOperand(pointer: t.pointer, transpose: l.transpose, ld: l.ld)
    }
}
