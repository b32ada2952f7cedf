/// Activation checkpointing (PyTorch `torch.utils.checkpoint`): runs `body` on `input` without
/// recording a graph, so the activations inside it are freed as soon as it returns; backward runs
/// `body` again with recording on and backpropagates through that graph. Costs one more forward
/// of `body`; keeps only `input`.
///
/// `parameters` are the leaves `body` reads: their gradients accumulate during the recomputation,
/// and listing them records the step even when `input` needs no gradient (frozen embeddings under
/// LoRA). `beforeRecompute` rewinds any random state `body` draws from (dropout), so that the
/// recomputation sees the same values as the forward pass, and returns what puts it back after.
public func checkpointed(_ input: Tensor, parameters: [Tensor], beforeRecompute: @escaping () -> (() -> Void) = { {} },
                         _ body: @escaping (Tensor) -> Tensor) -> Tensor {
    let trainable = parameters.filter(\.requiresGrad)
    guard GradMode.enabled, input.requiresGrad || !trainable.isEmpty else { return body(input) }
    let output = withNoGrad { body(input) }
    let saved = input.detach()
    let inputNeedsGrad = input.requiresGrad
    return output.recording("checkpoint", [input] + trainable) { g in
        let restore = beforeRecompute()
        defer { restore() }
        let x = saved.detach().requiringGrad(inputNeedsGrad)
        let state = AutogradThreadState.current
        let wasEnabled = state.gradEnabled
        state.gradEnabled = true
        let y = body(x)
        state.gradEnabled = wasEnabled
        // y needs no gradient only if body ignores x and every parameter: nothing to propagate.
        if y.requiresGrad { y.backward(g) }
        return [inputNeedsGrad ? (x.grad ?? Tensor.zeros(x.shape)) : nil] + trainable.map { _ in nil }
    }
}
