import Alignment
import ArgumentParser
import Foundation

enum Architecture: String, ExpressibleByArgument, CaseIterable {
    case gpt2, llama
}

/// --arch llama: full fine-tuning, LoRA and DPO steps, and generation, on a randomly initialised
/// Llama-family decoder.
extension TrainBench {
    var llamaConfig: LlamaConfig {
        LlamaConfig(vocabSize: vocab, hiddenSize: dModel, intermediateSize: intermediate ?? 4 * dModel, layers: layers, heads: heads,
                    kvHeads: kvHeads ?? heads, maxPositionEmbeddings: max(2048, seq + 1), rmsNormEps: 1e-5,
                    tieWordEmbeddings: !untieEmbeddings)
    }

    /// "generate", or "full" / "lora" followed by "-sft" / "-dpo".
    var llamaMode: String { generate ? "generate" : (loraRank == nil ? "full" : "lora") + (dpo ? "-dpo" : "-sft") }

    func validateLlama() throws {
        guard (dModel / heads) % 2 == 0 else {
            throw ValidationError("--heads must divide --d-model \(dModel) into an even head size (rotary embeddings rotate pairs), got \(heads)")
        }
        if let kvHeads, !(kvHeads >= 1 && heads % kvHeads == 0) {
            throw ValidationError("--kv-heads must be >= 1 and divide --heads \(heads), got \(kvHeads)")
        }
        if let intermediate, !(1...1_000_000).contains(intermediate) {
            throw ValidationError("--intermediate must be in 1...1000000, got \(intermediate)")
        }
        if generate, let option = [("--lora-rank", loraRank != nil), ("--dpo", dpo), ("--gradient-checkpointing", gradientCheckpointing)].first(where: \.1)?.0 {
            throw ValidationError("\(option) times a training step and cannot be combined with --generate")
        }
        if dpo && seq < 2 { throw ValidationError("--seq must be >= 2 with --dpo (a prompt and a completion), got \(seq)") }
        let c = llamaConfig
        if let loraRank {
            let largest = min(dModel, c.kvHeads * c.headDim)
            guard (1...largest).contains(loraRank) else {
                throw ValidationError("--lora-rank must be in 1...\(largest) (the smaller side of q_proj and v_proj), got \(loraRank)")
            }
        }
        let parameters = c.parameterCount
        guard parameters <= Double(1 << 31) else {
            throw ValidationError("--vocab, --d-model, --layers, --intermediate: a model of \(String(format: "%.3g", parameters)) parameters exceeds the \(1 << 31) allowed")
        }
        let needed = llamaMemoryBytes(c)
        guard needed <= Double(ProcessInfo.processInfo.physicalMemory) else {
            throw ValidationError(String(format: "--batch, --seq: about %.1f GB of weights, optimizer state and activations per step exceed this machine's %.1f GB",
                                         needed / 1e9, Double(ProcessInfo.processInfo.physicalMemory) / 1e9))
        }
    }

    /// Rough peak bytes of a step: weights (plus gradients and AdamW's two moments when all train, plus a
    /// frozen reference copy for DPO without LoRA) and the activations of the rows it runs.
    func llamaMemoryBytes(_ c: LlamaConfig) -> Double {
        let weights = 4 * c.parameterCount
        if generate { return weights + c.samplingBytes(rows: Double(batch), length: seq + 1) }
        let rows = Double(dpo ? 2 * batch : batch)
        var activations = c.trainingActivationBytes(rows: rows, length: seq)
        if gradientCheckpointing {
            var one = c
            one.layers = 1
            activations = 4 * rows * Double(seq * dModel * layers) + one.trainingActivationBytes(rows: rows, length: seq)
        }
        let state = loraRank == nil ? 3 * weights + (dpo ? weights : 0) : 0
        return weights + state + activations
    }

    func runLlama() throws {
        let config = llamaConfig
        let model = Llama(config, seed: 0)
        model.gradientCheckpointing = gradientCheckpointing
        var rng = RandomGenerator(seed: 1)
        let d = Double(dModel), t = Double(seq), l = Double(layers), v = Double(vocab)
        let q = Double(config.heads * config.headDim), kv = Double(config.kvHeads * config.headDim), inter = Double(config.intermediateSize)
        // Matmul FLOPs per token of one forward: q/k/v/o and the three SwiGLU projections, 4 T q of
        // attention (full T x T, as computed) and 2 d V for the LM head. A full step is 3x forward; a
        // LoRA DPO step is also about 3x (policy forward, backward to the inputs only, reference forward).
        let forwardPerToken = l * (2 * (2 * d * q + 2 * d * kv + 3 * d * inter) + 4 * t * q) + 2 * d * v
        var extra: [String: Any] = ["arch": "llama", "mode": llamaMode, "parameters": Int(config.parameterCount)]
        if generate {
            let times = try timeGeneration(model, generator: &rng)
            return try report(times: times, tokens: Double(batch * seq), flopsPerToken: forwardPerToken, extra: extra)
        }
        if let loraRank {
            try model.applyLoRA(LoRAConfig(rank: loraRank, alpha: Float(2 * loraRank), targets: .names(["q_proj", "v_proj"])))
        }
        let trainable = model.trainableParameters()
        extra["trainable_parameters"] = trainable.reduce(0) { $0 + $1.count }
        let optimizer = Adam.adamW(trainable, learningRate: 1e-4)
        let stage: (inout RandomGenerator) -> Tensor
        if dpo {
            let reference: ReferenceModel = loraRank == nil ? .separate(model.frozenCopy()) : .adaptersDisabled(model)
            let dpoStage = DPOStage(model: model, referenceModel: reference, padToken: 0, loss: PreferenceLossConfig())
            stage = { rng in dpoStage.lossSum(randomPairs(&rng)).loss / Float(batch) }
        } else {
            let sft = SFTStage(model: model, padToken: 0)
            stage = { rng in sft.lossSum(randomSequences(&rng)).loss / Float(batch) }
        }
        var times: [Double] = []
        for step in 0..<(steps + 2) {
            let t0 = DispatchTime.now().uptimeNanoseconds
            optimizer.zeroGrad()
            stage(&rng).backward()
            optimizer.step()
            if step >= 2 { times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6) }
        }
        let rows = dpo ? 2 * batch : batch
        try report(times: times, tokens: Double(rows * seq), flopsPerToken: 3 * forwardPerToken, extra: extra,
                   what: "\(llamaMode) step")
    }

    /// `batch` random sequences of `seq` tokens with an empty prompt: SFT scores every next token.
    func randomSequences(_ rng: inout RandomGenerator) -> [TokenizedPair] {
        (0..<batch).map { _ in TokenizedPair(prompt: [], completion: randomTokens(seq, &rng)) }
    }

    /// `batch` preference pairs: a shared prompt of seq/2 tokens, chosen and rejected completions of the rest.
    func randomPairs(_ rng: inout RandomGenerator) -> [PreferencePair] {
        (0..<batch).map { _ in
            let prompt = randomTokens(seq / 2, &rng)
            return PreferencePair(chosen: TokenizedPair(prompt: prompt, completion: randomTokens(seq - seq / 2, &rng)),
                                  rejected: TokenizedPair(prompt: prompt, completion: randomTokens(seq - seq / 2, &rng)))
        }
    }

    func randomTokens(_ count: Int, _ rng: inout RandomGenerator) -> [Int] {
        (0..<count).map { _ in Int(rng.next() % UInt64(vocab)) }
    }
}
