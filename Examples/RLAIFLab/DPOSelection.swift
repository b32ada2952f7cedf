import Foundation
import Alignment
import LanguageModels

/// One DPO configuration of the shared selection grid.
public struct DPOSetting: Codable, Equatable, Hashable, Sendable {
    public var learningRate: Float
    public var beta: Float
    public var epochs: Int

    public init(learningRate: Float, beta: Float, epochs: Int) {
        self.learningRate = learningRate
        self.beta = beta
        self.epochs = epochs
    }

    public var label: String { String(format: "lr %.0e, β %.2f, %d epoch%@", learningRate, beta, epochs, epochs == 1 ? "" : "s") }
}

/// The grid DPO's settings are chosen from, on validation prompts, once for every RLAIF arm.
public struct DPOGrid: Codable, Equatable, Sendable {
    public var learningRates: [Float]
    public var betas: [Float]
    /// Every epoch count from 1 to this is a setting (read off one run at the end of each epoch).
    public var maxEpochs: Int

    public init(learningRates: [Float], betas: [Float], maxEpochs: Int) {
        self.learningRates = learningRates
        self.betas = betas
        self.maxEpochs = maxEpochs
    }

    public static let standard = DPOGrid(learningRates: [1e-5, 3e-5, 1e-4], betas: [0.05, 0.2], maxEpochs: 3)
}

/// The outcome of the selection: every setting's validation win rate on every selection arm, and
/// the setting the rule picks.
public struct DPOSelection: Codable, Equatable, Sendable {
    public struct Row: Codable, Equatable, Sendable {
        public var setting: DPOSetting
        /// Validation win rate (%) under the selection judge, per "arm id / family".
        public var winRates: [String: Double]
        public var mean: Double
    }

    /// The rule, fixed before any test-set run (docs/PREREGISTRATION.md).
    public static let rule = """
        Highest mean validation win rate under the independent judge over the RLAIF arms of Figures 2, 4 and 5 \
        (weak teacher + strong critic, weak teacher + Claude-like critic, strong teacher + strong critic) and every \
        family, seed 0; ties (within 0.1 points) go to the smaller learning rate, then the smaller β, then fewer epochs.
        """

    public var judge: String
    public var rows: [Row]
    public var chosen: DPOSetting

    public static func choose(_ rows: [Row]) -> DPOSetting {
        let best = rows.map(\.mean).max() ?? 0
        let near = rows.filter { $0.mean >= best - 0.1 }
        return near.min { a, b in
            (a.setting.learningRate, a.setting.beta, a.setting.epochs) < (b.setting.learningRate, b.setting.beta, b.setting.epochs)
        }!.setting
    }

    public func markdown() -> String {
        let keys = rows.first.map { Array($0.winRates.keys).sorted() } ?? []
        var s = "## DPO settings chosen on validation prompts\n\nRule: \(DPOSelection.rule)\n\n"
        s += "| setting | mean | " + keys.joined(separator: " | ") + " |\n|---|---|" + keys.map { _ in "---|" }.joined() + "\n"
        for r in rows.sorted(by: { $0.mean > $1.mean }) {
            s += "| \(r.setting.label)\(r.setting == chosen ? " **(chosen)**" : "") | " + String(format: "%.1f", r.mean) + " | "
            s += keys.map { String(format: "%.1f", r.winRates[$0] ?? .nan) }.joined(separator: " | ") + " |\n"
        }
        return s
    }
}

extension ExperimentRunner {
    /// The RLAIF arms the selection averages over.
    public static let selectionArms: [Arm] = [Arm.figure2[2], Arm.figure4[1], Arm.figure5[1]]

    /// Runs the grid on every selection arm and family (seed 0) and applies the rule. Needs a
    /// runner on validation prompts: settings are never chosen on test prompts.
    public func selectDPO(grid: DPOGrid) throws -> DPOSelection {
        guard preset.evaluationSet == .validation else {
            throw DataError(file: "<preset>", line: 0, reason: "DPO settings are chosen on validation prompts only (evaluationSet is \(preset.evaluationSet))")
        }
        let judgeName = Arm.judge(forFigure: 2)
        let seed: UInt64 = 0
        var table: [DPOSetting: [String: Double]] = [:]
        for family in preset.families {
            for arm in Self.selectionArms {
                let teacher = Self.teacher(arm.teacher)
                let sftModel = try sft(family, teacher: teacher, fraction: arm.sftFraction, seed: seed)
                let name = "select-\(family.name)-\(arm.id)"
                let (pairs, summary) = try feedbackPairs(sftModel, teacher: teacher, critic: try judge(arm.critic!), seed: seed, name: name)
                for lr in grid.learningRates {
                    for beta in grid.betas {
                        var failure: Error?
                        _ = try dpo(sftModel, pairs: pairs, summary: summary, setting: DPOSetting(learningRate: lr, beta: beta, epochs: grid.maxEpochs),
                                    seed: seed, name: "\(name)-lr\(lr)-beta\(beta)") { epoch, policy in
                            do {
                                let e = try self.evaluate(policy, seed: seed)
                                let setting = DPOSetting(learningRate: lr, beta: beta, epochs: epoch)
                                table[setting, default: [:]]["\(arm.id) / \(family.name)"] = e.winRate[judgeName]
                                self.log(String(format: "selection %@ %@ %@: %.1f", family.name, arm.id, setting.label, e.winRate[judgeName] ?? .nan))
                            } catch { failure = error }
                        }
                        if let failure { throw failure }
                    }
                }
            }
        }
        let rows = table.map { setting, rates in
            DPOSelection.Row(setting: setting, winRates: rates, mean: rates.keys.sorted().reduce(0) { $0 + rates[$1]! } / Double(max(rates.count, 1)))
        }.sorted { ($0.setting.learningRate, $0.setting.beta, $0.setting.epochs) < ($1.setting.learningRate, $1.setting.beta, $1.setting.epochs) }
        return DPOSelection(judge: judgeName, rows: rows, chosen: DPOSelection.choose(rows))
    }
}
