/// A model whose modules have transformers counterparts: how PEFT names them (its `target_modules`
/// and the keys of `adapter_model.safetensors` use these paths) and whether transformers stores
/// the linear weights transposed (GPT-2's Conv1D, PEFT's `fan_in_fan_out`).
/// A module tree without this conformance uses its own dotted names and `fan_in_fan_out = false`.
public protocol TransformersModuleNaming: Module {
    /// transformers' dotted path of the submodule called `name` here ("h.0.attn.c_attn" ->
    /// "transformer.h.0.attn.c_attn").
    func transformersModulePath(_ name: String) -> String
    /// True when transformers keeps these linear layers' weights as [in, out].
    var linearWeightsAreTransposedInTransformers: Bool { get }
}

extension Module {
    /// transformers' path of the submodule `name` (its own name for a tree without transformers names).
    func transformersPath(_ name: String) -> String {
        (self as? TransformersModuleNaming)?.transformersModulePath(name) ?? name
    }

    var fanInFanOut: Bool { (self as? TransformersModuleNaming)?.linearWeightsAreTransposedInTransformers ?? false }
}
