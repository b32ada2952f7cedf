/// Shape and stride arithmetic shared by views, kernels and broadcasting.
public enum Shape {
    @inlinable public static func count(_ shape: [Int]) -> Int { shape.reduce(1, *) }

    /// The element count, or nil when a dimension is negative or the count or the contiguous strides
    /// (products of the non-zero dimensions) overflow `Int`: for shapes that come from files.
    public static func checkedCount(_ shape: [Int]) -> Int? {
        var strideProduct = 1
        for d in shape {
            guard d >= 0 else { return nil }
            let (p, overflow) = strideProduct.multipliedReportingOverflow(by: max(d, 1))
            if overflow { return nil }
            strideProduct = p
        }
        return shape.contains(0) ? 0 : strideProduct
    }

    public static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var s = 1
        for d in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[d] = s
            s *= max(shape[d], 1)
        }
        return strides
    }

    public static func isContiguous(shape: [Int], strides: [Int]) -> Bool {
        var expected = 1
        for d in stride(from: shape.count - 1, through: 0, by: -1) where shape[d] != 1 {
            if strides[d] != expected { return false }
            expected *= shape[d]
        }
        return true
    }

    /// NumPy broadcasting of two shapes; `nil` when they are incompatible.
    public static func broadcast(_ a: [Int], _ b: [Int]) -> [Int]? {
        let r = max(a.count, b.count)
        var out = [Int](repeating: 1, count: r)
        for i in 0..<r {
            let da = i < r - a.count ? 1 : a[i - (r - a.count)]
            let db = i < r - b.count ? 1 : b[i - (r - b.count)]
            if da == db || db == 1 { out[i] = da } else if da == 1 { out[i] = db } else { return nil }
        }
        return out
    }

    /// Normalises a possibly negative axis for a tensor of `rank` dimensions.
    public static func axis(_ axis: Int, rank: Int, op: String) -> Int {
        let a = axis < 0 ? axis + rank : axis
        precondition(a >= 0 && a < max(rank, 1), "\(op): axis \(axis) out of range for rank \(rank)")
        return a
    }

    /// Strides that let a tensor of `shape`/`strides` be seen as `newShape` without copying, or nil
    /// when no such view exists (the rule of PyTorch's `view`: each group of old dimensions that is
    /// contiguous in memory may be re-split freely).
    public static func viewStrides(from shape: [Int], _ strides: [Int], to newShape: [Int]) -> [Int]? {
        let n = count(shape)
        if n == 0 || shape.isEmpty { return contiguousStrides(newShape) }
        var newStrides = [Int](repeating: 0, count: newShape.count)
        var viewD = newShape.count - 1
        var chunkBaseStride = strides[shape.count - 1]
        var tensorNumel = 1, viewNumel = 1
        for d in stride(from: shape.count - 1, through: 0, by: -1) {
            tensorNumel *= shape[d]
            if d == 0 || (shape[d - 1] != 1 && strides[d - 1] != tensorNumel * chunkBaseStride) {
                while viewD >= 0 && (viewNumel < tensorNumel || newShape[viewD] == 1) {
                    newStrides[viewD] = viewNumel * chunkBaseStride
                    viewNumel *= newShape[viewD]
                    viewD -= 1
                }
                if viewNumel != tensorNumel { return nil }
                if d > 0 {
                    chunkBaseStride = strides[d - 1]
                    tensorNumel = 1
                    viewNumel = 1
                }
            }
        }
        return viewD == -1 ? newStrides : nil
    }
}
