import Foundation

/// PEFT's on-disk LoRA layout: `adapter_config.json` and `adapter_model.safetensors` whose keys are
/// `base_model.model.<transformers module path>.lora_A.weight` ([r, in]) and `...lora_B.weight`
/// ([out, r]). With `fan_in_fan_out` (GPT-2's Conv1D) A and B keep these shapes; only merging
/// transposes B A to the base weight's [in, out] layout, which here is [out, in] already.
public enum PEFTAdapterFormat {
    public static let configFile = "adapter_config.json"
    public static let weightsFile = "adapter_model.safetensors"
    static let keyPrefix = "base_model.model."

    /// Fields of adapter_config.json that do not change what the adapter computes, accepted with any value.
    static let informational: Set<String> = [
        "base_model_name_or_path", "revision", "inference_mode", "init_lora_weights", "auto_mapping", "loftq_config",
        "megatron_core", "eva_config", "corda_config", "peft_version", "qalora_group_size", "task_type", "peft_type",
    ]

    /// Keys in adapter_model.safetensors for the adapter of the submodule `name` of `model`.
    static func keys(_ model: Module, _ name: String) -> (a: String, b: String) {
        let path = keyPrefix + model.transformersPath(name)
        return (path + ".lora_A.weight", path + ".lora_B.weight")
    }

    /// adapter_config.json for `config` as PEFT writes it.
    static func configJSON(_ config: LoRAConfig, fanInFanOut: Bool, baseModel: String?) -> [String: Any] {
        let targets: Any
        switch config.targets {
        case .names(let names): targets = names
        case .regex(let pattern): targets = pattern
        }
        return [
            "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": config.rank, "lora_alpha": shortest(config.alpha),
            "lora_dropout": shortest(config.dropout), "target_modules": targets, "fan_in_fan_out": fanInFanOut,
            "bias": "none", "use_rslora": false, "use_dora": false, "modules_to_save": NSNull(),
            "base_model_name_or_path": baseModel.map { $0 as Any } ?? NSNull(), "revision": NSNull(),
            "inference_mode": true, "init_lora_weights": true, "rank_pattern": [String: Any](), "alpha_pattern": [String: Any](),
            "layers_to_transform": NSNull(), "layers_pattern": NSNull(), "layer_replication": NSNull(),
            "exclude_modules": NSNull(), "lora_bias": false,
        ]
    }

    /// The Double with the Float's shortest decimal form (0.05, not 0.05000000074505806).
    static func shortest(_ x: Float) -> Double { Double("\(x)") ?? Double(x) }

    /// Reads and checks adapter_config.json: PEFT's LoRA with the options implemented here, and
    /// `fan_in_fan_out` as the model needs it. Errors name the file and field and what is allowed.
    static func readConfig(_ url: URL, fanInFanOut expected: Bool) throws -> LoRAConfig {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw SafeTensorsError(file: url.path, reason: "cannot read: \(SafeTensors.systemReason(error))")
        }
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw SafeTensorsError(file: url.path, reason: "not a JSON object")
        }
        let file = url.path
        func field(_ key: String) -> String { "\(file): \(key)" }
        func value(_ key: String) -> Any? { json[key].flatMap { $0 is NSNull ? nil : $0 } }
        func string(_ key: String, allowed: [String], required: Bool) throws {
            guard let raw = value(key) else {
                if required { throw ConfigurationError(field(key), "is missing; allowed: \(allowed.map { "\"\($0)\"" }.joined(separator: ", "))") }
                return
            }
            guard let s = raw as? String, allowed.contains(s) else {
                throw ConfigurationError(field(key), "must be \(allowed.map { "\"\($0)\"" }.joined(separator: " or ")), got \(JSONValue.describe(raw))")
            }
        }
        func number(_ key: String) throws -> Double? {
            guard let raw = value(key) else { return nil }
            guard let d = JSONValue.number(raw) else { throw ConfigurationError(field(key), "must be a number, got \(JSONValue.describe(raw))") }
            return d
        }

        try string("peft_type", allowed: ["LORA"], required: true)
        try string("task_type", allowed: ["CAUSAL_LM"], required: false)
        try string("bias", allowed: ["none"], required: false)

        guard let rawRank = json["r"] else { throw ConfigurationError(field("r"), "is missing; must be an integer >= 1") }
        guard let rank = JSONValue.integer(rawRank) else { throw ConfigurationError(field("r"), "must be an integer >= 1, got \(JSONValue.describe(rawRank))") }
        let alpha = try number("lora_alpha") ?? 8  // PEFT's default
        let dropout = try number("lora_dropout") ?? 0

        let targets: LoRATargets
        switch value("target_modules") {
        case let s as String: targets = .regex(s)
        case let list as [Any]:
            var names: [String] = []
            for item in list {
                guard let s = item as? String else {
                    throw ConfigurationError(field("target_modules"), "must be a string or a list of strings, found \(JSONValue.describe(item)) in the list")
                }
                names.append(s)
            }
            targets = .names(names)
        case nil: throw ConfigurationError(field("target_modules"), "is missing; must be a list of module names or a regular expression")
        case let other?: throw ConfigurationError(field("target_modules"), "must be a string or a list of strings, got \(JSONValue.describe(other))")
        }

        let fanRaw = value("fan_in_fan_out")
        let fan = (fanRaw as? NSNumber).flatMap { JSONValue.isBoolean($0) ? $0.boolValue : nil }
        if fanRaw != nil && fan == nil { throw ConfigurationError(field("fan_in_fan_out"), "must be true or false, got \(JSONValue.describe(fanRaw!))") }
        if (fan ?? false) != expected {
            throw ConfigurationError(field("fan_in_fan_out"), "must be \(expected) for this model "
                                     + (expected ? "(transformers stores its linear weights [in, out], as GPT-2's Conv1D)" : "(its linear weights are [out, in])")
                                     + ", got \(fan ?? false)")
        }

        // Everything else must be absent or off: variants this implementation does not compute.
        let known: Set<String> = ["r", "lora_alpha", "lora_dropout", "target_modules", "fan_in_fan_out", "bias"]
        for key in json.keys.sorted() where !known.contains(key) && !informational.contains(key) {
            let raw = json[key]!
            if isOff(raw) { continue }
            let what: String
            switch key {
            case "use_rslora": what = "rank-stabilised LoRA (scaling alpha/sqrt(r)) is not supported"
            case "use_dora": what = "DoRA is not supported"
            case "modules_to_save": what = "extra trained modules are not supported"
            case "rank_pattern", "alpha_pattern": what = "per-layer ranks and alphas are not supported"
            case "layers_to_transform", "layers_pattern": what = "selecting layers by index is not supported"
            default: what = "this option is not supported"
            }
            throw ConfigurationError(field(key), "must be absent, null, false or empty (\(what)), got \(JSONValue.describe(raw))")
        }

        let config = LoRAConfig(rank: rank, alpha: Float(alpha), dropout: Float(dropout), targets: targets)
        try config.validate(naming: field)
        return config
    }

    /// null, false, "", [] or {}.
    static func isOff(_ raw: Any) -> Bool {
        switch raw {
        case is NSNull: return true
        case let n as NSNumber: return JSONValue.isBoolean(n) && !n.boolValue
        case let s as String: return s.isEmpty
        case let a as [Any]: return a.isEmpty
        case let d as [String: Any]: return d.isEmpty
        default: return false
        }
    }
}

extension Module {
    /// Writes the adapters in PEFT's layout (`adapter_config.json`, `adapter_model.safetensors`),
    /// atomically each, so `PeftModel.from_pretrained(base, directory)` opens them. Throws if the
    /// model has no adapters or an adapter weight is not finite.
    public func saveLoRAAdapter(directory: URL, baseModelNameOrPath: String? = nil) throws {
        let layers = loraLayers()
        guard let config = layers.first?.adapter.config else {
            throw ConfigurationError(directory.path, "cannot save a LoRA adapter: the model has none")
        }
        var tensors: [String: Tensor] = [:]
        for (name, _, adapter) in layers {
            let keys = PEFTAdapterFormat.keys(self, name)
            for (key, t) in [(keys.a, adapter.loraA), (keys.b, adapter.loraB)] {
                guard t.scalars.allSatisfy(\.isFinite) else {
                    throw SafeTensorsError(file: directory.appendingPathComponent(PEFTAdapterFormat.weightsFile).path, tensor: key,
                                           reason: "has non-finite values; refusing to save")
                }
                tensors[key] = t
            }
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let json = PEFTAdapterFormat.configJSON(config, fanInFanOut: fanInFanOut, baseModel: baseModelNameOrPath)
        let data = try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])
        try SafeTensors.write(tensors, metadata: ["format": "pt"], to: directory.appendingPathComponent(PEFTAdapterFormat.weightsFile))
        try SafeTensors.atomicWrite(data, to: directory.appendingPathComponent(PEFTAdapterFormat.configFile))
    }

    /// Reads a PEFT LoRA adapter directory, checks it against this model (config fields, targets
    /// that match its linear layers, exactly the expected keys with shapes from the rank and layer
    /// sizes, finite values) before changing anything, then adds the adapters (base frozen) with
    /// the file's weights. Returns the adapter's config. Every problem is a thrown error naming the
    /// file and the field or key.
    @discardableResult
    public func loadLoRAAdapter(directory: URL) throws -> LoRAConfig {
        let configURL = directory.appendingPathComponent(PEFTAdapterFormat.configFile)
        let weightsURL = directory.appendingPathComponent(PEFTAdapterFormat.weightsFile)
        let config = try PEFTAdapterFormat.readConfig(configURL, fanInFanOut: fanInFanOut)
        guard !hasLoRA else { throw ConfigurationError(directory.path, "cannot load a LoRA adapter: the model already has adapters") }
        let layers = try loraTargetLayers(config.targets, setting: "\(configURL.path): target_modules")
        for (name, layer) in layers where config.rank > layer.weight.shape.min()! {
            throw ConfigurationError("\(configURL.path): r", "must be <= \(layer.weight.shape.min()!), the smaller side of \(transformersPath(name)), got \(config.rank)")
        }
        var expected: [String: [Int]] = [:]
        for (name, layer) in layers {
            let keys = PEFTAdapterFormat.keys(self, name)
            expected[keys.a] = [config.rank, layer.weight.shape[1]]
            expected[keys.b] = [layer.weight.shape[0], config.rank]
        }
        let contents = try SafeTensors.read(weightsURL) { header in
            for key in expected.keys.sorted() {
                guard let info = header.tensors[key] else {
                    throw SafeTensorsError(file: weightsURL.path, tensor: key, reason: "is missing (target_modules in \(configURL.path) selects this layer)")
                }
                guard info.shape == expected[key]! else {
                    throw SafeTensorsError(file: weightsURL.path, tensor: key,
                                           reason: "has shape \(info.shape), expected \(expected[key]!) from r = \(config.rank) and the layer's size")
                }
            }
            if let extra = header.tensors.keys.sorted().first(where: { expected[$0] == nil }) {
                let hint = extra.hasSuffix(".lora_A.default.weight") || extra.hasSuffix(".lora_B.default.weight")
                    ? "adapter names inside keys (\".default\") are not PEFT's saved layout" : "no targeted layer has this key"
                throw SafeTensorsError(file: weightsURL.path, tensor: extra, reason: "is not expected: \(hint); expected keys such as \(expected.keys.sorted().first ?? "")")
            }
        }
        for (key, t) in contents.tensors.sorted(by: { $0.key < $1.key }) where !t.scalars.allSatisfy(\.isFinite) {
            throw SafeTensorsError(file: weightsURL.path, tensor: key, reason: "has non-finite values")
        }
        try applyLoRA(config, naming: { "\(configURL.path): \($0)" })
        for (name, _, adapter) in loraLayers() {
            let keys = PEFTAdapterFormat.keys(self, name)
            withNoGrad {
                adapter.loraA.assign(contents.tensors[keys.a]!)
                adapter.loraB.assign(contents.tensors[keys.b]!)
            }
        }
        return config
    }
}
