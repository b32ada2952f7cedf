import TensorCore
import Foundation

/// y = x Wᵀ + b with weight [out, in] (PyTorch `nn.Linear`, same default initialisation:
/// uniform(-1/sqrt(in), 1/sqrt(in)) for weight and bias).
public final class Linear: Module {
    public let weight: Tensor
    public let bias: Tensor?

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, generator: inout RandomGenerator) {
        let bound = 1 / Float(max(inFeatures, 1)).squareRoot()
        weight = Tensor.uniform([outFeatures, inFeatures], low: -bound, high: bound, generator: &generator, requiresGrad: true)
        self.bias = bias ? Tensor.uniform([outFeatures], low: -bound, high: bound, generator: &generator, requiresGrad: true) : nil
    }

    public init(weight: Tensor, bias: Tensor?) {
        self.weight = weight
        self.bias = bias
    }

    /// A LoRA adapter whose output is added to this layer's while enabled (see LoRA/); nil for a plain layer.
    public internal(set) var lora: LoRAAdapter?

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let y = linear(x, weight: weight, bias: bias)
        guard let lora, lora.isEnabled else { return y }
        return y + lora(x)
    }
}

/// A lookup table [count, dim] (PyTorch `nn.Embedding`, initialised N(0, 1) unless given `std`).
public final class Embedding: Module {
    public let weight: Tensor

    public init(_ count: Int, _ dim: Int, std: Float = 1, generator: inout RandomGenerator) {
        weight = Tensor.normal([count, dim], std: std, generator: &generator, requiresGrad: true)
    }

    /// Rows for `ids`, shaped `shape + [dim]` (default `[ids.count]`).
    public func callAsFunction(_ ids: [Int], shape: [Int]? = nil) -> Tensor {
        for id in ids { precondition(id >= 0 && id < weight.shape[0], "Embedding: id \(id) outside 0..<\(weight.shape[0])") }
        return embedding(weight, ids: ids, shape: shape)
    }

    /// Rows for `ids`, shaped `ids.shape + [dim]`.
    public func callAsFunction(_ ids: IndexTensor) -> Tensor { self(ids.scalars, shape: ids.shape) }
}

/// Layer normalisation over the last dimension with learned scale (1) and shift (0).
public final class LayerNorm: Module {
    public let weight: Tensor
    public let bias: Tensor?
    public let eps: Float

    public init(_ dim: Int, eps: Float = 1e-5, bias: Bool = true) {
        weight = Tensor.ones([dim], requiresGrad: true)
        self.bias = bias ? Tensor.zeros([dim], requiresGrad: true) : nil
        self.eps = eps
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { layerNorm(x, weight: weight, bias: bias, eps: eps) }
}

/// Root-mean-square normalisation over the last dimension: x / sqrt(mean(x²) + eps) * weight.
public final class RMSNorm: Module {
    public let weight: Tensor
    public let eps: Float

    public init(_ dim: Int, eps: Float = 1e-6) {
        weight = Tensor.ones([dim], requiresGrad: true)
        self.eps = eps
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        x * ((x * x).mean(axis: -1, keepDims: true) + eps).pow(-0.5) * weight
    }
}

/// Zeroes each element with probability `p` in training mode and scales the rest by 1/(1-p);
/// the identity in evaluation mode or when p = 0. Seeded, so runs repeat exactly.
public final class Dropout: Module {
    public let p: Float
    public var generator: RandomGenerator

    public init(_ p: Float, seed: UInt64 = 0) {
        precondition(p >= 0 && p < 1, "Dropout: p = \(p) must lie in [0, 1)")
        self.p = p
        generator = RandomGenerator(seed: seed)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        guard isTraining && p > 0 else { return x }
        let keep = Tensor.uniform(x.shape, generator: &generator).ge(p)
        return x * (keep * (1 / (1 - p)))
    }
}

/// Activation functions as modules.
public final class Activation: Module {
    public enum Kind: String, Sendable { case relu, gelu, geluTanh, silu, tanh, sigmoid }
    public let kind: Kind
    public init(_ kind: Kind) { self.kind = kind }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        switch kind {
        case .relu: return x.relu()
        case .gelu: return x.gelu()
        case .geluTanh: return x.gelu(approximate: .tanh)
        case .silu: return x.silu()
        case .tanh: return x.tanh()
        case .sigmoid: return x.sigmoid()
        }
    }
}
