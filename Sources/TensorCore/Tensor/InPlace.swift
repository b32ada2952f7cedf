// In-place updates for optimizers and initialisers. They bypass autograd, so they are only allowed
// on leaves and outside a recording graph (inside `withNoGrad` or on tensors that need no grad).

extension Tensor {
    private func checkInPlace(_ op: String) {
        precondition(isLeaf, "\(op): in-place update of a non-leaf tensor of shape \(shape) would corrupt its graph")
        precondition(!GradMode.enabled || !requiresGrad, "\(op): in-place update of a leaf that requires grad; wrap it in withNoGrad")
    }

    /// value = f(value, grad) elementwise, for a leaf whose `grad` is set (an SGD-style step).
    public func update(_ f: (Float, Float) -> Float) {
        checkInPlace("update")
        guard let g = grad else { return }
        let gc = g.contiguousData()
        defer { withExtendedLifetime(gc) {} }
        if isContiguous {
            let p = pointer, gp = gc.pointer
            for i in 0..<count { p[i] = f(p[i], gp[i]) }
        } else {
            let result = Kernels.zip(self, gc, op: "update", f)
            Kernels.copyInto(self, from: result)
        }
    }

    /// Overwrites this tensor's elements with `source`'s (shapes must match).
    public func assign(_ source: Tensor) {
        checkInPlace("assign")
        precondition(source.shape == shape, "assign: source shape \(source.shape) does not match \(shape)")
        Kernels.copyInto(self, from: source)
    }
}
