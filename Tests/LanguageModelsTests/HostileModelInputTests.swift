import Foundation
import TestSupport
import XCTest
import LanguageModels

/// Hostile model directories: each config.json or safetensors file below must be refused with a
/// thrown error naming the file and the field or tensor, before anything is allocated (a crash, a
/// trap or a hang fails the whole run).
final class HostileModelInputTests: XCTestCase {
    /// One block, so a file with a wrong `n_layer` is easy to make.
    let config = GPTConfig(vocabSize: 9, contextLength: 6, dModel: 8, layers: 1, heads: 2)
    var directory: URL!
    var configURL: URL { directory.appendingPathComponent("config.json") }
    var weightsURL: URL { directory.appendingPathComponent("model.safetensors") }

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("hostile-\(UUID().uuidString)")
        try GPT(config, seed: 1).saveHuggingFace(directory: directory)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    func configJSON() throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as! [String: Any]
    }

    func writeConfig(_ json: [String: Any]) throws {
        try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys]).write(to: configURL)
    }

    /// Writes config.json with `key` set to the raw JSON text `value` (nil removes the key), so
    /// numbers such as 1e12 and 1.5 reach the reader exactly as a user's file would hold them.
    func setConfig(_ key: String, _ value: String?) throws {
        var json = try configJSON()
        json.removeValue(forKey: key)
        var text = String(decoding: try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys]), as: UTF8.self)
        if let value { text = "{\"\(key)\": \(value), " + text.dropFirst() }
        try Data(text.utf8).write(to: configURL)
    }

    func assertRefused<E: Error>(_ type: E.Type, naming parts: [String], _ context: String,
                                 file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try GPT.loadHuggingFace(directory: directory), context, file: file, line: line) { error in
            XCTAssertTrue(error is E, "\(context): \(Swift.type(of: error)) \(error), expected \(E.self)", file: file, line: line)
            for part in parts {
                XCTAssertTrue("\(error)".contains(part), "\(context): '\(error)' does not mention '\(part)'", file: file, line: line)
            }
        }
    }

    func testTheUnmodifiedDirectoryLoads() throws {
        XCTAssertEqual(try GPT.loadHuggingFace(directory: directory).config, config)
    }

    func testHostileConfigFieldsAreRefusedNamingFileAndField() throws {
        let original = try Data(contentsOf: configURL)
        // (field, JSON value or nil to delete it, phrase the message must hold)
        let cases: [(String, String?, String)] = [
            ("n_head", "3", "must divide"),                         // n_embd 8 not divisible by 3
            ("n_head", "0", "must be in 1...2147483647, got 0"),
            ("n_embd", "-8", "must be in 1...2147483647, got -8"),
            ("vocab_size", "-1", "got -1"),
            ("vocab_size", "1e12", "got 1000000000000"),            // would allocate 64 TB
            ("vocab_size", "9223372036854775807", "must be in 1...2147483647"),
            ("vocab_size", "1e300", "must be an integer"),
            ("vocab_size", "10", "has transformer.wte.weight of shape [9, 8]"),
            ("n_embd", "16", "has transformer.wte.weight of shape [9, 8]"),
            ("n_positions", "7", "has transformer.wpe.weight of shape [6, 8]"),
            ("n_layer", "1000000", "holds 1 block (h.0)"),           // used to hang at 7 GB
            ("n_layer", "1e6", "holds 1 block (h.0)"),
            ("n_layer", "2", "holds 1 block (h.0)"),
            ("n_positions", "1.5", "must be an integer"),
            ("n_positions", "\"6\"", "the string \"6\""),
            ("n_positions", "true", "got true"),
            ("n_positions", "null", "got null"),
            ("n_positions", "[6]", "got an array"),
            ("n_positions", nil, "is missing"),
            ("layer_norm_epsilon", "0", "must be finite and > 0"),
            ("layer_norm_epsilon", "-1e-5", "must be finite and > 0"),
            ("layer_norm_epsilon", "1e300", "must be finite and > 0, got inf"),
            ("layer_norm_epsilon", "1e-300", "must be finite and > 0, got 0"),
            ("layer_norm_epsilon", "\"small\"", "must be a number"),
            ("activation_function", "\"relu\"", "GPT-2's tanh GELU"),
            ("activation_function", "5", "GPT-2's tanh GELU"),
            ("scalar_head", "\"yes\"", "must be true or false"),
            ("n_inner", "10", "must be null or 4 x n_embd = 32"),
            ("tie_word_embeddings", "false", "must be true"),
            ("scale_attn_weights", "false", "must be true"),
            ("scale_attn_by_inverse_layer_idx", "true", "must be false"),
        ]
        for (key, value, phrase) in cases {
            try original.write(to: configURL)
            try setConfig(key, value)
            assertRefused(ConfigurationError.self, naming: [configURL.path + ": " + key, phrase], "\(key) = \(value ?? "<absent>")")
        }
    }

    /// The block check used to build `Array(0..<n_layer)`: 16 GB and about 20 s for n_layer = 2^31 - 1.
    func testTheLargestNLayerAgainstAOneBlockFileIsRefusedQuickly() throws {
        let original = try Data(contentsOf: configURL)
        defer { try? original.write(to: configURL) }
        try setConfig("n_layer", "2147483647")
        let start = Date()
        assertRefused(ConfigurationError.self, naming: [configURL.path + ": n_layer", "is 2147483647 but", "holds 1 block (h.0)"], "n_layer = 2^31 - 1")
        XCTAssertLessThan(Date().timeIntervalSince(start), 2, "refusing n_layer = 2^31 - 1 must not allocate per layer")
    }

    func testAParameterCountBeyondAnIntIsRefusedBeforeAllocation() throws {
        var json = try configJSON()
        json["n_embd"] = 2_000_000_000
        json["n_head"] = 1
        try writeConfig(json)
        assertRefused(ConfigurationError.self, naming: [configURL.path + ": n_embd", "more than 2^60"], "n_embd 2e9")
    }

    func testAScalarHeadMissingFromTheFileIsNamed() throws {
        var json = try configJSON()
        json["scalar_head"] = true
        try writeConfig(json)
        assertRefused(SafeTensorsError.self, naming: [weightsURL.path, "tensor 'score.weight' is missing", "[1, 8]"], "scalar_head")
    }

    func testNonJSONAndUnreadableConfigNameTheFile() throws {
        try Data("{not json".utf8).write(to: configURL)
        assertRefused(SafeTensorsError.self, naming: [configURL.path, "not a JSON object"], "not JSON")
        try FileManager.default.removeItem(at: configURL)
        assertRefused(SafeTensorsError.self, naming: [configURL.path, "cannot read"], "missing file")
    }

    // MARK: Tensors

    /// Rewrites model.safetensors after `edit` changes its tensors (names as stored in the file).
    func rewriteWeights(_ edit: (inout [String: Tensor]) -> Void) throws {
        var tensors = try SafeTensors.read(weightsURL).tensors
        edit(&tensors)
        try SafeTensors.write(tensors, to: weightsURL)
    }

    func testMissingMisshapenAndSurplusTensorsAreNamed() throws {
        let original = try Data(contentsOf: weightsURL)
        let cases: [(String, (inout [String: Tensor]) -> Void, [String])] = [
            ("missing bias", { $0["transformer.h.0.mlp.c_fc.bias"] = nil },
             ["tensor 'transformer.h.0.mlp.c_fc.bias' is missing", "implies shape [32]"]),
            ("missing ln_f", { $0["transformer.ln_f.weight"] = nil }, ["tensor 'transformer.ln_f.weight' is missing"]),
            ("transposed c_fc", { $0["transformer.h.0.mlp.c_fc.weight"] = $0["transformer.h.0.mlp.c_fc.weight"]!.T.contiguous() },
             ["tensor 'transformer.h.0.mlp.c_fc.weight' has shape [32, 8]", "implies [8, 32]"]),
            ("flattened c_attn", { $0["transformer.h.0.attn.c_attn.weight"] = $0["transformer.h.0.attn.c_attn.weight"]!.reshaped([192]) },
             ["tensor 'transformer.h.0.attn.c_attn.weight' has shape [192]", "implies [8, 24]"]),
            ("wte twice", { $0["wte.weight"] = $0["transformer.wte.weight"] }, ["tensor 'wte.weight' duplicates 'transformer.wte.weight'"]),
            ("wte of rank 1", { $0["transformer.wte.weight"] = $0["transformer.wte.weight"]!.reshaped([72]) },
             ["tensor 'transformer.wte.weight' has shape [72]", "implies [9, 8]"]),
        ]
        for (name, edit, parts) in cases {
            try original.write(to: weightsURL)
            try rewriteWeights(edit)
            assertRefused(SafeTensorsError.self, naming: [weightsURL.path] + parts, name)
        }
        // A second block in a file whose config.json says one.
        try original.write(to: weightsURL)
        try rewriteWeights { tensors in
            for (name, t) in tensors where name.hasPrefix("transformer.h.0.") {
                tensors[name.replacingOccurrences(of: "h.0.", with: "h.1.")] = t
            }
        }
        assertRefused(ConfigurationError.self, naming: [configURL.path + ": n_layer", "is 1 but", "holds 2 blocks (h.0, h.1)"], "extra block")
    }

    /// A safetensors file from a header and a data section, as a hostile writer could make it.
    func safetensors(header: String, dataBytes: Int) -> Data {
        var bytes = Data()
        var n = UInt64(header.utf8.count).littleEndian
        withUnsafeBytes(of: &n) { bytes.append(contentsOf: $0) }
        bytes.append(Data(header.utf8))
        bytes.append(Data(count: dataBytes))
        return bytes
    }

    func testOverflowingAndInvalidShapesAreErrorsNotTraps() throws {
        let cases: [(String, Int, String)] = [
            (#"{"w":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,4]}}"#, 4, "overflows"),  // 2^62 elements
            (#"{"w":{"dtype":"F32","shape":[0,4611686018427387904,4611686018427387904],"data_offsets":[0,0]}}"#, 0, "overflows"),
            (#"{"w":{"dtype":"F16","shape":[4611686018427387904],"data_offsets":[0,4]}}"#, 4, "overflows"),
            (#"{"w":{"dtype":"F32","shape":[9223372036854775807],"data_offsets":[0,4]}}"#, 4, "overflows"),
            (#"{"w":{"dtype":"F32","shape":[1e300],"data_offsets":[0,4]}}"#, 4, "invalid shape"),
            (#"{"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#, 4, "invalid shape"),
            (#"{"w":{"dtype":"F32","shape":[true],"data_offsets":[0,4]}}"#, 4, "invalid shape"),
            (#"{"w":{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}}"#, 4, "invalid shape"),
            (#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,9223372036854775807]}}"#, 4, "run past"),
            (#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,1e300]}}"#, 4, "invalid data_offsets"),
        ]
        for (header, dataBytes, phrase) in cases {
            XCTAssertThrowsError(try SafeTensors.decode(safetensors(header: header, dataBytes: dataBytes), source: "hostile.safetensors"),
                                 header) { error in
                XCTAssertTrue("\(error)".contains("hostile.safetensors: tensor 'w' ") && "\(error)".contains(phrase), "\(header): \(error)")
                XCTAssertEqual((error as? SafeTensorsError)?.tensor, "w", header)
            }
        }
        // The same through the model loader, which names the model's file.
        try safetensors(header: #"{"transformer.wte.weight":{"dtype":"F32","shape":[0,4611686018427387904,4611686018427387904],"data_offsets":[0,0]}}"#,
                        dataBytes: 0).write(to: weightsURL)
        assertRefused(SafeTensorsError.self, naming: [weightsURL.path, "tensor 'transformer.wte.weight'", "overflows"], "loader")
    }

    func testCheckedCount() {
        XCTAssertEqual(Shape.checkedCount([]), 1)
        XCTAssertEqual(Shape.checkedCount([2, 3, 4]), 24)
        XCTAssertEqual(Shape.checkedCount([0, 5]), 0)
        XCTAssertNil(Shape.checkedCount([0, 1 << 62, 1 << 62]))
        XCTAssertNil(Shape.checkedCount([1 << 32, 1 << 31]))
        XCTAssertNil(Shape.checkedCount([-1]))
    }
}
