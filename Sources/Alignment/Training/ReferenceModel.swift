import LanguageModels

/// Where DPO's and PPO's reference log-probs come from.
public enum ReferenceModel {
    /// A separate model (a frozen copy of the starting model), run in eval mode.
    case separate(any CausalLanguageModel)
    /// The trained model itself with its LoRA adapters disabled: the base model without a second
    /// copy of its weights. Run in eval mode; the model's mode and adapters are restored after.
    case adaptersDisabled(any CausalLanguageModel)

    /// `body` applied to the reference model, without gradients.
    func run<T>(_ body: (any CausalLanguageModel) -> T) -> T {
        switch self {
        case .separate(let model):
            return withNoGrad { body(model) }
        case .adaptersDisabled(let model):
            let wasTraining = model.isTraining
            model.eval()
            defer { model.train(wasTraining) }
            return withNoGrad { model.withLoRADisabled { body(model) } }
        }
    }

    /// The separate model, nil for `.adaptersDisabled`.
    public var separateModel: (any CausalLanguageModel)? {
        if case .separate(let model) = self { return model }
        return nil
    }
}
