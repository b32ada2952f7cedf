import Foundation
import LanguageModels
import TestSupport
import XCTest

/// Generation with options, prompts or weights that cannot work: each is a thrown error naming the
/// setting (or the step and sequence whose logits were not finite), never a trap.
final class HostileSamplingInputTests: XCTestCase {
    let config = GPTConfig(vocabSize: 13, contextLength: 24, dModel: 8, layers: 1, heads: 2)

    func assertRefused(_ prompts: [[Int]], _ options: SamplingOptions, setting: String, phrase: String,
                       file: StaticString = #filePath, line: UInt = #line) {
        let model = GPT(config, seed: 1)
        var rng = RandomGenerator(seed: 0)
        XCTAssertThrowsError(try model.generate(prompts: prompts, options: options, generator: &rng), file: file, line: line) { error in
            guard let e = error as? ConfigurationError else { return XCTFail("\(error) is not a ConfigurationError", file: file, line: line) }
            XCTAssertEqual(e.setting, setting, file: file, line: line)
            XCTAssertTrue(e.reason.contains(phrase), "'\(e.reason)' does not mention '\(phrase)'", file: file, line: line)
        }
        // Refused before sampling: the generator is untouched.
        var fresh = RandomGenerator(seed: 0)
        XCTAssertEqual(rng.next(), fresh.next(), file: file, line: line)
    }

    func testOptionsOutOfRangeAreRefused() {
        let p = [[1, 2]]
        assertRefused(p, SamplingOptions(eosToken: 13), setting: "SamplingOptions.eosToken", phrase: "must be in 0...12, got 13")
        assertRefused(p, SamplingOptions(eosToken: -1), setting: "SamplingOptions.eosToken", phrase: "got -1")
        assertRefused(p, SamplingOptions(temperature: .nan), setting: "SamplingOptions.temperature", phrase: "got nan")
        assertRefused(p, SamplingOptions(temperature: -1), setting: "SamplingOptions.temperature", phrase: ">= 0")
        assertRefused(p, SamplingOptions(temperature: .infinity), setting: "SamplingOptions.temperature", phrase: "finite")
        assertRefused(p, SamplingOptions(topK: 0), setting: "SamplingOptions.topK", phrase: "must be >= 1, got 0")
        assertRefused(p, SamplingOptions(topP: 0), setting: "SamplingOptions.topP", phrase: "(0.0, 1.0]")
        assertRefused(p, SamplingOptions(topP: 1.5), setting: "SamplingOptions.topP", phrase: "got 1.5")
        assertRefused(p, SamplingOptions(topP: .nan), setting: "SamplingOptions.topP", phrase: "got nan")
        assertRefused(p, SamplingOptions(maxNewTokens: -1), setting: "SamplingOptions.maxNewTokens", phrase: "got -1")
    }

    func testPromptsThatDoNotFitAreRefused() {
        assertRefused([], SamplingOptions(), setting: "prompts", phrase: "at least one prompt")
        assertRefused([[1], []], SamplingOptions(), setting: "prompts[1]", phrase: "is empty")
        assertRefused([[1, 13]], SamplingOptions(), setting: "prompts[0]", phrase: "token 13 at position 1 is outside the vocabulary 0..<13")
        assertRefused([[-4]], SamplingOptions(), setting: "prompts[0]", phrase: "token -4")
        assertRefused([[1], Array(repeating: 1, count: 25)], SamplingOptions(maxNewTokens: 0), setting: "prompts[1]",
                      phrase: "has 25 tokens, more than the context length 24")
        // Prompt + new tokens must fit the context, so the whole sequence can be scored afterwards.
        assertRefused([[1, 2], [1, 2, 3]], SamplingOptions(maxNewTokens: 22), setting: "SamplingOptions.maxNewTokens",
                      phrase: "22 new tokens after the 3-token prompts[1] exceed the context length 24")
        assertRefused([[1]], SamplingOptions(maxNewTokens: 1000), setting: "SamplingOptions.maxNewTokens", phrase: "1000 new tokens")
        assertRefused([[1]], SamplingOptions(maxNewTokens: .max), setting: "SamplingOptions.maxNewTokens", phrase: "exceed the context")
    }

    func testTheLongestPromptThatFitsIsAccepted() throws {
        var rng = RandomGenerator(seed: 0)
        let out = try GPT(config, seed: 1).generate(prompts: [Array(repeating: 1, count: 20), [2]],
                                                    options: SamplingOptions(maxNewTokens: 4), generator: &rng)
        XCTAssertEqual(out.tokens.map(\.count), [4, 4])
    }

    /// A model whose parameter `name` has row `row` set to NaN.
    func model(withNaNIn name: String, row: Int) -> GPT {
        let model = GPT(config, seed: 1)
        let weight = model.namedParameters().first { $0.name == name }!.tensor
        withNoGrad { weight.select(axis: 0, row).assign(Tensor.full([config.dModel], .nan)) }
        return model
    }

    func assertSamplingError(_ model: GPT, prompts: [[Int]], maxNewTokens: Int = 4, step: Int, sequence: Int, phrase: String,
                             file: StaticString = #filePath, line: UInt = #line) {
        var rng = RandomGenerator(seed: 0)
        XCTAssertThrowsError(try model.generate(prompts: prompts, options: SamplingOptions(maxNewTokens: maxNewTokens), generator: &rng),
                             file: file, line: line) { error in
            guard var e = error as? SamplingError else { return XCTFail("\(error) is not a SamplingError", file: file, line: line) }
            XCTAssertEqual(e.step, step, file: file, line: line)
            XCTAssertEqual(e.sequence, sequence, file: file, line: line)
            XCTAssertTrue(e.reason.contains(phrase), "\(e)", file: file, line: line)
            e.model = "models/m"
            XCTAssertTrue(e.description.hasPrefix("model models/m: sampling new token \(step) of sequence \(sequence): "), "\(e)",
                          file: file, line: line)
        }
    }

    func testNaNWeightsAreASamplingErrorNamingStepAndSequence() {
        // The LM head is tied to wte: a NaN row gives that token a NaN logit at the first step.
        assertSamplingError(model(withNaNIn: "wte.weight", row: 5), prompts: [[1, 2]], step: 0, sequence: 0,
                            phrase: "logit of token 5 is nan")
        // A NaN position embedding reaches the logits once position 3 is fed: the third new token
        // after a 2-token prompt (sampled from positions 0...3).
        assertSamplingError(model(withNaNIn: "wpe.weight", row: 3), prompts: [[1, 2]], step: 2, sequence: 0, phrase: "is nan")
        // Sequence 0 is done (3 new tokens from positions 0...2) before sequence 1 samples from position 3.
        assertSamplingError(model(withNaNIn: "wpe.weight", row: 3), prompts: [[1], [1, 2, 3, 4]], maxNewTokens: 3, step: 0, sequence: 1,
                            phrase: "is nan")
    }

    func testSampleRefusesNonFiniteLogitsAndOverflowingTemperature() throws {
        var scratch: [Float] = []
        var rng = RandomGenerator(seed: 0)
        for (logits, temperature, phrase) in [([Float(1), .infinity], Float(1), "logit of token 1 is inf"),
                                              ([0, .nan], 0, "logit of token 1 is nan"),
                                              ([-.infinity, -.infinity], 1, "every logit is -inf"),
                                              ([1, 5], .leastNormalMagnitude, "divided by the temperature")] {
            try logits.withUnsafeBufferPointer { row in
                XCTAssertThrowsError(try Sampling.sample(row, options: SamplingOptions(temperature: temperature), scratch: &scratch,
                                                         generator: &rng)) { error in
                    XCTAssertTrue((error as? SamplingError)?.reason.contains(phrase) == true, "\(error)")
                }
            }
        }
        // -inf masks a token, as in transformers' warpers: the other one is always drawn.
        for temperature: Float in [0, 1] {
            let (token, logProb) = try [-Float.infinity, 0.5].withUnsafeBufferPointer {
                try Sampling.sample($0, options: SamplingOptions(temperature: temperature), scratch: &scratch, generator: &rng)
            }
            XCTAssertEqual(token, 1)
            XCTAssertEqual(logProb, 0)
        }
    }

    /// With `stopAtContext` a batch may hold prompts with no room for maxNewTokens: each sequence
    /// stops when it fills the context, so every output can still be scored by the model, and a
    /// prompt that already fills it gets no tokens.
    func testStopAtContextEndsEachSequenceAtTheContext() throws {
        let model = GPT(config, seed: 1)
        let prompts = [[1, 2], Array(repeating: 3, count: 20), Array(repeating: 4, count: 24)]
        var rng = RandomGenerator(seed: 0)
        let out = try model.generate(prompts: prompts, options: SamplingOptions(maxNewTokens: 10, stopAtContext: true), generator: &rng)
        XCTAssertEqual(out.tokens.map(\.count), [10, 4, 0])
        XCTAssertEqual(out.logProbs.map(\.count), [10, 4, 0])
        for (p, t) in zip(prompts, out.tokens) { XCTAssertLessThanOrEqual(p.count + t.count, config.contextLength) }
        // The same options without stopAtContext are refused, naming the prompt with no room.
        assertRefused(prompts, SamplingOptions(maxNewTokens: 10), setting: "SamplingOptions.maxNewTokens", phrase: "prompts[2]")
        // Where every prompt has room, stopAtContext changes nothing.
        var a = RandomGenerator(seed: 5), b = RandomGenerator(seed: 5)
        let short = [[1, 2], [3, 4, 5]]
        XCTAssertEqual(try model.generate(prompts: short, options: SamplingOptions(maxNewTokens: 8, stopAtContext: true), generator: &a),
                       try model.generate(prompts: short, options: SamplingOptions(maxNewTokens: 8), generator: &b))
    }

    func testOptionsEncodedWithoutStopAtContextDecode() throws {
        let json = Data(#"{"temperature": 0.7, "topP": 0.9, "maxNewTokens": 5}"#.utf8)
        let options = try JSONDecoder().decode(SamplingOptions.self, from: json)
        XCTAssertEqual(options, SamplingOptions(temperature: 0.7, topP: 0.9, maxNewTokens: 5))
        XCTAssertEqual(try JSONDecoder().decode(SamplingOptions.self, from: JSONEncoder().encode(SamplingOptions(stopAtContext: true))),
                       SamplingOptions(stopAtContext: true))
    }
}
