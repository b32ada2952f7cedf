import Foundation

// Elementwise arithmetic with NumPy broadcasting. Each backward rule sits beside its forward;
// `sumToShape` undoes broadcasting.

public func + (a: Tensor, b: Tensor) -> Tensor {
    let sa = a.shape, sb = b.shape
    return Kernels.zip(a, b, op: "add", AddKernel.self).recording("add", [a, b]) { g in
        [Kernels.sumToShape(g, sa), Kernels.sumToShape(g, sb)]
    }
}

public func - (a: Tensor, b: Tensor) -> Tensor {
    let sa = a.shape, sb = b.shape
    return Kernels.zip(a, b, op: "sub") { $0 - $1 }.recording("sub", [a, b]) { g in
        [Kernels.sumToShape(g, sa), Kernels.sumToShape(Kernels.map(g) { -$0 }, sb)]
    }
}

public func * (a: Tensor, b: Tensor) -> Tensor {
    let sa = a.shape, sb = b.shape
    let ga = b.requiresGrad ? a : nil, gb = a.requiresGrad ? b : nil
    return Kernels.zip(a, b, op: "mul") { $0 * $1 }.recording("mul", [a, b]) { g in
        [gb.map { Kernels.sumToShape(Kernels.zip(g, $0, op: "mul") { $0 * $1 }, sa) },
         ga.map { Kernels.sumToShape(Kernels.zip(g, $0, op: "mul") { $0 * $1 }, sb) }]
    }
}

public func / (a: Tensor, b: Tensor) -> Tensor {
    let sa = a.shape, sb = b.shape
    return Kernels.zip(a, b, op: "div") { $0 / $1 }.recording("div", [a, b]) { g in
        [a.requiresGrad ? Kernels.sumToShape(Kernels.zip(g, b, op: "div") { $0 / $1 }, sa) : nil,
         b.requiresGrad ? Kernels.sumToShape(Kernels.zip3(g, a, b, op: "div") { g, a, b in -g * a / (b * b) }, sb) : nil]
    }
}

public prefix func - (x: Tensor) -> Tensor {
    Kernels.map(x) { -$0 }.recording("neg", [x]) { g in [Kernels.map(g) { -$0 }] }
}

// Scalar forms, so `x * 2` and `1 - p` read as they would in PyTorch.
public func + (a: Tensor, s: Float) -> Tensor { Kernels.map(a) { $0 + s }.recording("add_scalar", [a]) { g in [g] } }
public func + (s: Float, a: Tensor) -> Tensor { a + s }
public func - (a: Tensor, s: Float) -> Tensor { a + (-s) }
public func - (s: Float, a: Tensor) -> Tensor {
    Kernels.map(a) { s - $0 }.recording("rsub_scalar", [a]) { g in [Kernels.map(g) { -$0 }] }
}
public func * (a: Tensor, s: Float) -> Tensor {
    Kernels.map(a) { $0 * s }.recording("mul_scalar", [a]) { g in [Kernels.map(g) { $0 * s }] }
}
public func * (s: Float, a: Tensor) -> Tensor { a * s }
public func / (a: Tensor, s: Float) -> Tensor { a * (1 / s) }
public func / (s: Float, a: Tensor) -> Tensor {
    Kernels.map(a) { s / $0 }.recording("rdiv_scalar", [a]) { g in
        [Kernels.zip(g, a, op: "rdiv_scalar") { g, x in -g * s / (x * x) }]
    }
}

extension Tensor {
    /// Elementwise power with a scalar exponent.
    public func pow(_ p: Float) -> Tensor {
        let x = self
        return Kernels.map(x) { Foundation.pow($0, p) }.recording("pow", [x]) { g in
            // d/dx x^0 = 0 everywhere (PyTorch), not 0 * 0^-1 = NaN at x = 0.
            [p == 0 ? Tensor.zeros(x.shape) : Kernels.zip(g, x, op: "pow") { g, x in g * p * Foundation.pow(x, p - 1) }]
        }
    }

    /// Elementwise power with a tensor exponent (broadcast).
    public func pow(_ p: Tensor) -> Tensor {
        let x = self, sx = shape, sp = p.shape
        let y = Kernels.zip(x, p, op: "pow") { Foundation.pow($0, $1) }
        return y.recording("pow", [x, p]) { g in
            [x.requiresGrad ? Kernels.sumToShape(Kernels.zip3(g, x, p, op: "pow") { g, x, p in p == 0 ? 0 : g * p * Foundation.pow(x, p - 1) }, sx) : nil,
             p.requiresGrad ? Kernels.sumToShape(Kernels.zip3(g, y, x, op: "pow") { g, y, x in x > 0 ? g * y * Foundation.log(x) : 0 }, sp) : nil]
        }
    }

    /// Elementwise minimum; where equal the gradient is split evenly, as in PyTorch.
    public func minimum(_ other: Tensor) -> Tensor { Tensor.select(self, other, op: "minimum") { $0 < $1 } }
    /// Elementwise maximum; where equal the gradient is split evenly, as in PyTorch.
    public func maximum(_ other: Tensor) -> Tensor { Tensor.select(self, other, op: "maximum") { $0 > $1 } }

    private static func select(_ a: Tensor, _ b: Tensor, op: String, _ prefersA: @escaping (Float, Float) -> Bool) -> Tensor {
        let sa = a.shape, sb = b.shape
        // A NaN on either side propagates (PyTorch); `prefersA` alone would pick the other operand.
        let y = Kernels.zip(a, b, op: op) { $0.isNaN || prefersA($0, $1) || $0 == $1 ? $0 : $1 }
        return y.recording(op, [a, b]) { g in
            [Kernels.sumToShape(Kernels.zip3(g, a, b, op: op) { g, a, b in a == b ? g / 2 : (prefersA(a, b) ? g : 0) }, sa),
             Kernels.sumToShape(Kernels.zip3(g, a, b, op: op) { g, a, b in a == b ? g / 2 : (prefersA(a, b) ? 0 : g) }, sb)]
        }
    }

    /// Clamps into [min, max]; the gradient passes where the input lies inside (bounds included).
    public func clamped(min lo: Float = -.infinity, max hi: Float = .infinity) -> Tensor {
        let x = self
        return Kernels.map(x) { Swift.min(Swift.max($0, lo), hi) }.recording("clamp", [x]) { g in
            [Kernels.zip(g, x, op: "clamp") { g, x in x >= lo && x <= hi ? g : 0 }]
        }
    }
}
