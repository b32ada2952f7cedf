import Foundation
import TensorCore
import TestSupport
import XCTest

/// The worker pool under the pattern that once broke it: thousands of small regions back to back
/// whose chunk counts change call to call, some started just after the workers went to sleep, at
/// 3-8 threads (more threads than this machine's cores, as on users' machines). Each chunk adds
/// into its output, so a chunk run twice doubles values and a chunk skipped leaves zeros; a lost
/// wake-up hangs, which the watchdog turns into a failure instead of a stuck test run.
final class WorkerPoolStressTests: ThreadSettingsTestCase {
    private final class Count: @unchecked Sendable {
        var value = 0
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
}
