import Alignment
import ArgumentParser
import Foundation
import LanguageModels

// Enum-valued options parse through ArgumentParser, so --help lists the values and a bad value is
// a usage error naming the option.
extension OptimizerKind: ExpressibleByArgument {}
extension PreferenceLossType: ExpressibleByArgument {}
extension KLEstimator: ExpressibleByArgument {}
extension ScheduleKind: ExpressibleByArgument {}
extension ChatTemplate: ExpressibleByArgument {}
extension SFTLossReduction: ExpressibleByArgument {
    public static var allValueStrings: [String] { [SFTLossReduction.sequenceSum, .tokenMean].map(\.rawValue) }
}


/// Runs option checks written with `Validate`, reporting a failure as ArgumentParser's usage error.
func validatingOptions(_ checks: () throws -> Void) throws {
    do { try EnvironmentSettings.check() } catch { throw ValidationError("\(error)") }
    do { try checks() } catch let error as ConfigurationError { throw ValidationError(error.description) }
}

/// Sampling temperatures below this make `logits / temperature` overflow to infinity.
let minimumTemperature: Float = 1e-3

/// Largest model `align` builds from --d-model, --layers and --context, in parameters (8 GB of
/// float32 weights, 32 GB with AdamW's state and gradients).
let maximumNewModelParameters = 1 << 31

/// Refuses a new model too large to allocate, naming the options that size it.
func checkNewModelSize(vocab: Int, context: Int, dModel: Int, layers: Int) throws {
    let count = GPTConfig.parameterCount(vocabSize: vocab, contextLength: context, dModel: dModel, layers: layers)
    guard count <= Double(maximumNewModelParameters) else {
        throw ConfigurationError("--d-model, --layers, --context",
                                 "a model of \(String(format: "%.3g", count)) parameters exceeds the \(maximumNewModelParameters) allowed")
    }
}

/// Refuses work whose memory estimate exceeds this machine's memory (an allocation that fails
/// aborts the process), naming the options that size it.
func checkMemory(_ bytes: Double, _ what: String, options: String) throws {
    let available = Double(ProcessInfo.processInfo.physicalMemory)
    guard bytes <= available else {
        throw ConfigurationError(options, String(format: "%@ need about %.1f GB; this machine has %.1f GB", what, bytes / 1e9, available / 1e9))
    }
}

/// A fingerprint of a file's bytes (64-bit FNV-1a and the length), so that a resumed run can tell
/// whether its data or reference model is the one the checkpoint was trained with.
func fileFingerprint(_ path: String, option: String) throws -> String {
    let data: Data
    do { data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) } catch {
        throw ConfigurationError(option, "\(path): cannot read")
    }
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    data.withUnsafeBytes { bytes in
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
    }
    return String(format: "fnv1a64 %016llx, %ld bytes", hash, data.count)
}

/// The fingerprint of a checkpoint directory's weights.
func modelFingerprint(_ directory: String, option: String) throws -> String {
    let dir = URL(fileURLWithPath: directory)
    let single = dir.appendingPathComponent("model.safetensors").path
    let index = dir.appendingPathComponent("model.safetensors.index.json").path
    guard !FileManager.default.fileExists(atPath: single), FileManager.default.fileExists(atPath: index) else {
        return try fileFingerprint(single, option: option)
    }
    // A sharded checkpoint: the index and every shard it names, in name order.
    let data = (try? Data(contentsOf: URL(fileURLWithPath: index))) ?? Data()
    let map = ((try? JSONSerialization.jsonObject(with: data)) as? [String: Any])?["weight_map"] as? [String: String] ?? [:]
    let shards = Set(map.values).sorted()
    return try ([index] + shards.map { dir.appendingPathComponent($0).path }).map { try fileFingerprint($0, option: option) }.joined(separator: "+")
}
