import ArgumentParser
import Foundation
import LanguageModels

/// Times GPT-2-architecture training steps (forward, backward, AdamW) on random tokens, or
/// KV-cache generation with --generate.
@main
struct TrainBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-bench",
        abstract: "Median time of GPT-2 training steps (forward + backward + AdamW) on random tokens, or KV-cache sampling speed.")

    @Option(help: "Vocabulary size (1...1000000).") var vocab = 64
    @Option(help: "Model width (1...8192, a multiple of --heads).") var dModel = 128
    @Option(help: "Transformer blocks (1...256).") var layers = 4
    @Option(help: "Attention heads (>= 1, dividing --d-model).") var heads = 4
    @Option(help: "Sequence length (1...8192).") var seq = 64
    @Option(help: "Sequences per batch (1...4096).") var batch = 32
    @Option(help: "Timed steps, after 2 warm-up steps (>= 1).") var steps = 10
    @Option(help: "Threads for TensorCore and OpenBLAS (1...256; default: all cores).") var threads: Int?

    func validate() throws {
        guard (1...1_000_000).contains(vocab) else { throw ValidationError("--vocab must be in 1...1000000, got \(vocab)") }
        guard (1...8192).contains(dModel) else { throw ValidationError("--d-model must be in 1...8192, got \(dModel)") }
        guard (1...256).contains(layers) else { throw ValidationError("--layers must be in 1...256, got \(layers)") }
        guard heads >= 1 && dModel % heads == 0 else { throw ValidationError("--heads must be >= 1 and divide --d-model \(dModel), got \(heads)") }
        guard (1...8192).contains(seq) else { throw ValidationError("--seq must be in 1...8192, got \(seq)") }
        guard (1...4096).contains(batch) else { throw ValidationError("--batch must be in 1...4096, got \(batch)") }
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
        guard steps >= 1 else { throw ValidationError("--steps must be >= 1, got \(steps)") }
        if let threads, !(1...256).contains(threads) { throw ValidationError("--threads must be in 1...256, got \(threads)") }
    }
    @Flag(help: "Measure KV-cache generation (batch x seq new tokens from a 1-token prompt) instead of training.") var generate = false
    @Flag(help: "Print one JSON object instead of text.") var json = false

    func run() throws {
        if let threads { Threading.threadCount = threads }
        let config = GPTConfig(vocabSize: vocab, contextLength: seq + 1, dModel: dModel, layers: layers, heads: heads)
        let model = GPT(config, seed: 0)
        var rng = RandomGenerator(seed: 1)
        var times: [Double] = []
        if generate {
            let options = SamplingOptions(temperature: 1, maxNewTokens: seq)
            for step in 0..<(steps + 1) {
                let prompts = (0..<batch).map { _ in [Int(rng.next() % UInt64(vocab))] }
                let t0 = DispatchTime.now().uptimeNanoseconds
                _ = try model.generate(prompts: prompts, options: options, generator: &rng)
                if step > 0 { times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6) }
            }
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
        let median = times.sorted()[times.count / 2]
        let tokens = Double(batch * seq)
        let d = Double(dModel), t = Double(seq), l = Double(layers), v = Double(vocab)
        // Matmul FLOPs per token of one forward: 24 d² per layer (qkv, proj, fc, proj) + 4 T d
        // attention (full T x T, as computed) + 2 d V for the LM head; training is 3x forward.
        let forwardPerToken = l * (24 * d * d + 4 * t * d) + 2 * d * v
        let flops = (generate ? 1 : 3) * forwardPerToken * tokens
        let result: [String: Any] = [
            "ms_per_step": (median * 100).rounded() / 100,
            "tokens_per_s": (tokens / (median / 1000)).rounded(),
            "gflops": (flops / (median / 1000) / 1e9 * 10).rounded() / 10,
            "peak_rss_mb": peakRSSMegabytes(),
        ]
        if json {
            print(String(data: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), encoding: .utf8)!)
        } else {
            let what = generate ? "generation of \(batch)x\(seq) tokens" : "training step"
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
