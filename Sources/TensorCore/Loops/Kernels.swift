/// Graph-free compute kernels on strided tensors. Every output they create is contiguous.
/// Ops (with autograd) and backward rules are written on these.
extension Kernels {
    /// Strides of `t` seen as a tensor of `shape` under broadcasting (0 on broadcast dims).
    static func broadcastStrides(_ t: Tensor, to shape: [Int]) -> [Int] {
        let lead = shape.count - t.rank
        var s = [Int](repeating: 0, count: shape.count)
        for d in 0..<t.rank where t.shape[d] != 1 || shape[lead + d] == 1 {
            s[lead + d] = t.strides[d]
        }
        return s
    }

    /// Copies the elements of `src` (any strides) to `dst` in row-major order.
    static func copy(from src: Tensor, to dst: UnsafeMutablePointer<Float>) {
        let sp = src.pointer
        StridedLoop.forEachRun(src.shape, [src.strides, Shape.contiguousStrides(src.shape)]) { off, n, st in
            let s = sp + off[0], d = dst + off[1]
            if st[0] == 1 { d.update(from: s, count: n) } else {
                let ss = st[0]
                for i in 0..<n { d[i] = s[i * ss] }
            }
        }
    }

    /// y = f(x), contiguous output.
    @inline(__always)
    static func map(_ x: Tensor, _ f: (Float) -> Float) -> Tensor {
        let out = Tensor(uninitializedShape: x.shape)
        let xp = x.pointer, op = out.pointer
        StridedLoop.forEachRun(x.shape, [x.strides, out.strides], costPerElement: 4) { off, n, st in
            let a = xp + off[0], o = op + off[1]
            if st[0] == 1 { for i in 0..<n { o[i] = f(a[i]) } } else {
                let sa = st[0]
                for i in 0..<n { o[i] = f(a[i * sa]) }
            }
        }
        return out
    }

    /// out = f(a, b) with NumPy broadcasting, contiguous output. `op` names the caller in errors.
    @inline(__always)
    static func zip(_ a: Tensor, _ b: Tensor, op: String, _ f: (Float, Float) -> Float) -> Tensor {
        guard let shape = a.shape == b.shape ? a.shape : Shape.broadcast(a.shape, b.shape) else {
            preconditionFailure("\(op): shapes \(a.shape) and \(b.shape) cannot be broadcast together")
        }
        let out = Tensor(uninitializedShape: shape)
        let ap = a.pointer, bp = b.pointer, op = out.pointer
        let sa = broadcastStrides(a, to: shape), sb = broadcastStrides(b, to: shape)
        StridedLoop.forEachRun(shape, [sa, sb, out.strides], costPerElement: 2) { off, n, st in
            let x = ap + off[0], y = bp + off[1], o = op + off[2]
            let s0 = st[0], s1 = st[1]
            if s0 == 1 && s1 == 1 {
                for i in 0..<n { o[i] = f(x[i], y[i]) }
            } else if s0 == 1 && s1 == 0 {
                let yv = y[0]
                for i in 0..<n { o[i] = f(x[i], yv) }
            } else if s0 == 0 && s1 == 1 {
                let xv = x[0]
                for i in 0..<n { o[i] = f(xv, y[i]) }
            } else {
                for i in 0..<n { o[i] = f(x[i * s0], y[i * s1]) }
            }
        }
        return out
    }

    /// out = f(a, b, c) with broadcasting; used by backward rules that need two saved values.
    @inline(__always)
    static func zip3(_ a: Tensor, _ b: Tensor, _ c: Tensor, op: String, _ f: (Float, Float, Float) -> Float) -> Tensor {
        guard let ab = Shape.broadcast(a.shape, b.shape), let shape = Shape.broadcast(ab, c.shape) else {
            preconditionFailure("\(op): shapes \(a.shape), \(b.shape) and \(c.shape) cannot be broadcast together")
        }
        let out = Tensor(uninitializedShape: shape)
        let ap = a.pointer, bp = b.pointer, cp = c.pointer, op = out.pointer
        let strides = [broadcastStrides(a, to: shape), broadcastStrides(b, to: shape),
                       broadcastStrides(c, to: shape), out.strides]
        StridedLoop.forEachRun(shape, strides, costPerElement: 3) { off, n, st in
            let x = ap + off[0], y = bp + off[1], z = cp + off[2], o = op + off[3]
            let s0 = st[0], s1 = st[1], s2 = st[2]
            if s0 == 1 && s1 == 1 && s2 == 1 {
                for i in 0..<n { o[i] = f(x[i], y[i], z[i]) }
            } else {
                for i in 0..<n { o[i] = f(x[i * s0], y[i * s1], z[i * s2]) }
            }
        }
        return out
    }

    /// Reduces `x` over `axes` (normalised, any order) into a contiguous tensor of the keep-dims shape.
    /// `combine` folds an element into an accumulator started at `initial`.
    @inline(__always)
    static func reduce(_ x: Tensor, axes: Set<Int>, initial: Float, _ combine: (Float, Float) -> Float) -> Tensor {
        var outShape = x.shape
        for a in axes { outShape[a] = 1 }
        let out = Tensor.full(outShape, initial)
        var os = out.strides
        for a in axes { os[a] = 0 }
        let xp = x.pointer, op = out.pointer
        // Reduced elements of one output may span several runs, so the loop stays on one thread.
        StridedLoop.forEachRun(x.shape, [x.strides, os], parallel: false) { off, n, st in
            let a = xp + off[0], o = op + off[1]
            let sa = st[0]
            if st[1] == 0 {
                var acc = o[0]
                for i in 0..<n { acc = combine(acc, a[i * sa]) }
                o[0] = acc
            } else {
                let so = st[1]
                for i in 0..<n { o[i * so] = combine(o[i * so], a[i * sa]) }
            }
        }
        return out
    }

    /// Sum over `axes` accumulated in Double within each run.
    static func sum(_ x: Tensor, axes: Set<Int>) -> Tensor {
        var outShape = x.shape
        for a in axes { outShape[a] = 1 }
        let out = Tensor.zeros(outShape)
        var os = out.strides
        for a in axes { os[a] = 0 }
        let xp = x.pointer, op = out.pointer
        StridedLoop.forEachRun(x.shape, [x.strides, os], parallel: false) { off, n, st in
            let a = xp + off[0], o = op + off[1]
            let sa = st[0]
            if st[1] == 0 {
                var acc: Double = 0
                if sa == 1 { for i in 0..<n { acc += Double(a[i]) } } else { for i in 0..<n { acc += Double(a[i * sa]) } }
                o[0] += Float(acc)
            } else {
                let so = st[1]
                if sa == 1 && so == 1 { for i in 0..<n { o[i] += a[i] } } else {
                    for i in 0..<n { o[i * so] += a[i * sa] }
                }
            }
        }
        return out
    }

    /// Sums a broadcast result back to `shape` (the backward of broadcasting).
    static func sumToShape(_ g: Tensor, _ shape: [Int]) -> Tensor {
        if g.shape == shape { return g }
        let lead = g.rank - shape.count
        precondition(lead >= 0, "sumToShape: gradient shape \(g.shape) is smaller than \(shape)")
        var axes = Set<Int>()
        for d in 0..<g.rank where d < lead || (shape[d - lead] == 1 && g.shape[d] != 1) { axes.insert(d) }
        let s = sum(g, axes: axes)
        return Tensor(storage: s.storage, shape: shape, strides: Shape.contiguousStrides(shape), offset: 0)
    }

    /// dst += src elementwise (same shape), dst contiguous.
    static func accumulate(_ src: Tensor, into dst: Tensor) {
        precondition(dst.isContiguous && src.shape == dst.shape,
                     "accumulate: gradient of shape \(src.shape) into \(dst.shape)")
        let sp = src.pointer, dp = dst.pointer
        StridedLoop.forEachRun(src.shape, [src.strides, dst.strides]) { off, n, st in
            let s = sp + off[0], d = dp + off[1]
            if st[0] == 1 { for i in 0..<n { d[i] += s[i] } } else {
                let ss = st[0]
                for i in 0..<n { d[i] += s[i * ss] }
            }
        }
    }
}
