import Foundation

/// The processes of a data-parallel run, as the trainers need them: who am I, how many are we,
/// and three collectives. Alignment knows nothing of MPI; the `DistributedTraining` product
/// implements this over Open MPI, and tests over threads.
///
/// Every rank must make the same calls in the same order with the same counts (a collective that
/// one rank skips blocks the others).
public protocol DataParallelGroup: AnyObject {
    /// This process's index, 0..<size. Rank 0 writes checkpoints and metrics.
    var rank: Int { get }
    var size: Int { get }
    /// Element-wise sum over ranks, added in rank order (rank 0's value + rank 1's + ...), so every
    /// rank receives the same bits and a run with the same number of ranks repeats bit for bit.
    func allReduceSum(_ values: inout [Float]) throws
    /// Every rank's payload (any length), in rank order.
    func allGather(_ payload: [UInt8]) throws -> [[UInt8]]
    /// `root`'s `values` on every rank; every rank passes the same count.
    func broadcast(_ values: inout [Float], root: Int) throws
}

extension DataParallelGroup {
    /// `root`'s bytes on every rank (other ranks' payloads are ignored).
    public func broadcast(_ payload: [UInt8], root: Int) throws -> [UInt8] {
        try allGather(rank == root ? payload : [])[root]
    }
}

/// Ranks that disagree (options, data, parameters), or a collective that failed.
public struct DataParallelError: Error, CustomStringConvertible, Equatable, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Which part of a global batch each rank takes.
public enum DataParallelShard {
    /// The contiguous part of `count` items that `rank` of `size` takes: the first `count % size`
    /// ranks take one more, so shares differ by at most one and cover 0..<count in rank order.
    public static func range(count: Int, rank: Int, size: Int) -> Range<Int> {
        precondition(size >= 1 && (0..<size).contains(rank) && count >= 0,
                     "DataParallelShard.range: rank \(rank) of size \(size), count \(count)")
        let base = count / size, extra = count % size
        let start = rank * base + min(rank, extra)
        return start..<(start + base + (rank < extra ? 1 : 0))
    }
}

extension DataParallelGroup {
    /// Throws, on every rank, when any rank's `fields` differ from rank 0's, naming each such rank and
    /// field with both values: a launch whose ranks were given other options or other data.
    public func requireSameAsRankZero(_ fields: [String: String], what: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let all = try allGather(Array(try encoder.encode(fields))).map { try JSONDecoder().decode([String: String].self, from: Data($0)) }
        var differences: [String] = []
        for (r, other) in all.enumerated().dropFirst() {
            for key in Set(all[0].keys).union(other.keys).sorted() where all[0][key] != other[key] {
                differences.append("rank \(r) \(key): \(other[key].map { "\"\($0)\"" } ?? "absent") (rank 0: \(all[0][key].map { "\"\($0)\"" } ?? "absent"))")
            }
        }
        guard differences.isEmpty else {
            throw DataParallelError("the \(size) ranks must run with the same \(what); they differ:\n" + differences.map { "  \($0)" }.joined(separator: "\n"))
        }
    }
}

extension DataParallelGroup {
    /// Runs `body` on this rank, then waits for every rank: when any rank's `body` threw, every rank
    /// throws one error naming each failed rank and its error, so no rank is left waiting in a later
    /// collective for one that gave up.
    public func everyRank(_ what: String, _ body: () throws -> Void) throws {
        var failure: [UInt8] = []
        // An error with an empty description must still read as a failure.
        do { try body() } catch { failure = Array(("\(error)".isEmpty ? "\(type(of: error))" : "\(error)").utf8) }
        let failures = try allGather(failure).enumerated().filter { !$0.element.isEmpty }
        guard failures.isEmpty else {
            throw DataParallelError("\(what) failed on " + failures.map { "rank \($0.offset) of \(size): " + String(decoding: $0.element, as: UTF8.self) }
                .joined(separator: "; "))
        }
    }
}

/// Items `0..<count` computed in turn by the group's ranks (item i by rank i % size; all of them by
/// this process without a group) and returned in order on every rank. An item's value must not
/// depend on which rank made it. A rank whose `make` threw rethrows its error; the others throw a
/// `DataParallelError` naming it, so no rank waits in a later collective.
package func shareOut<T: Codable>(_ count: Int, group: (any DataParallelGroup)?, _ make: (Int) throws -> T) throws -> [T] {
    guard let group, group.size > 1 else { return try (0..<count).map(make) }
    var mine = SharedItems<T>(items: [], error: nil), failure: Error?
    do {
        for i in stride(from: group.rank, to: count, by: group.size) { mine.items.append(try make(i)) }
    } catch {
        failure = error
        mine = SharedItems(items: [], error: "\(error)")
    }
    // An item that cannot be encoded (a non-finite Float, say) is this rank's error, sent like any other.
    var payload: Data
    do { payload = try JSONEncoder().encode(mine) } catch {
        failure = failure ?? error
        payload = try JSONEncoder().encode(SharedItems<T>(items: [], error: "\(error)"))
    }
    let shares = try group.allGather(Array(payload)).map { try JSONDecoder().decode(SharedItems<T>.self, from: Data($0)) }
    if let failure { throw failure }
    if let (rank, share) = shares.enumerated().first(where: { $0.element.error != nil }) {
        throw DataParallelError("rank \(rank) of \(group.size) failed: \(share.error!)")
    }
    return (0..<count).map { shares[$0 % group.size].items[$0 / group.size] }
}

/// What one rank sends in `shareOut`: its items in order, or its error.
private struct SharedItems<Item: Codable>: Codable {
    var items: [Item]
    var error: String?
}

extension DataParallelGroup {
    /// Sums a rank's totals and metric sums over the group, in rank order, the same bits on every rank.
    /// A rank whose share was empty (evaluation with fewer micro-batches than ranks) has no metric
    /// keys, so keys are united; non-finite values travel too (they then stop the run on every rank).
    package func sumOverRanks(_ totals: inout [Double], _ metrics: inout [String: Double]) throws {
        let encoder = JSONEncoder(), decoder = JSONDecoder()
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let mine = RankSums(totals: totals, metrics: metrics)
        let all = try allGather(Array(try encoder.encode(mine))).map { try decoder.decode(RankSums.self, from: Data($0)) }
        guard all.allSatisfy({ $0.totals.count == totals.count }) else { throw DataParallelError("ranks reduced different numbers of totals") }
        totals = all.dropFirst().reduce(all[0].totals) { sum, rank in zip(sum, rank.totals).map { $0 + $1 } }
        metrics = [:]
        for rank in all { for (key, value) in rank.metrics { metrics[key] = metrics[key].map { $0 + value } ?? value } }
    }
}

/// What a rank contributes to a step's logged values (Doubles survive JSON exactly).
private struct RankSums: Codable {
    var totals: [Double]
    var metrics: [String: Double]
}
