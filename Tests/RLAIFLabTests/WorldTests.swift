import Foundation
import XCTest
import Alignment
import RLAIFLab

final class WorldTests: XCTestCase {
    func testTaskAnswersAndPromptFormat() {
        XCTAssertEqual(Instruction(kind: .reverse, argument: "abc").answer, "cba")
        XCTAssertEqual(Instruction(kind: .sort, argument: "cab").answer, "abc")
        XCTAssertEqual(Instruction(kind: .twice, argument: "ab").answer, "aabb")
        XCTAssertEqual(Instruction(kind: .add, argument: "7+5").answer, "12")
        XCTAssertEqual(Instruction(kind: .count, argument: "a:abaca").answer, "3")
        XCTAssertEqual(Instruction(kind: .count, argument: "a:abaca").prompt, "Human: count a in abaca\n\nAssistant: ")
    }

    func testGradedQualityGivesPartialCredit() {
        let t = Instruction(kind: .reverse, argument: "abcd")  // dcba
        XCTAssertEqual(t.quality("dcba"), 1)
        XCTAssertEqual(t.quality("dcbx"), 0.75)
        XCTAssertEqual(t.quality("dc"), 0.5)
        XCTAssertEqual(t.quality("dcbaa"), 0.8)
        XCTAssertEqual(t.quality(""), 0)
    }

    func testTeachersFailSystematicallyNotRandomly() {
        let tasks = World.tasks(4_000, seed: 5)
        func accuracy(_ teacher: Teacher, _ kind: TaskKind? = nil) -> Double {
            let subset = tasks.filter { kind == nil || $0.kind == kind }
            return Double(subset.filter { teacher.respond($0) == $0.answer }.count) / Double(subset.count)
        }
        // Strong > Claude-like > reference > weak, and even the strong teacher is well below 99%.
        XCTAssertGreaterThan(accuracy(.strong), accuracy(.claude))
        XCTAssertGreaterThan(accuracy(.claude), accuracy(.reference))
        XCTAssertGreaterThan(accuracy(.reference), accuracy(.weak))
        XCTAssertLessThan(accuracy(.strong), 0.95)
        // The weak teacher always fails the same instances: answering twice gives the same output...
        for t in tasks.prefix(100) { XCTAssertEqual(Teacher.weak.respond(t), Teacher.weak.respond(t)) }
        // ...about 80% of those its twice gap covers, picked by the prompt's hash, not by a visible feature.
        XCTAssertEqual(accuracy(.weak, .twice), 0.2, accuracy: 0.05)
        // (A gap covers only instances where its error shows: reversals of 4+ letters whose first two
        // answer letters differ.)
        let longReversals = tasks.filter { Teacher.Gap.reverseLong.covers($0) }
        XCTAssertTrue(longReversals.allSatisfy { $0.argument.count >= 4 })
        let failed = Double(longReversals.filter { Teacher.weak.respond($0) != $0.answer }.count) / Double(longReversals.count)
        XCTAssertEqual(failed, 0.6, accuracy: 0.06)
        XCTAssertEqual(accuracy(.weak, .reverse), 1 - 0.6 * (2.0 / 3) * (5.0 / 6), accuracy: 0.06)  // 4 or 5 letters of 3...5, first two differ
        // The strong teacher's errors are of several kinds.
        let strongErrors = Set(tasks.filter { Teacher.strong.respond($0) != $0.answer }.map(\.kind))
        XCTAssertGreaterThanOrEqual(strongErrors.count, 3)
        // What each gap does, on a teacher that fails every instance a gap covers.
        func always(_ gap: Teacher.Gap, _ kind: TaskKind, _ argument: String) -> String {
            Teacher(name: "always", failures: [.init(gap, 1)]).respond(Instruction(kind: kind, argument: argument))
        }
        XCTAssertEqual(always(.addNoCarry, .add, "7+5"), "2")
        XCTAssertEqual(always(.addNoCarry, .add, "3+5"), "8")
        XCTAssertEqual(always(.reverseLong, .reverse, "abcde"), "decba")  // edcba, first two swapped
        XCTAssertEqual(always(.reverseLong, .reverse, "abc"), "cba")
        XCTAssertEqual(always(.sortLong, .sort, "edcba"), "abced")
        XCTAssertEqual(always(.sortLong, .sort, "ddcba"), "abcdd")        // the last two are equal: nothing to swap
        XCTAssertEqual(always(.sortDuplicates, .sort, "cabca"), "abc")
        XCTAssertEqual(always(.sortDuplicates, .sort, "cab"), "abc")
        XCTAssertEqual(always(.countHigh, .count, "a:abaca"), "2")
        XCTAssertEqual(always(.countHigh, .count, "a:abcd"), "1")
        XCTAssertEqual(always(.twiceLast, .twice, "ab"), "aab")
        XCTAssertEqual(always(.twiceExtra, .twice, "ab"), "aabbb")
    }

    func testAnnotatorsPreferQualityAndLengthLovingOnesLength() {
        let t = Instruction(kind: .twice, argument: "ab")  // aabb
        XCTAssertEqual(Annotator.careful.preference(t, "aabb", "aabb"), 0.5)
        XCTAssertGreaterThan(Annotator.careful.preference(t, "aabb", "aab"), 0.99)
        XCTAssertEqual(Annotator.careful.preference(t, "aab", "aabb") + Annotator.careful.preference(t, "aabb", "aab"), 1, accuracy: 1e-12)
        // One character longer and 1/5 worse (quality 0.8): careful annotators still pick the answer,
        // length-loving ones only by a coin flip; shorter and worse, they never do.
        XCTAssertGreaterThan(Annotator.careful.preference(t, "aabb", "aabbb"), 0.98)
        let lengthy = Annotator.lengthLoving.preference(t, "aabb", "aabbb")
        XCTAssertEqual(lengthy, 1 / (1 + exp(-(0.2 / 0.05 - 4))), accuracy: 1e-12)
        XCTAssertEqual(lengthy, 0.5, accuracy: 1e-9)
        XCTAssertGreaterThan(Annotator.lengthLoving.preference(t, "aabb", "aab"), 0.999)
        var rng = RandomGenerator(seed: 1)
        let wins = (0..<4_000).filter { _ in Annotator.lengthLoving.prefers(t, "aabb", "aabbb", &rng) }.count
        XCTAssertEqual(Double(wins) / 4_000, lengthy, accuracy: 0.03)
        XCTAssertEqual(Annotator.lengthLoving.preference(t, "aabb", "aabc"), Annotator.careful.preference(t, "aabb", "aabc"))
    }

    func testJudgePairsAreDistinctLabelledAndFromTheirSplit() {
        let pairs = World.judgePairs(600, seed: 3, split: .validation, annotator: .careful)
        XCTAssertEqual(pairs.count, 600)
        XCTAssertTrue(pairs.allSatisfy { $0.chosen != $0.rejected && World.split(of: $0.task) == .validation })
        // Careful labels agree with the truth on nearly every pair of unequal quality.
        let decided = pairs.filter { $0.task.quality($0.chosen) != $0.task.quality($0.rejected) }
        let right = decided.filter { $0.task.quality($0.chosen) > $0.task.quality($0.rejected) }
        XCTAssertGreaterThan(Double(right.count) / Double(decided.count), 0.95)
        // Candidates include the answer, teachers' kinds of error and others.
        XCTAssertTrue(pairs.contains { $0.chosen == $0.task.answer })
        XCTAssertTrue(pairs.contains { p in Teacher.Gap.allCases.contains { $0.covers(p.task) && $0.apply(p.task) == p.rejected } })
        XCTAssertTrue(pairs.allSatisfy { (try? World.tokenizer.encodeChecked($0.task.prompt + $0.chosen + $0.rejected).get()) != nil })
    }

    func testJudgeAgreementMeasuresAccuracyAndLengthBias() {
        struct Longest: Judge {
            let name = "longest"
            func preferences(_ tasks: [Instruction], _ first: [String], _ second: [String]) -> [Double] {
                zip(first, second).map { $0.count > $1.count ? 1 : $0.count < $1.count ? 0 : 0.5 }
            }
        }
        let pairs = World.judgePairs(800, seed: 9, split: .validation, annotator: .careful)
        let truth = JudgeAgreement.measure(TruthJudge(), pairs: pairs)
        XCTAssertEqual(truth.accuracy, 1)
        let longest = JudgeAgreement.measure(Longest(), pairs: pairs)
        XCTAssertEqual(longest.accuracyBetterLonger, 1)
        XCTAssertEqual(longest.accuracyBetterShorter, 0)
    }

    func testPretrainingTextCarriesSkillsOnlyAsPlainCorrectSentences() {
        let text = World.pretrainingText(2_000, seed: 4, skillShare: 0.5)
        let decoded = text.map { (World.tokenizer.decode($0.prompt), World.tokenizer.decode($0.completion)) }
        let sentences = decoded.filter { !$0.0.hasPrefix("Human: ") }
        XCTAssertEqual(Double(sentences.count) / 2_000, 0.5, accuracy: 0.05)
        // No instruction wording in the skill sentences.
        for (context, _) in sentences {
            XCTAssertFalse(context.contains("Human") || context.contains("Assistant"), context)
            XCTAssertFalse(TaskKind.allCases.contains { context.hasPrefix($0.rawValue + " ") }, context)
        }
        XCTAssertEqual(Instruction(kind: .reverse, argument: "abc").sentence.context, "abc backwards is ")
        XCTAssertEqual(Instruction(kind: .count, argument: "a:abaca").sentence.context, "the number of a in abaca is ")
        XCTAssertEqual(Instruction(kind: .count, argument: "a:abaca").sentence.continuation, "3")
        let tasks = World.tasks(2_000, seed: 4)
        XCTAssertTrue(tasks.allSatisfy { (try? World.tokenizer.encodeChecked($0.sentence.context + $0.sentence.continuation).get()) != nil })
        // Without skill sentences, pretraining is the chat format with random responses only.
        XCTAssertTrue(World.pretrainingText(200, seed: 4).allSatisfy { World.tokenizer.decode($0.prompt).hasPrefix("Human: ") })
    }

    func testPoolTestAndValidationPromptsAreDisjoint() {
        var preset = Preset.standard
        let runner = ExperimentRunner(preset: preset, directory: URL(fileURLWithPath: "/nonexistent"))
        preset.evaluationSet = .validation
        let validationRunner = ExperimentRunner(preset: preset, directory: URL(fileURLWithPath: "/nonexistent"))
        let pool = Set(runner.pool.map(\.instruction)), test = Set(runner.evalTasks.map(\.instruction))
        let validation = Set(validationRunner.evalTasks.map(\.instruction))
        XCTAssertEqual(runner.pool.count, preset.promptPool)
        XCTAssertEqual(runner.evalTasks.count, preset.evalPrompts)
        XCTAssertTrue(pool.isDisjoint(with: test))
        XCTAssertTrue(pool.isDisjoint(with: validation))
        XCTAssertTrue(test.isDisjoint(with: validation))
        // Every kind is still evaluated (even addition, with 100 instances in all).
        XCTAssertEqual(Set(runner.evalTasks.map(\.kind)), Set(TaskKind.allCases))
        XCTAssertEqual(Set(validationRunner.evalTasks.map(\.kind)), Set(TaskKind.allCases))
    }

    /// With `sftEpochs` set, an arm's SFT steps follow its data (the paper's code); otherwise every
    /// arm runs about `sftSteps` (whole epochs).
    func testSFTStepsFollowDataWhenEpochsAreSet() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sft-epochs-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let family = Family(name: "tiny", dModel: 16, layers: 1, heads: 2, pretrainSteps: 1)
        func steps(epochs: Int?, fraction: Double) throws -> Int {
            var preset = Preset(name: "test", families: [family], seeds: [0], promptPool: 128, evalPrompts: 8, sftSteps: 16)
            preset.batchSize = 16
            preset.sftEpochs = epochs
            let runner = ExperimentRunner(preset: preset, directory: dir.appendingPathComponent("\(epochs ?? 0)"))
            _ = try runner.sft(family, teacher: .weak, fraction: fraction, seed: 0)
            let metrics = dir.appendingPathComponent("\(epochs ?? 0)/stages/tiny-seed0-sft-weak-\(Int(fraction * 100))/metrics.jsonl")
            return try String(contentsOf: metrics, encoding: .utf8).split(separator: "\n").count
        }
        XCTAssertEqual(try steps(epochs: 2, fraction: 0.25), 4)   // 32 prompts = 2 batches, x 2 epochs
        XCTAssertEqual(try steps(epochs: 2, fraction: 1), 16)     // 128 prompts = 8 batches, x 2 epochs
        XCTAssertEqual(try steps(epochs: nil, fraction: 1), 16)   // sftSteps, whatever the data
        XCTAssertEqual(try steps(epochs: nil, fraction: 0.25), 16)
    }

    func testTokenizerCoversEveryPromptAndAnswer() {
        for t in World.tasks(500, seed: 9) {
            if case .failure(let e) = World.tokenizer.encodeChecked(t.prompt + t.answer) { XCTFail("\(e)") }
        }
    }

    func testReportTablesAndChart() {
        let arm = Arm.figure2[0]
        func result(_ seed: UInt64, _ win: Double) -> ArmResult {
            ArmResult(arm: arm, family: "small", seed: seed,
                      evaluation: Evaluation(winRate: ["independent": win, "length": 50], standardError: ["independent": 2, "length": 1],
                                             exactMatch: 0.5, meanQuality: 0.7, exactMatchByKind: [:]),
                      seconds: 1, policyPreferredShare: nil)
        }
        let single = Report(preset: .quick, results: [result(0, 40)])
        XCTAssertEqual(single.cell(arm, "small")?.mean, 40)
        XCTAssertEqual(single.cell(arm, "small")?.error, 2)
        let three = Report(preset: .quick, results: [result(0, 40), result(1, 42), result(2, 44)])
        let c = three.cell(arm, "small")!
        XCTAssertEqual(c.mean, 42, accuracy: 1e-9)
        XCTAssertEqual(c.error, 4.303 * 2 / 3.0.squareRoot(), accuracy: 1e-3)  // t(2) · sd / √3
        XCTAssertTrue(three.markdown(figure: 2).contains("| small | 42.0 ± 5.0 | - | - | - |"))
        XCTAssertTrue(three.chart(figure: 2).hasPrefix("<svg"))
        XCTAssertTrue(three.chart(figure: 3).hasPrefix("<svg"))
    }
}

final class ArmTests: XCTestCase {
    func testArmIdsAreDistinctAcrossFigures() {
        let families = ["base-A", "base-B"]
        let all = [1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14].flatMap { Arm.figure($0, families: families) }
        var byID: [String: Arm] = [:]
        for arm in all {
            if let seen = byID[arm.id] { XCTAssertEqual(seen, arm, "two different arms share the id \(arm.id)") }
            byID[arm.id] = arm
        }
        XCTAssertEqual(Set(all.map(\.label)).count, byID.count)
        XCTAssertEqual(Arm.figure(9, families: families).count, 3)
        XCTAssertTrue(Arm.figure(8).contains { $0.usesPPO })
        XCTAssertEqual(Arm.paperJudge(forFigure: 4), "claude")
        XCTAssertEqual(Arm.paperJudge(forFigure: 7), "claude")
        XCTAssertTrue(Arm.figure(7).allSatisfy { $0.teacher == "claude" })
        // Figure 4 is the paper's: the weak teacher's 10% + RLAIF with the Claude-like critic, against SFT on the Claude-like teacher.
        XCTAssertEqual(Arm.figure(4), [Arm(teacher: "weak", sftFraction: 0.1, critic: nil), Arm(teacher: "weak", sftFraction: 0.1, critic: "claude"),
                                       Arm(teacher: "claude", sftFraction: 1, critic: nil)])
    }
}

final class SweepReportTests: XCTestCase {
    func testSweepMatrixIsRLAIFMinusStrongTeacherSFT() {
        func result(_ arm: Arm, _ win: Double) -> ArmResult {
            ArmResult(arm: arm, family: "small", seed: 0,
                      evaluation: Evaluation(winRate: ["independent": win, "length": 50, "claude": 50], standardError: ["independent": 1],
                                             exactMatch: 0, meanQuality: 0, exactMatchByKind: [:]),
                      seconds: 0, policyPreferredShare: nil)
        }
        let results = [result(Arm(teacher: "strong", sftFraction: 1, critic: nil), 40),
                       result(Arm(teacher: "weak", sftFraction: 0.1, critic: "small"), 30),
                       result(Arm(teacher: "strong", sftFraction: 0.1, critic: "strong"), 45)]
        let report = Report(preset: .quick, results: results)
        let m = report.sweepMatrix(family: "small")
        XCTAssertEqual(m.count, Arm.sweepTeachers.count)
        XCTAssertEqual(m[0][0], -10)   // weak teacher, small critic
        XCTAssertEqual(m[2][3], 5)     // strong teacher, strong critic
        XCTAssertNil(m[1][1])
        XCTAssertTrue(report.markdown(figure: 10).contains("| weak | -10.0 | - | - | - |"))
        XCTAssertTrue(report.chart(figure: 10).contains("+5.0"))
    }
}
