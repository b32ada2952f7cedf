import Benchmark
import Foundation
import LanguageModels

// Regression benchmarks for TensorCore, run with `swift package benchmark` from
// Benchmarks/Regression. The workloads follow Benchmarks/train-bench/main.swift; model,
// optimizer and inputs are built in `setup:` and are not timed.
//
// Threads: TensorCore and OpenBLAS are pinned to ONE thread unless TENSORCORE_NUM_THREADS is
// set, so that numbers are comparable across machines and runs (a regression baseline taken
// with 2 threads on a busy 2-core box is mostly noise).

/// GPT config of train-bench's defaults: vocab 64, d_model 128, 4 layers, 4 heads, seq 64.
private let vocab = 64, dModel = 128, layers = 4, heads = 4, seq = 64

private func smallConfig() -> GPTConfig {
    GPTConfig(vocabSize: vocab, contextLength: seq + 1, dModel: dModel, layers: layers, heads: heads)
}

private func configureThreads() {
    let requested = ProcessInfo.processInfo.environment["TENSORCORE_NUM_THREADS"].flatMap(Int.init)
    Threading.threadCount = max(requested ?? 1, 1)
}

/// Model, optimizer and pre-drawn random batches for the training-step benchmark.
final class TrainState {
    static let batch = 32
    let model: GPT
    let optimizer: Adam
    let inputs: [[Int]]
    let targets: [[Int]]
    var next = 0

    init() {
        model = GPT(smallConfig(), seed: 0)
        optimizer = Adam.adamW(model.parameters(), learningRate: 1e-4)
        var rng = RandomGenerator(seed: 1)
        let n = Self.batch * seq
        inputs = (0..<4).map { _ in (0..<n).map { _ in Int(rng.next() % UInt64(vocab)) } }
        targets = (0..<4).map { _ in (0..<n).map { _ in Int(rng.next() % UInt64(vocab)) } }
    }

    /// One forward + backward + AdamW step, as train-bench times it.
    func step() -> Float {
        let i = next % inputs.count
        next += 1
        optimizer.zeroGrad()
        let loss = crossEntropy(logits: model(inputs[i], batch: Self.batch), targets: targets[i])
        loss.backward()
        optimizer.step()
        return loss.item
    }
}

/// Model and sampling state for the KV-cache generation benchmark.
final class GenerateState {
    static let batch = 8
    static let newTokens = 64
    let model = GPT(smallConfig(), seed: 0)
    let options = SamplingOptions(temperature: 1, maxNewTokens: newTokens)
    var rng = RandomGenerator(seed: 1)

    /// `batch` sequences of `newTokens` new tokens each from a 1-token prompt, as
    /// `train-bench --generate` does.
    func generate() -> Int {
        let prompts = (0..<Self.batch).map { _ in [Int(rng.next() % UInt64(vocab))] }
        let out = try! model.generate(prompts: prompts, options: options, generator: &rng)
        return out.tokens.count
    }
}

let benchmarks: @Sendable () -> Void = {
    configureThreads()

    let metrics: [BenchmarkMetric] = [.wallClock, .throughput, .mallocCountTotal, .peakMemoryResident]
    // `baseline check` tolerances: time is noisy on a shared 2-core machine (runs differ by up to
    // ~20%), so only a p50 move beyond 25% counts; the training step's and generation's allocation
    // counts and peak memory are steady and keep the library's default of 5% on p25/p50/p75.
    let thresholds: [BenchmarkMetric: BenchmarkThresholds] = [
        .wallClock: .init(relative: BenchmarkThresholds.Relative.relaxed),
        .throughput: .init(relative: BenchmarkThresholds.Relative.relaxed),
        .mallocCountTotal: .init(relative: BenchmarkThresholds.Relative.default),
        .peakMemoryResident: .init(relative: BenchmarkThresholds.Relative.default),
    ]
    // A matmul makes about 22-30 allocations and the count moves by a few between iterations (the
    // GEMM split's dispatch), which is over 5%: an absolute tolerance of 8 instead.
    var matmulThresholds = thresholds
    matmulThresholds[.mallocCountTotal] = .init(absolute: [.p25: 8, .p50: 8, .p75: 8])

    // (1) One 512x512 · 512x512 matrix product (268 MFLOP), no autograd.
    Benchmark(
        "matmul 512x512",
        configuration: .init(metrics: metrics, warmupIterations: 3, maxDuration: .seconds(2), maxIterations: 200, thresholds: matmulThresholds)
    ) { (benchmark: Benchmark, operands: (Tensor, Tensor)) in
        for _ in benchmark.scaledIterations {
            blackHole(operands.0.matmul(operands.1))
        }
    } setup: {
        var rng = RandomGenerator(seed: 0)
        return (Tensor.normal([512, 512], generator: &rng), Tensor.normal([512, 512], generator: &rng))
    }

    // (2) One training step of the small GPT (batch 32 x seq 64 random tokens).
    Benchmark(
        "train step small",
        configuration: .init(metrics: metrics, warmupIterations: 1, maxDuration: .seconds(3), maxIterations: 10, thresholds: thresholds)
    ) { (benchmark: Benchmark, state: TrainState) in
        for _ in benchmark.scaledIterations {
            blackHole(state.step())
        }
    } setup: {
        TrainState()
    }

    // (3) KV-cache sampling of 64 new tokens for 8 sequences.
    Benchmark(
        "generate 64 tokens",
        configuration: .init(metrics: metrics, warmupIterations: 1, maxDuration: .seconds(3), maxIterations: 20, thresholds: thresholds)
    ) { (benchmark: Benchmark, state: GenerateState) in
        for _ in benchmark.scaledIterations {
            blackHole(state.generate())
        }
    } setup: {
        GenerateState()
    }
}
