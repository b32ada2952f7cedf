import Alignment
import ArgumentParser
import Foundation
import LanguageModels

/// LoRA on `align sft|reward|dpo|ppo`: with --lora-rank the base model is frozen and only adapters
/// (plus a new scalar head for reward/ppo) train; DPO's and PPO's reference is then the model with
/// its adapters disabled.
struct LoRAOptions: ParsableArguments {
    @Option(help: "Train LoRA adapters of rank r (1 ... the smaller side of every adapted layer) instead of the whole model; they are saved in PEFT's layout in <output>/adapter. DPO's and PPO's reference is then the model with its adapters disabled. For reward and ppo the new scalar head trains too; it is kept in checkpoint/ and --merge-lora's merged/, not in adapter/.")
    var loraRank: Int?
    @Option(help: "LoRA alpha (finite, > 0; the update is scaled by alpha / r; default 2 x --lora-rank).") var loraAlpha: Float?
    @Option(help: "Dropout on the adapters' input, in [0, 1) (default 0).") var loraDropout: Float?
    @Option(help: "Comma-separated linear layers to adapt, matched as PEFT's target_modules: a name matches a layer whose dotted transformers name equals it or ends with .name (GPT-2: c_attn, c_proj, c_fc; Llama, Mistral, Qwen2: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj; default: c_attn,c_proj,c_fc for GPT-2, q_proj,v_proj for the others, as PEFT).")
    var loraTargets: String?
    @Flag(help: "With --lora-rank: after training also write <output>/merged, a full checkpoint with the adapters folded into the weights: the model to pass as --model to a later stage (checkpoint/ holds the base and the adapters apart, for resuming).")
    var mergeLora = false

    /// Layers adapted without --lora-targets, by config.json model_type.
    static func defaultTargets(modelType: String) -> [String] { modelType == "gpt2" ? ["c_attn", "c_proj", "c_fc"] : ["q_proj", "v_proj"] }
    static let optionOfField = ["r": "--lora-rank", "lora_alpha": "--lora-alpha", "lora_dropout": "--lora-dropout", "target_modules": "--lora-targets"]

    /// The adapters' settings, nil without --lora-rank (then every other LoRA option is refused).
    func config(modelType: String = "gpt2") throws -> LoRAConfig? {
        guard let rank = loraRank else {
            let given = [("--lora-alpha", loraAlpha != nil), ("--lora-dropout", loraDropout != nil), ("--lora-targets", loraTargets != nil),
                         ("--merge-lora", mergeLora)].filter(\.1).map(\.0)
            if let first = given.first { throw ConfigurationError(first, "needs --lora-rank (LoRA is off without it)") }
            return nil
        }
        var targets = Self.defaultTargets(modelType: modelType)
        if let loraTargets {
            targets = loraTargets.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            if targets.contains(where: \.isEmpty) {
                throw ConfigurationError("--lora-targets", "must be a comma-separated list of layer names without empty entries, got \"\(loraTargets)\"")
            }
        }
        let config = LoRAConfig(rank: rank, alpha: loraAlpha ?? 2 * Float(min(rank, 1 << 20)), dropout: loraDropout ?? 0, targets: .names(targets))
        try config.validate { Self.optionOfField[$0] ?? $0 }
        return config
    }

    func validate() throws { try validatingOptions { _ = try config() } }

    /// Freezes `model` and adds adapters (seeded by `seed`); a scalar head, new for reward and PPO,
    /// keeps training. Returns the settings a resumed run must share.
    func apply(to model: any CausalLanguageModel, seed: UInt64) throws -> [String: String] {
        guard let config = try config(modelType: model.modelType) else { return [:] }
        try model.applyLoRA(config, seed: seed) { Self.optionOfField[$0] ?? $0 }
        // Both architectures name their scalar head "score".
        for (name, p) in model.namedParameters() where name.hasPrefix("score.") { p.requiringGrad(true) }
        return ["lora": "r=\(config.rank) alpha=\(config.alpha) dropout=\(config.dropout) targets=\(config.targets.patterns.joined(separator: ","))"]
    }

    /// After training: <output>/adapter in PEFT's layout and, with --merge-lora, <output>/merged.
    func save(_ model: any CausalLanguageModel, output: String, baseModel: String?) throws {
        guard model.hasLoRA else { return }
        let adapter = URL(fileURLWithPath: output).appendingPathComponent("adapter")
        try model.saveLoRAAdapter(directory: adapter, baseModelNameOrPath: baseModel)
        print("adapter: \(adapter.path)")
        if mergeLora {
            model.mergeLoRA()
            let merged = URL(fileURLWithPath: output).appendingPathComponent("merged")
            try model.saveHuggingFace(directory: merged)
            print("merged: \(merged.path)")
        }
    }
}
