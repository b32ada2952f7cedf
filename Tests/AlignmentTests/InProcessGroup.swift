import Foundation
import Alignment

/// N data-parallel "ranks" as threads of one process: the fake behind the data-parallel tests.
/// Its all-reduce adds in rank order, as `MPICommunicator`'s does, so results match MPI's bits.
final class InProcessHub: @unchecked Sendable {
    let size: Int
    private let condition = NSCondition()
    private var contributions: [[UInt8]?]
    private var arrived = 0
    private var generation = 0
    private var result: [[UInt8]] = []

    init(size: Int) {
        self.size = size
        contributions = Array(repeating: nil, count: size)
    }

    /// Every rank's payload once all `size` ranks have called; throws after 120 s (a rank that
    /// skipped a collective would otherwise hang the test run).
    func exchange(rank: Int, _ payload: [UInt8]) throws -> [[UInt8]] {
        condition.lock()
        defer { condition.unlock() }
        let mine = generation
        contributions[rank] = payload
        arrived += 1
        if arrived == size {
            result = contributions.map { $0! }
            contributions = Array(repeating: nil, count: size)
            arrived = 0
            generation += 1
            condition.broadcast()
        } else {
            let deadline = Date().addingTimeInterval(120)
            while generation == mine {
                guard condition.wait(until: deadline) else { throw DataParallelError("rank \(rank): collective timed out") }
            }
        }
        return result
    }

    /// Runs `body(group)` on `size` threads, one per rank, and returns their results in rank order.
    func run<T>(_ body: @escaping @Sendable (InProcessGroup) throws -> T) -> [Result<T, Error>] {
        let results = Results<T>(size)
        let done = DispatchGroup()
        for rank in 0..<size {
            done.enter()
            let thread = Thread {
                results.set(rank, Result { try body(InProcessGroup(rank: rank, hub: self)) })
                done.leave()
            }
            thread.stackSize = 16 << 20
            thread.start()
        }
        done.wait()
        return results.values.map { $0! }
    }

    private final class Results<T>: @unchecked Sendable {
        private let lock = NSLock()
        private(set) var values: [Result<T, Error>?]
        init(_ n: Int) { values = Array(repeating: nil, count: n) }
        func set(_ i: Int, _ r: Result<T, Error>) { lock.lock(); values[i] = r; lock.unlock() }
    }
}

final class InProcessGroup: DataParallelGroup {
    let rank: Int
    let hub: InProcessHub
    var size: Int { hub.size }

    init(rank: Int, hub: InProcessHub) {
        self.rank = rank
        self.hub = hub
    }

    func allGather(_ payload: [UInt8]) throws -> [[UInt8]] { try hub.exchange(rank: rank, payload) }

    func allReduceSum(_ values: inout [Float]) throws {
        let all = try allGather(values.withUnsafeBytes { Array($0) }).map { bytes in
            bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        }
        guard all.allSatisfy({ $0.count == values.count }) else { throw DataParallelError("allReduceSum: ranks passed different counts") }
        var sum = all[0]
        for r in 1..<size { for i in sum.indices { sum[i] += all[r][i] } }
        values = sum
    }

    func broadcast(_ values: inout [Float], root: Int) throws {
        let all = try allGather(values.withUnsafeBytes { Array($0) })
        values = all[root].withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }
}
