// Joining and splitting along an axis.

extension Tensor {
    /// Joins tensors along `axis`; all other dimensions must agree.
    public static func concat(_ tensors: [Tensor], axis: Int = 0) -> Tensor {
        precondition(!tensors.isEmpty, "concat: no tensors")
        let first = tensors[0]
        let a = Shape.axis(axis, rank: first.rank, op: "concat")
        for t in tensors {
            precondition(t.rank == first.rank && (0..<t.rank).allSatisfy { $0 == a || t.shape[$0] == first.shape[$0] },
                         "concat: shape \(t.shape) does not match \(first.shape) outside dim \(axis)")
        }
        var outShape = first.shape
        outShape[a] = tensors.reduce(0) { $0 + $1.shape[a] }
        let out = Tensor(uninitializedShape: outShape)
        var start = 0
        var ranges: [Range<Int>] = []
        for t in tensors {
            let r = start..<(start + t.shape[a])
            var s = outShape
            s[a] = r.count
            let region = Tensor(storage: out.storage, shape: s, strides: out.strides, offset: r.lowerBound * out.strides[a])
            Kernels.copyInto(region, from: t)
            ranges.append(r)
            start = r.upperBound
        }
        return out.recording("concat", tensors) { g in
            ranges.map { g.slice(axis: a, $0).contiguousData() }
        }
    }

    /// Stacks same-shaped tensors along a new dimension `axis`.
    public static func stack(_ tensors: [Tensor], axis: Int = 0) -> Tensor {
        precondition(!tensors.isEmpty, "stack: no tensors")
        for t in tensors { precondition(t.shape == tensors[0].shape, "stack: shape \(t.shape) differs from \(tensors[0].shape)") }
        return concat(tensors.map { $0.unsqueezed(axis: axis) }, axis: axis)
    }

    /// Splits along `axis` into pieces of the given sizes (views).
    public func split(sizes: [Int], axis: Int = 0) -> [Tensor] {
        let a = Shape.axis(axis, rank: rank, op: "split")
        precondition(sizes.reduce(0, +) == shape[a], "split: sizes \(sizes) do not add up to dim \(axis) of shape \(shape)")
        var start = 0
        return sizes.map { n in
            defer { start += n }
            return slice(axis: a, start..<(start + n))
        }
    }

    /// Splits along `axis` into `parts` equal pieces (views).
    public func chunked(_ parts: Int, axis: Int = 0) -> [Tensor] {
        let a = Shape.axis(axis, rank: rank, op: "chunk")
        precondition(parts > 0 && shape[a] % parts == 0, "chunk: dim \(axis) of shape \(shape) does not split into \(parts) equal parts")
        return split(sizes: Array(repeating: shape[a] / parts, count: parts), axis: a)
    }
}
