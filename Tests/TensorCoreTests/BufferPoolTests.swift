import TestSupport
import XCTest
@testable import TensorCore  // buffer lifetimes and the pool's raw buffers are internal

final class BufferPoolTests: XCTestCase {
    private var savedCapacity = 0

    override func setUp() {
        super.setUp()
        savedCapacity = BufferPool.shared.capacityFloats
        BufferPool.shared.drain()
    }

    override func tearDown() {
        BufferPool.shared.capacityFloats = savedCapacity
        super.tearDown()
    }

    func testTakeGiveReusesBuffer() {
        let pool = BufferPool.shared
        XCTAssertEqual(pool.pooledCount, 0)
        let p = pool.take(1_001)
        p.initialize(repeating: 1, count: 1_001)
        pool.give(p, 1_001)
        XCTAssertEqual(pool.pooledCount, 1_001)
        // A different size does not get it.
        let other = pool.take(1_002)
        XCTAssertNotEqual(other, p)
        XCTAssertEqual(pool.pooledCount, 1_001)
        let again = pool.take(1_001)
        XCTAssertEqual(again, p)
        XCTAssertEqual(pool.pooledCount, 0)
        pool.give(again, 1_001)
        pool.give(other, 1_002)
        XCTAssertEqual(pool.pooledCount, 2_003)
        pool.drain()
        XCTAssertEqual(pool.pooledCount, 0)
    }

    func testZeroCountBuffers() {
        let pool = BufferPool.shared
        let p = pool.take(0)
        pool.give(p, 0)
        XCTAssertEqual(pool.pooledCount, 1, "empty buffers are kept as one-float blocks")
        XCTAssertEqual(pool.take(0), p)
        pool.give(p, 0)
        let empty = Tensor.zeros([0, 3])
        XCTAssertEqual(empty.count, 0)
        XCTAssertEqual(empty.scalars, [])
    }

    func testCapacityBoundsPooledFloats() {
        let pool = BufferPool.shared
        pool.capacityFloats = 1_500
        let a = pool.take(1_000), b = pool.take(1_000)
        pool.give(a, 1_000)
        pool.give(b, 1_000)  // would exceed the bound: freed instead
        XCTAssertEqual(pool.pooledCount, 1_000)
        pool.capacityFloats = 0
        let c = pool.take(10)
        pool.give(c, 10)
        XCTAssertEqual(pool.pooledCount, 1_000, "nothing more is pooled past the capacity")
    }

    func testTensorStorageReturnsToPool() {
        let pool = BufferPool.shared
        let n = 7_919
        weak var weakStorage: TensorStorage?
        var base: UnsafeMutablePointer<Float>?
        do {
            let t = Tensor.zeros([n])
            weakStorage = t.storage
            base = t.storage.base
            XCTAssertEqual(pool.pooledCount, 0)
        }
        XCTAssertNil(weakStorage)
        XCTAssertEqual(pool.pooledCount, n)
        // The next tensor of that size reuses the buffer; zeros() must still clear it.
        let dirty = Tensor.full([n], 3)
        XCTAssertEqual(dirty.storage.base, base)
        XCTAssertEqual(pool.pooledCount, 0)
        _ = dirty.scalars
    }

    func testReusedBuffersAreZeroedWhereRequired() {
        let n = 4_099
        do { _ = Tensor.full([n], .nan) }
        XCTAssertEqual(BufferPool.shared.pooledCount, n)
        let z = Tensor.zeros([n])
        XCTAssertTrue(z.scalars.allSatisfy { $0 == 0 })
    }

    func testViewsKeepStorageAlive() {
        weak var weakStorage: TensorStorage?
        var view: Tensor?
        do {
            let t = Tensor((0..<12).map(Float.init), shape: [3, 4])
            weakStorage = t.storage
            view = t.T.slice(axis: 0, 1..<3)
        }
        XCTAssertNotNil(weakStorage)
        XCTAssertEqual(view?.scalars, [1, 5, 9, 2, 6, 10])
        view = nil
        XCTAssertNil(weakStorage)
    }

    func testConcurrentTakeGive() {
        let pool = BufferPool.shared
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            for j in 0..<500 {
                let n = 100 + (i + j) % 7
                let p = pool.take(n)
                p.initialize(repeating: Float(i * 1000 + j), count: n)
                // A buffer handed to two threads at once would be overwritten by the other one.
                var intact = true
                for _ in 0..<3 { for e in 0..<n where p[e] != Float(i * 1000 + j) { intact = false } }
                if !intact { XCTFail("buffer shared between threads") }
                pool.give(p, n)
            }
        }
        // At most one live buffer per thread per size class.
        XCTAssertGreaterThan(pool.pooledCount, 0)
        XCTAssertLessThanOrEqual(pool.pooledCount, 8 * (100...106).reduce(0, +))
        pool.drain()
        XCTAssertEqual(pool.pooledCount, 0)
    }
}
