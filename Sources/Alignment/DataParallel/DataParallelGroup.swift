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
