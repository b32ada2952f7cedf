// Comparisons give 0/1 masks (no gradient); `where` picks between two tensors by a mask.

extension Tensor {
    private func compare(_ other: Tensor, _ op: String, _ f: (Float, Float) -> Bool) -> Tensor {
        Kernels.zip(self, other, op: op) { f($0, $1) ? 1 : 0 }
    }
    public func eq(_ o: Tensor) -> Tensor { compare(o, "eq") { $0 == $1 } }
    public func ne(_ o: Tensor) -> Tensor { compare(o, "ne") { $0 != $1 } }
    public func lt(_ o: Tensor) -> Tensor { compare(o, "lt") { $0 < $1 } }
    public func le(_ o: Tensor) -> Tensor { compare(o, "le") { $0 <= $1 } }
    public func gt(_ o: Tensor) -> Tensor { compare(o, "gt") { $0 > $1 } }
    public func ge(_ o: Tensor) -> Tensor { compare(o, "ge") { $0 >= $1 } }
    public func eq(_ s: Float) -> Tensor { Kernels.map(self) { $0 == s ? 1 : 0 } }
    public func gt(_ s: Float) -> Tensor { Kernels.map(self) { $0 > s ? 1 : 0 } }
    public func lt(_ s: Float) -> Tensor { Kernels.map(self) { $0 < s ? 1 : 0 } }
    public func ge(_ s: Float) -> Tensor { Kernels.map(self) { $0 >= s ? 1 : 0 } }
    public func le(_ s: Float) -> Tensor { Kernels.map(self) { $0 <= s ? 1 : 0 } }

    /// Elementwise `condition != 0 ? a : b`, all three broadcast together (PyTorch `torch.where`).
    public static func `where`(_ condition: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
        let sa = a.shape, sb = b.shape
        let y = Kernels.zip3(condition, a, b, op: "where") { $0 != 0 ? $1 : $2 }
        return y.recording("where", [a, b]) { g in
            [a.requiresGrad ? Kernels.sumToShape(Kernels.zip(g, condition, op: "where") { $1 != 0 ? $0 : 0 }, sa) : nil,
             b.requiresGrad ? Kernels.sumToShape(Kernels.zip(g, condition, op: "where") { $1 != 0 ? 0 : $0 }, sb) : nil]
        }
    }

    /// Replaces elements where `mask != 0` by `value` (PyTorch `masked_fill`); no gradient flows there.
    public func maskedFill(_ mask: Tensor, _ value: Float) -> Tensor {
        let x = self, sx = shape
        let y = Kernels.zip(x, mask, op: "masked_fill") { $1 != 0 ? value : $0 }
        precondition(y.shape == sx, "masked_fill: mask \(mask.shape) must broadcast to \(sx)")
        return y.recording("masked_fill", [x]) { g in
            [Kernels.zip(g, mask, op: "masked_fill") { $1 != 0 ? 0 : $0 }]
        }
    }
}
