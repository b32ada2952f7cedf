import Alignment
import CMPI
import Foundation

/// MPI_COMM_WORLD of a job started by Open MPI's `mpirun`, as a `DataParallelGroup`.
///
/// `MPICommunicator.world()` starts MPI only when this process was launched by mpirun (Open MPI
/// sets OMPI_COMM_WORLD_SIZE), so the same binary runs exactly as before on its own. Errors of
/// MPI calls are returned (not fatal) and thrown as `MPIError`s naming the call and the rank.
public final class MPICommunicator: DataParallelGroup {
    public let rank: Int
    public let size: Int
    /// Time spent inside collectives, and how many floats `allReduceSum` summed (for reports).
    public private(set) var statistics = Statistics()

    public struct Statistics: Sendable {
        public var allReduceCalls = 0
        public var allReduceFloats = 0
        public var allReduceSeconds = 0.0
        public var otherSeconds = 0.0
    }

    nonisolated(unsafe) private static var shared: MPICommunicator?

    /// Whether mpirun started this process (Open MPI's environment), whatever this build supports.
    public static var launchedByMPIRun: Bool { ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"] != nil }

    /// This process's rank and the job's size as mpirun announced them, before (or without) MPI_Init:
    /// lets an error message name the rank even when it happens before MPI starts.
    public static var launchRank: (rank: Int, size: Int)? {
        let env = ProcessInfo.processInfo.environment
        guard let size = env["OMPI_COMM_WORLD_SIZE"].flatMap(Int.init), let rank = env["OMPI_COMM_WORLD_RANK"].flatMap(Int.init) else {
            return nil
        }
        return (rank, size)
    }

    /// Whether this build can run under mpirun (it found mpi.h through pkg-config's ompi-c).
    public static var isAvailable: Bool { salign_mpi_available() == 1 }

    /// The world communicator when launched by mpirun (MPI_Init on the first call), else nil.
    /// Throws when launched by mpirun but built without Open MPI.
    public static func world() throws -> MPICommunicator? {
        if let shared { return shared }
        guard launchedByMPIRun else { return nil }
        guard isAvailable else {
            throw MPIError("this build has no MPI support: mpi.h was not found when it was compiled. Install Open MPI's headers "
                           + "(apt-get install libopenmpi-dev openmpi-bin; pkg-config must find ompi-c), run `swift package clean` "
                           + "(SwiftPM does not notice a newly installed library), rebuild, and launch again")
        }
        var rank: Int32 = 0, size: Int32 = 0
        let rc = salign_mpi_init(&rank, &size)
        guard rc == 0 else { throw MPIError(call: "MPI_Init", code: rc, rank: launchRank?.rank) }
        let world = MPICommunicator(rank: Int(rank), size: Int(size))
        shared = world
        // mpirun counts a rank that exits without MPI_Finalize as failed, whatever its status.
        atexit { _ = salign_mpi_finalize() }
        return world
    }

    /// The communicator if `world()` has started MPI, without starting it.
    public static var started: MPICommunicator? { shared }

    private init(rank: Int, size: Int) {
        self.rank = rank
        self.size = size
    }

    private func check(_ rc: Int32, _ call: String) throws {
        guard rc == 0 else { throw MPIError(call: call, code: rc, rank: rank) }
    }

    private func timed<T>(_ seconds: WritableKeyPath<Statistics, Double>, _ body: () throws -> T) rethrows -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { statistics[keyPath: seconds] += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        return try body()
    }

    /// Deterministic by construction, whatever algorithm Open MPI would pick for MPI_Allreduce: each
    /// rank receives every rank's copy of its slice (MPI_Alltoallv), adds them in rank order, and
    /// the summed slices are gathered back (MPI_Allgatherv). Same traffic as a ring all-reduce.
    public func allReduceSum(_ values: inout [Float]) throws {
        try timed(\.allReduceSeconds) {
            statistics.allReduceCalls += 1
            statistics.allReduceFloats += values.count
            guard size > 1 else { return }
            precondition(values.count <= Int(Int32.max), "MPICommunicator.allReduceSum: \(values.count) floats exceed one MPI count")
            let slices = (0..<size).map { DataParallelShard.range(count: values.count, rank: $0, size: size) }
            let sliceCounts = slices.map { Int32($0.count) }, sliceStarts = slices.map { Int32($0.lowerBound) }
            let mine = slices[rank].count
            let receiveCounts = [Int32](repeating: Int32(mine), count: size)
            let receiveStarts = (0..<size).map { Int32($0 * mine) }
            var received = [Float](repeating: 0, count: mine * size)
            try check(salign_mpi_alltoallv_float(values, sliceCounts, sliceStarts, &received, receiveCounts, receiveStarts), "MPI_Alltoallv")
            var summed = Array(received[0..<mine])
            for r in 1..<size {
                let base = r * mine
                for i in 0..<mine { summed[i] += received[base + i] }
            }
            try check(salign_mpi_allgatherv_float(summed, Int32(mine), &values, sliceCounts, sliceStarts), "MPI_Allgatherv")
        }
    }

    public func allGather(_ payload: [UInt8]) throws -> [[UInt8]] {
        try timed(\.otherSeconds) {
            var counts = [Int64](repeating: 0, count: size)
            var mine = Int64(payload.count)
            try check(salign_mpi_allgather_int64(&mine, &counts), "MPI_Allgather")
            guard counts.reduce(0, +) <= Int64(Int32.max) else { throw MPIError("allGather: \(counts.reduce(0, +)) bytes exceed one MPI count") }
            var starts: [Int32] = [], total: Int32 = 0
            for c in counts { starts.append(total); total += Int32(c) }
            var received = [UInt8](repeating: 0, count: Int(total))
            try check(salign_mpi_allgatherv_bytes(payload, Int32(payload.count), &received, counts.map { Int32($0) }, starts), "MPI_Allgatherv")
            return (0..<size).map { Array(received[Int(starts[$0])..<(Int(starts[$0]) + Int(counts[$0]))]) }
        }
    }

    public func broadcast(_ values: inout [Float], root: Int) throws {
        try timed(\.otherSeconds) {
            guard size > 1 else { return }
            // In pieces below 2 GiB: a model's weights can exceed one MPI count of bytes.
            let piece = 1 << 28
            try values.withUnsafeMutableBytes { raw in
                var offset = 0
                repeat {
                    let n = min(piece, raw.count - offset)
                    try check(salign_mpi_bcast_bytes(raw.baseAddress.map { $0 + offset }, Int32(n), Int32(root)), "MPI_Bcast")
                    offset += n
                } while offset < raw.count
            }
        }
    }

    public func barrier() throws {
        try timed(\.otherSeconds) { try check(salign_mpi_barrier(), "MPI_Barrier") }
    }

    /// Ends the whole job (every rank) with `code`: what a rank does after an error the others cannot see.
    public func abort(code: Int32) -> Never {
        _ = salign_mpi_abort(code)
        exit(code)
    }

    /// MPI_Finalize; call once every rank is done.
    public func finalize() throws {
        try check(salign_mpi_finalize(), "MPI_Finalize")
    }
}

/// A failed MPI call (with MPI's own text), or MPI wanted but not built in.
public struct MPIError: Error, CustomStringConvertible, Sendable {
    public let description: String

    public init(_ description: String) { self.description = description }

    init(call: String, code: Int32, rank: Int?) {
        var buffer = [CChar](repeating: 0, count: 512)
        let length = Int(salign_mpi_error_string(code, &buffer, Int32(buffer.count)))
        let text = length > 0 ? String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self) : "error \(code)"
        description = "\(call) failed on rank \(rank.map(String.init) ?? "?"): \(text)"
    }
}
