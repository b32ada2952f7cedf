import Foundation
import LanguageModels
import XCTest

/// The protocol Alignment trains through: GPT behind `any CausalLanguageModel`, checkpoints opened
/// by their config.json `model_type`, and the shaped-id entry points.
final class CausalLanguageModelTests: XCTestCase {
    let config = GPTConfig(vocabSize: 11, contextLength: 8, dModel: 8, layers: 1, heads: 2, scalarHead: true)
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("clm-\(UUID().uuidString)")
        try GPT(config, seed: 4).saveHuggingFace(directory: directory)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func testPretrainedModelOpensAGPT2DirectoryWithTheSameOutputs() throws {
        let model = try PretrainedModel.load(directory: directory)
        XCTAssertEqual(model.modelType, "gpt2")
        XCTAssertEqual(model.vocabSize, 11)
        XCTAssertEqual(model.contextLength, 8)
        XCTAssertTrue(model.hasScalarHead)
        let direct = try GPT.loadHuggingFace(directory: directory)
        let ids = IndexTensor(rows: [[1, 2, 3], [4, 5, 6]])
        XCTAssertEqual(model(ids).scalars, direct(ids).scalars)
        XCTAssertEqual(model.scores(fromHidden: model.hiddenStates(ids)).shape, [2, 3])
    }

    func testShapedAndFlatIdsGiveTheSameLogits() {
        let model = GPT(config, seed: 2)
        let rows = [[1, 2, 3, 4], [5, 6, 7, 8]]
        XCTAssertEqual(model(IndexTensor(rows: rows)).scalars, model(rows.flatMap { $0 }, batch: 2).scalars)
        XCTAssertEqual(model(IndexTensor(rows: rows)).shape, [2, 4, 11])
    }

    func testCachedStepsThroughTheProtocolMatchTheFullSequence() {
        let model: any CausalLanguageModel = GPT(config, seed: 3)
        let ids = IndexTensor(rows: [[1, 2, 3, 4, 5]])
        let full = model(ids).scalars
        let cache = model.makeCache(batch: 1)
        let first = model(IndexTensor(rows: [[1, 2, 3]]), cache: cache).scalars
        let rest = model(IndexTensor(rows: [[4, 5]]), cache: cache).scalars
        for (a, b) in zip(first + rest, full) { XCTAssertEqual(a, b, accuracy: 1e-5) }
    }

    func testFrozenCopyThroughAnExistentialKeepsTheWeightsAndNeedsNoGradients() {
        let model: any CausalLanguageModel = GPT(config, seed: 5)
        let copy = model.frozenCopy()
        XCTAssertTrue(copy.parameters().allSatisfy { !$0.requiresGrad })
        XCTAssertEqual(copy(IndexTensor(rows: [[1, 2]])).scalars, model(IndexTensor(rows: [[1, 2]])).scalars)
    }

    func testUnsupportedModelTypeNamesTheFieldAndWhatIsSupported() throws {
        let url = directory.appendingPathComponent("config.json")
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        json["model_type"] = "bert"
        try JSONSerialization.data(withJSONObject: json).write(to: url)
        XCTAssertThrowsError(try PretrainedModel.load(directory: directory)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("config.json: model_type") && text.contains("'bert'") && text.contains("gpt2"), text)
        }
        json["model_type"] = nil
        try JSONSerialization.data(withJSONObject: json).write(to: url)
        XCTAssertThrowsError(try PretrainedModel.load(directory: directory)) { XCTAssertTrue("\($0)".contains("model_type"), "\($0)") }
    }

    func testMissingConfigIsANamedError() throws {
        try FileManager.default.removeItem(at: directory.appendingPathComponent("config.json"))
        XCTAssertThrowsError(try PretrainedModel.load(directory: directory)) { error in
            XCTAssertTrue("\(error)".contains("config.json") && "\(error)".contains("does not exist"), "\(error)")
        }
    }

    func testArchitectureDifferencesListEachChangedSetting() throws {
        let other = GPT(GPTConfig(vocabSize: 11, contextLength: 8, dModel: 8, layers: 2, heads: 4))
        let differences = try other.architectureDifferences(configFile: directory.appendingPathComponent("config.json"))
        XCTAssertEqual(differences, ["model n_layer: checkpoint 1, this run 2", "model n_head: checkpoint 2, this run 4",
                                     "model scalar_head: checkpoint true, this run false"])
        XCTAssertEqual(try GPT(config).architectureDifferences(configFile: directory.appendingPathComponent("config.json")), [])
    }
}
