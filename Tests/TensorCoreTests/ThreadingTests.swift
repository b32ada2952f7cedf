import Synchronization
import TensorCore
import TestSupport
import XCTest

final class ThreadingTests: ThreadSettingsTestCase {
    /// Runs parallelFor and returns how often each index was visited and the chunks seen.
    private func visit(_ count: Int, cost: Int) -> (hits: [Int], chunks: [Range<Int>]) {
        let lock = NSLock()
        var hits = [Int](repeating: 0, count: count)
        var chunks: [Range<Int>] = []
        Threading.parallelFor(count, costPerItem: cost) { r in
            lock.lock()
            chunks.append(r)
            for i in r { hits[i] += 1 }
            lock.unlock()
        }
        return (hits, chunks)
    }

    func testParallelForCoversEveryIndexOnce() {
        for threads in [1, 2, 3, 8] {
            Threading.threadCount = threads
            for count in [0, 1, 2, 3, 7, 100, 1_000, 100_003] {
                for cost in [1, 64, Threading.grainSize] {
                    let (hits, chunks) = visit(count, cost: cost)
                    XCTAssertTrue(hits.allSatisfy { $0 == 1 }, "threads \(threads) count \(count) cost \(cost)")
                    XCTAssertTrue(chunks.allSatisfy { !$0.isEmpty }, "no empty chunks")
                    XCTAssertLessThanOrEqual(chunks.count, max(threads, 1))
                    if count == 0 { XCTAssertTrue(chunks.isEmpty) }
                }
            }
        }
    }

    /// Workers sleep once they have been idle a while; a region after that must still wake them.
    func testParallelForAfterWorkersSleep() {
        Threading.threadCount = 3
        for pause in [0, 20_000, 0, 50_000] {
            usleep(UInt32(pause))
            let (hits, chunks) = visit(9_000, cost: Threading.grainSize)
            XCTAssertTrue(hits.allSatisfy { $0 == 1 }, "after a \(pause) µs pause")
            XCTAssertEqual(chunks.count, 3)
        }
    }

    /// Regions started from several threads at once: one runs on the workers, the others on their
    /// callers, and every index is still visited exactly once.
    func testParallelForFromConcurrentCallers() {
        Threading.threadCount = 2
        let failures = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 4) { caller in
            for round in 0..<200 {
                let count = 1_000 + 37 * caller + round
                var hits = [Int](repeating: 0, count: count)
                hits.withUnsafeMutableBufferPointer { h in
                    let base = h.baseAddress!
                    Threading.parallelFor(count, costPerItem: Threading.grainSize) { r in for i in r { base[i] += 1 } }
                }
                if !hits.allSatisfy({ $0 == 1 }) { failures.withLock { $0 += 1 } }
            }
        }
        XCTAssertEqual(failures.withLock { $0 }, 0)
    }

    func testParallelForSplitsOnlyAboveGrain() {
        Threading.threadCount = 2
        Threading.grainSize = 1_000
        XCTAssertEqual(visit(999, cost: 1).chunks.count, 1, "below the grain: one chunk on the caller")
        XCTAssertEqual(visit(10_000, cost: 1).chunks.count, 2)
        XCTAssertEqual(visit(10, cost: 1_000).chunks.count, 2)
        Threading.threadCount = 1
        XCTAssertEqual(visit(10_000, cost: 1).chunks.count, 1)
    }

    func testThreadCountConfiguresBLAS() {
        let split = Threading.splitGEMM
        defer { Threading.splitGEMM = split; Threading.threadCount = 2 }
        Threading.splitGEMM = false
        Threading.threadCount = 1
        XCTAssertEqual(Threading.threadCount, 1)
        XCTAssertEqual(Threading.blasThreads, 1)
        Threading.threadCount = 2
        XCTAssertEqual(Threading.threadCount, 2)
        XCTAssertEqual(Threading.blasThreads, 2)
        // Split mode keeps OpenBLAS single-threaded: TensorCore's threads split the GEMMs.
        Threading.splitGEMM = true
        Threading.threadCount = 2
        XCTAssertEqual(Threading.blasThreads, 1)
    }

    func testSplitGEMMMatchesSingleCall() {
        var g = RandomGenerator(seed: 5)
        let a = Tensor.normal([300, 70], generator: &g), b = Tensor.normal([90, 70], generator: &g)
        let split = Threading.splitGEMM
        defer { Threading.splitGEMM = split; Threading.threadCount = 2 }
        Threading.threadCount = 2
        Threading.splitGEMM = true
        let tall = a.matmul(b.T).scalars, wide = b.matmul(a.T).scalars
        XCTAssertEqual(tall, a.matmul(b.T).scalars, "split GEMM is deterministic")
        Threading.splitGEMM = false
        // OpenBLAS's own threading may group the sums differently: equal up to rounding.
        for (x, y) in zip(tall, a.matmul(b.T).scalars) { XCTAssertEqual(x, y, accuracy: 1e-4) }
        for (x, y) in zip(wide, b.matmul(a.T).scalars) { XCTAssertEqual(x, y, accuracy: 1e-4) }
    }

    func testWithBLASThreadsRestores() throws {
        Threading.threadCount = 2
        let before = Threading.blasThreads
        let other = before == 1 ? 2 : 1
        let inside = Threading.withBLASThreads(other) { Threading.blasThreads }
        XCTAssertEqual(inside, other)
        XCTAssertEqual(Threading.blasThreads, before)
        struct Boom: Error {}
        XCTAssertThrowsError(try Threading.withBLASThreads(other) { throw Boom() })
        XCTAssertEqual(Threading.blasThreads, before, "restored after a throw")
        // Same count: body runs, nothing changes.
        XCTAssertEqual(Threading.withBLASThreads(before) { Threading.blasThreads }, before)
        XCTAssertEqual(Threading.blasThreads, before)
    }

    func testElementwiseResultsIndependentOfThreads() {
        var g = RandomGenerator(seed: 21)
        let a = Tensor.uniform([300, 301], generator: &g), b = Tensor.uniform([301], generator: &g)
        Threading.threadCount = 2
        let parallel = (a * b + a.T.T).scalars
        Threading.threadCount = 1
        let serial = (a * b + a.T.T).scalars
        XCTAssertEqual(parallel, serial)
    }
}
