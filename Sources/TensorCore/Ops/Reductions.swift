import Foundation

// Reductions over any set of axes, with or without the reduced dimensions kept (size 1).

extension Tensor {
    func normalizedAxes(_ axes: [Int]?, op: String) -> Set<Int> {
        guard let axes else { return Set(0..<rank) }
        let set = Set(axes.map { Shape.axis($0, rank: rank, op: op) })
        precondition(set.count == axes.count, "\(op): repeated axis in \(axes) for shape \(shape)")
        return set
    }

    /// The shape after reducing `axes`, with or without them kept.
    func reducedShape(_ axes: Set<Int>, keepDims: Bool) -> [Int] {
        keepDims ? shape.enumerated().map { axes.contains($0.offset) ? 1 : $0.element }
                 : shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element)
    }

    /// Reshapes a keep-dims result to the requested output shape (a free view: it is contiguous).
    private func finishReduction(_ kept: Tensor, _ axes: Set<Int>, keepDims: Bool) -> Tensor {
        keepDims ? kept : Tensor(storage: kept.storage, shape: reducedShape(axes, keepDims: false),
                                 strides: Shape.contiguousStrides(reducedShape(axes, keepDims: false)), offset: 0)
    }

    /// Sum over `axes` (all when nil).
    public func sum(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let ax = normalizedAxes(axes, op: "sum")
        let keptShape = reducedShape(ax, keepDims: true), inShape = shape
        let y = finishReduction(Kernels.sum(self, axes: ax), ax, keepDims: keepDims)
        return y.recording("sum", [self]) { g in
            [g.reshaped(keptShape).expanded(to: inShape).contiguous()]
        }
    }

    public func sum(axis: Int, keepDims: Bool = false) -> Tensor { sum(axes: [axis], keepDims: keepDims) }

    /// Mean over `axes` (all when nil).
    public func mean(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let ax = normalizedAxes(axes, op: "mean")
        let n = ax.reduce(1) { $0 * shape[$1] }
        // Over zero elements this is 0 * inf = NaN, as PyTorch's 0/0.
        return sum(axes: axes, keepDims: keepDims) * (1 / Float(n))
    }

    public func mean(axis: Int, keepDims: Bool = false) -> Tensor { mean(axes: [axis], keepDims: keepDims) }

    /// Maximum over `axes` (PyTorch `amax`): the gradient is shared evenly among tied maxima, and a
    /// NaN anywhere in a slice makes its result NaN.
    public func max(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        // Not Swift.max, which drops a NaN that arrives after a number.
        extremum(axes: axes, keepDims: keepDims, op: "max", initial: -.infinity) { $0 >= $1 || $0.isNaN ? $0 : $1 }
    }

    /// Minimum over `axes` (PyTorch `amin`), NaN-propagating like `max`.
    public func min(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        extremum(axes: axes, keepDims: keepDims, op: "min", initial: .infinity) { $0 <= $1 || $0.isNaN ? $0 : $1 }
    }

    public func max(axis: Int, keepDims: Bool = false) -> Tensor { max(axes: [axis], keepDims: keepDims) }
    public func min(axis: Int, keepDims: Bool = false) -> Tensor { min(axes: [axis], keepDims: keepDims) }

    private func extremum(axes: [Int]?, keepDims: Bool, op: String, initial: Float,
                          _ combine: @escaping (Float, Float) -> Float) -> Tensor {
        let ax = normalizedAxes(axes, op: op)
        let x = self
        let kept = Kernels.reduce(x, axes: ax, initial: initial, combine)
        return finishReduction(kept, ax, keepDims: keepDims).recording(op, [x]) { g in
            let isExtreme = Kernels.zip(x, kept, op: op) { $0 == $1 ? 1 : 0 }
            let ties = Kernels.sum(isExtreme, axes: ax)
            let gk = g.reshaped(kept.shape)
            return [Kernels.zip3(isExtreme, gk, ties, op: op) { m, g, n in m * g / n }]
        }
    }

    /// log(sum(exp(x))) over `axes`, stable for large inputs.
    public func logSumExp(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let ax = normalizedAxes(axes, op: "logsumexp")
        let x = self
        let m = Kernels.reduce(x, axes: ax, initial: -.infinity) { Swift.max($0, $1) }
        let safeM = Kernels.map(m) { $0.isFinite ? $0 : 0 }
        let shifted = Kernels.zip(x, safeM, op: "logsumexp") { Foundation.exp($0 - $1) }
        let lse = Kernels.zip(Kernels.sum(shifted, axes: ax), safeM, op: "logsumexp") { Foundation.log($0) + $1 }
        return finishReduction(lse, ax, keepDims: keepDims).recording("logsumexp", [x]) { g in
            [Kernels.zip3(g.reshaped(lse.shape), x, lse, op: "logsumexp") { g, x, l in g * Foundation.exp(x - l) }]
        }
    }

    public func logSumExp(axis: Int, keepDims: Bool = false) -> Tensor { logSumExp(axes: [axis], keepDims: keepDims) }

    /// Index of the largest element along `axis` (first on ties; a NaN counts as the largest, as in
    /// PyTorch), as plain integers in row-major order of the remaining dimensions.
    public func argmax(axis: Int = -1) -> [Int] {
        let a = Shape.axis(axis, rank: rank, op: "argmax")
        let moved = permuted(Array((0..<rank).filter { $0 != a }) + [a]).contiguousData()
        defer { withExtendedLifetime(moved) {} }
        let n = shape[a], rows = count / Swift.max(n, 1)
        let p = moved.pointer
        return (0..<rows).map { r in
            var best = 0
            for j in 1..<Swift.max(n, 1) where !p[r * n + best].isNaN && (p[r * n + j] > p[r * n + best] || p[r * n + j].isNaN) {
                best = j
            }
            return best
        }
    }
}
