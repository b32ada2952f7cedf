import Alignment
import RLAIFLab
import XCTest

/// How `sft-vs-rlaif` shares a run's pieces among mpirun's processes.
final class RunPlanTests: XCTestCase {
    let families = Preset.full.families
    var plan: RunPlan {
        var arms: [Arm] = []
        for n in [1, 2, 9] { for arm in Arm.figure(n, families: families.map(\.name)) where !arms.contains(arm) { arms.append(arm) } }
        return RunPlan(arms: arms, families: families, seeds: [0, 1, 2, 3, 4])
    }

    func key(_ p: Piece) -> String { "\(p.arm.id)/\(p.family.name)/\(p.seed)" }

    /// Any number of processes computes every piece exactly once; one process computes them in the
    /// reported order except that the cross-family arms come last.
    func testEveryPieceOnceForAnyNumberOfRanks() {
        let all = plan.all.map(key)
        XCTAssertEqual(Set(all).count, all.count)
        for size in 1...7 {
            let computed = (0..<size).flatMap { plan.firstPhase(rank: $0, size: size) + plan.secondPhase(rank: $0, size: size) }.map(key)
            XCTAssertEqual(computed.count, all.count, "\(size) ranks")
            XCTAssertEqual(Set(computed), Set(all), "\(size) ranks")
        }
    }

    /// A family and seed goes whole to one rank in the first phase (its base and SFT models are
    /// trained once), and ranks get a mix of families; the second phase holds exactly the arms that
    /// sample pairs from another family's model, which the first phase made.
    func testFirstPhaseKeepsAFamilyAndSeedTogether() {
        let size = 2
        var owner: [String: Int] = [:]
        for rank in 0..<size {
            for piece in plan.firstPhase(rank: rank, size: size) {
                let unit = "\(piece.family.name)/\(piece.seed)"
                XCTAssertEqual(owner[unit, default: rank], rank, unit)
                owner[unit] = rank
                XCTAssertFalse(piece.arm.pairsFrom.map { $0 != piece.family.name } ?? false)
            }
            XCTAssertEqual(Set(plan.firstPhase(rank: rank, size: size).map(\.family.name)), Set(families.map(\.name)), "rank \(rank)")
        }
        let second = (0..<size).flatMap { plan.secondPhase(rank: $0, size: size) }
        XCTAssertFalse(second.isEmpty)
        for piece in second { XCTAssertNotEqual(piece.arm.pairsFrom, piece.family.name) }
    }

    /// The second phase reads the SFT models that sample its pairs from the cache: every figure with
    /// a cross-family arm also runs, in the first phase, an arm on the same teacher's share (which
    /// trains that SFT model for every family), so no two ranks ever train one model.
    func testSecondPhaseSamplersAreMadeInTheFirst() {
        let names = families.map(\.name)
        for n in [1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14] {
            let arms = Arm.figure(n, families: names)
            for arm in arms where arm.pairsFrom != nil {
                XCTAssertTrue(arms.contains { $0.pairsFrom == nil && $0.teacher == arm.teacher && $0.sftFraction == arm.sftFraction && $0.sftFraction > 0 },
                              "figure \(n): \(arm.id) samples from an SFT model no first-phase arm of its figure trains")
            }
        }
    }

    /// Costliest first to the least-loaded rank: the preset's two big judges go to different ranks,
    /// and every job goes to exactly one rank.
    func testJudgesAreDealtByCost() {
        let specs = Preset.standard.judgeSpecs
        let owners = RunPlan.deal(costs: specs.map(\.trainingCost), ranks: 2)
        let big = specs.indices.sorted { specs[$0].trainingCost > specs[$1].trainingCost }.prefix(2)
        XCTAssertNotEqual(owners[big.first!], owners[big.last!])
        XCTAssertEqual(RunPlan.deal(costs: [5, 1, 1, 1, 1, 1], ranks: 2), [0, 1, 1, 1, 1, 1])
        XCTAssertEqual(RunPlan.deal(costs: [1, 1, 1], ranks: 1), [0, 0, 0])
        XCTAssertEqual(RunPlan.deal(costs: [], ranks: 3), [])
        XCTAssertEqual(Set(RunPlan.deal(costs: [3, 3, 3], ranks: 5)), [0, 1, 2])
    }
}
