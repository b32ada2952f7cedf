import Foundation
import XCTest
@testable import RLAIFLab

final class PairedComparisonTests: XCTestCase {
    let rlaif = Arm(teacher: "weak", sftFraction: 0.1, critic: "strong")
    let sft10 = Arm(teacher: "weak", sftFraction: 0.1, critic: nil)

    func result(_ arm: Arm, seed: UInt64, _ scores: [Double]?, family: String = "small") -> ArmResult {
        let mean = scores.map { 100 * $0.reduce(0, +) / Double($0.count) } ?? 50
        return ArmResult(arm: arm, family: family, seed: seed,
                         evaluation: Evaluation(winRate: ["independent": mean, "length": 50, "claude": 50], standardError: ["independent": 1], exactMatch: 0, meanQuality: 0,
                                                exactMatchByKind: [:], perPromptScores: scores.map { ["independent": $0, "length": $0.map { _ in 0.5 }] }),
                         seconds: 0, policyPreferredShare: nil)
    }

    var figure2Contrast: Contrast { Contrast.figure(2)[0] }

    /// One seed: the per-prompt paired difference, its mean and a t-interval on prompts − 1 df.
    func testOneSeedIsPairedOverPrompts() throws {
        let results = [result(rlaif, seed: 0, [0.5, 1, 0, 1]), result(sft10, seed: 0, [0, 0.5, 0, 0.5])]
        XCTAssertEqual(figure2Contrast.plus, rlaif)
        XCTAssertEqual(figure2Contrast.minus, sft10)
        let d = try XCTUnwrap(PairedDifference.compute(figure2Contrast, family: "small", judge: "independent", results: results))
        // Differences 50, 50, 0, 50 points: mean 37.5, sd 25, paired SE 12.5, t(3) = 3.1824463.
        XCTAssertEqual(d.meanDiff, 37.5, accuracy: 1e-12)
        XCTAssertEqual(d.standardError, 12.5, accuracy: 1e-12)
        XCTAssertEqual(d.degreesOfFreedom, 3)
        XCTAssertEqual(d.intervalOver, "prompts")
        XCTAssertEqual(d.ciLow, 37.5 - 3.1824463052837078 * 12.5, accuracy: 1e-6)
        XCTAssertEqual(d.ciHigh, 37.5 + 3.1824463052837078 * 12.5, accuracy: 1e-6)
        XCTAssertEqual(d.minimumDetectable, (3.1824463052837078 + 0.9784723123633042) * 12.5, accuracy: 1e-5)
        XCTAssertEqual(d.nSeeds, 1)
        XCTAssertEqual(d.nPrompts, 4)
        // An unpaired reading would ignore that the same prompts are hard for both arms; pairing uses it.
        XCTAssertNil(PairedDifference.compute(figure2Contrast, family: "other", judge: "independent", results: results))
        XCTAssertNil(PairedDifference.compute(figure2Contrast, family: "small", judge: "claude", results: results))
    }

    /// Several seeds: the mean of the per-seed means, t-interval over seeds (seeds − 1 df).
    func testSeveralSeedsUseTheSpreadOfPerSeedMeans() throws {
        var results: [ArmResult] = []
        for (seed, lift) in [(UInt64(0), 0.1), (1, 0.2), (2, 0.3)] {
            let base = [0.2, 0.4, 0.6, 0.3]
            results += [result(rlaif, seed: seed, base.map { $0 + lift }), result(sft10, seed: seed, base)]
        }
        let d = try XCTUnwrap(PairedDifference.compute(figure2Contrast, family: "small", judge: "independent", results: results))
        XCTAssertEqual(d.perSeed.map(\.mean), [10, 20, 30].map(Double.init), accuracy: 1e-9)
        XCTAssertEqual(d.meanDiff, 20, accuracy: 1e-9)
        XCTAssertEqual(d.standardError, 10 / 3.0.squareRoot(), accuracy: 1e-9)
        XCTAssertEqual(d.degreesOfFreedom, 2)
        XCTAssertEqual(d.intervalOver, "seeds")
        XCTAssertEqual(d.ciHigh - d.ciLow, 2 * 4.302652729749462 * 10 / 3.0.squareRoot(), accuracy: 1e-6)
        XCTAssertEqual(d.nSeeds, 3)
    }

    /// Results cached before per-prompt scores were kept carry none: no paired row, and the report says why.
    func testOldResultsWithoutPerPromptScores() {
        let report = Report(preset: .quick, results: [result(rlaif, seed: 0, nil), result(sft10, seed: 0, nil)])
        XCTAssertTrue(report.pairedDifferences().isEmpty)
        XCTAssertTrue(report.markdown(figure: 2).contains("No per-prompt scores"))
    }

    func testReportTableSentenceAndJSON() throws {
        let results = [result(rlaif, seed: 0, [0.5, 1, 0, 1]), result(sft10, seed: 0, [0, 0.5, 0, 0.5])]
        let report = Report(preset: .quick, results: results)
        let md = report.markdown(figure: 2)
        XCTAssertTrue(md.contains("### Paired differences (win-rate points)"))
        XCTAssertTrue(md.contains("| RLAIF − SFT weak 10% | small | independent | +37.5 | [-2.3, +77.3] | 12.5 | 1 | 52.0 |"), md)
        XCTAssertTrue(md.contains("| RLAIF − SFT weak 10% | small | length | +0.0 |"), md)
        XCTAssertTrue(md.contains("Smallest effect this design can detect: with 1 seed × 4 prompts, a true difference of 52.0–52.0"), md)
        XCTAssertTrue(md.contains("(t_{df, 0.975} + t_{df, 0.80}) × SE = 4.16 × SE at 3 df"), md)
        XCTAssertEqual(report.markdown(figure: 3).contains("Paired differences"), false)
        let json = try JSONSerialization.jsonObject(with: try report.json(arms: [rlaif, sft10], figures: [2])) as! [String: Any]
        let paired = try XCTUnwrap(json["paired"] as? [[String: Any]])
        XCTAssertEqual(paired.count, 2)  // independent and length judges
        let strong = try XCTUnwrap(paired.first { $0["judge"] as? String == "independent" })
        for key in ["figure", "comparison", "family", "judge", "mean_diff", "ci_low", "ci_high", "n_seeds"] { XCTAssertNotNil(strong[key], key) }
        XCTAssertEqual(strong["mean_diff"] as? Double ?? .nan, 37.5, accuracy: 1e-9)
        XCTAssertEqual(strong["comparison"] as? String, "RLAIF − SFT weak 10%")
    }

    /// results.json's flat contract (issue #12, point 7): teachers, critics and judges with their
    /// validation numbers, and one "arms" entry per figure, judge, family and seed with per-prompt
    /// scores and, for an RLAIF arm, the DPO step's final numbers.
    func testResultsJSONContract() throws {
        var rlaifSummary = RLAIFSummary(pairs: 10)
        rlaifSummary.policyPreferredShare = 0.4
        rlaifSummary.dpoLastEpoch = ["loss": 0.5, "rewards/margins": 0.7, "rewards/accuracies": 0.8]
        var rlaifResult = result(rlaif, seed: 3, [0.5, 1, 0, 1])
        rlaifResult.rlaif = rlaifSummary
        var report = Report(preset: .quick, results: [rlaifResult, result(sft10, seed: 3, [0, 0.5, 0, 0.5])])
        report.world = try JSONDecoder().decode(WorldReport.self, from: Data("""
            {"validationPrompts": 5, "validationPairs": 7,
             "teachers": [{"teacher": "weak", "exactMatch": 0.6, "meanQuality": 0.7, "winRate": {"independent": 40, "truth": 35}, "exactMatchByKind": {}}],
             "judges": [{"judge": "strong", "pairs": 7, "accuracy": 0.9, "accuracyBetterLonger": 1, "accuracyBetterShorter": 0.8},
                        {"judge": "independent", "pairs": 7, "accuracy": 0.95, "accuracyBetterLonger": 1, "accuracyBetterShorter": 0.9}]}
            """.utf8))
        let json = try JSONSerialization.jsonObject(with: try report.json(arms: [rlaif, sft10], figures: [2, 3])) as! [String: Any]
        let teachers = try XCTUnwrap(json["teachers"] as? [[String: Any]])
        XCTAssertEqual(teachers.first?["name"] as? String, "weak")
        XCTAssertEqual(teachers.first?["validation_exact"] as? Double, 0.6)
        XCTAssertEqual(teachers.first?["validation_win_rate"] as? Double, 40)
        let critics = try XCTUnwrap(json["critics"] as? [[String: Any]])
        XCTAssertEqual(critics.count, 1)
        XCTAssertEqual(critics.first?["name"] as? String, "strong")
        XCTAssertEqual(critics.first?["validation_agreement"] as? Double, 0.9)
        let judges = try XCTUnwrap(json["judges"] as? [[String: Any]])
        XCTAssertEqual(judges.map { $0["name"] as? String }, ["independent", "truth"])
        XCTAssertEqual(judges.map { $0["validation_agreement"] as? Double }, [0.95, 1])
        let arms = try XCTUnwrap(json["arms"] as? [[String: Any]])
        // Figure 2 has both arms, Figure 3 only SFT on 10%; only the independent judge has scores.
        XCTAssertEqual(arms.map { "\($0["figure"]!) \($0["arm"]!) \($0["judge"]!)" }.sorted(),
                       ["2 sft-weak-10 independent", "2 sft-weak-10+rlaif-strong independent", "3 sft-weak-10 independent"])
        let entry = try XCTUnwrap(arms.first { $0["arm"] as? String == "sft-weak-10+rlaif-strong" })
        XCTAssertEqual(entry["seed"] as? Int, 3)
        XCTAssertEqual(entry["family"] as? String, "small")
        XCTAssertEqual(entry["win_rate"] as? Double ?? .nan, 62.5, accuracy: 1e-9)
        XCTAssertEqual(entry["per_prompt"] as? [Double], [0.5, 1, 0, 1])
        XCTAssertNotNil(entry["se"])
        let dpo = try XCTUnwrap(entry["dpo"] as? [String: Any])
        XCTAssertEqual(dpo["final_loss"] as? Double, 0.5)
        XCTAssertEqual(dpo["reward_margin"] as? Double, 0.7)
        XCTAssertEqual(dpo["reward_accuracy"] as? Double, 0.8)
        XCTAssertEqual(dpo["policy_preferred_share"] as? Double, 0.4)
        XCTAssertNil(arms.first { $0["arm"] as? String == "sft-weak-10" }?["dpo"])
    }

    /// Figure 3 states where each family's curve flattens: the first share covering 90% of the rise.
    func testFigure3SaysWhereTheCurveFlattens() {
        let rates: [Double] = [5, 30, 40, 44, 45, 46]
        let results = zip(Arm.figure3, rates).map { arm, rate in
            ArmResult(arm: arm, family: "small", seed: 0,
                      evaluation: Evaluation(winRate: ["independent": rate], standardError: ["independent": 1], exactMatch: 0, meanQuality: 0,
                                             exactMatchByKind: [:]),
                      seconds: 0)
        }
        let report = Report(preset: .quick, results: results)
        let rows = report.flatteningShares()
        XCTAssertEqual(rows.count, 1)  // no truth scores here
        XCTAssertEqual(rows.first?.share, 25)  // 5 + 0.9 x 41 = 41.9: first reached at 25% (44)
        XCTAssertTrue(report.markdown(figure: 3).contains("- small, independent judge: 25% (5.0 at 0%, 46.0 at 100%)"), report.markdown(figure: 3))
    }

    /// The contrast list is data over the figures' arms: each names arms its figure runs.
    func testEveryContrastNamesArmsOfItsFigure() {
        XCTAssertEqual(Set(Contrast.all.map(\.figure)), [2, 4, 5, 7, 8, 11, 12, 13, 14])
        for c in Contrast.all {
            let arms = Arm.figure(c.figure, families: ["base-A", "base-B"])
            XCTAssertTrue(arms.contains(c.plus), "figure \(c.figure): \(c.name) names \(c.plus.id), not one of its arms")
            XCTAssertTrue(arms.contains(c.minus), "figure \(c.figure): \(c.name) names \(c.minus.id), not one of its arms")
            XCTAssertNotEqual(c.plus, c.minus)
        }
        XCTAssertEqual(Set(Contrast.all.map { "\($0.figure) \($0.name)" }).count, Contrast.all.count)
    }
}

private func XCTAssertEqual(_ a: [Double], _ b: [Double], accuracy: Double, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, file: file, line: line)
    for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: accuracy, file: file, line: line) }
}
