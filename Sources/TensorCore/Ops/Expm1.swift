import Foundation

extension Tensor {
    /// exp(x) - 1 (PyTorch `expm1`), accurate near 0 where exp(x) rounds to 1 in float32.
    /// log(-expm1(x)) is log(1 - exp(x)) without that cancellation.
    public func expm1() -> Tensor {
        let y = Kernels.map(self) { Foundation.expm1($0) }
        return y.recording("expm1", [self]) { g in [Kernels.zip(g, y, op: "expm1") { $0 * ($1 + 1) }] }
    }
}
