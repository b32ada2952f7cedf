import Alignment
import DistributedTraining
import Foundation

/// What `align` does differently when mpirun starts it: one data-parallel rank per process.

/// Whether this process writes outputs: always, except on ranks other than 0 of an MPI job.
var isPrimaryRank: Bool { (MPICommunicator.started?.rank ?? MPICommunicator.launchRank?.rank ?? 0) == 0 }

/// " (rank 2 of 3)" under mpirun, else "": every error line names the rank that hit it.
var rankSuffix: String { MPICommunicator.launchRank.map { " (rank \($0.rank) of \($0.size))" } ?? "" }

/// Starts MPI when launched by mpirun and refuses a launch whose ranks differ in options or data:
/// `arguments` (the command line, option by option), `settings` (fingerprints of the data,
/// tokenizer and reference) and the numbers of examples are compared with rank 0's.
func startDataParallel(settings: [String: String], examples: Int, evaluation: Int) throws -> MPICommunicator? {
    guard let world = try MPICommunicator.world() else { return nil }
    MPICommunicator.shareCoresAmongLocalRanks()
    var fields = MPICommunicator.optionFields(Array(CommandLine.arguments.dropFirst()))
    for (key, value) in settings { fields["run setting \(key)"] = value }
    fields["usable training examples"] = "\(examples)"
    fields["usable --eval-data examples"] = "\(evaluation)"
    try world.rankZeroReports { try world.requireSameAsRankZero(fields, what: "options and data") }
    return world
}

/// After a data-parallel run: checks that the ranks' weights and optimizer state agree and prints
/// (on rank 0) the checksum and the time spent in the gradient all-reduce.
func reportDataParallel(_ world: MPICommunicator, model: any CausalLanguageModel, optimizer: Optimizer, steps: Int, seconds: Double) throws {
    let checksum = try world.rankZeroReports { try ReplicaState.verify(world, model: model, optimizer: optimizer) }
    guard world.rank == 0 else { return }
    let s = world.statistics
    let perStep = steps > 0 ? Double(steps) : 1
    print(String(format: "data parallel: %d ranks agree (parameter checksum %016llx); %d steps in %.2f s (%.1f ms/step), all-reduce %.2f ms/step (%d floats/step)",
                 world.size, checksum, steps, seconds, 1000 * seconds / perStep, 1000 * s.allReduceSeconds / perStep,
                 s.allReduceFloats / max(steps, 1)))
}
