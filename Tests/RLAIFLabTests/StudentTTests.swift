import Foundation
import XCTest
@testable import RLAIFLab

/// Student-t quantiles and CDF against scipy.stats.t (Fixtures/make_student_t_fixtures.py).
final class StudentTTests: XCTestCase {
    static let probabilities = [0.6, 0.8, 0.9, 0.975, 0.995, 0.9995]
    // scipy.stats.t.ppf(p, df): df, then one value per p in [0.6, 0.8, 0.9, 0.975, 0.995, 0.9995]
    static let ppf: [(df: Double, values: [Double])] = [
        (1, [0.32491969623290634, 1.3763819204711738, 3.0776835371752544, 12.706204736174694, 63.656741162871526, 636.6192487687897]),
        (2, [0.2886751345948128, 1.0606601717798214, 1.8856180831641272, 4.302652729749462, 9.924843200918287, 31.599054576445365]),
        (3, [0.2766706623326898, 0.9784723123633042, 1.637744353696209, 3.1824463052837078, 5.840909309733355, 12.923978636687961]),
        (4, [0.2707222947075976, 0.9409645772351816, 1.533206274058944, 2.7764451051977934, 4.604094871349992, 8.610301581379522]),
        (5, [0.2671808657041451, 0.9195437802408271, 1.4758840488244815, 2.5705818356363146, 4.032142983555228, 6.868826625881276]),
        (6, [0.2648345329335734, 0.9057032851805317, 1.4397557472651483, 2.4469118511449786, 3.7074280213248065, 5.95881617881889]),
        (7, [0.2631668613520229, 0.8960296443137653, 1.4149239276505086, 2.364624251592784, 3.4994832973504924, 5.407882520861828]),
        (8, [0.26192109674883235, 0.8888895177670202, 1.3968153097438654, 2.306004135204166, 3.355387331333395, 5.041305433373456]),
        (9, [0.260955336473911, 0.8834038596855346, 1.3830287383966329, 2.262157162798205, 3.249835541592126, 4.780912585931217]),
        (10, [0.2601848294920803, 0.8790578285505889, 1.372183641110336, 2.228138851986274, 3.16927267261695, 4.586893858702708]),
        (11, [0.25955586047627044, 0.8755299780738819, 1.3634303180205407, 2.200985160091639, 3.1058065155392804, 4.436979338234516]),
        (12, [0.25903274567688733, 0.8726092915881383, 1.356217334023205, 2.1788128296672284, 3.0545395893929013, 4.3177912836062475]),
        (13, [0.2585908577117678, 0.8701515339681739, 1.3501712887800552, 2.1603686564627913, 3.012275838716578, 4.22083172770718]),
        (14, [0.25821265388905856, 0.8680547815574207, 1.345030374454651, 2.144786687917804, 2.9768427343708344, 4.140454112738259]),
        (15, [0.25788530093726125, 0.8662449731949518, 1.3406056078504558, 2.131449545559776, 2.946712883475238, 4.072765195903846]),
        (16, [0.25759919485514193, 0.8646670017982918, 1.3367571673273153, 2.1199052992212546, 2.9207816224251, 4.014996327184108]),
        (17, [0.2573470057512778, 0.863279017420053, 1.3333793897216268, 2.1098155778333156, 2.8982305196774183, 3.965126272119082]),
        (18, [0.25712304263817076, 0.8620486679895989, 1.3303909435699093, 2.1009220402410382, 2.8784404727386077, 3.9216458250852084]),
        (19, [0.25692281979615467, 0.8609505502689286, 1.3277282090267986, 2.0930240544083087, 2.8609346064649794, 3.883405852592131]),
        (20, [0.2567427538545021, 0.8599644397323866, 1.3253407069850465, 2.085963447265864, 2.8453397097861077, 3.8495162749308744]),
        (21, [0.25657994783104826, 0.8590740351948252, 1.3231878738651728, 2.0796138447276795, 2.83135955802305, 3.8192771642745096]),
        (22, [0.25643203434447076, 0.8582660516582046, 1.321236741613362, 2.0738730679040254, 2.8187560606001423, 3.792130671698437]),
        (23, [0.25629705991468515, 0.8575295536880356, 1.3194602398161621, 2.0686576104190486, 2.807335683769999, 3.7676268043118246]),
        (24, [0.25617339831779157, 0.8568554580756556, 1.3178359336731498, 2.0638985616280245, 2.796939504774456, 3.745398619290096]),
        (25, [0.2560596848271514, 0.8562361576764691, 1.31634507267387, 2.0595385527532972, 2.78743581367697, 3.725143949728693]),
        (26, [0.2559547656948675, 0.8556652333281678, 1.3149718642705175, 2.0555294386428735, 2.778714533329683, 3.7066117434809525]),
        (27, [0.25585765890687723, 0.8551372306942819, 1.3137029128292737, 2.0518305164802846, 2.770682957122211, 3.6895917134592784]),
        (28, [0.255767523382335, 0.8546474855822227, 1.3125267815926664, 2.0484071417952454, 2.763262455461444, 3.6739064007013176]),
        (29, [0.25568363457125604, 0.8541919858818557, 1.311433647301551, 2.045229642132703, 2.756385903670605, 3.6594050194663748]),
        (30, [0.2556053649519128, 0.8537672614712979, 1.3104150253913955, 2.0422724563012378, 2.7499956535672254, 3.6459586350420627]),
        (50, [0.254699342988588, 0.8488692445086644, 1.2987136941948096, 2.008559112100761, 2.677793270940844, 3.496012881811176]),
        (100, [0.25402218245822766, 0.8452304244910163, 1.290074761346516, 1.9839715185235518, 2.6258905214380173, 3.390491311164263]),
        (1000, [0.25341451583949876, 0.8419808221624288, 1.2823987214609247, 1.9623390808264083, 2.580754698065951, 3.300282648423944]),
    ]
    // scipy.stats.t.cdf(x, df) for (x, df)
    static let cdf: [(x: Double, df: Double, p: Double)] = [
        (-3.0, 1, 0.10241638234956672),
        (0.5, 2, 0.6666666666666666),
        (1.0, 3, 0.8044988905221148),
        (2.0, 5, 0.9490302605850708),
        (-1.5, 10, 0.08225366322272007),
        (2.5, 30, 0.9909421754659666),
        (0.1, 1000, 0.539817815488198),
        (10.0, 4, 0.999718998188642),
    ]
    func testQuantilesMatchScipyWithin1e6Relative() {
        XCTAssertEqual(Self.ppf.count, 33)
        for (df, values) in Self.ppf {
            for (p, expected) in zip(Self.probabilities, values) {
                let t = StudentT.quantile(p, df: df)
                XCTAssertEqual(t, expected, accuracy: 1e-6 * expected, "t.ppf(\(p), \(df))")
                // Symmetric: the lower quantile is the negated upper one.
                XCTAssertEqual(StudentT.quantile(1 - p, df: df), -expected, accuracy: 1e-6 * expected, "t.ppf(\(1 - p), \(df))")
            }
            XCTAssertEqual(StudentT.twoSided(df: df), values[3], accuracy: 1e-6 * values[3])
        }
        XCTAssertEqual(StudentT.quantile(0.5, df: 3), 0)
    }

    func testCDFMatchesScipy() {
        for (x, df, p) in Self.cdf { XCTAssertEqual(StudentT.cdf(x, df: df), p, accuracy: 1e-10, "t.cdf(\(x), \(df))") }
        XCTAssertEqual(StudentT.cdf(0, df: 7), 0.5)
        XCTAssertEqual(StudentT.cdf(.infinity, df: 7), 1)
    }

    func testSampleSummaryAndDetectableEffect() {
        let s = SampleSummary([1, 2, 3, 4])
        XCTAssertEqual(s.mean, 2.5)
        XCTAssertEqual(s.standardDeviation, (5.0 / 3).squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(s.standardError, (5.0 / 12).squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(s.halfWidth()!, 3.1824463052837078 * (5.0 / 12).squareRoot(), accuracy: 1e-9)
        XCTAssertNil(SampleSummary([1]).halfWidth())
        // 80% power at 5% two-sided: 1.96 + 0.84 = 2.80 standard errors for many df, more for few.
        XCTAssertEqual(minimumDetectableEffect(standardError: 1, df: 1000), 1.9623390808264083 + 0.8419808221624288, accuracy: 1e-6)
        XCTAssertEqual(minimumDetectableEffect(standardError: 2, df: 2), 2 * (4.302652729749462 + 1.0606601717798214), accuracy: 1e-5)
    }

    /// The report's interval over seeds used 2.0 for 6 or more seeds; now t with seeds - 1 df.
    func testReportCellUsesTForAnyNumberOfSeeds() {
        let arm = Arm.figure2[0]
        let wins = [40.0, 41, 43, 44, 46, 47, 50]
        let results = wins.enumerated().map { i, w in
            ArmResult(arm: arm, family: "small", seed: UInt64(i),
                      evaluation: Evaluation(winRate: ["independent": w], standardError: ["independent": 1], exactMatch: 0, meanQuality: 0,
                                             exactMatchByKind: [:]),
                      seconds: 0, policyPreferredShare: nil)
        }
        for n in [2, 6, 7] {
            let s = SampleSummary(Array(wins.prefix(n)))
            let c = Report(preset: .quick, results: Array(results.prefix(n))).cell(arm, "small")!
            XCTAssertEqual(c.error, Self.ppf[n - 2].values[3] * s.standardError, accuracy: 1e-6, "\(n) seeds")
        }
    }
}

final class ClusteredSummaryTests: XCTestCase {
    /// Singleton clusters give the ordinary standard error; repeated prompts widen it and leave
    /// clusters − 1 degrees of freedom.
    func testClusteredStandardError() {
        let values = [0.2, 0.9, 0.4, 0.7, 0.1]
        let plain = SampleSummary(values), singletons = ClusteredSummary(values, cluster: Array(values.indices))
        XCTAssertEqual(singletons.standardError, plain.standardError, accuracy: 1e-12)
        XCTAssertEqual(singletons.degreesOfFreedom, 4)
        let twice = ClusteredSummary([1, 1, 3, 3], cluster: [0, 0, 2, 2])
        XCTAssertEqual(twice.mean, 2)
        XCTAssertEqual(twice.standardError, 1, accuracy: 1e-12)  // 2/1 · ((-2)² + 2²) / 4²
        XCTAssertEqual(twice.degreesOfFreedom, 1)
        XCTAssertGreaterThan(twice.standardError, SampleSummary([1, 1, 3, 3]).standardError)
    }

    /// A one-seed paired interval counts prompts that repeat an instruction once.
    func testPairedDifferenceUsesInstructionClusters() throws {
        let plus = Arm(teacher: "weak", sftFraction: 0.1, critic: "strong"), minus = Arm(teacher: "weak", sftFraction: 0.1, critic: nil)
        func result(_ arm: Arm, _ scores: [Double], clusters: [Int]?) -> ArmResult {
            ArmResult(arm: arm, family: "small", seed: 0,
                      evaluation: Evaluation(winRate: ["independent": 50], standardError: ["independent": 1], exactMatch: 0, meanQuality: 0,
                                             exactMatchByKind: [:], perPromptScores: ["independent": scores], promptClusters: clusters), seconds: 0)
        }
        let contrast = Contrast.figure(2)[0]
        let clustered = try XCTUnwrap(PairedDifference.compute(contrast, family: "small", judge: "independent", results: [
            result(plus, [1, 1, 0.5, 0.5, 1, 0], clusters: [0, 0, 2, 2, 4, 5]), result(minus, [0, 0, 0, 0, 0, 0], clusters: [0, 0, 2, 2, 4, 5])]))
        XCTAssertEqual(clustered.degreesOfFreedom, 3)
        let d = [100.0, 100, 50, 50, 100, 0]
        XCTAssertEqual(clustered.standardError, ClusteredSummary(d, cluster: [0, 0, 2, 2, 4, 5]).standardError, accuracy: 1e-12)
        let plain = try XCTUnwrap(PairedDifference.compute(contrast, family: "small", judge: "independent", results: [
            result(plus, [1, 1, 0.5, 0.5, 1, 0], clusters: nil), result(minus, [0, 0, 0, 0, 0, 0], clusters: nil)]))
        XCTAssertEqual(plain.degreesOfFreedom, 5)
        XCTAssertEqual(plain.standardError, SampleSummary(d).standardError, accuracy: 1e-12)
    }

    func testEvaluationPromptsClusterByInstruction() {
        var preset = Preset.quick
        preset.evalPrompts = 400
        let runner = ExperimentRunner(preset: preset, directory: URL(fileURLWithPath: "/nonexistent"))
        let clusters = runner.promptClusters
        XCTAssertEqual(clusters.count, 400)
        for (i, c) in clusters.enumerated() {
            XCTAssertLessThanOrEqual(c, i)
            XCTAssertEqual(runner.evalTasks[c].instruction, runner.evalTasks[i].instruction)
        }
        XCTAssertLessThan(Set(clusters).count, 400)  // the test split repeats some instructions (additions)
    }
}
