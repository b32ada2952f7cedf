import ArgumentParser
import Foundation
import LanguageModels

/// Trains a character-level GPT on a small text shipped with the repository (seven of
/// Shakespeare's sonnets, public domain), saves a checkpoint in transformers' GPT-2 layout, and
/// samples from it.
@main
struct CharLM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "char-lm",
        abstract: "Train a character-level GPT on a shipped text, save a checkpoint and sample from it.")

    @Option(help: "Training text (default: the sonnets shipped beside this example).")
    var text = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("sonnets.txt").path
    @Option(help: "Directory for the checkpoint (config.json, model.safetensors, tokenizer.json).") var out = "results/char-lm"
    @Option(help: "Training steps (>= 1).") var steps = 600
    @Option(help: "Sequences per batch (1...4096).") var batch = 16
    @Option(help: "Context length in characters (2...8192, and below the text's length).") var context = 64
    @Option(help: "Model width (1...8192, a multiple of --heads).") var dModel = 96
    @Option(help: "Transformer blocks (1...256).") var layers = 3
    @Option(help: "Attention heads (>= 1, dividing --d-model).") var heads = 4
    @Option(help: "Peak AdamW learning rate (finite, > 0; cosine decay to 10%, 30 warmup steps).") var lr: Float = 3e-3
    @Option(help: "Characters to sample after training (>= 0; at most the context minus the prompt).") var sampleLength = 300
    @Option(help: "Sampling temperature: 0 decodes greedily, else finite and >= 0.001.") var temperature: Float = 0.8
    @Option(help: "Random seed for initialisation, batches and sampling.") var seed: UInt64 = 0

    func validate() throws {
        do { try EnvironmentSettings.check() } catch { throw ValidationError("\(error)") }
        guard steps >= 1 else { throw ValidationError("--steps must be >= 1, got \(steps)") }
        guard (1...4096).contains(batch) else { throw ValidationError("--batch must be in 1...4096, got \(batch)") }
        guard (2...8192).contains(context) else { throw ValidationError("--context must be in 2...8192, got \(context)") }
        guard (1...8192).contains(dModel) else { throw ValidationError("--d-model must be in 1...8192, got \(dModel)") }
        guard (1...256).contains(layers) else { throw ValidationError("--layers must be in 1...256, got \(layers)") }
        guard heads >= 1 && dModel % heads == 0 else { throw ValidationError("--heads must be >= 1 and divide --d-model \(dModel), got \(heads)") }
        let parameters = Double(layers) * 12 * Double(dModel) * Double(dModel) + Double(context) * Double(dModel)
        guard parameters <= Double(1 << 31) else {
            throw ValidationError("--d-model, --layers, --context: a model of \(String(format: "%.3g", parameters)) parameters exceeds the \(1 << 31) allowed")
        }
        guard lr.isFinite && lr > 0 else { throw ValidationError("--lr must be finite and > 0, got \(lr)") }
        guard sampleLength >= 0 else { throw ValidationError("--sample-length must be >= 0, got \(sampleLength)") }
        guard temperature == 0 || (temperature.isFinite && temperature >= 1e-3) else {
            throw ValidationError("--temperature must be 0 (greedy) or finite and >= 0.001, got \(temperature)")
        }
    }

    /// "Shall I" when the text's alphabet has its characters, else the text's first characters;
    /// never longer than the context leaves room for.
    func samplePrompt(_ tokenizer: CharTokenizer, corpus: String) -> [Int] {
        let ids = (try? tokenizer.encodeChecked("Shall I").get()) ?? tokenizer.encode(String(corpus.prefix(7)))
        return Array(ids.prefix(context - 1))
    }

    func run() throws {
        guard let corpus = try? String(contentsOfFile: text, encoding: .utf8) else { throw ValidationError("--text \(text): cannot read it as UTF-8 text") }
        let tokenizer = CharTokenizer(corpus: corpus)
        let data = tokenizer.encode(corpus)
        guard data.count > context + 1 else { throw ValidationError("--text \(text): \(data.count) characters, need more than --context \(context) + 1") }
        let config = GPTConfig(vocabSize: tokenizer.vocabSize, contextLength: context, dModel: dModel, layers: layers, heads: heads)
        let model = GPT(config, seed: seed)
        let optimizer = Adam.adamW(model.parameters(), learningRate: lr, beta2: 0.95, weightDecay: 0.1)
        let schedule = LRSchedule.cosine(warmupSteps: 30, totalSteps: steps, minFactor: 0.1)
        var rng = RandomGenerator(seed: seed &+ 1)
        print("\(data.count) characters, vocabulary \(tokenizer.vocabSize), \(model.parameterCount) parameters")
        let start = Date()
        for step in 0..<steps {
            var inputs: [Int] = [], targets: [Int] = []
            for _ in 0..<batch {
                let s = Int(rng.next() % UInt64(data.count - context - 1))
                inputs += data[s..<(s + context)]
                targets += data[(s + 1)...(s + context)]
            }
            optimizer.learningRate = schedule.learningRate(base: lr, step: step)
            optimizer.zeroGrad()
            let loss = crossEntropy(logits: model(inputs, batch: batch), targets: targets)
            guard loss.item.isFinite else {
                throw ValidationError("step \(step): loss is \(loss.item); training stopped before saving (lower --lr)")
            }
            loss.backward()
            let norm = clipGradNorm(model.parameters(), maxNorm: 1)
            guard norm.isFinite else {
                throw ValidationError("step \(step): gradient norm is \(norm); training stopped before saving (lower --lr)")
            }
            optimizer.step()
            if step % 50 == 0 || step == steps - 1 {
                let elapsed = Date().timeIntervalSince(start)
                print(String(format: "step %4d  loss %.4f  %.1f ms/step", step, loss.item, 1000 * elapsed / Double(step + 1)))
            }
        }
        let dir = URL(fileURLWithPath: out)
        try model.saveHuggingFace(directory: dir, metadata: ["steps": "\(steps)"])
        try JSONEncoder().encode(tokenizer).write(to: dir.appendingPathComponent("tokenizer.json"))
        print("saved \(dir.path)")

        let prompt = samplePrompt(tokenizer, corpus: corpus)
        let sample = try model.generate(prompts: [prompt],
                                    options: SamplingOptions(temperature: temperature, maxNewTokens: min(sampleLength, context - prompt.count)),
                                    generator: &rng)
        print("--- sample ---\n" + tokenizer.decode(prompt + sample.tokens[0]))
    }
}
