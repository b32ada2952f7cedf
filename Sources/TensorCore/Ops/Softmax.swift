import Foundation

// Row-wise kernels over the last axis of a contiguous tensor: softmax, log-softmax, fused
// softmax cross-entropy. Other axes are moved last first.

extension Kernels {
    /// Calls `body(rowIndex, rowPointer)` for each row of length `n`, spread over threads.
    @inline(__always)
    static func forEachRow(_ rows: Int, _ n: Int, _ body: (Int) -> Void) {
        Threading.parallelFor(rows, costPerItem: n * 8) { r in for i in r { body(i) } }
    }

    /// Softmax (or log-softmax) of each length-`n` row of `x` into `y`, both contiguous.
    static func softmaxRows(_ x: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, n: Int, log: Bool) {
        forEachRow(rows, n) { r in
            let xr = x + r * n, yr = y + r * n
            // A fully masked row (max -inf) gives 0/0 = NaN everywhere, as in PyTorch; a +inf entry
            // gives inf - inf = NaN, which the row sum spreads to every entry, also as in PyTorch.
            var m = rowMax(xr, n)
            if m == -.infinity { m = 0 }
            expRow(xr, yr, n, minus: m)
            let s = rowSum(yr, n)
            if log {
                // (x - m) - log(s), as PyTorch: forming log(s) + m first rounds it to the ulp of m
                // (6e-5 near 1000) and costs log-probs of large logits their precision.
                let ls = Foundation.log(s)
                for j in 0..<n { yr[j] = (xr[j] - m) - ls }
            } else {
                let inv = 1 / s
                for j in 0..<n { yr[j] *= inv }
            }
        }
    }
}

extension Tensor {
    /// Applies a row-wise op along `axis` by moving it last, then moving it back.
    private func alongAxis(_ axis: Int, op: String, _ body: (Tensor) -> Tensor) -> Tensor {
        let a = Shape.axis(axis, rank: rank, op: op)
        if a == rank - 1 { return body(self) }
        return body(transposed(a, rank - 1)).transposed(a, rank - 1)
    }

    /// Softmax along `axis`, numerically stable.
    public func softmax(axis: Int = -1) -> Tensor {
        alongAxis(axis, op: "softmax") { x in
            let xc = x.contiguousData(), n = x.shape.last ?? 1
            defer { withExtendedLifetime(xc) {} }
            let y = Tensor(uninitializedShape: x.shape)
            Kernels.softmaxRows(xc.pointer, y.pointer, rows: x.count / Swift.max(n, 1), n: n, log: false)
            return y.recording("softmax", [x]) { g in
                // dx = y * (g - sum(g * y))
                let gy = Kernels.sum(Kernels.zip(g, y, op: "softmax") { $0 * $1 }, axes: [y.rank - 1])
                return [Kernels.zip3(g, y, gy, op: "softmax") { g, y, s in y * (g - s) }]
            }
        }
    }

    /// log(softmax(x)) along `axis`, computed without forming softmax first.
    public func logSoftmax(axis: Int = -1) -> Tensor {
        alongAxis(axis, op: "log_softmax") { x in
            let xc = x.contiguousData(), n = x.shape.last ?? 1
            defer { withExtendedLifetime(xc) {} }
            let y = Tensor(uninitializedShape: x.shape)
            Kernels.softmaxRows(xc.pointer, y.pointer, rows: x.count / Swift.max(n, 1), n: n, log: true)
            return y.recording("log_softmax", [x]) { g in
                // dx = g - exp(y) * sum(g)
                let gs = Kernels.sum(g, axes: [y.rank - 1])
                return [Kernels.zip3(g, y, gs, op: "log_softmax") { g, y, s in g - Foundation.exp(y) * s }]
            }
        }
    }
}

/// How a loss combines its per-element values, as PyTorch's `reduction=`.
public enum LossReduction: String, Sendable, Codable {
    case mean, sum, none
}

/// Cross-entropy between `logits` [..., C] and integer `targets` shaped like the leading dims of
/// `logits` (one class per row). Rows whose target equals `ignoreIndex` (default -100, as in PyTorch) add
/// nothing, and `.mean` divides by the number of rows that remain. Softmax is computed once and
/// reused by the backward pass.
public func crossEntropy(logits: Tensor, targets: IndexTensor, ignoreIndex: Int = -100,
                         reduction: LossReduction = .mean) -> Tensor {
    precondition(Array(logits.shape.dropLast()) == targets.shape,
                 "cross_entropy: targets \(targets.shape) do not match the leading dims of logits \(logits.shape)")
    return crossEntropy(logits: logits, targets: targets.scalars, ignoreIndex: ignoreIndex, reduction: reduction)
}

/// `crossEntropy` with targets as a flat array in row-major order of the leading dims of `logits`.
public func crossEntropy(logits: Tensor, targets: [Int], ignoreIndex: Int = -100,
                         reduction: LossReduction = .mean) -> Tensor {
    let c = logits.shape.last ?? 0
    let rows = logits.count / Swift.max(c, 1)
    precondition(logits.rank >= 1 && targets.count == rows,
                 "cross_entropy: \(targets.count) targets for logits of shape \(logits.shape) (\(rows) rows)")
    let x = logits.contiguousData()
    defer { withExtendedLifetime(x) {} }
    let probs = Tensor(uninitializedShape: [rows, c])
    Kernels.softmaxRows(x.pointer, probs.pointer, rows: rows, n: c, log: true)
    var active = 0
    var perRow = [Float](repeating: 0, count: rows)
    for r in 0..<rows where targets[r] != ignoreIndex {
        let t = targets[r]
        precondition(t >= 0 && t < c, "cross_entropy: target \(t) at row \(r) outside 0..<\(c) (ignore index is \(ignoreIndex))")
        perRow[r] = -probs.pointer[r * c + t]
        active += 1
    }
    // Turn log-probs into probs in place; backward needs softmax, not its log.
    let pp = probs.pointer
    Kernels.forEachRow(rows, c) { r in Kernels.expRow(pp + r * c, pp + r * c, c, minus: 0) }

    let leading = Array(logits.shape.dropLast())
    let value: Tensor
    switch reduction {
    case .none: value = Tensor(perRow, shape: leading)
    case .sum: value = Tensor(scalar: perRow.reduce(0, +))
    case .mean: value = Tensor(scalar: active == 0 ? .nan : perRow.reduce(0, +) / Float(active))
    }
    let shape = logits.shape
    return value.recording("cross_entropy", [logits]) { g in
        let pp = probs.pointer  // the closure keeps `probs` alive for the backward pass
        let dx = Tensor(uninitializedShape: shape)
        let gc = g.contiguousData()
        defer { withExtendedLifetime(gc) {} }
        let d = dx.pointer, gp = gc.pointer
        let scale: Float = reduction == .mean ? 1 / Float(Swift.max(active, 1)) : 1
        Kernels.forEachRow(rows, c) { r in
            let row = d + r * c
            let t = targets[r]
            if t == ignoreIndex {
                row.update(repeating: 0, count: c)
                return
            }
            let gr = (reduction == .none ? gp[r] : gp[0]) * scale
            for j in 0..<c { row[j] = pp[r * c + j] * gr }
            row[t] -= gr
        }
        return [dx]
    }
}
