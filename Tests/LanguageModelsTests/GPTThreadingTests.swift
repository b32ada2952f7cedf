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
}
