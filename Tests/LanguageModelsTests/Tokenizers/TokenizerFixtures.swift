import Foundation
import XCTest
@testable import LanguageModels

/// The tokenizers and expected outputs written by Fixtures/tokenizers/make_tokenizer_fixtures.py.
enum TokenizerFixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/tokenizers")
    static let names = ["gpt2", "llama3", "qwen2", "llama2", "mistral", "metaspace_split", "byte_level_variants"]

    struct Case: Decodable {
        let ids: [Int]
        let ids_no_special: [Int]
        let decoded: String
        let decoded_skip_special: String
    }
    struct Expected: Decodable {
        let vocab_size: Int
        let cases: [Case]
    }
    struct File: Decodable {
        let texts: [String]
        let tokenizers: [String: Expected]
    }

    static func expected() throws -> File {
        try JSONDecoder().decode(File.self, from: Data(contentsOf: directory.appendingPathComponent("expected.json")))
    }

    static func load(_ name: String) throws -> PretrainedTokenizer {
        try PretrainedTokenizer(directory: directory.appendingPathComponent(name))
    }

    /// A temporary directory holding `name`'s tokenizer.json after `edit`, and its tokenizer_config.json.
    static func edited(_ name: String, config: [String: Any]? = nil, _ edit: (inout [String: Any]) -> Void) throws -> URL {
        let source = directory.appendingPathComponent(name)
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: source.appendingPathComponent("tokenizer.json"))) as! [String: Any]
        edit(&json)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try JSONSerialization.data(withJSONObject: json).write(to: dir.appendingPathComponent("tokenizer.json"))
        if let config {
            try JSONSerialization.data(withJSONObject: config).write(to: dir.appendingPathComponent("tokenizer_config.json"))
        }
        return dir
    }
}
