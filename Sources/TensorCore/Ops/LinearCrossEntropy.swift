import Foundation

// Cross-entropy through an LM head without materialising the [N, V] logits. Rows go through in
// chunks whose logits live only in one scratch buffer; each row keeps its max and exp-sum, and
// backward recomputes the chunk's logits from them. Memory O(chunk x V) instead of O(N x V), for
// one more head GEMM per chunk: what makes 50k-150k vocabularies trainable on a CPU. When a
// gradient is needed and all rows' probabilities fit in `keepBytes`, they are kept instead (one
// [N, V] buffer, written chunk by chunk by the same GEMM calls), and backward skips the recompute:
// the same bits either way.

/// Per-row negative log-likelihood -log softmax(hidden · weightᵀ)[target], for hidden [..., d],
/// weight [V, d] and targets shaped like hidden's leading dims (PyTorch:
/// `F.cross_entropy(hidden @ weight.T, targets, reduction="none")`). Rows whose target is
/// `ignoreIndex` give 0 and no gradient. `chunkRows` bounds the logits computed at once;
/// `keepBytes` the probabilities kept for backward (above it, backward recomputes each chunk).
public func linearCrossEntropy(_ hidden: Tensor, weight: Tensor, targets: IndexTensor, ignoreIndex: Int = -100,
                               chunkRows: Int = 512, keepBytes: Int = 256 << 20) -> Tensor {
    precondition(weight.rank == 2 && hidden.rank >= 1 && hidden.shape.last == weight.shape[1],
                 "linear_cross_entropy: hidden \(hidden.shape) does not match weight \(weight.shape) ([vocab, d])")
    precondition(Array(hidden.shape.dropLast()) == targets.shape,
                 "linear_cross_entropy: targets \(targets.shape) do not match the leading dims of hidden \(hidden.shape)")
    precondition(chunkRows > 0, "linear_cross_entropy: chunkRows must be positive, got \(chunkRows)")
    let v = weight.shape[0], d = weight.shape[1]
    let t = targets.scalars
    for (r, target) in t.enumerated() where target != ignoreIndex {
        precondition(target >= 0 && target < v, "linear_cross_entropy: target \(target) at row \(r) outside 0..<\(v) (ignore index is \(ignoreIndex))")
    }
    let h = withNoGrad { hidden.reshaped([-1, d]) }.contiguousData()
    let w = weight.contiguousData()
    let n = h.shape[0]
    let chunk = Swift.max(1, Swift.min(chunkRows, n))
    let needsGradient = GradMode.isEnabled && (hidden.requiresGrad || weight.requiresGrad)
    // One chunk holds every row anyway: keeping it costs nothing.
    let keep = needsGradient && (n <= chunk || n <= keepBytes / Swift.max(4 * v, 1))
    let scratch = Tensor(uninitializedShape: [keep ? n : chunk, v])
    /// Where chunk `start`'s rows live in `scratch`.
    func rowsAt(_ start: Int) -> UnsafeMutablePointer<Float> { scratch.pointer + (keep ? start * v : 0) }
    var rowMax = [Float](repeating: 0, count: n), rowSum = [Float](repeating: 0, count: n)
    var nll = [Float](repeating: 0, count: n)

    /// Logits of rows start..<start+rows into `scratch`.
    func logits(_ start: Int, _ rows: Int) {
        Kernels.gemm(m: rows, n: v, k: d, Kernels.GEMMOperand(pointer: h.pointer + start * d, transpose: false, ld: d),
                     Kernels.gemmOperand(w, transposed: true), beta: 0, rowsAt(start), ldc: v)
    }

    if n > 0 && v > 0 && d > 0 {
        for start in stride(from: 0, to: n, by: chunk) {
            let rows = Swift.min(chunk, n - start)
            logits(start, rows)
            let sp = rowsAt(start)
            rowMax.withUnsafeMutableBufferPointer { maxes in
                rowSum.withUnsafeMutableBufferPointer { sums in
                    nll.withUnsafeMutableBufferPointer { out in
                        Kernels.forEachRow(rows, v) { r in
                            let i = start + r, xr = sp + r * v
                            var m = Kernels.rowMax(xr, v)
                            if m == -.infinity { m = 0 }
                            let target = t[i]
                            let xt = target == ignoreIndex ? 0 : xr[target]
                            Kernels.expRow(xr, xr, v, minus: m)
                            let s = Kernels.rowSum(xr, v)
                            maxes[i] = m
                            sums[i] = s
                            // (x - m) - log(s), as crossEntropy computes log-softmax.
                            out[i] = target == ignoreIndex ? 0 : -((xt - m) - Foundation.log(s))
                        }
                    }
                }
            }
        }
    } else if n > 0 && v > 0 {
        // d = 0: every logit is 0, so each row is uniform.
        for i in 0..<n where t[i] != ignoreIndex { nll[i] = Foundation.log(Float(v)) }
        for i in 0..<n { rowSum[i] = Float(v) }
    }

    let value = Tensor(nll, shape: targets.shape)
    let hiddenShape = hidden.shape
    let needHidden = hidden.requiresGrad, needWeight = weight.requiresGrad
    return value.recording("linear_cross_entropy", [hidden, weight]) { g in
        let gc = g.contiguousData()
        defer { withExtendedLifetime(gc) {} }
        let gp = gc.pointer
        let dh = needHidden ? Tensor(uninitializedShape: [n, d]) : nil
        let dw = needWeight ? Tensor(uninitializedShape: [v, d]) : nil
        if let dw, n == 0 || d == 0 { dw.pointer.update(repeating: 0, count: v * d) }
        if let dh, v == 0 || d == 0 { dh.pointer.update(repeating: 0, count: n * d) }
        guard n > 0 && v > 0 && d > 0 else { return [dh?.reshaped(hiddenShape), dw] }
        for (c, start) in stride(from: 0, to: n, by: chunk).enumerated() {
            let rows = Swift.min(chunk, n - start)
            // Kept rows already hold exp(logit - max) from the forward pass.
            if !keep { logits(start, rows) }
            let sp = rowsAt(start)
            // dlogits = g * (softmax - onehot(target)); 0 for ignored rows.
            Kernels.forEachRow(rows, v) { r in
                let i = start + r, xr = sp + r * v
                guard t[i] != ignoreIndex else { xr.update(repeating: 0, count: v); return }
                if !keep { Kernels.expRow(xr, xr, v, minus: rowMax[i]) }
                let scale = gp[i] / rowSum[i]
                for j in 0..<v { xr[j] *= scale }
                xr[t[i]] -= gp[i]
            }
            let p = Kernels.GEMMOperand(pointer: sp, transpose: false, ld: v)
            if let dh {
                Kernels.gemm(m: rows, n: d, k: v, p, Kernels.gemmOperand(w), beta: 0, dh.pointer + start * d, ldc: d)
            }
            if let dw {
                Kernels.gemm(m: v, n: d, k: rows, Kernels.GEMMOperand(pointer: sp, transpose: true, ld: v),
                             Kernels.GEMMOperand(pointer: h.pointer + start * d, transpose: false, ld: d),
                             beta: c == 0 ? 0 : 1, dw.pointer, ldc: d)
            }
        }
        return [dh?.reshaped(hiddenShape), dw]
    }
}
