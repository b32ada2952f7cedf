import Foundation
import LanguageModels
import TestSupport
import XCTest

final class GPTThreadingTests: ThreadSettingsTestCase {
    /// A training step's forward and backward (per-head attention GEMMs, batched products, GELU,
    /// layer norm, row reductions) at 3-8 threads must give the single-thread loss and gradients.
    func testGPTStepMatchesOneThread() {
        let config = GPTConfig(vocabSize: 40, contextLength: 24, dModel: 32, layers: 2, heads: 4)
        let model = GPT(config, seed: 3)
        var g = RandomGenerator(seed: 4)
        let ids = (0..<(3 * 24)).map { _ in Int(g.next() % 40) }
        let targets = ids.dropFirst().map { $0 } + [0]
        Threading.grainSize = 1 << 8  // small regions, so even this tiny model fans out
        func step() -> [[Float]] {
            model.zeroGrad()
            let loss = crossEntropy(logits: model(ids, batch: 3).reshaped([-1, 40]), targets: targets)
            loss.backward()
            return [[loss.item]] + model.parameters().map { $0.grad?.scalars ?? [] }
        }
        Threading.threadCount = 1
        let serial = step()
        for threads in [3, 5, 8] {
            Threading.threadCount = threads
            withWatchdog(seconds: 180, "\(threads) threads") {
                for round in 0..<40 {
                    if round % 10 == 9 { usleep(3_000) }
                    if step() != serial { XCTFail("\(threads) threads, round \(round): differs from one thread"); return }
                }
            }
        }
    }

    /// The Llama family's ops (RMSNorm, rotary embedding, GQA's repeated heads, SwiGLU) and the fused
    /// LM-head cross-entropy at 3-8 threads: every chunk runs once (a chunk run twice or skipped is
    /// far off). Not bit for bit: where a large GEMM is split into row blocks that are not multiples
    /// of OpenBLAS's 16-row kernel, edge rows go through other micro-kernels and change in the last
    /// bits (here at 8 threads, about 1e-6 on the LM head's 45 x 4101 products).
    func testLlamaStepWithFusedHeadMatchesOneThread() {
        let vocab = fusedHeadMinimumVocabulary + 5
        let model = Llama(LlamaConfig(vocabSize: vocab, hiddenSize: 32, intermediateSize: 48, layers: 2, heads: 4, kvHeads: 2,
                                      maxPositionEmbeddings: 32), seed: 3)
        var g = RandomGenerator(seed: 4)
        let ids = IndexTensor((0..<(3 * 16)).map { _ in Int(g.next() % UInt64(vocab)) }, shape: [3, 16])
        let targets = IndexTensor(ids.scalars.enumerated().filter { $0.offset % 16 != 15 }.map { $0.element }, shape: [3, 15])
        Threading.grainSize = 1 << 8
        func step() -> [[Float]] {
            model.zeroGrad()
            let loss = model.nextTokenNLL(fromHidden: model.hiddenStates(ids), targets: targets).sum()
            loss.backward()
            return [[loss.item]] + model.parameters().map { $0.grad?.scalars ?? [] }
        }
        Threading.threadCount = 1
        let serial = step()
        for threads in [3, 5, 8] {
            Threading.threadCount = threads
            withWatchdog(seconds: 180, "\(threads) threads") {
                for round in 0..<5 {
                    for (i, (got, want)) in zip(step(), serial).enumerated() {
                        let worst = zip(got, want).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
                        if got.count != want.count || worst > 1e-4 {
                            XCTFail("\(threads) threads, round \(round), tensor \(i): off by \(worst) from one thread")
                            return
                        }
                    }
                }
            }
        }
    }
}
