import Foundation

// Pointwise functions. Rules that are cheaper from the output (exp, tanh, sigmoid, sqrt) keep it.

extension Tensor {
    public func exp() -> Tensor {
        let y = Kernels.map(self, ExpKernel.self)
        return y.recording("exp", [self]) { g in [Kernels.zip(g, y, op: "exp") { $0 * $1 }] }
    }

    public func log() -> Tensor {
        let x = self
        return Kernels.map(x) { Foundation.log($0) }.recording("log", [x]) { g in [Kernels.zip(g, x, op: "log") { $0 / $1 }] }
    }

    public func sqrt() -> Tensor {
        let y = Kernels.map(self) { $0.squareRoot() }
        return y.recording("sqrt", [self]) { g in [Kernels.zip(g, y, op: "sqrt") { $0 / (2 * $1) }] }
    }

    public func tanh() -> Tensor {
        let y = Kernels.map(self, TanhKernel.self)
        return y.recording("tanh", [self]) { g in [Kernels.zip(g, y, op: "tanh") { $0 * (1 - $1 * $1) }] }
    }

    public func sigmoid() -> Tensor {
        let y = Kernels.map(self, SigmoidKernel.self)
        return y.recording("sigmoid", [self]) { g in [Kernels.zip(g, y, op: "sigmoid") { $0 * $1 * (1 - $1) }] }
    }

    /// log(sigmoid(x)), computed without overflow (DPO's loss uses it).
    public func logSigmoid() -> Tensor {
        let x = self
        return Kernels.map(x) { Swift.min($0, 0) - Foundation.log1p(Foundation.exp(-Swift.abs($0))) }
            .recording("logsigmoid", [x]) { g in [Kernels.zip(g, x, op: "logsigmoid") { g, x in g * Tensor.sigmoid(-x) }] }
    }

    /// log(1 + exp(x)), computed without overflow.
    public func softplus() -> Tensor {
        let x = self
        return Kernels.map(x) { Swift.max($0, 0) + Foundation.log1p(Foundation.exp(-Swift.abs($0))) }
            .recording("softplus", [x]) { g in [Kernels.zip(g, x, op: "softplus") { g, x in g * Tensor.sigmoid(x) }] }
    }

    public func relu() -> Tensor {
        let x = self
        return Kernels.map(x) { Swift.max($0, 0) }.recording("relu", [x]) { g in [Kernels.zip(g, x, op: "relu") { $1 > 0 ? $0 : 0 }] }
    }

    /// |x|; the gradient at 0 is 0, as in PyTorch.
    public func abs() -> Tensor {
        let x = self
        return Kernels.map(x) { Swift.abs($0) }.recording("abs", [x]) { g in
            [Kernels.zip(g, x, op: "abs") { g, x in x > 0 ? g : (x < 0 ? -g : 0) }]
        }
    }

    /// x * sigmoid(x).
    public func silu() -> Tensor {
        let x = self
        return Kernels.map(x, SiLUKernel.self).recording("silu", [x]) { g in
            [Kernels.zip(g, x, op: "silu") { g, x in
                let s = Tensor.sigmoid(x)
                return g * s * (1 + x * (1 - s))
            }]
        }
    }

    public enum GELUApproximation: Sendable { case none, tanh }

    /// GELU: exact (erf) by default, or the tanh approximation GPT-2 uses (PyTorch `approximate='tanh'`).
    public func gelu(approximate: GELUApproximation = .none) -> Tensor {
        let x = self
        switch approximate {
        case .tanh:
            guard GradMode.enabled && x.requiresGrad else {
                // Still through `recording`, which runs anomaly mode's forward check.
                return Kernels.map(x, GELUTanhKernel.self).recording("gelu_tanh", [x]) { _ in preconditionFailure("gelu_tanh: no graph") }
            }
            // Training keeps tanh(u) beside the output, so the backward rule is plain arithmetic:
            // recomputing tanh (an exp and a division per element) made backward the dearer half.
            let xc = x.contiguousData()
            let y = Tensor(uninitializedShape: x.shape), tanhU = Tensor(uninitializedShape: x.shape)
            let xp = xc.pointer, yp = y.pointer, tp = tanhU.pointer
            Threading.parallelFor(x.count, costPerItem: 4) { r in
                var i = r.lowerBound
                while i + 8 <= r.upperBound {
                    let (value, tanh) = Tensor.geluTanhWithTanh(Kernels.load8(xp, i))
                    Kernels.store8(value, yp, i)
                    Kernels.store8(tanh, tp, i)
                    i += 8
                }
                if i < r.upperBound {
                    let (value, tanh) = Tensor.geluTanhWithTanh(Kernels.loadTail(xp, i, r.upperBound, fill: 0))
                    Kernels.storeTail(value, yp, i, r.upperBound)
                    Kernels.storeTail(tanh, tp, i, r.upperBound)
                }
            }
            return y.recording("gelu_tanh", [x]) { g in
                let gc = g.contiguousData(), dx = Tensor(uninitializedShape: xc.shape)
                let gp = gc.pointer, dp = dx.pointer
                Threading.parallelFor(dx.count, costPerItem: 2) { r in
                    for i in r {
                        let v = xp[i], t = tp[i]
                        dp[i] = gp[i] * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * Tensor.geluC * (1 + 3 * 0.044715 * v * v))
                    }
                }
                return withExtendedLifetime((xc, tanhU, gc)) { [dx] }
            }
        case .none:
            return Kernels.map(x) { 0.5 * $0 * (1 + Foundation.erf($0 / 2.0.squareRoot().float)) }.recording("gelu", [x]) { g in
                [Kernels.zip(g, x, op: "gelu") { g, x in
                    let cdf = 0.5 * (1 + Foundation.erf(x / Float(2).squareRoot()))
                    let pdf = Foundation.exp(-0.5 * x * x) / Float(2 * Double.pi).squareRoot()
                    return g * (cdf + x * pdf)
                }]
            }
        }
    }

    @inline(__always) static func sigmoid(_ x: Float) -> Float {
        FastMath.sigmoid(x)
    }

    static var geluC: Float { 0.797_884_56 }  // sqrt(2 / pi)

    @inline(__always) static func geluTanh(_ x: FastMath.Vector) -> FastMath.Vector { geluTanhWithTanh(x).value }

    /// GELU (tanh form) and the tanh(u) it is built from, which its derivative reuses.
    @inline(__always) static func geluTanhWithTanh(_ x: FastMath.Vector) -> (value: FastMath.Vector, tanh: FastMath.Vector) {
        let t = FastMath.tanh(geluC * (x + 0.044715 * x * x * x))
        return (0.5 * x * (1 + t), t)
    }

}

extension Double { fileprivate var float: Float { Float(self) } }
