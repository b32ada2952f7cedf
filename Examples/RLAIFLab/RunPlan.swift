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

    /// Which rank computes each of `costs.count` independent jobs: the costliest first, each to the
    /// rank with the least work so far (ties to the lower rank), so one big job does not leave the
    /// other ranks waiting behind a second.
    public static func deal(costs: [Double], ranks: Int) -> [Int] {
        precondition(ranks >= 1, "RunPlan.deal: \(ranks) ranks")
        var load = [Double](repeating: 0, count: ranks), owner = [Int](repeating: 0, count: costs.count)
        for job in costs.indices.sorted(by: { costs[$0] > costs[$1] || (costs[$0] == costs[$1] && $0 < $1) }) {
            let rank = load.indices.min { load[$0] < load[$1] || (load[$0] == load[$1] && $0 < $1) }!
            owner[job] = rank
            load[rank] += costs[job]
        }
        return owner
    }
}

extension JudgeSpec {
    /// Rough training cost (width² x depth x tokens seen), for dealing judges out among ranks.
    public var trainingCost: Double {
        Double(dModel * dModel * layers) * Double(pretrainSteps * 32 + trainingPairs * epochs * 2)
    }
}
