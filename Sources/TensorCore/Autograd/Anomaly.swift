/// Opt-in detection of the first NaN or Inf produced by a forward op or a backward rule.
/// Per thread, like grad mode.
public enum Anomaly {
    static var enabled: Bool {
        get { AutogradThreadState.current.anomalyEnabled }
        set { AutogradThreadState.current.anomalyEnabled = newValue }
    }
    static var first: AnomalyError? {
        get { AutogradThreadState.current.firstAnomaly }
        set { AutogradThreadState.current.firstAnomaly = newValue }
    }
    /// True while `backward()` runs: ops that backward rules call internally (reshape, expand, ...)
    /// are not forward ops of the user's graph, and their outputs are checked as the rule's result.
    static var inBackward: Bool {
        get { AutogradThreadState.current.inBackward }
        set { AutogradThreadState.current.inBackward = newValue }
    }

    static func check(_ t: Tensor, op: String, phase: String) {
        guard first == nil else { return }
        let c = t.contiguousData()
        defer { withExtendedLifetime(c) {} }
        let p = c.pointer
        for i in 0..<c.count where !p[i].isFinite {
            first = AnomalyError(op: op, phase: phase, shape: t.shape, index: i, value: p[i])
            return
        }
    }
}

/// The first non-finite value seen under `withAnomalyDetection`.
public struct AnomalyError: Error, CustomStringConvertible, Equatable {
    /// Name of the op whose forward output (or whose backward rule's input gradient) was non-finite.
    public let op: String
    /// "forward" or "backward".
    public let phase: String
    public let shape: [Int]
    /// Row-major index of the first bad element.
    public let index: Int
    public let value: Float

    public var description: String {
        "anomaly: \(phase) of '\(op)' produced \(value) at flat index \(index) of a tensor of shape \(shape)"
    }
}

/// Runs `body` checking every op's output and every gradient for NaN/Inf, and throws the first one
/// found (naming the op and phase) once `body` returns. Slow: meant for debugging.
public func withAnomalyDetection<R>(_ body: () throws -> R) throws -> R {
    // A nested block reports only what happens inside it; the enclosing block's first anomaly
    // (if any) is kept for the enclosing block to throw.
    let previous = Anomaly.enabled, enclosingFirst = Anomaly.first
    Anomaly.enabled = true
    Anomaly.first = nil
    defer {
        Anomaly.enabled = previous
        Anomaly.first = enclosingFirst
    }
    let result = try body()
    if let error = Anomaly.first { throw error }
    return result
}
