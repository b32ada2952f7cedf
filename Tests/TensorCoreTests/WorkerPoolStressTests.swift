import Foundation
import TensorCore
import XCTest

/// The worker pool under the pattern that once broke it: thousands of small regions back to back
/// whose chunk counts change call to call, some started just after the workers went to sleep, at
/// 3-8 threads (more threads than this machine's cores, as on users' machines). Each chunk adds
/// into its output, so a chunk run twice doubles values and a chunk skipped leaves zeros; a lost
/// wake-up hangs, which the watchdog turns into a failure instead of a stuck test run.
final class WorkerPoolStressTests: ThreadSettingsTestCase {
    /// Hands a closure and a failure count to the watchdog's thread.
    private final class Work: @unchecked Sendable {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    private final class Count: @unchecked Sendable {
        var value = 0
    }

    /// Runs `body` on another thread and fails if it has not finished within `seconds`.
    private func withWatchdog(seconds: Double, _ what: String, _ body: @escaping () -> Void) {
        let done = DispatchSemaphore(value: 0)
        let work = Work(body)
        let thread = Thread {
            work.body()
            done.signal()
        }
        thread.stackSize = 8 << 20
        thread.start()
        if done.wait(timeout: .now() + seconds) == .timedOut {
            XCTFail("\(what): still running after \(seconds) s (a lost wake-up or a stalled join)")
        }
    }

    func testVaryingRegionsRunEveryChunkOnce() {
        for threads in [3, 4, 5, 8] {
            Threading.threadCount = threads
            let failures = Count()
            withWatchdog(seconds: 240, "\(threads) threads") {
                var seed: UInt64 = 0x5EED &+ UInt64(threads)
                func next(_ n: Int) -> Int {
                    seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                    return Int((seed >> 33) % UInt64(n))
                }
                let capacity = threads + 1
                let out = UnsafeMutableBufferPointer<Int>.allocate(capacity: capacity)
                out.initialize(repeating: 0)
                defer { out.deallocate() }
                for region in 0..<20_000 {
                    // Pauses long enough for the workers to stop spinning and sleep.
                    if region % 499 == 498 { usleep(UInt32(500 + next(4_000))) }
                    if region % 5_000 == 4_999 { usleep(20_000) }
                    let count = 1 + next(capacity)
                    Threading.parallelFor(count, costPerItem: Threading.grainSize) { r in
                        for i in r { out[i] &+= i &+ 1 }
                    }
                    for i in 0..<capacity {
                        if out[i] != (i < count ? i + 1 : 0) { failures.value += 1 }
                        out[i] = 0
                    }
                }
            }
            XCTAssertEqual(failures.value, 0, "\(threads) threads: outputs with a chunk run twice or not at all")
        }
    }

    /// A training step's forward and backward (per-head attention GEMMs, batched products, GELU,
    /// layer norm, row reductions) at 3-8 threads must give the single-thread loss and gradients.
    func testGPTStepMatchesOneThread() {
        let config = GPTConfig(vocabSize: 40, contextLength: 24, dModel: 32, layers: 2, heads: 4)
        let model = GPT(config, seed: 3)
        var g = RandomGenerator(seed: 4)
        let ids = (0..<(3 * 24)).map { _ in Int(g.next() % 40) }
        let targets = ids.dropFirst().map { $0 } + [0]
        Threading.grainSize = 1 << 8  // small regions, so even this tiny model fans out
        func step() -> [[Float]] {
            model.zeroGrad()
            let loss = crossEntropy(logits: model(ids, batch: 3).reshaped([-1, 40]), targets: targets)
            loss.backward()
            return [[loss.item]] + model.parameters().map { $0.grad?.scalars ?? [] }
        }
        Threading.threadCount = 1
        let serial = step()
        for threads in [3, 5, 8] {
            Threading.threadCount = threads
            withWatchdog(seconds: 180, "\(threads) threads") {
                for round in 0..<40 {
                    if round % 10 == 9 { usleep(3_000) }
                    if step() != serial { XCTFail("\(threads) threads, round \(round): differs from one thread"); return }
                }
            }
        }
    }
}
