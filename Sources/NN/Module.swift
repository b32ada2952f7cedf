import TensorCore
/// Base class of neural-network layers, in the spirit of PyTorch `nn.Module` and mlx-swift.
///
/// Parameters are found by reflection: every stored `Tensor` (or `Tensor?`) property is a
/// parameter, every `Module` (or `[Module]`) property a child. Each parameter has a stable dotted
/// name made of property names and array indices (`h.0.attn.c_attn.weight`); a subclass can rename
/// its properties' keys with `parameterKeys`.
open class Module {
    public private(set) var isTraining = true

    public init() {}

    /// Property name -> key used in parameter names (for matching other frameworks' names).
    open var parameterKeys: [String: String] { [:] }

    /// Parameters with their dotted names, in declaration order.
    public final func namedParameters() -> [(name: String, tensor: Tensor)] {
        var out: [(String, Tensor)] = []
        visit(prefix: "") { name, value in
            if let t = value as? Tensor { out.append((name, t)) }
        }
        return out
    }

    public final func parameters() -> [Tensor] { namedParameters().map(\.tensor) }

    /// Parameters that currently require gradients.
    public final func trainableParameters() -> [Tensor] { parameters().filter(\.requiresGrad) }

    /// Number of scalars in all parameters.
    public final var parameterCount: Int { parameters().reduce(0) { $0 + $1.count } }

    /// Direct and indirect submodules with their dotted names (this module is "").
    public final func namedModules() -> [(name: String, module: Module)] {
        var out: [(String, Module)] = [("", self)]
        visit(prefix: "") { name, value in
            if let m = value as? Module { out.append((name, m)) }
        }
        return out
    }

    /// Switches this module and all submodules to training (dropout active) or evaluation mode.
    public final func train(_ on: Bool = true) {
        for (_, m) in namedModules() { m.isTraining = on }
    }

    public final func eval() { train(false) }

    /// Stops gradients for every parameter (a frozen reference model).
    public final func freeze() { for p in parameters() { p.requiringGrad(false) } }
    public final func unfreeze() { for p in parameters() { p.requiringGrad(true) } }

    /// Clears every parameter's gradient.
    public final func zeroGrad() { for p in parameters() { p.zeroGrad() } }

    /// Copies parameter values from a module with the same parameter names and shapes. With
    /// `skippingMissing`, parameters the source lacks (a new head, say) keep their values; the names
    /// copied are returned.
    @discardableResult
    public final func copyParameters(from other: Module, skippingMissing: Bool = false) -> [String] {
        let source = Dictionary(uniqueKeysWithValues: other.namedParameters().map { ($0.name, $0.tensor) })
        var copied: [String] = []
        for (name, p) in namedParameters() {
            guard let s = source[name] else {
                if skippingMissing { continue }
                preconditionFailure("copyParameters: source has no parameter '\(name)'")
            }
            copied.append(name)
            precondition(s.shape == p.shape, "copyParameters: '\(name)' has shape \(s.shape) in the source, \(p.shape) here")
            withNoGrad { p.assign(s) }
        }
        return copied
    }

    /// States of every random generator inside the module (its dropout layers), by module name.
    public final var randomState: [String: [UInt64]] {
        get {
            var out: [String: [UInt64]] = [:]
            for (name, m) in namedModules() { if let d = m as? Dropout { out[name] = d.generator.state } }
            return out
        }
        set {
            for (name, m) in namedModules() {
                if let d = m as? Dropout, let state = newValue[name] { d.generator = RandomGenerator(state: state) }
            }
        }
    }

    /// Walks stored properties of this module (and its superclasses up to `Module`), calling
    /// `body` with the dotted name of each tensor and submodule, recursing into submodules.
    private func visit(prefix: String, _ body: (String, Any) -> Void) {
        var mirror: Mirror? = Mirror(reflecting: self)
        var chain: [Mirror] = []
        while let m = mirror, m.subjectType != Module.self {
            chain.append(m)
            mirror = m.superclassMirror
        }
        let keys = parameterKeys
        for m in chain.reversed() {
            for child in m.children {
                guard let label = child.label else { continue }
                let name = prefix + (keys[label] ?? label)
                visitValue(name, child.value, body)
            }
        }
    }

    private func visitValue(_ name: String, _ value: Any, _ body: (String, Any) -> Void) {
        if let t = value as? Tensor {
            body(name, t)
        } else if let m = value as? Module {
            body(name, m)
            m.visit(prefix: name + ".", body)
        } else if let list = value as? [Module] {
            for (i, m) in list.enumerated() { visitValue("\(name).\(i)", m, body) }
        } else if let list = value as? [Tensor] {
            for (i, t) in list.enumerated() { body("\(name).\(i)", t) }
        }
    }
}
