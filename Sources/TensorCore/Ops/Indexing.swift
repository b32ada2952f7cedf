// Integer indexing: embedding lookup, index_select and gather, each with a scatter-add backward.

/// Rows of `weight` [V, D] picked by `ids`, shaped `idsShape + [D]` (PyTorch `F.embedding`).
public func embedding(_ weight: Tensor, ids: [Int], shape idsShape: [Int]? = nil) -> Tensor {
    let outLead = idsShape ?? [ids.count]
    precondition(Shape.count(outLead) == ids.count, "embedding: \(ids.count) ids do not fill shape \(outLead)")
    let y = weight.indexSelect(axis: 0, ids)
    return outLead == [ids.count] ? y : y.reshaped(outLead + [weight.shape[1]])
}

/// Rows of `weight` [V, D] picked by `ids`, shaped `ids.shape + [D]`.
public func embedding(_ weight: Tensor, ids: IndexTensor) -> Tensor { embedding(weight, ids: ids.scalars, shape: ids.shape) }

extension Tensor {
    /// Slices `indices` of `axis`, in that order, repeats allowed (PyTorch `index_select`).
    /// The backward adds each slice's gradient back to the slice it came from.
    public func indexSelect(axis: Int, _ indices: [Int]) -> Tensor {
        let a = Shape.axis(axis, rank: rank, op: "index_select")
        let n = shape[a]
        for i in indices { precondition(i >= 0 && i < n, "index_select: index \(i) out of range 0..<\(n) for dim \(axis) of shape \(shape)") }
        let x = contiguousData()
        defer { withExtendedLifetime(x) {} }
        let outer = shape[..<a].reduce(1, *), inner = shape[(a + 1)...].reduce(1, *)
        var outShape = shape
        outShape[a] = indices.count
        let out = Tensor(uninitializedShape: outShape)
        let xp = x.pointer, op = out.pointer, m = indices.count
        indices.withUnsafeBufferPointer { idx in
            Threading.parallelFor(outer * m, costPerItem: inner) { r in
                for row in r {
                    let o = row / m, j = row % m
                    (op + row * inner).update(from: xp + (o * n + idx[j]) * inner, count: inner)
                }
            }
        }
        let inShape = shape
        return out.recording("index_select", [self]) { g in
            let gc = g.contiguousData()
            defer { withExtendedLifetime(gc) {} }
            let dx = Tensor.zeros(inShape)
            let gp = gc.pointer, dp = dx.pointer
            // Serial over the indices: repeated indices add into the same slice.
            for o in 0..<outer {
                for (j, i) in indices.enumerated() {
                    let src = gp + (o * m + j) * inner, dst = dp + (o * n + i) * inner
                    for e in 0..<inner { dst[e] += src[e] }
                }
            }
            return [dx]
        }
    }

    /// `out[..., i, ...] = self[..., index[..., i, ...], ...]` along `axis` (PyTorch `gather`);
    /// `indices` holds one integer per output element, row-major in `indexShape`, which must
    /// equal this tensor's shape except along `axis`.
    public func gather(axis: Int, indices: [Int], shape indexShape: [Int]) -> Tensor {
        let a = Shape.axis(axis, rank: rank, op: "gather")
        precondition(indexShape.count == rank && Shape.count(indexShape) == indices.count &&
                     (0..<rank).allSatisfy { $0 == a || indexShape[$0] == shape[$0] },
                     "gather: index shape \(indexShape) (\(indices.count) values) does not fit input \(shape) along dim \(axis)")
        let x = contiguousData()
        defer { withExtendedLifetime(x) {} }
        let n = shape[a], m = indexShape[a]
        let outer = shape[..<a].reduce(1, *), inner = shape[(a + 1)...].reduce(1, *)
        for i in indices { precondition(i >= 0 && i < n, "gather: index \(i) out of range 0..<\(n) for dim \(axis) of shape \(shape)") }
        let out = Tensor(uninitializedShape: indexShape)
        let xp = x.pointer, op = out.pointer
        for o in 0..<outer {
            for j in 0..<m {
                for e in 0..<inner {
                    let flat = (o * m + j) * inner + e
                    op[flat] = xp[(o * n + indices[flat]) * inner + e]
                }
            }
        }
        let inShape = shape
        return out.recording("gather", [self]) { g in
            let gc = g.contiguousData()
            defer { withExtendedLifetime(gc) {} }
            let dx = Tensor.zeros(inShape)
            let gp = gc.pointer, dp = dx.pointer
            for o in 0..<outer {
                for j in 0..<m {
                    for e in 0..<inner {
                        let flat = (o * m + j) * inner + e
                        dp[(o * n + indices[flat]) * inner + e] += gp[flat]
                    }
                }
            }
            return [dx]
        }
    }
}
