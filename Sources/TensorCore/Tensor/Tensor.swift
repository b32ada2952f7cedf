/// An N-dimensional, row-major, strided Float32 array that records the operations applied to it
/// so that `backward()` can compute gradients (reverse-mode autograd, define-by-run).
///
/// A `Tensor` is a reference: views (`reshape`, `transposed`, `slice`, `expand`, ...) share the
/// storage of their base, and `grad` accumulates into the leaf a user created with
/// `requiresGrad: true`.
public final class Tensor {
    public let shape: [Int]
    public let strides: [Int]
    /// Element offset of this view into `storage`.
    public let offset: Int
    let storage: TensorStorage

    /// Whether gradients flow to (or through) this tensor.
    public internal(set) var requiresGrad: Bool
    /// Accumulated gradient of a leaf after `backward()`; `nil` until then or after `zeroGrad()`.
    public internal(set) var grad: Tensor?
    /// The operation that produced this tensor, when it is part of a graph.
    var gradFn: Node?

    init(storage: TensorStorage, shape: [Int], strides: [Int], offset: Int, requiresGrad: Bool = false) {
        self.storage = storage
        self.shape = shape
        self.strides = strides
        self.offset = offset
        self.requiresGrad = requiresGrad
    }

    /// Contiguous uninitialised tensor (internal: every caller writes all elements).
    init(uninitializedShape shape: [Int]) {
        let n = Shape.count(shape)
        self.storage = TensorStorage(uninitializedCount: n)
        self.shape = shape
        self.strides = Shape.contiguousStrides(shape)
        self.offset = 0
        self.requiresGrad = false
    }

    /// A tensor with the given values in row-major order.
    public convenience init(_ values: [Float], shape: [Int], requiresGrad: Bool = false) {
        precondition(values.count == Shape.count(shape),
                     "Tensor(_:shape:): \(values.count) values do not fill shape \(shape)")
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor(_:shape:): negative dimension in \(shape)")
        self.init(uninitializedShape: shape)
        values.withUnsafeBufferPointer { src in
            if let b = src.baseAddress { storage.base.update(from: b, count: values.count) }
        }
        self.requiresGrad = requiresGrad
    }

    /// A 1-D tensor of `values`.
    public convenience init(_ values: [Float], requiresGrad: Bool = false) {
        self.init(values, shape: [values.count], requiresGrad: requiresGrad)
    }

    /// A 0-D (scalar) tensor.
    public convenience init(scalar: Float, requiresGrad: Bool = false) {
        self.init([scalar], shape: [], requiresGrad: requiresGrad)
    }

    public static func zeros(_ shape: [Int], requiresGrad: Bool = false) -> Tensor {
        let n = Shape.count(shape)
        return Tensor(storage: TensorStorage(zeroedCount: n), shape: shape,
                      strides: Shape.contiguousStrides(shape), offset: 0, requiresGrad: requiresGrad)
    }

    public static func full(_ shape: [Int], _ value: Float, requiresGrad: Bool = false) -> Tensor {
        let t = Tensor(uninitializedShape: shape)
        t.storage.base.update(repeating: value, count: t.count)
        t.requiresGrad = requiresGrad
        return t
    }

    public static func ones(_ shape: [Int], requiresGrad: Bool = false) -> Tensor {
        full(shape, 1, requiresGrad: requiresGrad)
    }

    /// 0, 1, ..., n-1 as floats.
    public static func arange(_ n: Int) -> Tensor {
        let t = Tensor(uninitializedShape: [n])
        for i in 0..<n { t.storage.base[i] = Float(i) }
        return t
    }

    public var rank: Int { shape.count }
    public var count: Int { Shape.count(shape) }
    public var isContiguous: Bool { Shape.isContiguous(shape: shape, strides: strides) }
    public var isLeaf: Bool { gradFn == nil }

    /// Pointer to element [0, 0, ...] of this view, for kernels. Valid only while the tensor lives:
    /// public code reaches the data through the scoped accessors below instead.
    package var pointer: UnsafeMutablePointer<Float> { storage.base + offset }

    /// Whether this tensor and `other` are views of one buffer.
    public func sharesStorage(with other: Tensor) -> Bool { storage === other.storage }

    /// Calls `body` with the elements in row-major order: the tensor's own buffer when it is
    /// contiguous, else a contiguous copy. The buffer is valid only inside `body`.
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        let c = contiguousData()
        return try withExtendedLifetime(c) { try body(UnsafeBufferPointer(start: c.pointer, count: c.count)) }
    }

    /// Calls `body` with this contiguous tensor's own elements to write in place, outside autograd
    /// (as PyTorch's `.data`): every view of the buffer sees the writes. Valid only inside `body`.
    public func withUnsafeMutableBufferPointer<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        precondition(isContiguous, "withUnsafeMutableBufferPointer: shape \(shape) with strides \(strides) is not contiguous")
        return try withExtendedLifetime(self) { try body(UnsafeMutableBufferPointer(start: pointer, count: count)) }
    }

    /// Elements in row-major order of this view (copies).
    public var scalars: [Float] {
        let c = contiguousData()
        return Array(UnsafeBufferPointer(start: c.pointer, count: c.count))
    }

    /// The single value of a one-element tensor.
    public var item: Float {
        precondition(count == 1, "item: tensor of shape \(shape) has \(count) elements, not 1")
        return pointer.pointee
    }

    public subscript(_ index: Int...) -> Float {
        precondition(index.count == rank, "subscript: \(index.count) indices for shape \(shape)")
        var o = offset
        for (d, i) in index.enumerated() {
            precondition(i >= 0 && i < shape[d], "subscript: index \(i) out of range for dim \(d) of \(shape)")
            o += i * strides[d]
        }
        return storage.base[o]
    }

    /// Marks a leaf as requiring gradients (PyTorch `requires_grad_()`).
    @discardableResult
    public func requiringGrad(_ flag: Bool = true) -> Tensor {
        precondition(isLeaf, "requiringGrad: only leaf tensors can change requiresGrad")
        requiresGrad = flag
        return self
    }

    /// Clears the accumulated gradient.
    public func zeroGrad() { grad = nil }

    /// Sets or replaces the gradient (optimizers and gradient clipping use this).
    public func setGrad(_ g: Tensor?) {
        if let g { precondition(g.shape == shape, "setGrad: gradient shape \(g.shape) does not match tensor shape \(shape)") }
        grad = g
    }

    /// A tensor that shares this one's data but is cut from the graph.
    public func detach() -> Tensor {
        Tensor(storage: storage, shape: shape, strides: strides, offset: offset)
    }

    /// Contiguous data without recording a graph node (kernels' helper).
    package func contiguousData() -> Tensor {
        if isContiguous { return self }
        let out = Tensor(uninitializedShape: shape)
        Kernels.copy(from: self, to: out.pointer)
        return out
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let values = scalars
        let shown = values.prefix(16).map { String(format: "%.4g", $0) }.joined(separator: ", ")
        return "Tensor(shape: \(shape), [\(shown)\(values.count > 16 ? ", ..." : "")])"
    }
}

import Foundation
