import Foundation
import XCTest
@testable import Alignment
@testable import RLAIFLab

/// The arms beyond the paper (Figures 11-14) with a tiny judge in the strong critic's role.
final class BeyondThePaperTests: XCTestCase {
    var dir: URL!

    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("beyond-\(UUID().uuidString)")
    }

    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func preset() -> Preset {
        var p = tinyPreset()
        p.judgeSpecs = [JudgeSpec(name: "strong", dModel: 16, layers: 1, heads: 2, pretrainSteps: 2, trainingPairs: 64, epochs: 1, seed: 9)]
        p.judges = ["strong", "truth"]
        return p
    }

    /// Every new arm runs, is cached under its id, and reloads as the same result; arms with feedback
    /// data report it, best-of-n (no training, no pairs) does not.
    func testEveryNewArmRunsAndIsCached() throws {
        let p = preset(), family = p.families[0]
        let arms = (11...14).flatMap { Arm.figure($0) }
        for arm in Set(arms).sorted(by: { $0.id < $1.id }) {
            let first = try ExperimentRunner(preset: p, directory: dir).run(arm, family: family, seed: 0)
            let file = dir.appendingPathComponent("arms/\(family.name)/seed0/\(arm.id).json")
            XCTAssertTrue(FileManager.default.fileExists(atPath: file.path), arm.id)
            let again = try ExperimentRunner(preset: p, directory: dir).run(arm, family: family, seed: 0)
            XCTAssertEqual(first.evaluation, again.evaluation, arm.id)
            XCTAssertEqual(first.evaluation.perPromptScores?["strong"]?.count, p.evalPrompts, arm.id)
            if arm.critic == nil || arm.bestOfN != nil {
                XCTAssertNil(first.rlaif, arm.id)
            } else {
                XCTAssertNotNil(first.rlaif, arm.id)
                XCTAssertGreaterThan(first.rlaif?.pairs ?? 0, 0, arm.id)
            }
            if arm.iteratedRound != nil || arm.critic != nil && arm.method == nil {
                XCTAssertNotNil(first.rlaif?.dpoLastEpoch, arm.id)
            }
        }
    }

    /// Best-of-n outputs the candidate the critic scores highest; its first candidate is the sample
    /// plain evaluation draws.
    func testBestOfNPicksTheCriticsArgmax() throws {
        let runner = ExperimentRunner(preset: preset(), directory: dir)
        let model = try runner.base(preset().families[0], seed: 0)
        let critic = try runner.judge("strong")
        let (outputs, candidates) = try runner.bestOfN(model, n: 4, critic: critic, seed: 0)
        let tasks = runner.evalTasks
        XCTAssertEqual(candidates.count, tasks.count)
        XCTAssertTrue(candidates.allSatisfy { $0.count == 4 })
        for i in tasks.indices {
            let scores = critic.scores(Array(repeating: tasks[i], count: 4), candidates[i])
            XCTAssertEqual(critic.scores([tasks[i]], [outputs[i]])[0], scores.max()!, accuracy: 1e-6)
        }
        XCTAssertEqual(candidates.map { $0[0] }, try runner.sample(model, tasks, temperature: 0.7, topP: 0.9, seed: 101))
        // The samples differ somewhere, so the pick is a real choice.
        XCTAssertTrue(candidates.contains { Set($0).count > 1 })
        // With the truth as critic, the output is of the best quality among the candidates.
        let (truthOutputs, truthCandidates) = try runner.bestOfN(model, n: 4, critic: TruthJudge(), seed: 0)
        for i in tasks.indices {
            XCTAssertEqual(tasks[i].quality(truthOutputs[i]), truthCandidates[i].map(tasks[i].quality).max()!)
        }
    }

    /// Rejection sampling's targets are the critic's argmax over k own samples plus the teacher's
    /// completion (last); with the truth as critic the summary's agreement is 1.
    func testRejectionSamplingTargetsAreCriticArgmaxes() throws {
        let runner = ExperimentRunner(preset: preset(), directory: dir)
        let model = try runner.base(preset().families[0], seed: 0)
        let critic = try runner.judge("strong")
        let tasks = runner.rlaifTasks
        let (targets, candidates, summary) = try runner.rejectionSamplingTargets(model, teacher: .weak, critic: critic, k: 3, seed: 0, name: "t")
        XCTAssertEqual(targets.count, tasks.count)
        XCTAssertEqual(summary.pairs, tasks.count)
        for i in tasks.indices {
            XCTAssertEqual(candidates[i].count, 4)
            XCTAssertEqual(candidates[i][3], Teacher.weak.respond(tasks[i]))
            let scores = critic.scores(Array(repeating: tasks[i], count: 4), candidates[i])
            XCTAssertEqual(critic.scores([tasks[i]], [targets[i]])[0], scores.max()!, accuracy: 1e-6)
        }
        let truth = try runner.rejectionSamplingTargets(model, teacher: .weak, critic: TruthJudge(), k: 3, seed: 0, name: "t")
        XCTAssertEqual(truth.summary.criticAgreement, 1)
        for i in tasks.indices { XCTAssertEqual(tasks[i].quality(truth.targets[i]), truth.candidates[i].map(tasks[i].quality).max()!) }
    }

    /// Iterated DPO's rounds use disjoint, equal thirds of the RLAIF prompts; each round trains once,
    /// is cached, and moves the policy.
    func testIteratedRoundsUseFreshPrompts() throws {
        let p = preset(), family = p.families[0]
        let runner = ExperimentRunner(preset: p, directory: dir)
        let parts = (1...Arm.iteratedRounds).map(runner.iteratedPart)
        XCTAssertEqual(parts.flatMap { $0 }, Array(runner.rlaifTasks.prefix(runner.rlaifTasks.count / 3 * 3)))
        XCTAssertEqual(Set(parts.map(\.count)), [runner.rlaifTasks.count / 3])
        let last = Arm(teacher: "weak", sftFraction: 0.1, critic: "strong", method: "iterated-dpo-\(Arm.iteratedRounds)")
        let result = try runner.run(last, family: family, seed: 0)
        // Pairs come from the round's own third only (identical completions are dropped).
        XCTAssertLessThanOrEqual(result.rlaif?.pairs ?? .max, parts[2].count)
        var models: [GPT] = []
        for r in 1...Arm.iteratedRounds {
            let arm = Arm(teacher: "weak", sftFraction: 0.1, critic: "strong", method: "iterated-dpo-\(r)")
            let modelDir = dir.appendingPathComponent("models/\(family.name)/seed0/\(arm.id)")
            XCTAssertTrue(FileManager.default.fileExists(atPath: modelDir.appendingPathComponent("rlaif.json").path), arm.id)
            models.append(try GPT.loadHuggingFace(directory: modelDir))
        }
        let sft = try runner.sft(family, teacher: .weak, fraction: 0.1, seed: 0)
        func weights(_ m: GPT) -> [Float] { m.parameters().flatMap(\.scalars) }
        XCTAssertNotEqual(weights(models[0]), weights(sft))
        XCTAssertNotEqual(weights(models[1]), weights(models[0]))
        // Round 2 as an arm reuses the cached round instead of training it again.
        let round2 = try runner.run(Arm(teacher: "weak", sftFraction: 0.1, critic: "strong", method: "iterated-dpo-2"), family: family, seed: 0)
        XCTAssertEqual(weights(try GPT.loadHuggingFace(directory: dir.appendingPathComponent(
            "models/\(family.name)/seed0/sft-weak-10+rlaif-strong-round2"))), weights(models[1]))
        XCTAssertNotNil(round2.rlaif)
    }

    /// Figure 11's arm pairs the policy's sample with the strong teacher's completion, not its own teacher's.
    func testPairsAgainstAnotherTeachersCompletion() throws {
        let p = preset(), family = p.families[0]
        let runner = ExperimentRunner(preset: p, directory: dir)
        let sft = try runner.sft(family, teacher: .weak, fraction: 0.1, seed: 0)
        let arm = Arm(teacher: "weak", sftFraction: 0.1, critic: "truth", pairsAgainst: "strong")
        let result = try runner.run(arm, family: family, seed: 0)
        let (pairs, direct) = try runner.feedbackPairs(sft, teacher: .strong, critic: TruthJudge(), seed: 0, name: "t")
        XCTAssertEqual(result.rlaif?.pairs, direct.pairs)
        XCTAssertEqual(result.rlaif?.policyBetterShare, direct.policyBetterShare)
        let strongCompletions = Set(runner.rlaifTasks.map { runner.pair($0.prompt, Teacher.strong.respond($0)) }.map(\.completion))
        XCTAssertTrue(pairs.allSatisfy { strongCompletions.contains($0.chosen.completion) || strongCompletions.contains($0.rejected.completion) })
        XCTAssertThrowsError(try runner.run(Arm(teacher: "weak", sftFraction: 0.1, critic: "truth", method: "best-of-many"), family: family, seed: 0)) {
            XCTAssertTrue("\($0)".contains("best-of-many"), "\($0)")
        }
    }

    /// Point 5b: two policy samples per prompt (`--pairs policy`) still trains and reports.
    func testPairsOfTwoPolicySamplesStillRun() throws {
        var p = preset()
        p.pairsAgainst = "policy"
        let result = try ExperimentRunner(preset: p, directory: dir).run(Arm(teacher: "weak", sftFraction: 0.1, critic: "strong"), family: p.families[0], seed: 0)
        XCTAssertGreaterThan(result.rlaif?.pairs ?? 0, 0)
        XCTAssertNotNil(result.rlaif?.dpoLastEpoch)
        // An arm with its own opponent cannot run there: its pairs would silently be the plain arm's.
        let figure11 = Arm(teacher: "weak", sftFraction: 0.1, critic: "strong", pairsAgainst: "strong")
        XCTAssertThrowsError(try ExperimentRunner(preset: p, directory: dir).run(figure11, family: p.families[0], seed: 0)) {
            XCTAssertTrue("\($0)".contains("--pairs policy"), "\($0)")
        }
    }

    func testNewFiguresHaveTitlesContrastsAndDistinctArms() {
        for n in 11...14 {
            XCTAssertNotNil(Report.titles[n], "figure \(n)")
            XCTAssertFalse(Contrast.figure(n).isEmpty, "figure \(n)")
            XCTAssertTrue(Arm.figure(n).contains(Arm(teacher: "weak", sftFraction: 0.1, critic: nil)), "figure \(n)")
        }
        XCTAssertEqual(Arm.figure(12).compactMap(\.bestOfN), [4, 16])
        XCTAssertEqual(Arm.figure(13).compactMap(\.iteratedRound), [1, 2, 3])
        XCTAssertEqual(Arm.figure(11).compactMap(\.pairsAgainst), ["strong"])
        XCTAssertEqual(Arm.figure(14).filter(\.usesRejectionSampling).count, 1)
        // Arms cached before `pairsAgainst` existed still decode.
        let old = #"{"teacher":"weak","sftFraction":0.1,"critic":"strong"}"#
        XCTAssertEqual(try JSONDecoder().decode(Arm.self, from: Data(old.utf8)), Arm(teacher: "weak", sftFraction: 0.1, critic: "strong"))
    }
}
