import Alignment
import Foundation
import LanguageModels

/// The arms beyond the paper (issue 12, point 5): best-of-n with the critic, iterated DPO, and SFT on
/// critic-filtered own samples. (Pairs against another teacher's completion are an ordinary DPO arm
/// with `Arm.pairsAgainst`; two policy samples per prompt are `Preset.pairsAgainst = "policy"`.)
extension ExperimentRunner {
    static func knownTeacher(_ name: String) throws -> Teacher {
        guard let t = Teacher.all.first(where: { $0.name == name }) else {
            throw DataError(file: "<preset>", line: 0, reason: "no teacher named \(name); known: " + Teacher.all.map(\.name).joined(separator: ", "))
        }
        return t
    }

    /// Runs an arm whose method is neither DPO nor PPO. Returns the policy to evaluate, or (best-of-n)
    /// the outputs to score directly, and what the step saw.
    func runBeyondThePaper(_ arm: Arm, sftModel: GPT, family: Family, seed: UInt64, critic: Judge) throws -> (GPT, [String]?, RLAIFSummary?) {
        let teacher = try Self.knownTeacher(arm.teacher)
        let name = "\(family.name)-seed\(seed)-\(arm.id)"
        if let n = arm.bestOfN, n >= 1 {
            return (sftModel, try bestOfN(sftModel, n: n, critic: critic, seed: seed).outputs, nil)
        }
        if let r = arm.iteratedRound, (1...Arm.iteratedRounds).contains(r) {
            let (policy, summary) = try iteratedDPO(round: r, of: arm, sftModel: sftModel, family: family, seed: seed, teacher: teacher, critic: critic)
            return (policy, nil, summary)
        }
        if arm.usesRejectionSampling {
            let chosen = try rejectionSamplingTargets(sftModel, teacher: teacher, critic: critic, k: Arm.rejectionSamples, seed: seed, name: name)
            let examples = zip(rlaifTasks, chosen.targets).map { pair($0.prompt, $1) }
            return (try sftContinued(sftModel, on: examples, seed: seed, name: name), nil, chosen.summary)
        }
        throw DataError(file: "<preset>", line: 0, reason: "arm \(arm.id): unknown method '\(arm.method ?? "")'; known: dpo, ppo, best-of-N (N >= 1), "
                            + "iterated-dpo-1...\(Arm.iteratedRounds), rejection-sampling")
    }

    /// For each prompt, the index of the candidate the critic scores highest (the first on ties).
    func criticPicks(_ critic: Judge, _ tasks: [Instruction], _ candidates: [[String]]) -> [Int] {
        let flatTasks = zip(tasks, candidates).flatMap { task, c in Array(repeating: task, count: c.count) }
        let scores = critic.scores(flatTasks, candidates.flatMap { $0 })
        var offset = 0
        return candidates.map { c in
            defer { offset += c.count }
            var best = 0
            for j in c.indices where scores[offset + j] > scores[offset + best] { best = j }
            return best
        }
    }

    /// Best-of-n: n samples per evaluation prompt at the evaluation temperature (the first is the one
    /// plain evaluation draws), and the critic's pick of them. No training.
    func bestOfN(_ model: GPT, n: Int, critic: Judge, seed: UInt64) throws -> (outputs: [String], candidates: [[String]]) {
        let draws = try (0..<n).map { k in try sample(model, evalTasks, temperature: 0.7, topP: 0.9, seed: seed &+ 101 &+ UInt64(k) &* 7_919) }
        let candidates = evalTasks.indices.map { i in draws.map { $0[i] } }
        let picks = criticPicks(critic, evalTasks, candidates)
        return (zip(candidates, picks).map { $0[$1] }, candidates)
    }

    /// The RLAIF prompts of iterated DPO's round `r` (1-based): one of `Arm.iteratedRounds` equal
    /// parts (the last count % rounds prompts are left out).
    func iteratedPart(_ r: Int) -> [Instruction] {
        let tasks = rlaifTasks, size = tasks.count / Arm.iteratedRounds
        return Array(tasks[(r - 1) * size ..< r * size])
    }

    /// Iterated DPO up to round `r`: each round samples fresh pairs from the current policy on its
    /// own part of the prompts (against the teacher's completion), labelled by the critic, and runs
    /// DPO from the current policy with it (frozen) as reference. Each round's policy and summary are
    /// cached, so rounds 1, 2, 3 as arms train each round once. Round 1 draws the same samples as
    /// ordinary DPO does on the first part.
    func iteratedDPO(round r: Int, of roundArm: Arm, sftModel: GPT, family: Family, seed: UInt64, teacher: Teacher,
                     critic: Judge) throws -> (GPT, RLAIFSummary) {
        var arm = roundArm
        arm.method = "iterated-dpo-\(r)"
        let dir = directory.appendingPathComponent("models/\(family.name)/seed\(seed)/\(arm.id)")
        let summaryFile = dir.appendingPathComponent("rlaif.json")
        if FileManager.default.fileExists(atPath: dir.appendingPathComponent("model.safetensors").path),
           let data = try? Data(contentsOf: summaryFile), let summary = try? JSONDecoder().decode(RLAIFSummary.self, from: data) {
            return (try GPT.loadHuggingFace(directory: dir), summary)
        }
        let current = r == 1 ? sftModel : try iteratedDPO(round: r - 1, of: arm, sftModel: sftModel, family: family, seed: seed, teacher: teacher,
                                                                       critic: critic).0
        let name = "\(family.name)-seed\(seed)-\(arm.id)"
        let (pairs, summary) = try feedbackPairs(current, teacher: teacher, critic: critic, seed: seed &+ UInt64(r - 1) &* 1_000, name: name,
                                                 tasks: iteratedPart(r))
        let (policy, trained) = try dpo(current, pairs: pairs, summary: summary,
                                        setting: DPOSetting(learningRate: preset.dpoLearningRate, beta: preset.dpoBeta, epochs: preset.dpoEpochs),
                                        seed: seed, name: name)
        try policy.saveHuggingFace(directory: dir)
        try SafeTensors.atomicWrite(try JSONEncoder().encode(trained), to: summaryFile)
        return (policy, trained)
    }

    /// Rejection sampling's data: for each RLAIF prompt, `k` samples of `model` (temperature 1, top-p
    /// 0.9, as feedback pairs are drawn) and the teacher's completion (last); the critic's pick is the
    /// target. The summary counts a prompt as a pair: how often the pick is an own sample, how often
    /// an own sample is truly better than the teacher's, and how often the pick is truly among the best.
    func rejectionSamplingTargets(_ model: GPT, teacher: Teacher, critic: Judge, k: Int, seed: UInt64, name: String) throws
        -> (targets: [String], candidates: [[String]], summary: RLAIFSummary) {
        let tasks = rlaifTasks
        let draws = try (0..<k).map { j in try sample(model, tasks, temperature: 1, topP: 0.9, seed: seed &+ 11 &+ UInt64(j) &* 7_919) }
        let candidates = tasks.indices.map { i in draws.map { $0[i] } + [teacher.respond(tasks[i])] }
        let picks = criticPicks(critic, tasks, candidates)
        var own = 0, decided = 0, agreed = 0, ownBetter = 0
        for i in tasks.indices {
            let q = candidates[i].map(tasks[i].quality)
            let best = q.max()!
            if picks[i] < k { own += 1 }
            if q.contains(where: { $0 != best }) {
                decided += 1
                if q[picks[i]] == best { agreed += 1 }
            }
            if q[..<k].max()! > q[k] { ownBetter += 1 }
        }
        var summary = RLAIFSummary(pairs: tasks.count)
        summary.policyPreferredShare = Double(own) / Double(max(tasks.count, 1))
        summary.policyBetterShare = Double(ownBetter) / Double(max(tasks.count, 1))
        summary.criticAgreement = Double(agreed) / Double(max(decided, 1))
        log(String(format: "rejection sampling %@: %d prompts, the critic picked an own sample in %.0f%%, an own sample is truly better than the " +
                   "teacher's in %.0f%%, the pick is truly among the best in %.0f%% of prompts with unequal candidates", name, tasks.count,
                   100 * summary.policyPreferredShare, 100 * summary.policyBetterShare, 100 * summary.criticAgreement))
        return (zip(candidates, picks).map { $0[$1] }, candidates, summary)
    }

    /// SFT continued from `model` (a copy) on `examples`, with the preset's SFT settings.
    func sftContinued(_ model: GPT, on examples: [TokenizedPair], seed: UInt64, name: String) throws -> GPT {
        let policy = GPT(model.config)
        policy.copyParameters(from: model)
        let (c, steps) = sftSettings(examples: examples.count, seed: seed)
        log("SFT on critic-filtered samples \(name), \(examples.count) prompts")
        try train(SFTStage(model: policy, padToken: tokenizer.padToken), examples, steps: steps, config: c, name: name)
        return policy
    }
}
