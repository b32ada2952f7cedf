import Foundation
import LanguageModels

extension CheckpointValidation {
    /// A checkpoint of a model with LoRA adapters keeps them in `checkpoint/adapter/` (PEFT layout)
    /// beside the base weights. Loads them into `weights` (the checkpoint's base model) when `model`
    /// has adapters, so that `model.copyParameters(from: weights)` restores base and adapters alike;
    /// a checkpoint with adapters for a run without them, or the other way round, or with another
    /// LoRA config, is a `CheckpointMismatchError`.
    static func loraAdapter(into weights: any CausalLanguageModel, checkpoint dir: URL, model: any CausalLanguageModel) throws {
        let adapterDir = dir.appendingPathComponent("adapter")
        let saved = FileManager.default.fileExists(atPath: adapterDir.path)
        guard let current = model.loraConfig else {
            if saved { throw CheckpointMismatchError(checkpoint: dir.path, differences: ["LoRA: checkpoint has adapters (adapter/), this run has none"]) }
            return
        }
        guard saved else {
            throw CheckpointMismatchError(checkpoint: dir.path, differences: ["LoRA: checkpoint has no adapters (adapter/), this run has r = \(current.rank)"])
        }
        let config = try weights.loadLoRAAdapter(directory: adapterDir)
        guard config == current else {
            throw CheckpointMismatchError(checkpoint: dir.path, differences: ["LoRA: checkpoint \(describe(config)), this run \(describe(current))"])
        }
    }

    static func describe(_ c: LoRAConfig) -> String {
        let targets: String
        switch c.targets {
        case .names(let names): targets = names.joined(separator: ",")
        case .regex(let pattern): targets = "regex \(pattern)"
        }
        return "r = \(c.rank), alpha = \(c.alpha), dropout = \(c.dropout), targets = \(targets)"
    }
}
