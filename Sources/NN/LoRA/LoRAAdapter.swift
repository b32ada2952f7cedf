/// The low-rank update PEFT adds to a linear layer: dropout(x) Aᵀ Bᵀ · (alpha / r), with
/// A [r, in] initialised as PEFT does (kaiming uniform with a = sqrt(5), i.e. uniform(±1/sqrt(in)))
/// and B [out, r] zero, so a fresh adapter leaves the layer's output unchanged.
/// A `Linear` whose `lora` is set adds this to its output while `isEnabled`.
public final class LoRAAdapter: Module {
    public let loraA: Tensor
    public let loraB: Tensor
    let dropout: Dropout
    public let config: LoRAConfig
    /// Off: the layer computes exactly its base output (the reference model of DPO with LoRA).
    public var isEnabled = true
    override public var parameterKeys: [String: String] { ["loraA": "lora_A", "loraB": "lora_B"] }

    /// `config` must be validated (rank >= 1, dropout in [0, 1)).
    init(inFeatures: Int, outFeatures: Int, config: LoRAConfig, generator: inout RandomGenerator) {
        let bound = 1 / Float(max(inFeatures, 1)).squareRoot()
        loraA = Tensor.uniform([config.rank, inFeatures], low: -bound, high: bound, generator: &generator, requiresGrad: true)
        loraB = Tensor.zeros([outFeatures, config.rank], requiresGrad: true)
        dropout = Dropout(config.dropout, seed: generator.next())
        self.config = config
    }

    public var scaling: Float { config.scaling }

    /// The update for input x [..., in] -> [..., out].
    public func callAsFunction(_ x: Tensor) -> Tensor {
        linear(linear(dropout(x), weight: loraA), weight: loraB) * scaling
    }

    /// B A · scaling, [out, in]: what merging adds to the base weight.
    public func deltaWeight() -> Tensor { loraB.matmul(loraA) * scaling }
}
