import Foundation

/// The world a run is set in, measured on validation prompts before any arm is trained: how good
/// each teacher is, and how often each critic and judge agrees with the ground truth.
public struct WorldReport: Codable, Equatable, Sendable {
    public struct TeacherRow: Codable, Equatable, Sendable {
        public var teacher: String
        public var exactMatch: Double
        public var meanQuality: Double
        /// Win rate (%) of the teacher's completions against the reference teacher's, per judge.
        public var winRate: [String: Double]
        public var exactMatchByKind: [String: Double]
    }

    public var validationPrompts: Int
    public var teachers: [TeacherRow]
    public var validationPairs: Int
    public var judges: [JudgeAgreement]

    public func markdown() -> String {
        let judgeNames = teachers.first.map { Array($0.winRate.keys).sorted() } ?? []
        var s = "## The world (validation prompts)\n\n### Teachers on \(validationPrompts) validation prompts\n\n"
        s += "| teacher | exact match (%) | mean quality | " + judgeNames.map { "win rate vs reference, \($0) judge" }.joined(separator: " | ")
        s += " | exact match by kind (%) |\n|---|---|---|" + judgeNames.map { _ in "---|" }.joined() + "---|\n"
        for t in teachers {
            s += String(format: "| %@ | %.1f | %.3f | ", t.teacher, 100 * t.exactMatch, t.meanQuality)
            s += judgeNames.map { String(format: "%.1f", t.winRate[$0] ?? .nan) }.joined(separator: " | ") + " | "
            s += t.exactMatchByKind.keys.sorted().map { String(format: "%@ %.0f", $0, 100 * t.exactMatchByKind[$0]!) }.joined(separator: ", ") + " |\n"
        }
        s += "\n### Critics and judges against the ground truth, on \(validationPairs) labelled validation pairs\n\n"
        s += "Pairs of candidate completions (the answer, a teacher's kind of error, a small corruption, noise) whose true quality differs.\n\n"
        s += "| judge | pairs | agreement (%) | when the better one is longer (%) | when it is shorter (%) |\n|---|---|---|---|---|\n"
        for j in judges {
            s += String(format: "| %@ | %d | %.1f | %.1f | %.1f |\n", j.judge, j.pairs, 100 * j.accuracy, 100 * j.accuracyBetterLonger,
                        100 * j.accuracyBetterShorter)
        }
        return s
    }
}

extension ExperimentRunner {
    /// Every critic and judge the preset's figures use, and the evaluation judges.
    public func judgeNames(figures: [Int]) -> [String] {
        var names = preset.judges
        for n in figures {
            for arm in Arm.figure(n, families: preset.families.map(\.name)) {
                if let c = arm.critic, !names.contains(c) { names.append(c) }
            }
        }
        return names
    }

    /// Measures the teachers and the judges on validation prompts (never the test ones).
    public func worldReport(judges names: [String], prompts: Int = 1_000, pairs: Int = 2_000) throws -> WorldReport {
        let tasks = World.tasks(prompts, seed: 3_001, split: .validation)
        let references = tasks.map(Teacher.reference.respond)
        let judges = try names.map { try judge($0) }
        let rows = Teacher.all.map { teacher -> WorldReport.TeacherRow in
            let outputs = tasks.map(teacher.respond)
            var winRate: [String: Double] = [:]
            for j in judges where j.name == "truth" || j.name == Arm.judge(forFigure: 2) {
                let p = j.preferences(tasks, outputs, references)
                winRate[j.name] = 100 * p.reduce(0, +) / Double(p.count)
            }
            let byKind = World.exactMatchByKind(tasks, outputs)
            return WorldReport.TeacherRow(teacher: teacher.name,
                                          exactMatch: Double(zip(tasks, outputs).filter { $0.answer == $1 }.count) / Double(tasks.count),
                                          meanQuality: zip(tasks, outputs).reduce(0.0) { $0 + $1.0.quality($1.1) } / Double(tasks.count),
                                          winRate: winRate, exactMatchByKind: byKind)
        }
        let labelled = World.judgePairs(pairs, seed: 4_001, split: .validation, annotator: .careful)
        let agreements = judges.map { JudgeAgreement.measure($0, pairs: labelled) }
        return WorldReport(validationPrompts: prompts, teachers: rows, validationPairs: agreements.first?.pairs ?? 0, judges: agreements)
    }
}
