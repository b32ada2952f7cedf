import Alignment
import XCTest

/// SequenceLogProbs straight from the model: exactly the logits path for small vocabularies, and the
/// fused chunked LM head (no [B, T, V] logits) within float tolerance from `fusedHeadMinimumVocabulary` up.
final class FusedHeadLogProbsTests: XCTestCase {
    func batch(vocab: Int) -> Batch {
        Batch([TokenizedPair(prompt: [1, 2], completion: [3, vocab - 1, 4]), TokenizedPair(prompt: [5], completion: [6])], padToken: 0)
    }

    func testSmallVocabularyGivesTheLogitsPathBitForBit() {
        let model = GPT(GPTConfig(vocabSize: 300, contextLength: 8, dModel: 8, layers: 1, heads: 2), seed: 1)
        let b = batch(vocab: 300)
        for reduction in [SequenceLogProbs.Reduction.sum, .mean] {
            XCTAssertEqual(SequenceLogProbs.compute(model: model, batch: b, reduction: reduction).scalars,
                           SequenceLogProbs.compute(logits: model(b.inputIDs), batch: b, reduction: reduction).scalars)
        }
    }

    func testLargeVocabularyFusedHeadMatchesTheLogitsPath() {
        let vocab = fusedHeadMinimumVocabulary + 7
        let model = GPT(GPTConfig(vocabSize: vocab, contextLength: 8, dModel: 8, layers: 1, heads: 2), seed: 2)
        let b = batch(vocab: vocab)
        let fused = SequenceLogProbs.compute(model: model, batch: b)
        fused.sum().backward()
        let fusedGrads = model.parameters().map { $0.grad!.scalars }
        model.zeroGrad()
        let reference = SequenceLogProbs.compute(logits: model(b.inputIDs), batch: b)
        reference.sum().backward()
        for (a, r) in zip(fused.scalars, reference.scalars) { XCTAssertEqual(a, r, accuracy: 1e-4) }
        for (ga, gr) in zip(fusedGrads, model.parameters().map { $0.grad!.scalars }) {
            for (a, r) in zip(ga, gr) { XCTAssertEqual(a, r, accuracy: 1e-5) }
        }
    }

    func testTemperatureScalesTheLogitsOnBothPaths() {
        for vocab in [50, fusedHeadMinimumVocabulary] {
            let model = GPT(GPTConfig(vocabSize: vocab, contextLength: 8, dModel: 8, layers: 1, heads: 2), seed: 3)
            let b = batch(vocab: vocab)
            let hidden = model.hiddenStates(b.inputIDs)
            let scaled = model.nextTokenNLL(fromHidden: hidden, targets: b.targets, temperature: 0.7).scalars
            let logits = model.logits(fromHidden: hidden) * (1 / Float(0.7))
            let reference = crossEntropy(logits: logits.slice(axis: 1, 0..<(b.length - 1)), targets: b.targets, reduction: .none).scalars
            for (a, r) in zip(scaled, reference) { XCTAssertEqual(a, r, accuracy: 1e-4, "vocab \(vocab)") }
        }
    }

    /// A LoRA adapter on an untied LM head takes the logits path: the fused head has only the weight.
    func testAnAdaptedLMHeadIsNotFused() throws {
        let vocab = fusedHeadMinimumVocabulary + 3
        let model = Llama(LlamaConfig(vocabSize: vocab, hiddenSize: 8, intermediateSize: 16, layers: 1, heads: 2, kvHeads: 1,
                                      maxPositionEmbeddings: 16), seed: 4)
        try model.applyLoRA(LoRAConfig(rank: 2, alpha: 4, dropout: 0, targets: .names(["lm_head"])), seed: 5)
        for (name, p) in model.namedParameters() where name.contains("lora_B") {
            withNoGrad { p.assign(Tensor.ones(p.shape) * 0.5) }
        }
        XCTAssertFalse(model.lmHeadIsPlainLinear)
        let b = batch(vocab: vocab)
        let lp = SequenceLogProbs.compute(model: model, batch: b)
        let reference = SequenceLogProbs.compute(logits: model(b.inputIDs), batch: b)
        XCTAssertEqual(lp.scalars, reference.scalars)
        lp.sum().backward()
        let adapted = model.namedParameters().filter { $0.name.contains("lora_B") }
        XCTAssertTrue(adapted.allSatisfy { $0.tensor.grad != nil }, "the head's adapter gets a gradient")
    }
}
