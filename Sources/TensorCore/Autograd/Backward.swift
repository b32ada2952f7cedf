extension Tensor {
    /// Reverse-mode differentiation from this tensor. With no `gradient`, the tensor must hold one
    /// element and is seeded with 1. Gradients accumulate into `grad` of every leaf that requires
    /// them; the graph's saved tensors are released afterwards.
    public func backward(_ gradient: Tensor? = nil) {
        precondition(requiresGrad, "backward: tensor of shape \(shape) does not require grad (no input had requiresGrad)")
        let seed: Tensor
        if let gradient {
            precondition(gradient.shape == shape, "backward: gradient shape \(gradient.shape) does not match tensor shape \(shape)")
            seed = gradient
        } else {
            precondition(count == 1, "backward: implicit gradient needs a one-element tensor, got shape \(shape)")
            seed = Tensor.ones(shape)
        }
        let wasInBackward = Anomaly.inBackward
        Anomaly.inBackward = true
        defer { Anomaly.inBackward = wasInBackward }
        withNoGrad {
            guard let root = gradFn else {
                accumulateGrad(seed)
                return
            }
            var grads: [ObjectIdentifier: Tensor] = [ObjectIdentifier(root): seed]
            for node in Tensor.topologicalOrder(from: root).reversed() {
                guard let g = grads.removeValue(forKey: ObjectIdentifier(node)) else { continue }
                guard let rule = node.backward else {
                    preconditionFailure("backward: the graph through '\(node.op)' was already released by an earlier backward()")
                }
                let inputGrads = rule(g)
                precondition(inputGrads.count == node.targets.count,
                             "backward: '\(node.op)' returned \(inputGrads.count) gradients for \(node.targets.count) inputs")
                for i in node.targets.indices {
                    guard let target = node.targets[i], let ig = inputGrads[i] else { continue }
                    precondition(ig.shape == node.inputShapes[i],
                                 "backward: '\(node.op)' produced gradient \(ig.shape) for input \(node.inputShapes[i])")
                    if Anomaly.enabled { Anomaly.check(ig, op: node.op, phase: "backward") }
                    switch target {
                    case .leaf(let leaf):
                        leaf.accumulateGrad(ig)
                    case .node(let upstream):
                        let key = ObjectIdentifier(upstream)
                        if let existing = grads[key] {
                            grads[key] = Kernels.zip(existing, ig, op: "backward", AddKernel.self)
                        } else {
                            grads[key] = ig
                        }
                    }
                }
                node.backward = nil
                node.targets = []
            }
        }
    }

    /// The first gradient is copied so the leaf owns its buffer (a backward rule may hand the same
    /// tensor to several inputs); later ones are added in place, as PyTorch does.
    private func accumulateGrad(_ g: Tensor) {
        if let existing = grad {
            Kernels.accumulate(g, into: existing)
        } else {
            let owned = Tensor(uninitializedShape: shape)
            Kernels.copy(from: g, to: owned.pointer)
            grad = owned
        }
    }

    /// Nodes reachable from `root`, each after every node upstream of it.
    private static func topologicalOrder(from root: Node) -> [Node] {
        var order: [Node] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Node, Bool)] = [(root, false)]
        while let (node, expanded) = stack.popLast() {
            if expanded { order.append(node); continue }
            guard visited.insert(ObjectIdentifier(node)).inserted else { continue }
            stack.append((node, true))
            for case .node(let upstream)? in node.targets where !visited.contains(ObjectIdentifier(upstream)) {
                stack.append((upstream, false))
            }
        }
        return order
    }
}
