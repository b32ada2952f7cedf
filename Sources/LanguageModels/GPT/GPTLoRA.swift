import NN

/// PEFT names GPT-2's modules by their transformers paths ("transformer.h.0.attn.c_attn"), and its
/// Conv1D layers store weights [in, out] (PEFT's fan_in_fan_out = true).
extension GPT: TransformersModuleNaming {
    public func transformersModulePath(_ name: String) -> String { HuggingFaceGPT2Layout.transformersName(name) }
    public var linearWeightsAreTransposedInTransformers: Bool { true }
}
