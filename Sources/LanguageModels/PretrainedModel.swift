import Foundation
import NN

/// Opens a transformers checkpoint directory of any supported architecture, chosen by the
/// `model_type` of its config.json.
public enum PretrainedModel {
    /// The `model_type` values this library loads.
    public static let supportedModelTypes = ["gpt2", "llama", "mistral", "qwen2"]

    /// The checkpoint's `model_type`, read from `directory/config.json`.
    public static func modelType(directory: URL) throws -> String {
        let url = directory.appendingPathComponent("config.json")
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw ConfigurationError(url.path, "does not exist: a model directory needs config.json (transformers' save_pretrained layout)")
        }
        let json = try ConfigJSON.read(url)
        guard let type = json["model_type"] as? String else {
            throw ConfigurationError("\(url.path): model_type", "is missing; expected one of \(supportedModelTypes.joined(separator: ", "))")
        }
        return type
    }

    /// The model in `directory`, in eval mode.
    public static func load(directory: URL) throws -> any CausalLanguageModel {
        let type = try modelType(directory: directory)
        switch type {
        case "gpt2": return try GPT.loadHuggingFace(directory: directory)
        case "llama", "mistral", "qwen2": return try Llama.loadHuggingFace(directory: directory)
        default:
            throw ConfigurationError("\(directory.appendingPathComponent("config.json").path): model_type",
                                     "'\(type)' is not supported; supported: \(supportedModelTypes.joined(separator: ", "))")
        }
    }
}
