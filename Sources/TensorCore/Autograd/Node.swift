/// One recorded operation: where its inputs' gradients go and the rule that computes them.
///
/// A node refers to the nodes (or leaf tensors) upstream, never to intermediate tensors, so an
/// activation's buffer lives only as long as some backward rule captured it.
final class Node {
    enum Target {
        case leaf(Tensor)
        case node(Node)
    }

    let op: String
    /// One entry per input, in the order `backward` returns gradients; nil for inputs that need none.
    var targets: [Target?]
    let inputShapes: [[Int]]
    /// Maps the output gradient to one gradient (or nil) per input. Released after use.
    var backward: ((Tensor) -> [Tensor?])?

    init(op: String, inputs: [Tensor], backward: @escaping (Tensor) -> [Tensor?]) {
        self.op = op
        self.targets = inputs.map { t in
            guard t.requiresGrad else { return nil }
            if let n = t.gradFn { return .node(n) }
            return .leaf(t)
        }
        self.inputShapes = inputs.map(\.shape)
        self.backward = backward
    }

    /// Releases upstream nodes iteratively: a graph dropped without `backward()` (evaluation with
    /// grad mode on, a long unrolled loop) would otherwise free one node per stack frame.
    deinit {
        var pending: [Node] = []
        for case .node(let n)? in targets { pending.append(n) }
        targets = []
        backward = nil
        while var node = pending.popLast() {
            // Nodes still referenced elsewhere are released later by their other owner.
            guard isKnownUniquelyReferenced(&node) else { continue }
            for case .node(let n)? in node.targets { pending.append(n) }
            node.targets = []
            node.backward = nil
        }
    }
}

/// Whether operations record a graph on this thread. Off inside `withNoGrad` and while
/// `backward()` runs.
public enum GradMode {
    static var enabled: Bool {
        get { AutogradThreadState.current.gradEnabled }
        set { AutogradThreadState.current.gradEnabled = newValue }
    }
    public static var isEnabled: Bool { enabled }
}

/// Runs `body` without recording a graph (inference, frozen reference models, optimizer updates).
/// Affects only the calling thread.
@discardableResult
public func withNoGrad<R>(_ body: () throws -> R) rethrows -> R {
    let state = AutogradThreadState.current
    let previous = state.gradEnabled
    state.gradEnabled = false
    defer { state.gradEnabled = previous }
    return try body()
}

extension Tensor {
    /// Attaches `backward` to `self` (a fresh op output) when grad mode is on and an input needs it.
    /// Each op calls this once, right after computing its forward value.
    @inline(__always)
    func recording(_ op: String, _ inputs: [Tensor], _ backward: @escaping (Tensor) -> [Tensor?]) -> Tensor {
        let state = AutogradThreadState.current
        if state.anomalyEnabled && !state.inBackward { Anomaly.check(self, op: op, phase: "forward") }
        guard state.gradEnabled, inputs.contains(where: { $0.requiresGrad }) else { return self }
        // The node hangs off a fresh handle on the same data. Rules that saved `self` (exp, tanh,
        // softmax keep their output) then hold no reference back to their own node: otherwise
        // output -> node -> rule -> output is a cycle, and a graph dropped without backward() leaks.
        let out = Tensor(storage: storage, shape: shape, strides: strides, offset: offset, requiresGrad: true)
        out.gradFn = Node(op: op, inputs: inputs, backward: backward)
        return out
    }
}
