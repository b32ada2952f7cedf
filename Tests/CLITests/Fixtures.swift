import Foundation
import XCTest

/// Small data files and tiny checkpoints made once by the real `align`, shared by every test.
final class Fixtures: Sendable {
    let directory: URL

    var base: String { path("base/checkpoint") }  // SFT model, context 64, no scalar head
    var rewardModel: String { path("rm/checkpoint") }  // reward model on `base`, context 64
    var shortModel: String { path("short/checkpoint") }  // SFT model, context 16

    func path(_ relative: String) -> String { directory.appendingPathComponent(relative).path }

    /// Flags for a new model small enough to train in a moment.
    static let tinyModel = ["--d-model", "16", "--layers", "1", "--heads", "2", "--batch-size", "2"]

    private static let lock = NSLock()
    nonisolated(unsafe) private static var made: Result<Fixtures, Error>?

    static func shared() throws -> Fixtures {
        lock.lock()
        defer { lock.unlock() }
        if made == nil { made = Result { try Fixtures() } }
        return try made!.get()
    }

    private init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("swiftalign-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try write("sft.jsonl", (0..<4).map { #"{"prompt": "question \#($0): ", "completion": "answer \#($0)"}"# })
        try write("prefs.jsonl", (0..<4).map { #"{"prompt": "q\#($0) ", "chosen": "good \#($0)", "rejected": "bad"}"# })
        try Data().write(to: directory.appendingPathComponent("empty.jsonl"))
        let long = String(repeating: "a long prompt ", count: 30)
        try write("prompts.jsonl", [#"{"prompt": "hello"}"#, #"{"prompt": "\#(long)"}"#])
        // CRLF line ends and a byte-order mark, as Windows editors write them.
        try Data(("\u{FEFF}" + #"{"input_ids": [104, 105]}"# + "\r\n" + #"{"input_ids": [1, 2, 3]}"# + "\r\n").utf8)
            .write(to: directory.appendingPathComponent("ids.jsonl"))
        // Examples of 200,000 bytes: a micro-batch of them needs terabytes of attention probabilities.
        let huge = String(repeating: "x", count: 200_000)
        try write("huge-sft.jsonl", (0..<4).map { #"{"prompt": "\#($0) \#(huge)", "completion": "y"}"# })
        try write("bool-ids.jsonl", [#"{"input_ids": [true, false]}"#])
        try write("long-ids.jsonl", [#"{"input_ids": [\#((0..<60).map(String.init).joined(separator: ", "))]}"#])
        try write("sonnet.txt", [String(repeating: "xyz qrs tuv. ", count: 20)])
        try writeChatData()
        try make("sft", Fixtures.tinyModel + ["--context", "64", "--data", path("sft.jsonl"), "--output", path("base")])
        try make("reward", ["--model", base, "--batch-size", "2", "--data", path("prefs.jsonl"), "--output", path("rm")])
        try make("sft", Fixtures.tinyModel + ["--context", "16", "--data", path("sft.jsonl"), "--output", path("short")])
        try copyBase(to: "bad-heads", editingConfig: { $0["n_head"] = 0 })
        try copyBase(to: "huge-vocab", editingConfig: { $0["vocab_size"] = 1_000_000_000_000 })
        try copyBase(to: "nan-weights", editingConfig: { _ in })
        try setFirstValueToNaN(of: "transformer.ln_f.bias", in: "nan-weights/model.safetensors")
    }

    /// Overwrites the first float32 of `tensor` in a safetensors file with NaN, as a diverged run would leave it.
    private func setFirstValueToNaN(of tensor: String, in file: String) throws {
        let url = directory.appendingPathComponent(file)
        var data = try Data(contentsOf: url)
        let headerLength = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + headerLength))) as! [String: Any]
        let begin = ((header[tensor] as! [String: Any])["data_offsets"] as! [Int])[0]
        withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { nan in
            data.replaceSubrange((8 + headerLength + begin)..<(8 + headerLength + begin + 4), with: nan)
        }
        try data.write(to: url)
    }

    /// A copy of `base` whose config.json is edited, as a hostile or damaged download would be.
    private func copyBase(to name: String, editingConfig edit: (inout [String: Any]) -> Void) throws {
        let target = directory.appendingPathComponent(name)
        try FileManager.default.copyItem(at: URL(fileURLWithPath: base), to: target)
        let configURL = target.appendingPathComponent("config.json")
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as! [String: Any]
        edit(&config)
        try JSONSerialization.data(withJSONObject: config).write(to: configURL)
    }

    private func write(_ name: String, _ lines: [String]) throws {
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: directory.appendingPathComponent(name))
    }

    private func make(_ command: String, _ arguments: [String]) throws {
        let result = try Executables.run("align", [command] + arguments, in: directory)
        guard result.reason == .exit, result.status == 0 else {
            throw FixtureError(description: "fixture `align \(command)` failed: \(result.summary)")
        }
    }
}

struct FixtureError: Error, CustomStringConvertible {
    let description: String
}
