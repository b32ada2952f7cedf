import TestSupport
import XCTest
@testable import LanguageModels

/// Per-token log-probs of checkpoints made by transformers (Fixtures/llama/make_llama_fixtures.py)
/// against the numbers transformers computed in float64.
final class LlamaParityTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/llama")

    static func reference() throws -> [String: [String: Any]] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: fixtures.appendingPathComponent("logprobs.json"))) as! [String: [String: Any]]
    }

    /// Log-prob of each next token, per sequence, from one batched forward pass.
    static func logProbs(_ model: Llama, _ sequences: [[Int]]) -> [[Double]] {
        let t = sequences[0].count
        let lp = withNoGrad { model(sequences.flatMap { $0 }, batch: sequences.count).logSoftmax(axis: -1) }
        return sequences.enumerated().map { b, ids in (0..<(t - 1)).map { Double(lp[b, $0, ids[$0 + 1]]) } }
    }

    func check(_ name: String, family: LlamaConfig.Family, file: StaticString = #filePath, line: UInt = #line) throws {
        let record = try XCTUnwrap(Self.reference()[name], file: file, line: line)
        let model = try Llama.loadHuggingFace(directory: Self.fixtures.appendingPathComponent(name))
        XCTAssertEqual(model.config.family, family, file: file, line: line)
        let sequences = record["input_ids"] as! [[Int]]
        let expected = record["logprobs"] as! [[Double]]
        let got = Self.logProbs(model, sequences)
        var worst = 0.0
        for (g, e) in zip(got.joined(), expected.joined()) { worst = max(worst, abs(g - e)) }
        XCTAssertLessThan(worst, 1e-4, "\(name): largest log-prob difference from transformers", file: file, line: line)
        XCTAssertEqual(got.joined().count, 38, file: file, line: line)
    }

    func testLlamaUntied() throws { try check("llama-untied", family: .llama) }

    func testLlamaTiedLinearRopeWithBiasesAndHeadDim() throws {
        try check("llama-tied-linear-bias", family: .llama)
        let c = try Llama.loadHuggingFace(directory: Self.fixtures.appendingPathComponent("llama-tied-linear-bias")).config
        XCTAssertEqual(c.ropeScaling, .linear(factor: 2.5))
        XCTAssertEqual(c.ropeTheta, 500)
        XCTAssertEqual(c.headDim, 16)
        XCTAssertTrue(c.tieWordEmbeddings && c.qkvBias && c.outputBias && c.mlpBias)
    }

    func testLlama3RopeScalingFromBF16() throws {
        try check("llama3-rope-bf16", family: .llama)
        XCTAssertEqual(try SafeTensors.read(Self.fixtures.appendingPathComponent("llama3-rope-bf16/model.safetensors")).dtypes["model.norm.weight"], "BF16")
    }

    func testMistralFromF16() throws {
        try check("mistral-f16", family: .mistral)
        let c = try Llama.loadHuggingFace(directory: Self.fixtures.appendingPathComponent("mistral-f16")).config
        XCTAssertEqual(c.slidingWindow, 64)
        XCTAssertEqual(c.contextLength, 64)
    }

    func testQwen2TiedSharded() throws {
        try check("qwen2-tied-sharded", family: .qwen2)
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.fixtures.appendingPathComponent("qwen2-tied-sharded").path)
        XCTAssertGreaterThan(files.filter { $0.hasSuffix(".safetensors") }.count, 1)
    }

    func testQwen2Untied() throws { try check("qwen2-untied", family: .qwen2) }

    /// Parameter names are transformers' state-dict names, in the layout the loader checks.
    func testParameterNamesAreTransformersNames() {
        for c in [LlamaConfig(family: .qwen2, vocabSize: 7, hiddenSize: 8, intermediateSize: 6, layers: 2, heads: 2, kvHeads: 1, scalarHead: true),
                  LlamaConfig(vocabSize: 7, hiddenSize: 8, intermediateSize: 6, layers: 1, heads: 2, outputBias: false, mlpBias: true,
                              tieWordEmbeddings: true)] {
            let model = Llama(c)
            XCTAssertEqual(model.namedParameters().map(\.name), LlamaHuggingFaceLayout.expectedShapes(c).map(\.name))
            XCTAssertEqual(model.namedParameters().map(\.tensor.shape), LlamaHuggingFaceLayout.expectedShapes(c).map(\.shape))
            XCTAssertEqual(Double(model.parameterCount), c.parameterCount)
        }
        let names = Llama(LlamaConfig(family: .qwen2, vocabSize: 7, hiddenSize: 8, intermediateSize: 6, layers: 1, heads: 2))
            .namedParameters().map(\.name)
        XCTAssertTrue(names.contains("model.layers.0.self_attn.q_proj.bias"))
        XCTAssertTrue(names.contains("model.layers.0.post_attention_layernorm.weight"))
        XCTAssertTrue(names.contains("lm_head.weight"))
    }
}
