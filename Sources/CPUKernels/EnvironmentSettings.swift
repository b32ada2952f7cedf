import Foundation

/// The environment variables TensorCore reads at start-up. Each one is read where it acts (and an
/// unreadable value falls back to the default there); programs call `check()` first, so that a
/// mistyped value is an error naming the variable instead of a silent default.
public enum EnvironmentSettings {
    /// Every TENSORCORE_ variable this library reads, with the values it accepts.
    public static let variables: [(name: String, allowed: String, accepts: @Sendable (String) -> Bool)] = [
        ("TENSORCORE_NUM_THREADS", "an integer in 1...4096", { Int($0).map { (1...4096).contains($0) } ?? false }),
        ("TENSORCORE_KERNELS", "auto, portable or off", { NativeKernels.Mode(rawValue: $0) != nil }),
        ("TENSORCORE_GEMM", "split or blas", { $0 == "split" || $0 == "blas" }),
    ]

    /// Throws for the first variable that is set to a value it does not accept.
    public static func check(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        for variable in variables {
            if let value = environment[variable.name], !variable.accepts(value) {
                throw EnvironmentError(description: "environment variable \(variable.name)=\(value): must be \(variable.allowed)")
            }
        }
    }
}

/// An environment variable set to a value the library does not accept.
public struct EnvironmentError: Error, CustomStringConvertible, Sendable {
    public let description: String
}
