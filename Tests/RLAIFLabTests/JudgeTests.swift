import Foundation
import XCTest
@testable import Alignment
@testable import RLAIFLab

/// A preset small enough to train end to end in a test, with one tiny judge.
func tinyPreset() -> Preset {
    let family = Family(name: "tiny", dModel: 16, layers: 1, heads: 2, pretrainSteps: 2)
    var p = Preset(name: "test", families: [family], seeds: [0], promptPool: 96, evalPrompts: 16, sftSteps: 4)
    p.batchSize = 16
    p.judgeSpecs = [JudgeSpec(name: "tiny-judge", dModel: 16, layers: 1, heads: 2, pretrainSteps: 2, trainingPairs: 64, epochs: 1, seed: 9)]
    p.judges = ["tiny-judge", "truth"]
    p.dpoEpochs = 1
    return p
}

final class JudgeTests: XCTestCase {
    /// A judge is trained once, cached, and reloaded with the same scores; its preferences are a
    /// proper comparison (P(a ≻ b) + P(b ≻ a) = 1, 0.5 against itself).
    func testJudgeIsTrainedOnceAndReloadedFromTheCache() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("judge-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let tasks = World.tasks(12, seed: 4, split: .validation)
        let a = tasks.map(\.answer), b = tasks.map(Teacher.weak.respond)
        let first = try ExperimentRunner(preset: tinyPreset(), directory: dir).judge("tiny-judge")
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("cache/judges/tiny-judge/model.safetensors").path))
        let again = try ExperimentRunner(preset: tinyPreset(), directory: dir).judge("tiny-judge")
        XCTAssertEqual(first.preferences(tasks, a, b), again.preferences(tasks, a, b))
        for (p, q) in zip(first.preferences(tasks, a, b), first.preferences(tasks, b, a)) { XCTAssertEqual(p + q, 1, accuracy: 1e-6) }
        XCTAssertTrue(first.preferences(tasks, a, a).allSatisfy { abs($0 - 0.5) < 1e-9 })
        XCTAssertThrowsError(try ExperimentRunner(preset: tinyPreset(), directory: dir).judge("gpt-5")) { error in
            XCTAssertTrue("\(error)".contains("gpt-5") && "\(error)".contains("tiny-judge"), "\(error)")
        }
    }

    /// With the ground truth as critic, every chosen completion is the truly better one (or equal),
    /// and the summary says so.
    func testFeedbackPairsFollowTheCriticAndReportAgreement() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("feedback-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let runner = ExperimentRunner(preset: tinyPreset(), directory: dir)
        let base = try runner.base(tinyPreset().families[0], seed: 0)
        let (pairs, summary) = try runner.feedbackPairs(base, teacher: .weak, critic: TruthJudge(), seed: 0, name: "t")
        XCTAssertEqual(pairs.count, summary.pairs)
        XCTAssertGreaterThan(pairs.count, 0)
        XCTAssertEqual(summary.criticAgreement, 1)
        // The truth prefers the teacher's answer unless the policy's sample is better.
        XCTAssertEqual(summary.policyPreferredShare, summary.policyBetterShare, accuracy: 1e-12)
    }

    func testDPOSummaryAveragesFirstAndLastEpoch() {
        var s = RLAIFSummary(pairs: 8)
        let logs = (1...4).map { StepLog(step: $0, epoch: Double($0) / 2, values: ["loss": Double($0), "rewards/margins": 0.1 * Double($0),
                                                                                    "rewards/accuracies": 0.5]) }
        s.record(dpoHistory: logs, stepsPerEpoch: 2)
        XCTAssertEqual(s.dpoFirstEpoch?["loss"], 1.5)
        XCTAssertEqual(s.dpoLastEpoch?["loss"], 3.5)
        XCTAssertEqual(s.dpoLastEpoch?["rewards/margins"] ?? 0, 0.35, accuracy: 1e-12)
    }

    func testSelectionRulePrefersTheBestThenTheGentlest() {
        func row(_ lr: Float, _ beta: Float, _ epochs: Int, _ mean: Double) -> DPOSelection.Row {
            DPOSelection.Row(setting: DPOSetting(learningRate: lr, beta: beta, epochs: epochs), winRates: [:], mean: mean)
        }
        XCTAssertEqual(DPOSelection.choose([row(1e-5, 0.05, 1, 50), row(1e-4, 0.05, 3, 55), row(3e-5, 0.2, 2, 54)]),
                       DPOSetting(learningRate: 1e-4, beta: 0.05, epochs: 3))
        // Within 0.1 points: the smaller learning rate, then β, then epochs.
        XCTAssertEqual(DPOSelection.choose([row(1e-4, 0.05, 1, 55), row(3e-5, 0.2, 3, 54.95), row(3e-5, 0.2, 2, 54.92)]),
                       DPOSetting(learningRate: 3e-5, beta: 0.2, epochs: 2))
    }

    func testSelectionRefusesTestPrompts() {
        let runner = ExperimentRunner(preset: tinyPreset(), directory: URL(fileURLWithPath: "/nonexistent"))
        XCTAssertThrowsError(try runner.selectDPO(grid: .standard)) { XCTAssertTrue("\($0)".contains("validation"), "\($0)") }
    }

    /// The selection runs every grid point on every selection arm, one DPO run per (lr, β) read at
    /// each epoch's end.
    func testSelectionCoversTheGrid() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("select-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        var p = tinyPreset()
        p.evaluationSet = .validation
        p.judgeSpecs = ["strong", "claude", "independent"].map {
            JudgeSpec(name: $0, dModel: 16, layers: 1, heads: 2, pretrainSteps: 2, trainingPairs: 32, epochs: 1, seed: 9)
        }
        p.judges = ["independent"]
        let selection = try ExperimentRunner(preset: p, directory: dir).selectDPO(grid: DPOGrid(learningRates: [1e-5, 1e-4], betas: [0.1], maxEpochs: 2))
        XCTAssertEqual(Set(selection.rows.map(\.setting)), [DPOSetting(learningRate: 1e-5, beta: 0.1, epochs: 1), DPOSetting(learningRate: 1e-5, beta: 0.1, epochs: 2),
                                                            DPOSetting(learningRate: 1e-4, beta: 0.1, epochs: 1), DPOSetting(learningRate: 1e-4, beta: 0.1, epochs: 2)])
        XCTAssertTrue(selection.rows.allSatisfy { $0.winRates.count == ExperimentRunner.selectionArms.count })
        XCTAssertTrue(selection.rows.contains { $0.setting == selection.chosen })
        XCTAssertTrue(selection.markdown().contains("(chosen)"))
    }
}

final class WorldReportTests: XCTestCase {
    /// The world report measures every teacher on validation prompts and every named judge on
    /// validation pairs; the truth agrees with itself and the teachers keep their order.
    func testWorldReportMeasuresTeachersAndJudges() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("world-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let runner = ExperimentRunner(preset: tinyPreset(), directory: dir)
        let report = try runner.worldReport(judges: ["truth", "tiny-judge"], prompts: 400, pairs: 300)
        XCTAssertEqual(report.teachers.map(\.teacher), Teacher.all.map(\.name))
        let exact = Dictionary(uniqueKeysWithValues: report.teachers.map { ($0.teacher, $0.exactMatch) })
        XCTAssertGreaterThan(exact["strong"]!, exact["claude"]!)
        XCTAssertGreaterThan(exact["claude"]!, exact["reference"]!)
        XCTAssertGreaterThan(exact["reference"]!, exact["weak"]!)
        XCTAssertEqual(report.teachers.first { $0.teacher == "reference" }?.winRate["truth"], 50)
        XCTAssertEqual(report.judges.map(\.judge), ["truth", "tiny-judge"])
        XCTAssertEqual(report.judges[0].accuracy, 1)
        XCTAssertGreaterThan(report.validationPairs, 200)
        let md = report.markdown()
        XCTAssertTrue(md.contains("| weak | ") && md.contains("| tiny-judge | "), md)
        XCTAssertEqual(runner.judgeNames(figures: [2, 4]), tinyPreset().judges + ["strong", "claude"])
    }
}
