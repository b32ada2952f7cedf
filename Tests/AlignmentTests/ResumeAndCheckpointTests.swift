import Foundation
import XCTest
import Alignment

/// Checkpoint replacement, resume validation and the stop on non-finite values.
final class ResumeAndCheckpointTests: XCTestCase {
    let tok = ByteTokenizer()
    let fm = FileManager.default

    func model(dModel: Int = 32, dropout: Float = 0.1, seed: UInt64 = 3) -> GPT {
        GPT(GPTConfig(vocabSize: 258, contextLength: 24, dModel: dModel, layers: 1, heads: 2, dropout: dropout), seed: seed)
    }
    var examples: [TokenizedPair] {
        let t = Tokenization(tokenizer: tok, policy: TruncationPolicy(maxLength: 24, maxPromptLength: 12))
        var report = DataReport()
        return (0..<8).map { t.pair(prompt: "C\($0):", completion: "z\($0)", report: &report)! }
    }
    var config: TrainerConfig {
        var c = TrainerConfig()
        c.learningRate = 1e-3
        c.batchSize = 4
        c.epochs = 2
        c.saveEvery = 1
        return c
    }
    func tempDir() -> URL {
        let url = fm.temporaryDirectory.appendingPathComponent("resume-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }
    func sftLoop(_ dir: URL, config: TrainerConfig? = nil, model m: GPT? = nil) throws -> TrainingLoop<SFTStage> {
        try TrainingLoop(stage: SFTStage(model: m ?? model(), padToken: tok.padToken), examples: examples, config: config ?? self.config,
                         outputDirectory: dir)
    }
    func weights(_ m: GPT) -> [Float] { m.parameters().flatMap(\.scalars) }
    func checkpointFiles(_ dir: URL) -> [String] {
        ((try? fm.contentsOfDirectory(atPath: dir.path)) ?? []).filter { $0.contains("checkpoint") }.sorted()
    }
    func metricSteps(_ dir: URL) throws -> [Int] {
        let text = try String(contentsOf: dir.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        XCTAssertTrue(text.isEmpty || text.hasSuffix("\n"))
        return try text.split(separator: "\n").map { line in
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], String(line))
            return try XCTUnwrap((object["step"] as? NSNumber)?.intValue)
        }
    }
    func trainerState(_ dir: URL) -> URL { dir.appendingPathComponent("checkpoint/trainer_state.json") }
    func editState(_ dir: URL, _ edit: (inout [String: Any]) -> Void) throws {
        var json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: trainerState(dir))) as? [String: Any])
        edit(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: trainerState(dir))
    }

    // MARK: Damaged or mismatched checkpoints

    func testDamagedTrainerStateIsRefusedNamingFileAndFieldBeforeAnythingChanges() throws {
        let source = tempDir()
        try sftLoop(source).train(maxSteps: 2)
        let cases: [(String, (URL) throws -> Void, String)] = [
            ("negative step", { try self.editState($0) { $0["step"] = -1 } }, "trainer_state.json: step: must be in 0...4, got -1"),
            ("step past the end", { try self.editState($0) { $0["step"] = 99 } }, "trainer_state.json: step: must be in 0...4, got 99"),
            ("step not a number", { try self.editState($0) { $0["step"] = "two" } }, "trainer_state.json: step: has the wrong type"),
            ("step missing", { try self.editState($0) { $0["step"] = nil } }, "trainer_state.json: step: is missing"),
            ("bad schedule", { try self.editState($0) { json in
                var c = json["config"] as! [String: Any]
                c["schedule"] = "exponential"
                json["config"] = c
            } }, "trainer_state.json: config.schedule: has an invalid value"),
            ("all-zero dropout generator", { try self.editState($0) { json in
                var r = json["randomState"] as! [String: Any]
                let name = r.keys.sorted().first!
                r[name] = [0, 0, 0, 0]
                json["randomState"] = r
            } }, "randomState."),
            ("not JSON", { try Data("{\"step\": 2,".utf8).write(to: self.trainerState($0)) }, "trainer_state.json: is not valid JSON"),
            ("state missing", { try FileManager.default.removeItem(at: self.trainerState($0)) }, "trainer_state.json: is missing"),
            ("optimizer step NaN", { dir in
                let url = dir.appendingPathComponent("checkpoint/optimizer.safetensors")
                var tensors = try SafeTensors.read(url).tensors
                tensors["step"] = Tensor(scalar: .nan)
                try SafeTensors.write(tensors, to: url)
            }, "optimizer.safetensors: step: contains NaN"),
            ("optimizer step disagrees", { dir in
                let url = dir.appendingPathComponent("checkpoint/optimizer.safetensors")
                var tensors = try SafeTensors.read(url).tensors
                tensors["step"] = Tensor(scalar: 7)
                try SafeTensors.write(tensors, to: url)
            }, "optimizer.safetensors: step: is 7.0, but trainer_state.json implies 2"),
        ]
        for (name, damage, expected) in cases {
            let dir = tempDir()
            try fm.copyItem(at: source, to: dir)
            try damage(dir)
            let m = model(seed: 42)
            let before = weights(m)
            let loop = try sftLoop(dir, model: m)
            XCTAssertThrowsError(try loop.resumeIfPossible(), name) { error in
                XCTAssertTrue(error is ConfigurationError, "\(name): \(type(of: error)) \(error)")
                XCTAssertTrue("\(error)".contains(expected), "\(name): \(error)")
                XCTAssertFalse("\(error)".contains("DecodingError") || "\(error)".contains("codingPath"), "\(name): \(error)")
            }
            XCTAssertEqual(loop.step, 0, name)
            XCTAssertEqual(weights(m), before, "\(name): the model changed before the checkpoint was validated")
        }
    }

    func testResumeWithOtherSettingsListsEveryDifference() throws {
        let dir = tempDir()
        try sftLoop(dir).train(maxSteps: 2)
        var other = config
        other.learningRate = 2e-3
        other.epochs = 3
        other.saveEvery = 5  // does not change what is trained: not a difference
        XCTAssertThrowsError(try sftLoop(dir, config: other).resumeIfPossible()) { error in
            let mismatch = error as? CheckpointMismatchError
            XCTAssertEqual(mismatch?.differences.count, 2, "\(error)")
            XCTAssertTrue("\(error)".contains("learningRate: checkpoint 0.001, this run 0.002"), "\(error)")
            XCTAssertTrue("\(error)".contains("epochs: checkpoint 2, this run 3"), "\(error)")
        }
        XCTAssertThrowsError(try sftLoop(dir, model: model(dModel: 16)).resumeIfPossible()) { error in
            XCTAssertTrue("\(error)".contains("model n_embd: checkpoint 32, this run 16"), "\(error)")
        }
        let reward = try TrainingLoop(stage: RewardStage(model: GPT(GPTConfig(vocabSize: 258, contextLength: 24, dModel: 32, layers: 1, heads: 2,
                                                                            dropout: 0.1, scalarHead: true)), padToken: tok.padToken),
                                      examples: [PreferencePair](repeating: PreferencePair(chosen: examples[0], rejected: examples[1]), count: 8),
                                      config: config, outputDirectory: dir)
        XCTAssertThrowsError(try reward.resumeIfPossible()) { error in
            XCTAssertTrue("\(error)".contains("stage: checkpoint sft, this run reward"), "\(error)")
        }
        var ppo = PPOConfig()
        ppo.rolloutBatchSize = 2
        ppo.miniBatchSize = 2
        ppo.maxNewTokens = 2
        let policy = GPT(GPTConfig(vocabSize: 258, contextLength: 24, dModel: 32, layers: 1, heads: 2, scalarHead: true))
        let trainer = try PPOTrainer(policy: policy, reference: policy.frozenCopy(), reward: .function { _, _ in 1 }, prompts: [[2, 3]],
                                     config: ppo, eosToken: tok.eosToken, padToken: tok.padToken)
        trainer.outputDirectory = dir
        XCTAssertThrowsError(try trainer.resumeIfPossible()) { error in
            XCTAssertTrue("\(error)".contains("stage: checkpoint sft, this run ppo"), "\(error)")
        }
    }

    func testDPOResumeWithAnotherBetaIsRefused() throws {
        let dir = tempDir()
        let pairs = (0..<4).map { PreferencePair(chosen: examples[$0], rejected: examples[$0 + 4]) }
        func loop(beta: Float) throws -> TrainingLoop<DPOStage> {
            let m = model()
            let stage = DPOStage(model: m, reference: m.frozenCopy(), padToken: tok.padToken, loss: PreferenceLossConfig(beta: beta))
            return try TrainingLoop(stage: stage, examples: pairs, config: config, outputDirectory: dir)
        }
        try loop(beta: 0.1).train(maxSteps: 1)
        XCTAssertTrue(try loop(beta: 0.1).resumeIfPossible())
        XCTAssertThrowsError(try loop(beta: 0.5).resumeIfPossible()) { error in
            XCTAssertTrue("\(error)".contains("dpo beta: checkpoint 0.1, this run 0.5"), "\(error)")
        }
    }

    func testDamagedPPOStateIsRefusedNamingTheField() throws {
        func make(_ dir: URL) throws -> PPOTrainer {
            var ppo = PPOConfig()
            ppo.rolloutBatchSize = 2
            ppo.miniBatchSize = 2
            ppo.maxNewTokens = 2
            ppo.rollouts = 2
            ppo.targetKL = 0.5
            let policy = GPT(GPTConfig(vocabSize: 6, contextLength: 12, dModel: 16, layers: 1, heads: 2, scalarHead: true), seed: 1)
            let trainer = try PPOTrainer(policy: policy, reference: policy.frozenCopy(), reward: .function { _, r in Float(r.count) },
                                         prompts: [[2, 3]], config: ppo, eosToken: 0, padToken: 1)
            trainer.outputDirectory = dir
            trainer.saveEvery = 1
            return trainer
        }
        let source = tempDir()
        try make(source).train(count: 1)
        func nested(_ key: String, _ field: String, _ value: Any) -> (inout [String: Any]) -> Void {
            { json in
                var inner = json[key] as! [String: Any]
                inner[field] = value
                json[key] = inner
            }
        }
        let cases: [(String, (inout [String: Any]) -> Void, String)] = [
            ("degenerate sampler state", { $0["generator"] = [0, 0, 0, 0] }, "trainer_state.json: generator: must be four 64-bit words"),
            ("negative KL coefficient", { $0["klCoef"] = -1 }, "trainer_state.json: klCoef: must be finite and >= 0"),
            ("zero KL target", nested("klController", "target", 0), "trainer_state.json: klController.target: must be finite and > 0"),
            ("controller removed", { $0.removeValue(forKey: "klController") }, "trainer_state.json: klController: must be present exactly when"),
            ("controller with another target", nested("klController", "target", 1000), "klController: must be present exactly when config.targetKL is set, with that target"),
            ("negative rollout", { $0["rollout"] = -3 }, "trainer_state.json: rollout: must be in 0...2, got -3"),
            ("other rollouts", nested("config", "rollouts", 5), "rollouts: checkpoint 5, this run 2"),
        ]
        for (name, edit, expected) in cases {
            let dir = tempDir()
            try fm.copyItem(at: source, to: dir)
            try editState(dir, edit)
            let trainer = try make(dir)
            XCTAssertThrowsError(try trainer.resumeIfPossible(), name) { XCTAssertTrue("\($0)".contains(expected), "\(name): \($0)") }
            XCTAssertEqual(trainer.rollout, 0, name)
        }
        XCTAssertTrue(try make(source).resumeIfPossible())
    }

    // MARK: Atomic replacement and stale temporaries

    /// Each state a kill can leave during a save (the save writes `.checkpoint-tmp-<pid>`, then
    /// exchanges it with `checkpoint/`, then removes it; without an exchange it renames
    /// `checkpoint/` to `.checkpoint-old-<pid>` first): resume must find a checkpoint and clean up.
    func testEveryIntermediateStateOfASaveResumesFromACheckpoint() throws {
        let source = tempDir()
        let first = try sftLoop(source)
        try first.train(maxSteps: 1)
        let stepOne = tempDir()
        try fm.copyItem(at: source.appendingPathComponent("checkpoint"), to: stepOne)
        try first.train(maxSteps: 1)
        XCTAssertEqual(checkpointFiles(source), ["checkpoint"], "a completed save leaves no temporaries")

        let states: [(String, (URL) throws -> Void, Int)] = [
            ("killed while writing the new checkpoint", { dir in
                let tmp = dir.appendingPathComponent(".checkpoint-tmp-999999")
                try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
                try Data("half".utf8).write(to: tmp.appendingPathComponent("model.safetensors"))
            }, 2),
            ("killed after the exchange, before removing the previous one", { dir in
                try FileManager.default.copyItem(at: stepOne, to: dir.appendingPathComponent(".checkpoint-tmp-999999"))
            }, 2),
            ("killed between the two renames of the fallback", { dir in
                try FileManager.default.moveItem(at: dir.appendingPathComponent("checkpoint"), to: dir.appendingPathComponent(".checkpoint-old-999999"))
                try FileManager.default.copyItem(at: stepOne, to: dir.appendingPathComponent(".checkpoint-tmp-999999"))
            }, 2),
        ]
        for (name, kill, expectedStep) in states {
            let dir = tempDir()
            try fm.copyItem(at: source, to: dir)
            try kill(dir)
            let loop = try sftLoop(dir)
            XCTAssertTrue(try loop.resumeIfPossible(), name)
            XCTAssertEqual(loop.step, expectedStep, name)
            XCTAssertEqual(checkpointFiles(dir), ["checkpoint"], "\(name): stale temporaries remain")
            try loop.train()
            XCTAssertEqual(loop.step, 4, name)
        }
    }

    func testASecondRunIntoTheSameDirectoryIsRefusedWhileTheFirstTrains() throws {
        let dir = tempDir()
        let first = try sftLoop(dir)
        let second = try sftLoop(dir)
        var refusal: Error?
        first.onStep = { _ in
            do { try second.resumeIfPossible() } catch { refusal = error }
        }
        try first.train(maxSteps: 1)
        XCTAssertTrue("\(refusal.map { "\($0)" } ?? "no error")".contains("another training run"), "\(String(describing: refusal))")
        XCTAssertTrue(try second.resumeIfPossible(), "the lock is released when training returns")
    }

    // MARK: metrics.jsonl

    func testTornMetricsLineAndRowsAfterTheCheckpointAreDroppedOnResume() throws {
        let dir = tempDir()
        var c = config
        c.saveEvery = 2
        try sftLoop(dir, config: c).train(maxSteps: 3)  // checkpoint at 2, step 3 logged then "killed"
        let handle = try FileHandle(forWritingTo: dir.appendingPathComponent("metrics.jsonl"))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("{\"epoch\":1.0,\"lo".utf8))  // disk full mid-append
        try handle.close()
        let resumed = try sftLoop(dir, config: c)
        XCTAssertTrue(try resumed.resumeIfPossible())
        XCTAssertEqual(try metricSteps(dir), [1, 2])
        try resumed.train()
        XCTAssertEqual(try metricSteps(dir), [1, 2, 3, 4])
    }

    // MARK: Non-finite values

    /// SFT whose loss turns NaN (or whose gradient does) from a given step on.
    final class Poison {
        var calls = 0
    }
    struct PoisonedStage: TrainingStage {
        let inner: SFTStage
        let poison: Poison
        let fromCall: Int
        let gradientOnly: Bool
        var model: any CausalLanguageModel { inner.model }
        var stageName: String { "sft" }
        func units(_ examples: [TokenizedPair]) -> Int { inner.units(examples) }
        func lossSum(_ examples: [TokenizedPair]) -> (loss: Tensor, metrics: [String: Double]) {
            poison.calls += 1
            let (loss, metrics) = inner.lossSum(examples)
            guard poison.calls >= fromCall else { return (loss, metrics) }
            if gradientOnly {
                // sqrt at 0 has an infinite derivative, times 0: the loss stays finite, the gradient is NaN.
                return (loss + (model.parameters()[0] * 0).sqrt().sum(), metrics)
            }
            return (loss * Float.nan, metrics)
        }
    }

    func testNonFiniteLossOrGradientStopsTrainingNamingStepAndMetricAndSavesNothingNaN() throws {
        for (gradientOnly, metric) in [(false, "loss"), (true, "grad_norm")] {
            let dir = tempDir()
            let m = model()
            let stage = PoisonedStage(inner: SFTStage(model: m, padToken: tok.padToken), poison: Poison(), fromCall: 3, gradientOnly: gradientOnly)
            let loop = try TrainingLoop(stage: stage, examples: examples, config: config, outputDirectory: dir)
            XCTAssertThrowsError(try loop.train()) { error in
                let e = error as? NonFiniteMetricError
                XCTAssertEqual(e?.position, 3, "\(error)")
                XCTAssertEqual(e?.metric, metric, "\(error)")
                XCTAssertTrue("\(error)".hasPrefix("step 3: \(metric) is nan"), "\(error)")
            }
            XCTAssertEqual(loop.step, 2)
            XCTAssertTrue(weights(m).allSatisfy(\.isFinite))
            let saved = try GPT.loadHuggingFace(directory: dir.appendingPathComponent("checkpoint"))
            XCTAssertTrue(weights(saved).allSatisfy(\.isFinite))
            XCTAssertEqual(try metricSteps(dir), [1, 2])
            let state = try JSONSerialization.jsonObject(with: Data(contentsOf: trainerState(dir))) as? [String: Any]
            XCTAssertEqual((state?["step"] as? NSNumber)?.intValue, 2)
        }
    }

    func testHugeLearningRateStopsWithAnErrorInsteadOfSavingNaN() throws {
        let dir = tempDir()
        var c = config
        c.learningRate = 1e30
        c.maxGradNorm = nil
        let loop = try sftLoop(dir, config: c)
        XCTAssertThrowsError(try loop.train()) { XCTAssertTrue($0 is NonFiniteMetricError, "\($0)") }
        if fm.fileExists(atPath: dir.appendingPathComponent("checkpoint").path) {
            XCTAssertTrue(weights(try GPT.loadHuggingFace(directory: dir.appendingPathComponent("checkpoint"))).allSatisfy(\.isFinite))
        }
    }

    func testPPOStopsOnANonFiniteScore() throws {
        let dir = tempDir()
        var ppo = PPOConfig()
        ppo.rolloutBatchSize = 2
        ppo.miniBatchSize = 2
        ppo.maxNewTokens = 2
        ppo.rollouts = 2
        let policy = GPT(GPTConfig(vocabSize: 6, contextLength: 12, dModel: 16, layers: 1, heads: 2, scalarHead: true), seed: 1)
        let trainer = try PPOTrainer(policy: policy, reference: policy.frozenCopy(), reward: .function { _, _ in .nan }, prompts: [[2, 3]],
                                     config: ppo, eosToken: 0, padToken: 1)
        trainer.outputDirectory = dir
        XCTAssertThrowsError(try trainer.train()) { error in
            XCTAssertTrue("\(error)".hasPrefix("rollout 1: objective/scores is nan"), "\(error)")
        }
        XCTAssertEqual(trainer.rollout, 0)
        XCTAssertFalse(fm.fileExists(atPath: dir.appendingPathComponent("checkpoint").path))
    }

    func testPPOStopsOnANonFiniteKL() throws {
        var ppo = PPOConfig()
        ppo.rolloutBatchSize = 2
        ppo.miniBatchSize = 2
        ppo.maxNewTokens = 2
        let config = GPTConfig(vocabSize: 6, contextLength: 12, dModel: 16, layers: 1, heads: 2, scalarHead: true)
        let policy = GPT(config, seed: 1), reference = GPT(config, seed: 1)
        let first = reference.parameters()[0]
        withNoGrad { first.assign(Tensor.zeros(first.shape) * Float.nan) }
        let trainer = try PPOTrainer(policy: policy, reference: reference, reward: .function { _, _ in 1 }, prompts: [[2, 3]],
                                     config: ppo, eosToken: 0, padToken: 1)
        XCTAssertThrowsError(try trainer.train()) { error in
            XCTAssertTrue("\(error)".hasPrefix("rollout 1: objective/kl is nan"), "\(error)")
        }
    }

    // MARK: Settings

    func testTrainerSettingsOutOfRangeNameTheField() {
        let cases: [(String, (inout TrainerConfig) -> Void)] = [
            ("learningRate", { $0.learningRate = .nan }), ("learningRate", { $0.learningRate = 0 }),
            ("learningRate", { $0.learningRate = .infinity }), ("weightDecay", { $0.weightDecay = -1 }),
            ("warmupSteps", { $0.warmupSteps = -1 }), ("maxGradNorm", { $0.maxGradNorm = 0 }),
            ("saveEvery", { $0.saveEvery = 0 }), ("evalEvery", { $0.evalEvery = 0 }), ("epochs", { $0.epochs = 0 }),
            ("batchSize", { $0.batchSize = 0 }), ("gradientAccumulation", { $0.gradientAccumulation = 3 }),
        ]
        for (field, edit) in cases {
            var c = TrainerConfig()
            edit(&c)
            XCTAssertThrowsError(try c.validate(), field) { XCTAssertEqual(($0 as? ConfigurationError)?.setting, field, "\($0)") }
        }
        XCTAssertNoThrow(try TrainerConfig().validate())
    }

    func testPPOSettingsOutOfRangeNameTheField() {
        let cases: [(String, (inout PPOConfig) -> Void)] = [
            ("learningRate", { $0.learningRate = .nan }), ("klCoef", { $0.klCoef = .nan }), ("klCoef", { $0.klCoef = -1 }),
            ("targetKL", { $0.targetKL = 0 }), ("klHorizon", { $0.klHorizon = 0 }), ("clipRange", { $0.clipRange = 0 }),
            ("clipRangeValue", { $0.clipRangeValue = .infinity }), ("valueCoef", { $0.valueCoef = -0.1 }), ("gamma", { $0.gamma = 1.5 }),
            ("lambda", { $0.lambda = .nan }), ("temperature", { $0.temperature = 0 }), ("maxGradNorm", { $0.maxGradNorm = -1 }),
            ("miniBatchSize", { $0.miniBatchSize = 3 }), ("rollouts", { $0.rollouts = 0 }), ("maxNewTokens", { $0.maxNewTokens = 0 }),
            ("rollouts", { $0.rollouts = Int.max / 2 }),
        ]
        for (field, edit) in cases {
            var c = PPOConfig()
            edit(&c)
            XCTAssertThrowsError(try c.validate(), field) { XCTAssertEqual(($0 as? ConfigurationError)?.setting, field, "\($0)") }
        }
        XCTAssertNoThrow(try PPOConfig().validate())
    }

    func testScheduleKeepsItsStringForm() throws {
        var c = TrainerConfig()
        c.schedule = .cosine
        let json = String(decoding: try JSONEncoder().encode(c), as: UTF8.self)
        XCTAssertTrue(json.contains("\"schedule\":\"cosine\""), json)
        XCTAssertEqual(try JSONDecoder().decode(TrainerConfig.self, from: Data(json.utf8)).schedule, .cosine)
        XCTAssertEqual(ScheduleKind.allCases.map(\.rawValue), ["constant", "linear", "cosine"])
    }

    // MARK: JSONL

    func write(_ bytes: [UInt8]) throws -> String {
        let url = fm.temporaryDirectory.appendingPathComponent("jsonl-\(UUID().uuidString).jsonl")
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        try Data(bytes).write(to: url)
        return url.path
    }

    func testJSONLAcceptsCRLFAndAByteOrderMark() throws {
        let lines = #"{"prompt": "a", "completion": "b"}"# + "\r\n" + #"{"prompt": "c", "completion": "d"}"# + "\r\n"
        let crlf = try write(Array(lines.utf8))
        XCTAssertEqual(try JSONL.sftExamples(at: crlf), [SFTExample(prompt: "a", completion: "b"), SFTExample(prompt: "c", completion: "d")])
        let bom = try write([0xEF, 0xBB, 0xBF] + Array(lines.utf8))
        XCTAssertEqual(try JSONL.sftExamples(at: bom).count, 2)
        let badSecond = try write(Array((#"{"prompt": "a", "completion": "b"}"# + "\r\n{\"prompt\": 1}\r\n").utf8))
        XCTAssertThrowsError(try JSONL.sftExamples(at: badSecond)) {
            XCTAssertTrue("\($0)".contains(badSecond + ":2: field \"prompt\" is not a string"), "\($0)")
        }
    }

    func testJSONLErrorsNameTheFile() throws {
        let empty = try write([])
        let blank = try write(Array(" \r\n\n".utf8))
        let invalidUTF8 = try write(Array((#"{"prompt": "a", "completion": "b"}"# + "\n").utf8) + [0xFF, 0xFE, 0x0A])
        let missing = fm.temporaryDirectory.appendingPathComponent("missing-\(UUID().uuidString).jsonl").path
        let cases: [(String, String)] = [
            (empty, empty + ": has no JSON lines"), (blank, blank + ": has no JSON lines"),
            (invalidUTF8, invalidUTF8 + ":2: not UTF-8 text"), (missing, missing + ": no such file"),
            (fm.temporaryDirectory.path, fm.temporaryDirectory.path + ": is a directory"),
        ]
        for (path, expected) in cases {
            XCTAssertThrowsError(try JSONL.preferenceExamples(at: path)) { XCTAssertTrue("\($0)".contains(expected), "\($0)") }
        }
    }

    func testEpochCountThatOverflowsTheStepCountIsRefused() {
        var c = config
        c.epochs = Int.max
        XCTAssertThrowsError(try sftLoop(tempDir(), config: c)) { XCTAssertEqual(($0 as? ConfigurationError)?.setting, "epochs", "\($0)") }
    }

    func testFewerExamplesThanOneBatchNamesTheDataFile() {
        XCTAssertThrowsError(try TrainingLoop(stage: SFTStage(model: model(), padToken: tok.padToken), examples: Array(examples.prefix(2)),
                                              config: config, dataFile: "train.jsonl")) { error in
            XCTAssertTrue("\(error)".hasPrefix("train.jsonl: 2 usable examples are fewer than one batch of 4"), "\(error)")
        }
    }
}
