import Foundation

extension Module {
    /// The linear layers that `targets` selects, by dotted name, in module order. Every pattern must
    /// match some module and every matched module must be a `Linear`; otherwise a `ConfigurationError`
    /// names the pattern (as `setting`) and lists the linear layers that exist.
    public func loraTargetLayers(_ targets: LoRATargets, setting: String = "target_modules") throws -> [(name: String, layer: Linear)] {
        let modules = namedModules().filter { !$0.name.isEmpty && !($0.module is LoRAAdapter) && !$0.name.contains(".lora.") }
        let linears = modules.filter { $0.module is Linear }
        func available() -> String {
            let paths = linears.map { transformersPath($0.name) }
            let shown = paths.prefix(12).joined(separator: ", ") + (paths.count > 12 ? ", ... (\(paths.count) in all)" : "")
            var leaves: [String] = []
            for p in paths { let leaf = String(p.split(separator: ".").last ?? ""); if !leaves.contains(leaf) { leaves.append(leaf) } }
            return paths.isEmpty ? "the model has no linear layers" : "the linear layers are \(shown) (by last name: \(leaves.joined(separator: ", ")))"
        }
        var selected: [(name: String, layer: Linear)] = []
        for pattern in targets.patterns {
            let single: LoRATargets
            if case .regex = targets { single = targets } else { single = .names([pattern]) }
            let matched = try modules.filter { try single.matches(transformersPath($0.name), name: pattern) }
            guard !matched.isEmpty else { throw ConfigurationError(setting, "'\(pattern)' matches no module; \(available())") }
            for (name, module) in matched {
                guard let layer = module as? Linear else {
                    throw ConfigurationError(setting, "'\(pattern)' matches \(transformersPath(name)), a \(type(of: module)), "
                                             + "but LoRA adapts linear layers only; \(available())")
                }
                if !selected.contains(where: { $0.layer === layer }) { selected.append((name, layer)) }
            }
        }
        // A layer reachable under two names (shared weights) keeps its first position.
        let order = Dictionary(linears.enumerated().map { (ObjectIdentifier($0.element.module), $0.offset) }) { first, _ in first }
        return selected.sorted { order[ObjectIdentifier($0.layer)]! < order[ObjectIdentifier($1.layer)]! }
    }

    /// Freezes every parameter and adds a fresh LoRA adapter (A random, B zero) to each linear layer
    /// `config.targets` selects, so that only adapter weights train. Returns the adapted layers' names.
    /// Throws a `ConfigurationError` for an invalid config, a target that matches nothing or a
    /// non-linear module, or a model that already has adapters.
    @discardableResult
    public func applyLoRA(_ config: LoRAConfig, seed: UInt64 = 0, naming: (String) -> String = { $0 }) throws -> [String] {
        try config.validate(naming: naming)
        guard !hasLoRA else { throw ConfigurationError(naming("target_modules"), "the model already has LoRA adapters") }
        let layers = try loraTargetLayers(config.targets, setting: naming("target_modules"))
        // B A has rank at most min(out, in): a larger r only costs memory (and r = 2^31 would exhaust it).
        for (name, layer) in layers where config.rank > layer.weight.shape.min()! {
            throw ConfigurationError(naming("r"), "must be <= \(layer.weight.shape.min()!), the smaller side of \(transformersPath(name)) "
                                     + "(out \(layer.weight.shape[0]), in \(layer.weight.shape[1])), got \(config.rank)")
        }
        freeze()
        var generator = RandomGenerator(seed: seed)
        for (_, layer) in layers {
            layer.lora = LoRAAdapter(inFeatures: layer.weight.shape[1], outFeatures: layer.weight.shape[0], config: config, generator: &generator)
            layer.lora!.train(isTraining)
        }
        return layers.map(\.name)
    }

    /// The adapted linear layers with their dotted names, in module order; a layer reachable under
    /// two names is listed once, under the first.
    public func loraLayers() -> [(name: String, layer: Linear, adapter: LoRAAdapter)] {
        var seen = Set<ObjectIdentifier>()
        return namedModules().compactMap { name, module in
            guard let layer = module as? Linear, let adapter = layer.lora, seen.insert(ObjectIdentifier(layer)).inserted else { return nil }
            return (name, layer, adapter)
        }
    }

    public var hasLoRA: Bool { !loraLayers().isEmpty }

    /// The config the adapters were made with (nil without adapters).
    public var loraConfig: LoRAConfig? { loraLayers().first?.adapter.config }

    /// Turns every adapter on or off; off, the model computes exactly its base output.
    public func setLoRAEnabled(_ on: Bool) {
        for (_, _, adapter) in loraLayers() { adapter.isEnabled = on }
    }

    /// Runs `body` with every adapter off (the base model, without a copy of its weights), then
    /// restores each adapter's previous state. The switch is the model's own state: another thread
    /// running the same model meanwhile sees the adapters off too.
    public func withLoRADisabled<T>(_ body: () throws -> T) rethrows -> T {
        let adapters = loraLayers().map(\.adapter)
        let previous = adapters.map(\.isEnabled)
        for a in adapters { a.isEnabled = false }
        defer { for (a, on) in zip(adapters, previous) { a.isEnabled = on } }
        return try body()
    }

    /// Parameters without the adapters' (the base model's), with their dotted names.
    public func baseNamedParameters() -> [(name: String, tensor: Tensor)] {
        let adapterTensors = Set(loraLayers().flatMap { [ObjectIdentifier($0.adapter.loraA), ObjectIdentifier($0.adapter.loraB)] })
        return namedParameters().filter { !adapterTensors.contains(ObjectIdentifier($0.tensor)) }
    }

    /// Folds each adapter into its layer (W += B A · alpha/r) and removes the adapters: the model
    /// then computes what base + enabled adapters computed, as a plain model. Parameters keep
    /// their requires-grad flags (the base stays frozen).
    public func mergeLoRA() {
        for (_, layer, adapter) in loraLayers() {
            withNoGrad { layer.weight.assign(layer.weight + adapter.deltaWeight()) }
            layer.lora = nil
        }
    }

    /// Removes the adapters without merging them.
    public func removeLoRA() {
        for (_, layer, _) in loraLayers() { layer.lora = nil }
    }
}
