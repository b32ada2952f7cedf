import Foundation
import XCTest
import TensorCore

// Shared helpers for the tests of every layer: seeded inputs that avoid kinks, a gradCheck assertion and
// closeness checks on forward values.

/// Uniform values in [low, high), a leaf that requires grad.
public func randomLeaf(_ shape: [Int], seed: UInt64, low: Float = -1, high: Float = 1) -> Tensor {
    var g = RandomGenerator(seed: seed)
    return Tensor.uniform(shape, low: low, high: high, generator: &g, requiresGrad: true)
}

/// Values with magnitude in [0.2, 1.2] and random sign: far (relative to gradCheck's step) from 0.
public func awayFromZeroLeaf(_ shape: [Int], seed: UInt64) -> Tensor {
    var g = RandomGenerator(seed: seed)
    let n = shape.reduce(1, *)
    let v: [Float] = (0..<n).map { _ in
        let m = 0.2 + g.nextUniform()
        return g.nextUniform() < 0.5 ? -m : m
    }
    return Tensor(v, shape: shape, requiresGrad: true)
}

/// Pairwise distinct values, at least 0.1 apart (a shuffled ramp centred on 0), so max/min have
/// no ties within gradCheck's step. `offset` shifts them all (e.g. 0.05 to interleave two sets).
public func distinctLeaf(_ shape: [Int], seed: UInt64, offset: Float = 0) -> Tensor {
    var g = RandomGenerator(seed: seed)
    let n = shape.reduce(1, *)
    var v: [Float] = (0..<n).map { Float($0) * 0.1 - Float(n) * 0.05 + offset }
    v.shuffle(using: &g)
    return Tensor(v, shape: shape, requiresGrad: true)
}

/// Asserts that backward agrees with finite differences for `f`.
public func assertGradCheck(_ inputs: [Tensor], eps: Float = 1e-2, atol: Double = 2e-3, rtol: Double = 2e-2,
                     seed: UInt64 = 11, file: StaticString = #filePath, line: UInt = #line,
                     _ f: ([Tensor]) -> Tensor) {
    let r = gradCheck(inputs, eps: eps, atol: atol, rtol: rtol, seed: seed, f)
    XCTAssertTrue(r.passed, r.description, file: file, line: line)
    XCTAssertEqual(r.checkedElements, inputs.reduce(0) { $0 + $1.count }, file: file, line: line)
}

/// Asserts shape and values (row-major) of `t`.
public func assertValues(_ t: Tensor, _ expected: [Float], shape: [Int]? = nil, accuracy: Float = 1e-5,
                  file: StaticString = #filePath, line: UInt = #line) {
    if let shape { XCTAssertEqual(t.shape, shape, "shape", file: file, line: line) }
    let v = t.scalars
    XCTAssertEqual(v.count, expected.count, "element count", file: file, line: line)
    for (i, (a, e)) in zip(v, expected).enumerated() {
        if e.isNaN {
            XCTAssertTrue(a.isNaN, "element \(i): \(a) is not NaN", file: file, line: line)
        } else if e.isInfinite {
            XCTAssertEqual(a, e, "element \(i)", file: file, line: line)
        } else {
            XCTAssertEqual(a, e, accuracy: accuracy * Swift.max(1, Swift.abs(e)), "element \(i) of \(v)", file: file, line: line)
        }
    }
}

/// Gradient of `leaf` after `backward()` of `f(leaf)` seeded with `seed` (ones by default).
public func gradient(of leaf: Tensor, seed: Tensor? = nil, _ f: (Tensor) -> Tensor) -> Tensor? {
    leaf.zeroGrad()
    let y = f(leaf)
    y.backward(seed ?? Tensor.ones(y.shape))
    return leaf.grad
}

/// Restores `Threading.threadCount` and `grainSize` after each test, so tests that change them
/// leave the next test the process's settings.
open class ThreadSettingsTestCase: XCTestCase {
    private var savedThreads = 1
    private var savedGrain = 1

    override open func setUp() {
        super.setUp()
        savedThreads = Threading.threadCount
        savedGrain = Threading.grainSize
    }

    override open func tearDown() {
        Threading.threadCount = savedThreads
        Threading.grainSize = savedGrain
        super.tearDown()
    }
}

private final class WatchdogWork: @unchecked Sendable {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}

/// Runs `body` on another thread and fails if it has not finished within `seconds`, so a lost
/// wake-up or a stalled join is a failure instead of a stuck test run.
public func withWatchdog(seconds: Double, _ what: String, file: StaticString = #filePath, line: UInt = #line,
                         _ body: @escaping () -> Void) {
    let done = DispatchSemaphore(value: 0)
    let work = WatchdogWork(body)
    let thread = Thread {
        work.body()
        done.signal()
    }
    thread.stackSize = 8 << 20
    thread.start()
    if done.wait(timeout: .now() + seconds) == .timedOut {
        XCTFail("\(what): still running after \(seconds) s (a lost wake-up or a stalled join)", file: file, line: line)
    }
}
