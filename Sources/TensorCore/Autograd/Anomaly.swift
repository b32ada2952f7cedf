/// Opt-in detection of the first NaN or Inf produced by a forward op or a backward rule.
public enum Anomaly {
    nonisolated(unsafe) static var enabled = false
    nonisolated(unsafe) static var first: AnomalyError?

    static func check(_ t: Tensor, op: String, phase: String) {
        guard first == nil else { return }
        let c = t.contiguousData()
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
    let previous = Anomaly.enabled
    Anomaly.enabled = true
    Anomaly.first = nil
    defer { Anomaly.enabled = previous }
    let result = try body()
    if let error = Anomaly.first {
        Anomaly.first = nil
        throw error
    }
    return result
}
