import TensorCore
import Foundation

/// Updates parameters from their gradients. Every optimizer allocates its state when created, so
/// `step()` allocates nothing; its state round-trips through `state()` / `loadState(_:)`.
public protocol Optimizer: AnyObject {
    var parameters: [Tensor] { get }
    /// The learning rate the next `step()` uses (schedules set it each step).
    var learningRate: Float { get set }
    /// Number of `step()` calls so far.
    var stepCount: Int { get }
    func step()
    /// Per-parameter buffers by name (`"0.exp_avg"`, ...) plus `"step"` as a one-element tensor.
    /// The buffers are the live ones (no copy): write them out before the next `step()`.
    func state() -> [String: Tensor]
    func loadState(_ state: [String: Tensor]) throws
}

extension Optimizer {
    /// Clears the gradients of all parameters (PyTorch `zero_grad(set_to_none=True)`).
    public func zeroGrad() { for p in parameters { p.zeroGrad() } }
}

/// A state entry that is missing or has the wrong shape.
public struct OptimizerStateError: Error, CustomStringConvertible {
    public let key: String
    public let reason: String
    public var description: String { "optimizer state '\(key)': \(reason)" }
}

/// Shared plumbing: parameters, one state buffer set per parameter, step counter, save/load.
public class OptimizerBase {
    public let parameters: [Tensor]
    public var learningRate: Float
    public internal(set) var stepCount = 0
    /// buffers[name][i] is the buffer `name` of parameter i.
    var buffers: [String: [Tensor]] = [:]

    init(_ parameters: [Tensor], learningRate: Float, bufferNames: [String]) {
        // Steps update parameters in parallel slices: one tensor listed twice would race with itself.
        precondition(Set(parameters.map(ObjectIdentifier.init)).count == parameters.count,
                     "optimizer: a parameter is listed more than once")
        self.parameters = parameters
        self.learningRate = learningRate
        for name in bufferNames { buffers[name] = parameters.map { Tensor.zeros($0.shape) } }
    }

    public func state() -> [String: Tensor] {
        var out: [String: Tensor] = ["step": Tensor(scalar: Float(stepCount))]
        for (name, list) in buffers { for (i, t) in list.enumerated() { out["\(i).\(name)"] = t } }
        return out
    }

    /// Checks every entry (present, same shape as its parameter, finite; `step` a whole number)
    /// before copying any, so a damaged state leaves the optimizer as it was.
    public func loadState(_ state: [String: Tensor]) throws {
        guard let step = state["step"], step.count == 1 else { throw OptimizerStateError(key: "step", reason: "missing") }
        let stepValue = step.item
        guard stepValue.isFinite, stepValue >= 0, stepValue == stepValue.rounded(), stepValue < 1e15 else {
            throw OptimizerStateError(key: "step", reason: "must be a whole number >= 0, got \(stepValue)")
        }
        var copies: [(into: Tensor, from: Tensor)] = []
        for (name, list) in buffers {
            for (i, t) in list.enumerated() {
                let key = "\(i).\(name)"
                guard let saved = state[key] else { throw OptimizerStateError(key: key, reason: "missing") }
                guard saved.shape == t.shape else {
                    throw OptimizerStateError(key: key, reason: "shape \(saved.shape) does not match parameter shape \(t.shape)")
                }
                if let bad = saved.withUnsafeBufferPointer({ $0.firstIndex { !$0.isFinite } }) {
                    throw OptimizerStateError(key: key, reason: "element \(bad) is not finite")
                }
                copies.append((t, saved))
            }
        }
        for (t, saved) in copies { Kernels.copyInto(t, from: saved) }
        stepCount = Int(stepValue)
    }

    /// Calls `body(param, grad, i, range)` with raw pointers for every parameter that has a
    /// gradient, as one parallel loop over all parameters' elements taken end to end: each thread
    /// gets an equal contiguous share, so small tensors cost no fan-out of their own, and `range`
    /// is the part of parameter i in the calling thread's share.
    @inline(__always)
    func forEachParameterSlice(_ body: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, Int, Range<Int>) -> Void) {
        var total = 0
        for (i, p) in parameters.enumerated() {
            guard let g = p.grad else { continue }
            precondition(p.isContiguous && g.isContiguous, "optimizer: parameter \(i) of shape \(p.shape) must be contiguous")
            total += p.count
        }
        let params = parameters
        Threading.parallelFor(total, costPerItem: 4) { share in
            var offset = 0
            for (i, p) in params.enumerated() {
                guard let g = p.grad else { continue }
                let lo = Swift.max(share.lowerBound - offset, 0), hi = Swift.min(share.upperBound - offset, p.count)
                if lo < hi { body(p.pointer, g.pointer, i, lo..<hi) }
                offset += p.count
                if offset >= share.upperBound { break }
            }
        }
    }
}

/// Stochastic gradient descent with optional momentum, dampening, Nesterov and (coupled) L2 weight
/// decay, exactly as PyTorch's `torch.optim.SGD`.
public final class SGD: OptimizerBase, Optimizer {
    public var momentum: Float, dampening: Float, weightDecay: Float, nesterov: Bool

    public init(_ parameters: [Tensor], learningRate: Float, momentum: Float = 0, dampening: Float = 0,
                weightDecay: Float = 0, nesterov: Bool = false) {
        self.momentum = momentum
        self.dampening = dampening
        self.weightDecay = weightDecay
        self.nesterov = nesterov
        super.init(parameters, learningRate: learningRate, bufferNames: momentum != 0 ? ["momentum_buffer"] : [])
    }

    public func step() {
        let lr = learningRate, mu = momentum, damp = dampening, wd = weightDecay, first = stepCount == 0
        let bufs = buffers["momentum_buffer"]
        forEachParameterSlice { p, g, i, range in
            let buf = bufs?[i].pointer
            for j in range {
                var d = g[j] + wd * p[j]
                if let buf {
                    buf[j] = first ? d : mu * buf[j] + (1 - damp) * d
                    d = nesterov ? d + mu * buf[j] : buf[j]
                }
                p[j] -= lr * d
            }
        }
        stepCount += 1
    }
}

/// Adam (coupled L2 weight decay) or AdamW (decoupled weight decay) with PyTorch's semantics and
/// defaults: betas (0.9, 0.999), eps 1e-8 outside the bias-corrected square root; weight decay 0
/// for Adam and 0.01 for AdamW.
public final class Adam: OptimizerBase, Optimizer {
    public var beta1: Float, beta2: Float, eps: Float, weightDecay: Float
    public let decoupledWeightDecay: Bool

    public init(_ parameters: [Tensor], learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
                eps: Float = 1e-8, weightDecay: Float = 0, decoupledWeightDecay: Bool = false) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
        self.decoupledWeightDecay = decoupledWeightDecay
        super.init(parameters, learningRate: learningRate, bufferNames: ["exp_avg", "exp_avg_sq"])
    }

    /// AdamW: Adam with decoupled weight decay (PyTorch `torch.optim.AdamW`).
    public static func adamW(_ parameters: [Tensor], learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
                             eps: Float = 1e-8, weightDecay: Float = 0.01) -> Adam {
        Adam(parameters, learningRate: learningRate, beta1: beta1, beta2: beta2, eps: eps, weightDecay: weightDecay,
             decoupledWeightDecay: true)
    }

    public func step() {
        stepCount += 1
        let t = Float(stepCount)
        let b1 = beta1, b2 = beta2, lr = learningRate, wd = weightDecay, e = eps, decoupled = decoupledWeightDecay
        let stepSize = lr / (1 - Foundation.pow(b1, t))
        let bc2Sqrt = (1 - Foundation.pow(b2, t)).squareRoot()
        let m = buffers["exp_avg"]!, v = buffers["exp_avg_sq"]!
        // Eight lanes at a time, explicitly: the compiler would not vectorise this loop itself
        // (four pointers it cannot prove distinct). The tail is a partial vector: zero lanes stay
        // finite (0 / eps) and are not stored.
        let decay: Float = decoupled ? 1 - lr * wd : 1, coupledDecay: Float = decoupled ? 0 : wd
        forEachParameterSlice { p, g, i, range in
            let mp = m[i].pointer, vp = v[i].pointer, end = range.upperBound
            for j in stride(from: range.lowerBound, to: end, by: 8) {
                let full = j + 8 <= end
                func load(_ x: UnsafeMutablePointer<Float>) -> SIMD8<Float> {
                    full ? Kernels.load8(x, j) : Kernels.loadTail(x, j, end, fill: 0)
                }
                func store(_ value: SIMD8<Float>, _ x: UnsafeMutablePointer<Float>) {
                    if full { Kernels.store8(value, x, j) } else { Kernels.storeTail(value, x, j, end) }
                }
                var grad = load(g), param = load(p)
                if decoupled { param *= decay } else { grad += coupledDecay * param }
                let mj = b1 * load(mp) + (1 - b1) * grad
                let vj = b2 * load(vp) + (1 - b2) * grad * grad
                param -= stepSize * mj / (vj.squareRoot() / bc2Sqrt + e)
                store(mj, mp)
                store(vj, vp)
                store(param, p)
            }
        }
    }
}

/// RMSprop with PyTorch's semantics and defaults (lr 0.01, alpha 0.99, eps 1e-8, no momentum,
/// not centred); the paper's DPO runs used it.
public final class RMSprop: OptimizerBase, Optimizer {
    public var alpha: Float, eps: Float, weightDecay: Float, momentum: Float
    public let centered: Bool

    public init(_ parameters: [Tensor], learningRate: Float = 0.01, alpha: Float = 0.99, eps: Float = 1e-8,
                weightDecay: Float = 0, momentum: Float = 0, centered: Bool = false) {
        self.alpha = alpha
        self.eps = eps
        self.weightDecay = weightDecay
        self.momentum = momentum
        self.centered = centered
        var names = ["square_avg"]
        if momentum > 0 { names.append("momentum_buffer") }
        if centered { names.append("grad_avg") }
        super.init(parameters, learningRate: learningRate, bufferNames: names)
    }

    public func step() {
        stepCount += 1
        let a = alpha, e = eps, wd = weightDecay, mu = momentum, lr = learningRate
        let sq = buffers["square_avg"]!, mom = buffers["momentum_buffer"], ga = buffers["grad_avg"]
        forEachParameterSlice { p, g, i, range in
            let s = sq[i].pointer, b = mom?[i].pointer, gavg = ga?[i].pointer
            for j in range {
                let grad = g[j] + wd * p[j]
                s[j] = a * s[j] + (1 - a) * grad * grad
                var avg: Float
                if let gavg {
                    gavg[j] = a * gavg[j] + (1 - a) * grad
                    avg = (s[j] - gavg[j] * gavg[j]).squareRoot() + e
                } else {
                    avg = s[j].squareRoot() + e
                }
                if let b {
                    b[j] = mu * b[j] + grad / avg
                    p[j] -= lr * b[j]
                } else {
                    p[j] -= lr * grad / avg
                }
            }
        }
    }
}
