import Foundation
import LanguageModels

/// The PEFT-made fixtures in Fixtures/lora (see make_lora_fixtures.py there).
enum LoRAFixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/lora")
    static var base: URL { directory.appendingPathComponent("base") }
    static func adapter(_ name: String) -> URL { directory.appendingPathComponent(name) }

    struct Records: Decodable {
        struct Adapter: Decodable {
            let with_adapter: [[Double]]
            let merged: [[Double]]
        }
        let inputs: [[Int]]
        let base: [[Double]]
        let adapters: [String: Adapter]
    }

    static func records() throws -> Records {
        try JSONDecoder().decode(Records.self, from: Data(contentsOf: directory.appendingPathComponent("logprobs.json")))
    }

    /// Per-token log-probs of each of `inputs` under `model`, as Double.
    static func logProbs(_ model: GPT, _ inputs: [[Int]]) -> [[Double]] {
        inputs.map { ids in
            let logp = withNoGrad { model(ids, batch: 1).logSoftmax(axis: -1) }
            return (0..<(ids.count - 1)).map { Double(logp[0, $0, ids[$0 + 1]]) }
        }
    }

    static func maxDifference(_ a: [[Double]], _ b: [[Double]]) -> Double {
        precondition(a.count == b.count && zip(a, b).allSatisfy { $0.count == $1.count }, "log-prob tables differ in shape")
        return zip(a, b).flatMap { zip($0, $1).map { abs($0 - $1) } }.max() ?? 0
    }

    /// A copy of a fixture adapter in a fresh temporary directory, so a test can damage it.
    static func copy(_ name: String) throws -> URL {
        let target = FileManager.default.temporaryDirectory.appendingPathComponent("lora-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: adapter(name), to: target)
        return target
    }
}
