import Alignment
import Foundation
import LanguageModels

/// A transformers checkpoint of any supported architecture (chosen by config.json's model_type),
/// refused when any weight is not finite. Errors name the file and field or tensor.
func loadModel(_ dir: String, option: String = "--model") throws -> any CausalLanguageModel {
    let model: any CausalLanguageModel
    do { model = try PretrainedModel.load(directory: URL(fileURLWithPath: dir)) } catch { throw CLIError(description: "\(error)") }
    try requireFiniteWeights(model, dir, option: option)
    return model
}

/// Refuses a checkpoint holding NaN or infinite weights, naming the option, the directory and the
/// tensor: otherwise training stops at step 1 with a "lower the learning rate" message about the
/// user's run, and scoring fails inside JSON encoding.
func requireFiniteWeights(_ model: any CausalLanguageModel, _ dir: String, option: String) throws {
    for (name, tensor) in model.namedParameters() where !tensor.scalars.allSatisfy(\.isFinite) {
        throw ConfigurationError(option, "\(URL(fileURLWithPath: dir).appendingPathComponent("model.safetensors").path): "
                                 + "tensor '\(name)' contains NaN or infinite values")
    }
}

/// The tokenizer.json a run uses: --tokenizer's, else the one beside --model; nil for the byte tokenizer.
func tokenizerFile(explicit: String?, model: String?) -> String? {
    guard let dir = explicit ?? model else { return nil }
    let file = URL(fileURLWithPath: dir).appendingPathComponent("tokenizer.json").path
    return FileManager.default.fileExists(atPath: file) ? file : nil
}

/// --tokenizer DIR, else the tokenizer.json beside --model, else the byte tokenizer (what the models
/// `align` builds use). A Hugging Face tokenizer must name an EOS token: completions end with it.
func loadTokenizer(explicit: String?, model: String?) throws -> any Tokenizer {
    guard let file = tokenizerFile(explicit: explicit, model: model) else {
        if let explicit { throw ConfigurationError("--tokenizer", "\(explicit) has no tokenizer.json") }
        return ByteTokenizer()
    }
    let option = explicit == nil ? "--model" : "--tokenizer"
    let dir = URL(fileURLWithPath: file).deletingLastPathComponent()
    let tokenizer: PretrainedTokenizer
    do { tokenizer = try PretrainedTokenizer(directory: dir) } catch { throw ConfigurationError(option, "\(error)") }
    guard tokenizer.eosTokenID != nil else {
        throw ConfigurationError(option, "\(dir.appendingPathComponent("tokenizer_config.json").path) names no eos_token; "
                                 + "completions end with it, so the tokenizer needs one")
    }
    return tokenizer
}

/// Refuses a model (given by `option` as `path`) whose vocabulary cannot hold every id the tokenizer produces.
func checkTokenizer(_ tokenizer: any Tokenizer, fits model: any CausalLanguageModel, option: String, path: String) throws {
    // Without a tokenizer.json the byte tokenizer is assumed, which only models built for it fit:
    // its ids would mean other tokens to any other vocabulary.
    if tokenizer is ByteTokenizer && model.vocabSize != tokenizer.vocabSize {
        throw ConfigurationError(option, "\(path): vocabulary \(model.vocabSize) with no tokenizer.json beside it; pass --tokenizer DIR "
                                 + "(the byte tokenizer fits only the \(tokenizer.vocabSize)-token vocabulary of models built for it)")
    }
    guard tokenizer.vocabSize <= model.vocabSize else {
        let name = tokenizer is ByteTokenizer ? "the byte tokenizer's \(tokenizer.vocabSize) (pass --tokenizer for another)"
            : "the tokenizer's \(tokenizer.vocabSize)"
        throw ConfigurationError(option, "\(path): vocabulary \(model.vocabSize) is smaller than \(name)")
    }
}

/// Every id in the model's vocabulary and the sequence within its context.
func checkIDs(_ ids: [Int], _ model: any CausalLanguageModel, line: Int, path: String) throws {
    if let bad = ids.first(where: { $0 < 0 || $0 >= model.vocabSize }) {
        throw CLIError(description: "\(path):\(line): token id \(bad) outside the vocabulary 0..<\(model.vocabSize)")
    }
    if ids.count > model.contextLength {
        throw CLIError(description: "\(path):\(line): \(ids.count) tokens exceed the context length \(model.contextLength)")
    }
}

/// The run's tokenizer files (tokenizer.json and, when present, tokenizer_config.json and
/// special_tokens_map.json); none for the byte tokenizer.
func tokenizerFiles(explicit: String?, model: String?) -> [URL] {
    guard let file = tokenizerFile(explicit: explicit, model: model) else { return [] }
    let dir = URL(fileURLWithPath: file).deletingLastPathComponent()
    return ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"].map { dir.appendingPathComponent($0) }
        .filter { FileManager.default.fileExists(atPath: $0.path) }
}

/// Copies the run's tokenizer files (tokenizer.json and, when present, tokenizer_config.json and
/// special_tokens_map.json) into each existing output model directory, so that a later stage's
/// --model finds the tokenizer it was trained with, as transformers' save_pretrained does.
func saveTokenizerFiles(explicit: String?, model: String?, into directories: [String]) throws {
    for dir in directories where FileManager.default.fileExists(atPath: dir) {
        for from in tokenizerFiles(explicit: explicit, model: model) {
            let name = from.lastPathComponent
            let data: Data
            do { data = try Data(contentsOf: from) } catch { throw ConfigurationError(explicit == nil ? "--model" : "--tokenizer", "\(from.path): cannot read") }
            try SafeTensors.atomicWrite(data, to: URL(fileURLWithPath: dir).appendingPathComponent(name))
        }
    }
}

/// Refuses a chat template whose special tokens (its BOS and end-of-turn markers) are not tokens of
/// the run's Hugging Face tokenizer: they would be encoded as plain text, and the model would never
/// see a real BOS or learn to end its turn.
func checkChatTemplate(_ template: ChatTemplate?, fits tokenizer: any Tokenizer, tokenizerPath: String) throws {
    guard let template, let pretrained = tokenizer as? PretrainedTokenizer else { return }
    for marker in [template.bosText, template.endOfTurn].compactMap({ $0 }) where !marker.isEmpty && pretrained.id(of: marker) == nil {
        throw ConfigurationError("--chat-template", "\(template.rawValue) writes \(marker), which is not a token of the tokenizer in "
                                 + "\(tokenizerPath); choose the template of this model")
    }
}
