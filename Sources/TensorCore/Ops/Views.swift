// Shape ops. reshape, permute, transpose, slice, expand, squeeze and unsqueeze return views that
// share storage whenever the strides allow it; `contiguous()` materialises.

extension Tensor {
    /// Same data in a new shape; one dimension may be -1. A view whenever the strides allow it
    /// (always for contiguous tensors, and e.g. for splitting a strided dimension), otherwise a copy.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var target = newShape
        if let i = newShape.firstIndex(of: -1) {
            let known = newShape.enumerated().filter { $0.offset != i }.map(\.element).reduce(1, *)
            precondition(known > 0 && count % known == 0, "reshape: cannot infer -1 in \(newShape) from shape \(shape)")
            target[i] = count / known
        }
        precondition(Shape.count(target) == count, "reshape: shape \(shape) (\(count) elements) cannot become \(newShape)")
        if target == shape { return self }
        let sourceShape = shape
        if let viewStrides = Shape.viewStrides(from: shape, strides, to: target) {
            return Tensor(storage: storage, shape: target, strides: viewStrides, offset: offset)
                .recording("reshape", [self]) { g in [g.reshaped(sourceShape)] }
        }
        let base = contiguous()
        let view = Tensor(storage: base.storage, shape: target, strides: Shape.contiguousStrides(target), offset: base.offset)
        return view.recording("reshape", [base]) { g in [g.reshaped(sourceShape)] }
    }

    public func reshaped(_ dims: Int...) -> Tensor { reshaped(dims) }

    /// Flattens dimensions `start...end` into one.
    public func flattened(from start: Int = 0, to end: Int = -1) -> Tensor {
        if rank == 0 { return reshaped([1]) }  // PyTorch: flattening a scalar gives shape [1]
        let s = Shape.axis(start, rank: rank, op: "flatten"), e = Shape.axis(end, rank: rank, op: "flatten")
        guard s < e else { return self }
        let merged = shape[s...e].reduce(1, *)
        return reshaped(Array(shape[..<s]) + [merged] + Array(shape[(e + 1)...]))
    }

    /// Reorders dimensions: result dim i is input dim `order[i]`.
    public func permuted(_ order: [Int]) -> Tensor {
        precondition(order.count == rank && Set(order) == Set(0..<rank), "permute: \(order) is not a permutation of the \(rank) dims of \(shape)")
        var inverse = [Int](repeating: 0, count: rank)
        for (i, o) in order.enumerated() { inverse[o] = i }
        let view = Tensor(storage: storage, shape: order.map { shape[$0] }, strides: order.map { strides[$0] }, offset: offset)
        return view.recording("permute", [self]) { g in [g.permuted(inverse)] }
    }

    public func permuted(_ order: Int...) -> Tensor { permuted(order) }

    /// Swaps two dimensions (default: the last two), as a view.
    public func transposed(_ a: Int = -2, _ b: Int = -1) -> Tensor {
        let x = Shape.axis(a, rank: rank, op: "transpose"), y = Shape.axis(b, rank: rank, op: "transpose")
        var order = Array(0..<rank)
        order.swapAt(x, y)
        return permuted(order)
    }

    /// The matrix transpose of a 2-D tensor.
    public var T: Tensor {
        precondition(rank == 2, "T: expects a 2-D tensor, got shape \(shape)")
        return transposed(0, 1)
    }

    /// Elements `range` along `axis`, as a view.
    public func slice(axis: Int, _ range: Range<Int>) -> Tensor {
        let a = Shape.axis(axis, rank: rank, op: "slice")
        precondition(range.lowerBound >= 0 && range.upperBound <= shape[a],
                     "slice: range \(range) out of bounds for dim \(axis) of shape \(shape)")
        var s = shape
        s[a] = range.count
        let sourceShape = shape
        let view = Tensor(storage: storage, shape: s, strides: strides, offset: offset + range.lowerBound * strides[a])
        return view.recording("slice", [self]) { g in
            let full = Tensor.zeros(sourceShape)
            let region = Tensor(storage: full.storage, shape: s, strides: full.strides, offset: range.lowerBound * full.strides[a])
            Kernels.copyInto(region, from: g)
            return [full]
        }
    }

    /// Element `index` along `axis` (negative counts from the end, as in PyTorch), with that
    /// dimension removed.
    public func select(axis: Int, _ index: Int) -> Tensor {
        let a = Shape.axis(axis, rank: rank, op: "select")
        let i = index < 0 ? index + shape[a] : index
        precondition(i >= 0 && i < shape[a], "select: index \(index) out of range for dim \(axis) of shape \(shape)")
        return slice(axis: a, i..<(i + 1)).squeezed(axis: a)
    }

    /// Broadcasts size-1 (or missing leading) dimensions to `newShape` without copying (stride 0).
    public func expanded(to newShape: [Int]) -> Tensor {
        precondition(Shape.broadcast(shape, newShape) == newShape, "expand: shape \(shape) cannot expand to \(newShape)")
        if newShape == shape { return self }
        let sourceShape = shape
        let view = Tensor(storage: storage, shape: newShape, strides: Kernels.broadcastStrides(self, to: newShape), offset: offset)
        return view.recording("expand", [self]) { g in [Kernels.sumToShape(g, sourceShape)] }
    }

    /// Inserts a size-1 dimension at `axis` (may be `rank`, or negative counting from the end).
    public func unsqueezed(axis: Int) -> Tensor {
        let a = axis < 0 ? axis + rank + 1 : axis
        precondition(a >= 0 && a <= rank, "unsqueeze: axis \(axis) out of range for shape \(shape)")
        var s = shape, st = strides
        s.insert(1, at: a)
        st.insert(a < rank ? strides[a] * shape[a] : 1, at: a)
        let sourceShape = shape
        return Tensor(storage: storage, shape: s, strides: st, offset: offset)
            .recording("unsqueeze", [self]) { g in [g.reshaped(sourceShape)] }
    }

    /// Removes a size-1 dimension at `axis`.
    public func squeezed(axis: Int) -> Tensor {
        let a = Shape.axis(axis, rank: rank, op: "squeeze")
        precondition(shape[a] == 1, "squeeze: dim \(axis) of shape \(shape) is not 1")
        var s = shape, st = strides
        s.remove(at: a)
        st.remove(at: a)
        let sourceShape = shape
        return Tensor(storage: storage, shape: s, strides: st, offset: offset)
            .recording("squeeze", [self]) { g in [g.reshaped(sourceShape)] }
    }

    /// This tensor if already contiguous, else a row-major copy.
    public func contiguous() -> Tensor {
        if isContiguous { return self }
        return contiguousData().recording("contiguous", [self]) { g in [g] }
    }
}

extension Kernels {
    /// Writes `src` into the (possibly strided) view `dst`; shapes must match.
    package static func copyInto(_ dst: Tensor, from src: Tensor) {
        precondition(dst.shape == src.shape, "copyInto: shape \(src.shape) into \(dst.shape)")
        let sp = src.pointer, dp = dst.pointer
        StridedLoop.forEachRun(src.shape, [src.strides, dst.strides]) { off, n, st in
            let s = sp + off[0], d = dp + off[1]
            let ss = st[0], ds = st[1]
            if ss == 1 && ds == 1 { d.update(from: s, count: n) } else {
                for i in 0..<n { d[i * ds] = s[i * ss] }
            }
        }
    }
}
