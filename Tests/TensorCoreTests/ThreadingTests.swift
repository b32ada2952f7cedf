import XCTest
import TensorCore

final class ThreadingTests: XCTestCase {
    private var savedThreads = 1
    private var savedGrain = 1

    override func setUp() {
        super.setUp()
        savedThreads = Threading.threadCount
        savedGrain = Threading.grainSize
    }

    override func tearDown() {
        Threading.threadCount = savedThreads
        Threading.grainSize = savedGrain
        super.tearDown()
    }

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
        Threading.threadCount = 1
        XCTAssertEqual(Threading.threadCount, 1)
        XCTAssertEqual(Threading.blasThreads, 1)
        Threading.threadCount = 2
        XCTAssertEqual(Threading.threadCount, 2)
        XCTAssertEqual(Threading.blasThreads, 2)
    }

    func testWithBLASThreadsRestores() throws {
        Threading.threadCount = 2
        let inside = Threading.withBLASThreads(1) { Threading.blasThreads }
        XCTAssertEqual(inside, 1)
        XCTAssertEqual(Threading.blasThreads, 2)
        struct Boom: Error {}
        XCTAssertThrowsError(try Threading.withBLASThreads(1) { throw Boom() })
        XCTAssertEqual(Threading.blasThreads, 2, "restored after a throw")
        // Same count: body runs, nothing changes.
        XCTAssertEqual(Threading.withBLASThreads(2) { Threading.blasThreads }, 2)
        XCTAssertEqual(Threading.blasThreads, 2)
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
