import NN
import TestSupport
import XCTest

final class OptimizerThreadingTests: ThreadSettingsTestCase {
    /// The optimizers run one parallel loop over all parameters end to end: shares that start or end
    /// inside a tensor, tiny tensors and a parameter without a gradient must give the serial result.
    func testOptimizerStepsIndependentOfThreads() {
        func run(threads: Int, _ make: ([Tensor]) -> Optimizer) -> [[Float]] {
            Threading.threadCount = threads
            Threading.grainSize = 1 << 10
            var g = RandomGenerator(seed: 5)
            let params = [[3000], [7], [50, 41], [1], [2500]].map { Tensor.normal($0, generator: &g).requiringGrad() }
            let optimizer = make(params)
            for _ in 0..<3 {
                optimizer.zeroGrad()
                // Random gradients for all but parameter 3, which is left without one.
                let terms = params.enumerated().filter { $0.offset != 3 }.map { ($1 * Tensor.normal($1.shape, generator: &g)).sum() }
                terms.dropFirst().reduce(terms[0], +).backward()
                optimizer.step()
            }
            return params.map(\.scalars)
        }
        let makers: [([Tensor]) -> Optimizer] = [
            { Adam.adamW($0, learningRate: 0.01) }, { Adam($0, learningRate: 0.01, weightDecay: 0.1) },
            { RMSprop($0, learningRate: 0.01, momentum: 0.9, centered: true) },
        ]
        for make in makers { XCTAssertEqual(run(threads: 3, make), run(threads: 1, make)) }
    }
}
