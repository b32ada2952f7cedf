import Alignment
import Foundation

/// One arm for one family and seed: the unit `ExperimentRunner.run` computes and caches.
public struct Piece: Equatable, Sendable {
    public var arm: Arm
    public var family: Family
    public var seed: UInt64
}

/// The order a run's pieces are computed in, and how they are shared out when mpirun starts
/// several processes.
///
/// A piece's result depends only on its arm, family and seed (its models come from the run
/// directory's cache or are trained from the same seeds), never on which process computes it or
/// what ran before, so the processes share one run directory and rank 0 reports from the cached
/// results: the same results.json as one process running as many threads as each rank (the thread
/// count changes OpenBLAS's results in the last bits).
///
/// Two phases. First, each (family, seed) with its own arms goes whole to one rank, dealt in turn
/// over family-major order (so ranks get a mix of families); the family's base and SFT models are
/// then trained once, by the rank that uses them. Second, after every rank finished the first,
/// the arms that sample their pairs from another family's SFT model (Table 1), which the first
/// phase made, are dealt in turn.
public struct RunPlan: Sendable {
    public let arms: [Arm]
    public let families: [Family]
    public let seeds: [UInt64]

    public init(arms: [Arm], families: [Family], seeds: [UInt64]) {
        self.arms = arms
        self.families = families
        self.seeds = seeds
    }

    /// Every piece, in the order results are reported: family, then seed, then arm.
    public var all: [Piece] {
        families.flatMap { f in seeds.flatMap { s in arms.map { Piece(arm: $0, family: f, seed: s) } } }
    }

    static func needsOtherFamily(_ piece: Piece) -> Bool { piece.arm.pairsFrom.map { $0 != piece.family.name } ?? false }

    /// The first phase's pieces that `rank` of `size` computes.
    public func firstPhase(rank: Int, size: Int) -> [Piece] {
        let units = families.flatMap { f in seeds.map { (f, $0) } }
        return units.enumerated().filter { $0.offset % size == rank }.flatMap { _, unit in
            arms.map { Piece(arm: $0, family: unit.0, seed: unit.1) }.filter { !Self.needsOtherFamily($0) }
        }
    }

    /// The second phase's pieces that `rank` of `size` computes.
    public func secondPhase(rank: Int, size: Int) -> [Piece] {
        all.filter(Self.needsOtherFamily).enumerated().filter { $0.offset % size == rank }.map(\.element)
    }
}
