import TensorCore
import TestSupport
import XCTest

final class IndexTensorTests: XCTestCase {
    func testRowsKeepTheirShapeAndOrder() {
        let ids = IndexTensor(rows: [[1, 2, 3], [4, 5, 6]])
        XCTAssertEqual(ids.shape, [2, 3])
        XCTAssertEqual(ids.scalars, [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(Array(ids[row: 1]), [4, 5, 6])
        XCTAssertEqual(ids.reshaped([3, 2]).shape, [3, 2])
        XCTAssertEqual(IndexTensor(rows: []).shape, [0, 0])
    }

    func testEmbeddingAndCrossEntropyTakeTheShapeFromTheIndices() {
        var g = RandomGenerator(seed: 1)
        let weight = Tensor.normal([5, 3], generator: &g)
        let ids = IndexTensor([0, 4, 2, 2], shape: [2, 2])
        let rows = embedding(weight, ids: ids)
        XCTAssertEqual(rows.shape, [2, 2, 3])
        XCTAssertEqual(rows.scalars, embedding(weight, ids: [0, 4, 2, 2], shape: [2, 2]).scalars)

        let logits = Tensor.normal([2, 2, 5], generator: &g)
        let targets = IndexTensor([1, -100, 4, 0], shape: [2, 2])
        let shaped = crossEntropy(logits: logits, targets: targets, reduction: .none)
        XCTAssertEqual(shaped.shape, [2, 2])
        XCTAssertEqual(shaped.scalars, crossEntropy(logits: logits, targets: [1, -100, 4, 0], reduction: .none).scalars)
    }
}
