import ArgumentParser
import Foundation
import TensorCore

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
    @Option(help: "Training steps.") var steps = 600
    @Option(help: "Sequences per batch.") var batch = 16
    @Option(help: "Context length in characters.") var context = 64
    @Option(help: "Model width.") var dModel = 96
    @Option(help: "Transformer blocks.") var layers = 3
    @Option(help: "Attention heads.") var heads = 4
    @Option(help: "Peak AdamW learning rate (cosine decay to 10%, 30 warmup steps).") var lr: Float = 3e-3
    @Option(help: "Characters to sample after training.") var sampleLength = 300
    @Option(help: "Sampling temperature.") var temperature: Float = 0.8
    @Option(help: "Random seed for initialisation, batches and sampling.") var seed: UInt64 = 0

    func run() throws {
        let corpus = try String(contentsOfFile: text, encoding: .utf8)
        let tokenizer = CharTokenizer(corpus: corpus)
        let data = tokenizer.encode(corpus)
        guard data.count > context + 1 else { throw ValidationError("\(text): \(data.count) characters, need more than --context \(context)") }
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
            loss.backward()
            clipGradNorm(model.parameters(), maxNorm: 1)
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

        let prompt = tokenizer.encode("Shall I")
        let sample = try model.generate(prompts: [prompt],
                                    options: SamplingOptions(temperature: temperature, maxNewTokens: min(sampleLength, context - prompt.count)),
                                    generator: &rng)
        print("--- sample ---\n" + tokenizer.decode(prompt + sample.tokens[0]))
    }
}
