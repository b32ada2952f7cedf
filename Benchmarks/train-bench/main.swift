import Alignment
import ArgumentParser
import Foundation

/// Times training steps (forward, backward, AdamW) on random tokens, or KV-cache generation with
/// --generate: GPT-2 by default, a Llama-family decoder with --arch llama (full fine-tuning, LoRA,
/// DPO).
struct TrainBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-bench",
        abstract: "Median time of training steps (forward + backward + AdamW) on random tokens, or KV-cache sampling speed.",
        discussion: """
            --arch gpt2 (default) times GPT-2 steps on the cross-entropy of all next tokens. --arch llama times a \
            Llama-family decoder (RMSNorm, rotary embeddings, SwiGLU, grouped-query attention, tied embeddings unless \
            --untie-embeddings) on the loss Alignment's stages compute, through the fused LM-head cross-entropy: \
            SFT on random sequences (full fine-tuning, or LoRA with --lora-rank), or with --dpo one DPO step on --batch \
            pairs (chosen and rejected rows of --seq tokens sharing a --seq/2-token prompt, run as one batch of \
            2 x --batch rows; the reference is the model with its adapters disabled under LoRA, a frozen copy \
            otherwise). tokens_per_s counts every row's tokens.
            """)

    @Option(help: "Model architecture: gpt2 or llama.") var arch: Architecture = .gpt2
    @Option(help: "Vocabulary size (1...1000000).") var vocab = 64
    @Option(help: "Model width (1...8192, a multiple of --heads).") var dModel = 128
    @Option(help: "Transformer blocks (1...256).") var layers = 4
    @Option(help: "Attention heads (>= 1, dividing --d-model; llama: into an even head size).") var heads = 4
    @Option(help: "Llama only: key/value heads (>= 1, dividing --heads; default: --heads).") var kvHeads: Int?
    @Option(help: "Llama only: SwiGLU width (1...1000000; default: 4 x --d-model).") var intermediate: Int?
    @Option(help: "Sequence length (1...8192).") var seq = 64
    @Option(help: "Sequences per batch (1...4096); with --dpo, preference pairs (2 rows each).") var batch = 32
    @Option(help: "Timed steps, after 2 warm-up steps (>= 1).") var steps = 10
    @Option(help: "Threads for TensorCore and OpenBLAS (1...256; default: all cores).") var threads: Int?
    @Option(help: "Llama only: train LoRA adapters of this rank on q_proj and v_proj (alpha 2 x rank) instead of all weights (1...min(d-model, kv-heads x head size)).")
    var loraRank: Int?
    @Flag(help: "Llama only: time one DPO step (sigmoid loss, beta 0.1) instead of SFT.") var dpo = false
    @Flag(help: "Llama only: an untied LM head (SmolLM-135M ties it to the token embedding).") var untieEmbeddings = false
    @Flag(help: "Recompute each block's activations in backward instead of keeping them.") var gradientCheckpointing = false

    func validate() throws {
        do { try EnvironmentSettings.check() } catch { throw ValidationError("\(error)") }
        guard (1...1_000_000).contains(vocab) else { throw ValidationError("--vocab must be in 1...1000000, got \(vocab)") }
        guard (1...8192).contains(dModel) else { throw ValidationError("--d-model must be in 1...8192, got \(dModel)") }
        guard (1...256).contains(layers) else { throw ValidationError("--layers must be in 1...256, got \(layers)") }
        guard heads >= 1 && dModel % heads == 0 else { throw ValidationError("--heads must be >= 1 and divide --d-model \(dModel), got \(heads)") }
        guard (1...8192).contains(seq) else { throw ValidationError("--seq must be in 1...8192, got \(seq)") }
        guard (1...4096).contains(batch) else { throw ValidationError("--batch must be in 1...4096, got \(batch)") }
        guard steps >= 1 else { throw ValidationError("--steps must be >= 1, got \(steps)") }
        if let threads, !(1...256).contains(threads) { throw ValidationError("--threads must be in 1...256, got \(threads)") }
        if arch == .llama { return try validateLlama() }
        for (option, given) in [("--kv-heads", kvHeads != nil), ("--intermediate", intermediate != nil), ("--lora-rank", loraRank != nil),
                                ("--dpo", dpo), ("--untie-embeddings", untieEmbeddings)] where given {
            throw ValidationError("\(option) needs --arch llama")
        }
        let parameters = GPTConfig.parameterCount(vocabSize: vocab, contextLength: seq + 1, dModel: dModel, layers: layers)
        guard parameters <= Double(1 << 31) else {
            throw ValidationError("--vocab, --d-model, --layers, --seq: a model of \(String(format: "%.3g", parameters)) parameters exceeds the \(1 << 31) allowed")
        }
        // A batch that cannot fit memory would abort in malloc.
        let config = GPTConfig(vocabSize: vocab, contextLength: seq + 1, dModel: dModel, layers: layers, heads: heads)
        let activations = config.trainingActivationBytes(rows: Double(batch), length: seq)
        guard generate || activations <= Double(ProcessInfo.processInfo.physicalMemory) else {
            throw ValidationError(String(format: "--batch, --seq: about %.1f GB of activations per step exceed this machine's %.1f GB",
                                         activations / 1e9, Double(ProcessInfo.processInfo.physicalMemory) / 1e9))
        }
    }
    @Flag(help: "Measure KV-cache generation (batch x seq new tokens from a 1-token prompt) instead of training.") var generate = false
    @Flag(help: "Print one JSON object instead of text.") var json = false

    func run() throws {
        if let threads { Threading.threadCount = threads }
        if arch == .llama { return try runLlama() }
        let config = GPTConfig(vocabSize: vocab, contextLength: seq + 1, dModel: dModel, layers: layers, heads: heads)
        let model = GPT(config, seed: 0)
        model.gradientCheckpointing = gradientCheckpointing
        var rng = RandomGenerator(seed: 1)
        var times: [Double] = []
        if generate {
            times = try timeGeneration(model, generator: &rng)
        } else {
            let optimizer = Adam.adamW(model.parameters(), learningRate: 1e-4)
            for step in 0..<(steps + 2) {
                let ids = (0..<(batch * seq)).map { _ in Int(rng.next() % UInt64(vocab)) }
                let targets = (0..<(batch * seq)).map { _ in Int(rng.next() % UInt64(vocab)) }
                let t0 = DispatchTime.now().uptimeNanoseconds
                optimizer.zeroGrad()
                let loss = crossEntropy(logits: model(ids, batch: batch), targets: targets)
                loss.backward()
                optimizer.step()
                if step >= 2 { times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6) }
            }
        }
        let d = Double(dModel), t = Double(seq), l = Double(layers), v = Double(vocab)
        // Matmul FLOPs per token of one forward: 24 d² per layer (qkv, proj, fc, proj) + 4 T d
        // attention (full T x T, as computed) + 2 d V for the LM head; training is 3x forward.
        let forwardPerToken = l * (24 * d * d + 4 * t * d) + 2 * d * v
        try report(times: times, tokens: Double(batch * seq), flopsPerToken: (generate ? 1 : 3) * forwardPerToken)
    }

    /// KV-cache sampling of `batch` x `seq` new tokens from 1-token prompts: one warm-up, then `steps` timed runs.
    func timeGeneration(_ model: some CausalLanguageModel, generator rng: inout RandomGenerator) throws -> [Double] {
        let options = SamplingOptions(temperature: 1, maxNewTokens: seq)
        var times: [Double] = []
        for step in 0..<(steps + 1) {
            let prompts = (0..<batch).map { _ in [Int(rng.next() % UInt64(vocab))] }
            let t0 = DispatchTime.now().uptimeNanoseconds
            _ = try model.generate(prompts: prompts, options: options, generator: &rng)
            if step > 0 { times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6) }
        }
        return times
    }

    /// Prints the median step as text or JSON ({"ms_per_step", "tokens_per_s", "gflops", "peak_rss_mb"} plus `extra`).
    func report(times: [Double], tokens: Double, flopsPerToken: Double, extra: [String: Any] = [:], what: String? = nil) throws {
        let median = times.sorted()[times.count / 2]
        var result: [String: Any] = [
            "ms_per_step": (median * 100).rounded() / 100,
            "tokens_per_s": (tokens / (median / 1000)).rounded(),
            "gflops": (flopsPerToken * tokens / (median / 1000) / 1e9 * 10).rounded() / 10,
            "peak_rss_mb": peakRSSMegabytes(),
        ]
        result.merge(extra) { a, _ in a }
        if json {
            print(String(data: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), encoding: .utf8)!)
        } else {
            let what = what ?? (generate ? "generation of \(batch)x\(seq) tokens" : "training step")
            print("\(what): \(result["ms_per_step"]!) ms median, \(result["tokens_per_s"]!) tokens/s, \(result["gflops"]!) GFLOP/s, peak RSS \(result["peak_rss_mb"]!) MB")
        }
    }

    func peakRSSMegabytes() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kb = Int(line.split(separator: " ").dropFirst().first ?? "") else { return -1 }
        return kb / 1024
    }
}

TrainBench.main()
