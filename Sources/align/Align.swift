import Alignment
import ArgumentParser
import DistributedTraining
import Foundation
import LanguageModels

@main
struct Align: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "align",
        abstract: "Train (SFT, reward, DPO, PPO), score and sample GPT-2, Llama, Mistral and Qwen2 checkpoints (transformers layout; Hugging Face tokenizers or the byte tokenizer).",
        subcommands: [Score.self, Generate.self, SFT.self, Reward.self, DPO.self, PPOCommand.self, Tokenize.self])
}

/// A failure worth one line on stderr and a non-zero exit.
struct CLIError: Error, CustomStringConvertible {
    let description: String
}

/// Reads a JSONL file of `{"input_ids": [...]}` objects through Alignment's JSONL reader (CRLF, a
/// byte-order mark, and errors naming file and line for empty, non-UTF-8 or malformed files).
func readInputIDs(_ path: String) throws -> [(line: Int, ids: [Int])] {
    func isInteger(_ n: NSNumber) -> Bool {
        let v = n.doubleValue
        // JSON true/false arrive as NSNumber too; their type code is "c".
        return String(cString: n.objCType) != "c" && v.isFinite && v == v.rounded() && abs(v) < 1e15
    }
    return try JSONL.objects(at: path).map { line, object in
        guard let values = object["input_ids"] as? [NSNumber], !values.isEmpty, values.allSatisfy(isInteger) else {
            throw DataError(file: path, line: line, reason: "\"input_ids\" must be a non-empty array of integers")
        }
        return (line, values.map(\.intValue))
    }
}

func printJSON(_ object: [String: Any]) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    FileHandle.standardOutput.write(data + Data("\n".utf8))
}

func fail(_ error: Error) -> Never {
    FileHandle.standardError.write(Data("align\(rankSuffix): \(error)\n".utf8))
    // Under mpirun the other ranks would wait for this one in their next collective: end the job.
    MPICommunicator.started?.abort(code: 1)
    Foundation.exit(1)
}

struct Score: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print per-token log-probabilities: for each input line, log p(token t+1 | tokens 0...t) for every position after the first.")

    @Option(help: "Checkpoint directory with config.json and model.safetensors.") var model: String
    @Option(help: "JSONL file, one {\"input_ids\": [...]} per line.") var input: String

    func validate() throws { try validatingOptions {} }

    func run() throws {
        do {
            let gpt = try loadModel(model)
            for (line, ids) in try reading("--input", { try readInputIDs(input) }) {
                try checkIDs(ids, gpt, line: line, path: input)
                let logp = withNoGrad { gpt(ids, batch: 1).logSoftmax(axis: -1) }
                let values = (0..<(ids.count - 1)).map { Double(logp[0, $0, ids[$0 + 1]]) }
                if let j = values.firstIndex(where: { !$0.isFinite }) {
                    throw CLIError(description: "--model \(model): the log-prob of token \(j + 1) of \(input):\(line) is \(values[j]); "
                                   + "the model's weights or activations are not finite")
                }
                try printJSON(["logprobs": values])
            }
        } catch { fail(error) }
    }
}

/// One batch of `align generate` as its rank sends it.
struct SampledBatch: Codable {
    var tokens: [[Int]]
    var logProbBits: [[UInt32]]
}

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sample continuations with a KV cache; prints {\"tokens\", \"logprobs\"} per prompt as JSONL.")

    @Option(help: "Checkpoint directory with config.json and model.safetensors.") var model: String
    @Option(help: "JSONL file of prompts, one {\"input_ids\": [...]} per line.") var input: String
    @Option(help: "Maximum number of new tokens per prompt (>= 1; each prompt + --max-new-tokens must fit the model's context).")
    var maxNewTokens = 32
    @Option(help: "Sampling temperature: 0 decodes greedily, else finite and >= 0.001.") var temperature: Float = 1
    @Option(help: "Keep only the k >= 1 most likely tokens (default: all).") var topK: Int?
    @Option(help: "Nucleus sampling: keep the most likely tokens up to this total probability, in (0, 1].") var topP: Float = 1
    @Option(help: "Stop a sequence after this token id, within the model's vocabulary (default: none).") var eos: Int?
    @Option(help: "Random seed (each batch samples from its own stream derived from it).") var seed: UInt64 = 0
    @Option(help: "Prompts sampled together in one batch (>= 1). Under mpirun the ranks share the batches out and rank 0 prints them in order, the same output as one process.")
    var batchSize = 8

    func validate() throws {
        try validatingOptions {
            try Validate.positive(maxNewTokens, "--max-new-tokens")
            guard temperature == 0 || (temperature.isFinite && temperature >= minimumTemperature) else {
                throw ConfigurationError("--temperature", "must be 0 (greedy) or finite and >= \(minimumTemperature), got \(temperature)")
            }
            if let topK { try Validate.positive(topK, "--top-k") }
            try Validate.inRange(topP, 0, 1, "--top-p", includeLower: false)
            if let eos { try Validate.nonNegative(eos, "--eos") }
            try Validate.positive(batchSize, "--batch-size")
        }
    }

    func run() throws {
        do {
            let gpt = try loadModel(model)
            if let eos, eos >= gpt.vocabSize {
                throw ConfigurationError("--eos", "must be a token id in 0..<\(gpt.vocabSize) (the vocabulary of --model \(model)), got \(eos)")
            }
            let lines = try reading("--input") { try readInputIDs(input) }
            let prompts = lines.map(\.ids)
            for (line, p) in lines {
                try checkIDs(p, gpt, line: line, path: input)
                // Compared as a difference: p.count <= context (checkIDs), so a huge --max-new-tokens cannot overflow.
                guard maxNewTokens <= gpt.contextLength - p.count else {
                    throw CLIError(description: "\(input):\(line): \(p.count) prompt tokens + --max-new-tokens \(maxNewTokens) exceed the context \(gpt.contextLength) of --model \(model)")
                }
            }
            // The KV cache of a batch is allocated at once; a long context times a big batch would abort in malloc.
            let longest = (prompts.map(\.count).max() ?? 0) + maxNewTokens
            try checkMemory(gpt.samplingBytes(rows: Double(min(batchSize, prompts.count)), length: min(longest, gpt.contextLength)),
                            "sampling batches of \(min(batchSize, prompts.count)) sequences of up to \(longest) tokens", options: "--batch-size, --max-new-tokens")
            // Under mpirun the ranks share the batches out; rank 0 prints them in order.
            let world = try MPICommunicator.world()
            if let world {
                MPICommunicator.shareCoresAmongLocalRanks()
                var fields = MPICommunicator.optionFields(Array(CommandLine.arguments.dropFirst()))
                fields["run setting --model"] = try modelFingerprint(model, option: "--model")
                fields["run setting --input"] = try fileFingerprint(input, option: "--input")
                try world.rankZeroReports { try world.requireSameAsRankZero(fields, what: "options and data") }
            }
            let options = SamplingOptions(temperature: temperature, topK: topK, topP: topP, maxNewTokens: maxNewTokens, eosToken: eos)
            let starts = Array(stride(from: 0, to: prompts.count, by: batchSize)), ranks = world?.size ?? 1
            for round in stride(from: 0, to: starts.count, by: ranks) {
                let batches = try shareOut(min(ranks, starts.count - round), group: world) { i -> SampledBatch in
                    let start = starts[round + i]
                    // Each batch its own random stream: the samples do not depend on the number of ranks.
                    var stream = RandomGenerator(seed: seed, stream: UInt64(round + i))
                    let out = try gpt.generate(prompts: Array(prompts[start..<min(start + batchSize, prompts.count)]), options: options, generator: &stream)
                    return SampledBatch(tokens: out.tokens, logProbBits: out.logProbs.map { $0.map(\.bitPattern) })
                }
                guard isPrimaryRank else { continue }
                for batch in batches {
                    for (tokens, bits) in zip(batch.tokens, batch.logProbBits) {
                        try printJSON(["tokens": tokens, "logprobs": bits.map { Double(Float(bitPattern: $0)) }])
                    }
                }
            }
        } catch var e as SamplingError {
            e.model = model
            fail(e)
        } catch { fail(error) }
    }
}
