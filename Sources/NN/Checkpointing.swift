import TensorCore

extension Module {
    /// `body(x)` with activation checkpointing (see `checkpointed(_:parameters:beforeRecompute:_:)`)
    /// over this module's parameters. Dropout layers inside the module are rewound before the
    /// recomputation, so they draw the same masks and the gradients equal those without it, and put
    /// back afterwards, so later forward passes draw what they would have drawn without it.
    public func checkpointed(_ x: Tensor, _ body: @escaping (Tensor) -> Tensor) -> Tensor {
        let dropouts = namedModules().compactMap { $0.module as? Dropout }.filter { $0.p > 0 }
        let states = dropouts.map(\.generator)
        return TensorCore.checkpointed(x, parameters: parameters(), beforeRecompute: {
            let current = dropouts.map(\.generator)
            for (dropout, state) in zip(dropouts, states) { dropout.generator = state }
            return { for (dropout, state) in zip(dropouts, current) { dropout.generator = state } }
        }, body)
    }
}
