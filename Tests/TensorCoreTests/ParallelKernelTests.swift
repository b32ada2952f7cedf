import TestSupport
import XCTest
import TensorCore

/// Runs the ops with a tiny grain size, so their loops split across threads even on small tensors,
/// and checks that they give exactly what the single-threaded path gives (values and gradients).
final class ParallelKernelTests: XCTestCase {
    var savedGrain = 0
    var savedThreads = 0

    override func setUp() {
        savedGrain = Threading.grainSize
        savedThreads = Threading.threadCount
        if Threading.threadCount < 2 { Threading.threadCount = 3 }
    }

    override func tearDown() {
        Threading.grainSize = savedGrain
        if Threading.threadCount != savedThreads { Threading.threadCount = savedThreads }
    }

    /// Values of `f()` and gradients of `inputs` for a weighted sum of it, with the given grain.
    func run(grain: Int, _ inputs: [Tensor], _ f: () -> Tensor) -> [[Float]] {
        Threading.grainSize = grain
        for t in inputs { t.zeroGrad() }
        let y = f()
        var g = RandomGenerator(seed: 5)
        let w = Tensor.uniform(y.shape, low: -1, high: 1, generator: &g)
        var out = [y.scalars]
        if y.requiresGrad {
            y.backward(w)
            out += inputs.map { $0.grad?.scalars ?? [] }
        }
        return out
    }

    func assertSameSerialAndParallel(_ inputs: [Tensor], file: StaticString = #filePath, line: UInt = #line, _ f: () -> Tensor) {
        let serial = run(grain: 1 << 30, inputs, f)
        let parallel = run(grain: 4, inputs, f)
        XCTAssertEqual(serial.count, parallel.count, file: file, line: line)
        for (i, (s, p)) in zip(serial, parallel).enumerated() {
            XCTAssertEqual(s.count, p.count, file: file, line: line)
            let bad = zip(s, p).enumerated().first { !($0.element.0 == $0.element.1 || ($0.element.0.isNaN && $0.element.1.isNaN)) }
            XCTAssertNil(bad, "output \(i) (0 = value, then gradients) differs at \(bad?.offset ?? -1)", file: file, line: line)
        }
    }

    func testElementwiseAndBroadcast() {
        let a = randomLeaf([7, 9, 5], seed: 1), b = awayFromZeroLeaf([9, 1], seed: 2)
        assertSameSerialAndParallel([a, b]) { a * b + a / b - b }
        assertSameSerialAndParallel([a]) { a.transposed(0, 2).gelu().contiguous() }
        assertSameSerialAndParallel([a, b]) { a.maximum(b).sigmoid() * a.slice(axis: 1, 2..<7).sum(axis: 1, keepDims: true) }
    }

    func testReductions() {
        let x = distinctLeaf([6, 11, 7], seed: 3)
        assertSameSerialAndParallel([x]) { x.sum(axes: [0, 2]) }
        assertSameSerialAndParallel([x]) { x.sum(axes: [0, 1]) }  // leading axes: column blocks
        assertSameSerialAndParallel([x]) { x.max(axis: 1) * x.min(axis: 1) }
        assertSameSerialAndParallel([x]) { x.transposed().logSumExp(axis: 0) }
        assertSameSerialAndParallel([x]) { x.mean(axis: -1, keepDims: true) * x }
    }

    func testRowWiseOps() {
        let x = randomLeaf([13, 17], seed: 4, low: -3, high: 3)
        let w = randomLeaf([17], seed: 5), bias = randomLeaf([17], seed: 6)
        assertSameSerialAndParallel([x]) { x.softmax() }
        assertSameSerialAndParallel([x]) { x.logSoftmax(axis: 0) }
        assertSameSerialAndParallel([x, w, bias]) { layerNorm(x, weight: w, bias: bias) }
        let lw = randomLeaf([5, 17], seed: 8), lb = randomLeaf([5], seed: 9)
        assertSameSerialAndParallel([x, lw, lb]) { linear(x, weight: lw, bias: lb) }
        assertSameSerialAndParallel([x]) { crossEntropy(logits: x, targets: (0..<13).map { $0 % 3 == 0 ? -100 : $0 }, reduction: .none) }
        assertSameSerialAndParallel([x]) { crossEntropy(logits: x, targets: (0..<13).map { $0 }) }
        assertSameSerialAndParallel([x]) { x.reshaped([13, 1, 17]).expanded(to: [13, 5, 17]).causalMasked(fill: -5) }
    }

    func testIndexingAndJoins() {
        let x = randomLeaf([9, 8], seed: 7)
        assertSameSerialAndParallel([x]) { x.indexSelect(axis: 0, [8, 1, 1, 3, 0, 8, 2]) }
        assertSameSerialAndParallel([x]) { embedding(x, ids: (0..<40).map { ($0 * 5) % 9 }, shape: [5, 8]) }
        assertSameSerialAndParallel([x]) { Tensor.concat([x, x.transposed().slice(axis: 0, 0..<3).transposed()], axis: 1) }
        assertSameSerialAndParallel([x]) { Tensor.stack([x, x * 2], axis: 1) }
    }
}
