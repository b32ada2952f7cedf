import Foundation
import TestSupport
import XCTest
import LanguageModels

/// Numbers computed once with PyTorch / transformers by Fixtures/make_fixtures.py.
final class PyTorchParityTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    func json(_ name: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(contentsOf: Self.fixtures.appendingPathComponent(name)))
    }

    func testHuggingFaceGPT2LogProbsMatchTransformers() throws {
        let model = try GPT.loadHuggingFace(directory: Self.fixtures.appendingPathComponent("tiny-gpt2"))
        XCTAssertEqual(model.config, GPTConfig(vocabSize: 50, contextLength: 16, dModel: 16, layers: 2, heads: 4))
        let records = try json("gpt2_logprobs.json") as! [[String: Any]]
        for record in records {
            let ids = (record["input_ids"] as! [NSNumber]).map(\.intValue)
            let expected = (record["logprobs"] as! [NSNumber]).map(\.doubleValue)
            let logp = withNoGrad { model(ids, batch: 1).logSoftmax(axis: -1) }
            for t in 0..<(ids.count - 1) {
                XCTAssertEqual(Double(logp[0, t, ids[t + 1]]), expected[t], accuracy: 1e-4, "position \(t) of \(ids)")
            }
        }
    }

    func testOptimizerTrajectoriesMatchPyTorch() throws {
        let fixture = try json("optimizers.json") as! [String: Any]
        let w0 = (fixture["w0"] as! [NSNumber]).map(\.floatValue)
        let c = Tensor((fixture["c"] as! [NSNumber]).map(\.floatValue))
        let target = Tensor((fixture["t"] as! [NSNumber]).map(\.floatValue))
        let runs = fixture["runs"] as! [String: [String: Any]]
        XCTAssertEqual(runs.count, 9)
        // The loss is elementwise, so PyTorch's 5-element trajectory is every element's trajectory
        // when w0, c and t are tiled: parameters of 1,005, 5 and 13 elements take the optimizers'
        // 8-wide loops and their tails, on one thread and split across three.
        let savedThreads = Threading.threadCount, savedGrain = Threading.grainSize
        defer { Threading.threadCount = savedThreads; Threading.grainSize = savedGrain }
        func tiled(_ v: [Float], _ n: Int) -> [Float] { (0..<n).map { v[$0 % v.count] } }
        for threads in [1, 3] {
            Threading.threadCount = threads
            Threading.grainSize = 1 << 9
            for (name, run) in runs.sorted(by: { $0.key < $1.key }) {
                let kw = run["kwargs"] as! [String: Any]
                func f(_ key: String, _ fallback: Float) -> Float { (kw[key] as? NSNumber)?.floatValue ?? fallback }
                let sizes = [1_005, 5, 13]
                let ws = sizes.map { Tensor(tiled(w0, $0), requiresGrad: true) }
                let cs = sizes.map { Tensor(tiled(c.scalars, $0)) }, ts = sizes.map { Tensor(tiled(target.scalars, $0)) }
                let lr = f("lr", 0)
                let optimizer: Optimizer
                switch name {
                case let n where n.hasPrefix("sgd"):
                    optimizer = SGD(ws, learningRate: lr, momentum: f("momentum", 0), dampening: f("dampening", 0),
                                    weightDecay: f("weight_decay", 0), nesterov: (kw["nesterov"] as? Bool) ?? false)
                case let n where n.hasPrefix("adamw"):
                    optimizer = Adam.adamW(ws, learningRate: lr, weightDecay: f("weight_decay", 0.01))
                case let n where n.hasPrefix("adam"):
                    let betas = (kw["betas"] as? [NSNumber])?.map(\.floatValue) ?? [0.9, 0.999]
                    optimizer = Adam(ws, learningRate: lr, beta1: betas[0], beta2: betas[1], eps: f("eps", 1e-8), weightDecay: f("weight_decay", 0))
                default:
                    optimizer = RMSprop(ws, learningRate: lr, weightDecay: f("weight_decay", 0), momentum: f("momentum", 0),
                                        centered: (kw["centered"] as? Bool) ?? false)
                }
                let path = (run["path"] as! [[NSNumber]]).map { $0.map(\.floatValue) }
                for (step, expected) in path.enumerated() {
                    optimizer.zeroGrad()
                    let terms = (0..<sizes.count).map { i -> Tensor in
                        let diff = ws[i] - ts[i]
                        return (cs[i] * diff * diff).sum() + (ws[i] * ws[i] * ws[i]).sum() * 0.1
                    }
                    (terms[0] + terms[1] + terms[2]).backward()
                    optimizer.step()
                    for w in ws {
                        for (j, a) in w.scalars.enumerated() {
                            let b = expected[j % expected.count]
                            XCTAssertEqual(a, b, accuracy: 1e-5 * max(1, abs(b)), "\(name) step \(step + 1), \(threads) threads, element \(j) of \(w.count)")
                        }
                    }
                }
            }
        }
    }

    func testReadsFileWrittenByPythonSafetensors() throws {
        let contents = try SafeTensors.read(Self.fixtures.appendingPathComponent("python_written.safetensors"))
        XCTAssertEqual(contents.metadata["step"], "42")
        XCTAssertEqual(contents.tensors["f32"]?.shape, [2, 3])
        XCTAssertEqual(contents.tensors["f32"]?.scalars, [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5])
        XCTAssertEqual(contents.tensors["f16"]?.scalars, [0.5, -1.25, 1000])
        XCTAssertEqual(contents.tensors["bf16"]?.scalars, [1, -2, 3.5, 0.0078125])
        XCTAssertEqual(contents.dtypes["bf16"], "BF16")
        XCTAssertEqual(contents.tensors["scalar"]?.shape, [])
    }

    /// The committed swift_written.safetensors is what this encoder writes today, byte for byte;
    /// make_fixtures.py checks that Python's safetensors reads that file.
    func testWritesTheFileThatPythonWasCheckedToRead() throws {
        let data = try SafeTensors.encode(["matrix": Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3]), "vector": Tensor([-1.5, 0.25])])
        let url = Self.fixtures.appendingPathComponent("swift_written.safetensors")
        if ProcessInfo.processInfo.environment["WRITE_FIXTURES"] == "1" { try data.write(to: url) }
        XCTAssertEqual(try Data(contentsOf: url), data)
    }
}
