import Foundation
import TensorCore

/// `<output>/checkpoint/`: the model in transformers' GPT-2 layout, the optimizer's buffers and a
/// JSON trainer state. Written into a temporary directory and swapped into place, so an
/// interrupted save leaves the previous checkpoint intact.
enum CheckpointDirectory {
    static func save<State: Encodable>(in output: URL, model: GPT, optimizer: Optimizer, state: State,
                                       metadata: [String: String]) throws {
        let final = output.appendingPathComponent("checkpoint")
        let tmp = output.appendingPathComponent(".checkpoint-tmp-\(getpid())")
        try? FileManager.default.removeItem(at: tmp)
        try model.saveHuggingFace(directory: tmp, metadata: metadata)
        try SafeTensors.write(optimizer.state(), to: tmp.appendingPathComponent("optimizer.safetensors"))
        try JSONEncoder().encode(state).write(to: tmp.appendingPathComponent("trainer_state.json"))
        let old = output.appendingPathComponent(".checkpoint-old-\(getpid())")
        if FileManager.default.fileExists(atPath: final.path) { try FileManager.default.moveItem(at: final, to: old) }
        try FileManager.default.moveItem(at: tmp, to: final)
        try? FileManager.default.removeItem(at: old)
    }

    /// Loads weights and optimizer buffers into `model` and `optimizer` and returns the trainer
    /// state, or nil when there is no checkpoint.
    static func load<State: Decodable>(from output: URL, model: GPT, optimizer: Optimizer, as: State.Type) throws -> State? {
        let dir = output.appendingPathComponent("checkpoint")
        let stateURL = dir.appendingPathComponent("trainer_state.json")
        guard FileManager.default.fileExists(atPath: stateURL.path) else { return nil }
        let state = try JSONDecoder().decode(State.self, from: Data(contentsOf: stateURL))
        model.copyParameters(from: try GPT.loadHuggingFace(directory: dir))
        try optimizer.loadState(SafeTensors.read(dir.appendingPathComponent("optimizer.safetensors")).tensors)
        return state
    }
}
