import XCTest
import RLAIFLab

final class BanditTests: XCTestCase {
    func testFigure6OrderingAndClosedForms() {
        let result = Bandit.run(BanditConfig())
        let s = result.summary
        XCTAssertEqual(s["student"]!, 40, accuracy: 0.1)
        XCTAssertEqual(s["teacher"]!, 78.5, accuracy: 0.2)  // the Gaussian at 80 is cut at action 99
        // The paper's lesson: imitating the strong teacher beats RLAIF on the student's own samples.
        XCTAssertGreaterThan(s["sft"]!, s["rlaif"]! + 10)
        XCTAssertGreaterThan(s["rlaif"]!, s["student"]! + 5)
        for p in [result.student, result.teacher, result.sft, result.rlaif] { XCTAssertEqual(p.reduce(0, +), 1, accuracy: 1e-4) }
        // RLAIF is π_S·exp(r̂/β) normalised: log-ratios against the student differ from r̂/β by a constant.
        let shift = log(result.rlaif[40] / result.student[40]) - result.learnedReward[40] / 0.1
        for a in [20, 50, 60] {
            XCTAssertEqual(log(result.rlaif[a] / result.student[a]) - result.learnedReward[a] / 0.1, shift, accuracy: 1e-3)
        }
        // The learned reward is flat where the student never goes (it stays at its initial 0).
        XCTAssertEqual(result.learnedReward[99], 0, accuracy: 1e-3)
        XCTAssertGreaterThan(result.learnedReward[55], result.learnedReward[35])
    }

    /// A small β puts the RLAIF policy's mass on the learned reward's maximum instead of
    /// overflowing exp(r̂/β) into NaN.
    func testSmallBetaGivesTheGreedyPolicy() {
        var config = BanditConfig()
        config.beta = 1e-4
        config.rewardSteps = 500
        config.sftSteps = 10
        let result = Bandit.run(config)
        XCTAssertTrue(result.rlaif.allSatisfy(\.isFinite))
        XCTAssertEqual(result.rlaif.reduce(0, +), 1, accuracy: 1e-9)
        let best = result.learnedReward.indices.max { result.learnedReward[$0] < result.learnedReward[$1] }!
        XCTAssertGreaterThan(result.rlaif[best], 0.99)
    }
}
