import Alignment
import Foundation

/// What a command-line program does differently when mpirun starts it.
extension MPICommunicator {
    /// The command line as option -> value ("set" for a flag; positional words under "command"):
    /// what `requireSameAsRankZero` compares, so a rank started with other options is named.
    public static func optionFields(_ arguments: [String]) -> [String: String] {
        var fields: [String: String] = [:], words: [String] = []
        var i = 0
        while i < arguments.count {
            let a = arguments[i]
            if a.hasPrefix("--") {
                if let eq = a.firstIndex(of: "=") {
                    fields[String(a[..<eq])] = String(a[a.index(after: eq)...])
                } else if i + 1 < arguments.count && !arguments[i + 1].hasPrefix("--") {
                    fields[a] = arguments[i + 1]
                    i += 1
                } else {
                    fields[a] = "set"
                }
            } else {
                words.append(a)
            }
            i += 1
        }
        fields["command"] = words.joined(separator: " ")
        return fields
    }

    /// Under mpirun, unless TENSORCORE_NUM_THREADS says otherwise: this machine's cores shared among
    /// the ranks mpirun started on it (OMPI_COMM_WORLD_LOCAL_SIZE), at least one thread each, so
    /// two ranks on two cores run one thread each instead of four threads fighting for two cores.
    /// The thread count changes results in the last bits (OpenBLAS's edge kernels depend on how a
    /// product is split), so a run compared with one process uses the same threads per process.
    public static func shareCoresAmongLocalRanks() {
        let env = ProcessInfo.processInfo.environment
        guard launchedByMPIRun, env["TENSORCORE_NUM_THREADS"] == nil,
              let local = env["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap(Int.init), local > 1 else { return }
        Threading.threadCount = max(1, ProcessInfo.processInfo.activeProcessorCount / local)
    }

    /// Runs a check every rank computes alike (so every rank would throw the same error): rank 0
    /// reports it and ends the job; the others wait in a barrier rank 0 never reaches, so the
    /// message appears once.
    public func rankZeroReports<T>(_ check: () throws -> T) throws -> T {
        do { return try check() } catch is DataParallelError where rank != 0 {
            try? barrier()
            abort(code: 1)
        }
    }
}
