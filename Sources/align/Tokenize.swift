import Alignment
import ArgumentParser
import Foundation
import LanguageModels

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Encode text with a Hugging Face tokenizer.json: prints {\"input_ids\": [...]} for each {\"text\": ...} line.")

    @Option(help: "Directory with tokenizer.json (and optionally tokenizer_config.json).") var tokenizer: String
    @Option(help: "JSONL file, one {\"text\": \"...\"} per line.") var input: String
    @Flag(inversion: .prefixedNo, help: "Add the tokenizer's special tokens (e.g. Llama's BOS), as add_special_tokens in transformers.")
    var addSpecialTokens = true

    func validate() throws { try validatingOptions {} }

    func run() throws {
        do {
            let tok = try reading("--tokenizer") { try PretrainedTokenizer(directory: URL(fileURLWithPath: tokenizer)) }
            let rows = try reading("--input") {
                try JSONL.objects(at: input).map { line, object in
                    guard let text = object["text"] as? String else {
                        throw DataError(file: input, line: line, reason: object["text"] == nil ? "missing field \"text\"" : "field \"text\" is not a string")
                    }
                    return text
                }
            }
            var out = Data()
            for text in rows {
                // Written by hand: JSONSerialization took two thirds of the run time.
                let ids = tok.encode(text, addSpecialTokens: addSpecialTokens)
                out += Data(#"{"input_ids":["#.utf8) + Data(ids.map(String.init).joined(separator: ",").utf8) + Data("]}\n".utf8)
                if out.count > 1 << 20 {
                    FileHandle.standardOutput.write(out)
                    out.removeAll(keepingCapacity: true)
                }
            }
            FileHandle.standardOutput.write(out)
        } catch { fail(error) }
    }
}
