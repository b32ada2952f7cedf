import Alignment
import Foundation
import XCTest
@testable import RLAIFLab

final class ProvenanceTests: XCTestCase {
    var preset: Preset {
        Preset(name: "test", families: [Family(name: "tiny", dModel: 16, layers: 1, heads: 2, pretrainSteps: 1)], seeds: [0],
               promptPool: 64, evalPrompts: 8, sftSteps: 1)
    }

    func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("provenance-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    func provenance(_ preset: Preset? = nil, teachers: [Teacher] = ExperimentRunner.allTeachers, code: String = "code-1") throws -> Provenance {
        try ExperimentRunner(preset: preset ?? self.preset, directory: URL(fileURLWithPath: "/nonexistent"))
            .provenance(teachers: teachers, codeVersion: code)
    }

    /// Hashes are of stable JSON, so a fresh runner computes the same ones; every registry entry is covered.
    func testHashesAreStableAndCoverTheRegistries() throws {
        let a = try provenance(), b = try provenance()
        XCTAssertEqual(a, b)
        XCTAssertEqual(Set(a.teachers.keys), Set(ExperimentRunner.allTeachers.map(\.name)))
        XCTAssertEqual(Set(a.critics.keys), Set(preset.judgeSpecs.map(\.name)))
        XCTAssertEqual(Set(a.judges.keys), Set(preset.judges))
        XCTAssertEqual(a.world.count, 64)
        XCTAssertEqual(ExperimentRunner.teacher("claude"), .claude)
        // A Set encodes in a per-process order; descriptions hash string arrays as sets.
        XCTAssertEqual(try Provenance.hash(["b", "a"], unorderedStringArrays: true), try Provenance.hash(["a", "b"], unorderedStringArrays: true))
        XCTAssertNotEqual(try Provenance.hash(["b", "a"]), try Provenance.hash(["a", "b"]))
        XCTAssertEqual(Provenance.runningCodeVersion.count, 64)
    }

    /// Changing one component changes its hash only, and `differences` names it.
    func testEachChangedComponentIsNamed() throws {
        let recorded = try provenance()
        var weak = Teacher.weak
        weak.failures[0].share = 0.5
        XCTAssertEqual(try provenance(teachers: [weak, .strong, .claude, .reference]).differences(from: recorded), ["teacher weak"])
        var other = preset
        other.judgeSpecs[3].annotator.lengthBias = 1  // the length judge: a critic recipe and an evaluation judge
        XCTAssertEqual(other.judgeSpecs[3].name, "length")
        XCTAssertEqual(try provenance(other).differences(from: recorded), ["preset", "critic length", "judge length"])
        other = preset
        other.judgeSpecs.removeLast()
        XCTAssertEqual(try provenance(other).differences(from: recorded), ["preset", "critic small (removed)"])
        other = preset
        other.dpoBeta = 0.1
        XCTAssertEqual(try provenance(other).differences(from: recorded), ["preset"])
        other = preset
        other.promptPool = 65  // another pool: the world the arms saw differs too
        XCTAssertEqual(try provenance(other).differences(from: recorded), ["preset", "world"])
        XCTAssertEqual(try provenance(code: "code-2").differences(from: recorded), ["code version"])
        XCTAssertEqual(try provenance(code: "unknown").differences(from: try provenance(code: "unknown")), ["code version"])
    }

    func testMismatchRefusesReuseNamingTheComponentUnlessAllowed() throws {
        let dir = try temporaryDirectory()
        let recorded = try provenance()
        let fresh = try RunManifest.prepare(dir, preset: preset, provenance: recorded, allowStaleReuse: false)
        XCTAssertEqual(fresh.provenance, recorded)
        XCTAssertEqual(try RunManifest.prepare(dir, preset: preset, provenance: recorded, allowStaleReuse: false), fresh)

        var weak = Teacher.weak
        weak.failures.append(.init(.sortLong, 1))
        let changed = try provenance(teachers: [weak, .strong, .claude, .reference], code: "code-2")
        XCTAssertThrowsError(try RunManifest.prepare(dir, preset: preset, provenance: changed, allowStaleReuse: false)) { error in
            XCTAssertEqual((error as? ProvenanceMismatch)?.differing, ["teacher weak", "code version"])
            let message = "\(error)"
            XCTAssertTrue(message.contains("a different teacher weak, code version"), message)
            XCTAssertTrue(message.contains("--name or --output") && message.contains("--allow-stale-cache"), message)
        }
        // Refusing leaves preset.json as it was; allowing records the reuse there.
        let file = dir.appendingPathComponent("preset.json")
        XCTAssertEqual(try JSONDecoder().decode(RunManifest.self, from: Data(contentsOf: file)), fresh)
        let reused = try RunManifest.prepare(dir, preset: preset, provenance: changed, allowStaleReuse: true,
                                             date: Date(timeIntervalSince1970: 0))
        XCTAssertEqual(reused.provenance, recorded)
        XCTAssertEqual(reused.staleReuses.map(\.differing), [["teacher weak", "code version"]])
        XCTAssertEqual(reused.staleReuses.first?.date, "1970-01-01T00:00:00Z")
        XCTAssertEqual(try JSONDecoder().decode(RunManifest.self, from: Data(contentsOf: file)), reused)
        let summary = Report.ProvenanceSummary(reused)
        XCTAssertEqual(summary.worldHash, recorded.world)
        XCTAssertEqual(summary.staleReuses.count, 1)
    }

    /// A preset.json from before provenance (a bare preset) records nothing to trust; another file is named.
    /// Kernels, threads and GEMM splitting change results in the last bits: a run under other
    /// settings is named; a manifest from before they were recorded is not compared on them.
    func testNumericSettingsAreNamed() throws {
        let recorded = try provenance()
        XCTAssertEqual(recorded.numerics, Provenance.currentNumerics)
        XCTAssertTrue(recorded.numerics?.contains("threads") ?? false)
        var now = recorded
        now.numerics = "kernels off/off, threads 1, gemm blas"
        XCTAssertEqual(now.differences(from: recorded), ["numeric settings (\(recorded.numerics!) then, kernels off/off, threads 1, gemm blas now)"])
        var old = recorded
        old.numerics = nil
        XCTAssertEqual(now.differences(from: old), [])
    }

    /// Cached pieces whose preset.json is gone are not taken for a fresh directory.
    func testCachedPiecesWithoutAManifestAreRefused() throws {
        let dir = try temporaryDirectory()
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("models/tiny"), withIntermediateDirectories: true)
        XCTAssertThrowsError(try RunManifest.prepare(dir, preset: preset, provenance: try provenance(), allowStaleReuse: false)) { error in
            XCTAssertTrue("\(error)".contains("no preset.json") && "\(error)".contains("models"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("preset.json").path))
        XCTAssertNoThrow(try RunManifest.prepare(dir, preset: preset, provenance: try provenance(), allowStaleReuse: true))
    }

    func testLegacyAndUnreadablePresetFiles() throws {
        let dir = try temporaryDirectory()
        let file = dir.appendingPathComponent("preset.json")
        try JSONEncoder().encode(preset).write(to: file)
        XCTAssertThrowsError(try RunManifest.prepare(dir, preset: preset, provenance: try provenance(), allowStaleReuse: false)) { error in
            XCTAssertEqual((error as? ProvenanceMismatch)?.differing, ["provenance (preset.json predates provenance hashes)"])
        }
        var other = preset
        other.sftSteps = 2
        XCTAssertThrowsError(try RunManifest.prepare(dir, preset: other, provenance: try provenance(), allowStaleReuse: false)) { error in
            XCTAssertEqual((error as? ProvenanceMismatch)?.differing.first, "preset")
        }
        // A preset.json that cannot be read is named, not overwritten.
        try FileManager.default.removeItem(at: file)
        try FileManager.default.createDirectory(at: file, withIntermediateDirectories: false)
        XCTAssertThrowsError(try RunManifest.prepare(dir, preset: preset, provenance: try provenance(), allowStaleReuse: false)) { error in
            XCTAssertTrue("\(error)".contains(file.path), "\(error)")
        }
        try FileManager.default.removeItem(at: file)
        try Data(#"{"x": 1}"#.utf8).write(to: file)
        XCTAssertThrowsError(try RunManifest.prepare(dir, preset: preset, provenance: try provenance(), allowStaleReuse: true)) { error in
            XCTAssertTrue("\(error)".contains(file.path), "\(error)")
        }
    }
}

final class PerSeedBaseAndPerPromptTests: XCTestCase {
    /// Each seed pretrains its own base (initialisation and data order from the seed), cached per seed;
    /// evaluation keeps every judge's per-prompt scores and the per-prompt exact match and quality.
    func testBasesDifferBySeedAndEvaluationKeepsPerPromptScores() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("per-seed-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let family = Family(name: "tiny", dModel: 16, layers: 1, heads: 2, pretrainSteps: 2)
        var preset = Preset(name: "test", families: [family], seeds: [0, 1], promptPool: 64, evalPrompts: 12, sftSteps: 1)
        preset.batchSize = 8
        preset.judgeSpecs = [JudgeSpec(name: "tiny-judge", dModel: 16, layers: 1, heads: 2, pretrainSteps: 1, trainingPairs: 32, epochs: 1, seed: 9)]
        preset.judges = ["tiny-judge", "truth"]
        let runner = ExperimentRunner(preset: preset, directory: dir)
        _ = try runner.base(family, seed: 0)
        _ = try runner.base(family, seed: 1)
        func weights(_ seed: Int) throws -> Data { try Data(contentsOf: dir.appendingPathComponent("cache/tiny/seed\(seed)/model.safetensors")) }
        XCTAssertNotEqual(try weights(0), try weights(1))
        XCTAssertEqual(ExperimentRunner.baseSeed(0), 7)  // seed 0's base is the one all seeds shared before
        XCTAssertNotEqual(ExperimentRunner.baseSeed(1), ExperimentRunner.baseSeed(2))

        let evaluation = try runner.evaluate(try runner.base(family, seed: 1), seed: 1)
        let scores = try XCTUnwrap(evaluation.perPromptScores)
        XCTAssertEqual(Set(scores.keys), Set(preset.judges))
        for (judge, s) in scores {
            XCTAssertEqual(s.count, 12)
            XCTAssertEqual(100 * s.reduce(0, +) / 12, evaluation.winRate[judge]!, accuracy: 1e-9)
        }
        XCTAssertEqual(evaluation.perPromptExact?.count, 12)
        XCTAssertEqual(evaluation.perPromptQuality.map { $0.reduce(0, +) / 12 } ?? .nan, evaluation.meanQuality, accuracy: 1e-12)
        XCTAssertEqual(Double(evaluation.perPromptExact!.filter { $0 }.count) / 12, evaluation.exactMatch)
    }

    /// Arm results cached before per-prompt scores were kept still decode (the fields are optional).
    func testOldArmResultJSONStillDecodes() throws {
        let old = """
        {"arm": {"teacher": "weak", "sftFraction": 0.1}, "family": "small", "seed": 0, "seconds": 3, "evaluation":
         {"winRate": {"strong": 40}, "standardError": {"strong": 2}, "exactMatch": 0.5, "meanQuality": 0.7, "exactMatchByKind": {}}}
        """
        let r = try JSONDecoder().decode(ArmResult.self, from: Data(old.utf8))
        XCTAssertNil(r.evaluation.perPromptScores)
        XCTAssertNil(r.evaluation.perPromptExact)
        XCTAssertEqual(r.evaluation.winRate["strong"], 40)
        var new = r
        new.evaluation.perPromptScores = ["strong": [0.25, 1]]
        new.evaluation.perPromptExact = [false, true]
        new.evaluation.perPromptQuality = [0.5, 1]
        XCTAssertEqual(try JSONDecoder().decode(ArmResult.self, from: JSONEncoder().encode(new)), new)
    }
}
