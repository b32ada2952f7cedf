import NN
extension GPTConfig {
    /// The largest size accepted for any dimension (vocabulary, context, width, layers, heads).
    public static let maxDimension = Int(Int32.max)

    /// A configuration built from user input: throws `ConfigurationError` where `init` would trap
    /// (see `validate(naming:in:)`). `name` turns a property name ("heads") into the setting the user
    /// wrote ("--heads", "n_head"); `source`, when given, prefixes it ("model/config.json: n_head").
    public static func validated(vocabSize: Int, contextLength: Int, dModel: Int, layers: Int, heads: Int,
                                 layerNormEps: Float = 1e-5, dropout: Float = 0, scalarHead: Bool = false,
                                 naming name: (String) -> String = { "GPTConfig.\($0)" }, in source: String? = nil) throws -> GPTConfig {
        try check(vocabSize: vocabSize, contextLength: contextLength, dModel: dModel, layers: layers, heads: heads,
                  layerNormEps: layerNormEps, dropout: dropout, scalarHead: scalarHead, naming: name, in: source)
        return GPTConfig(vocabSize: vocabSize, contextLength: contextLength, dModel: dModel, layers: layers, heads: heads,
                         layerNormEps: layerNormEps, dropout: dropout, scalarHead: scalarHead)
    }

    /// Throws `ConfigurationError` unless every size is in 1...`maxDimension`, heads divide dModel,
    /// layerNormEps is finite and > 0, dropout is in [0, 1) and the model has fewer than 2^60
    /// parameters. For configurations that bypassed `init`'s check, such as decoded ones.
    public func validate(naming name: (String) -> String = { "GPTConfig.\($0)" }, in source: String? = nil) throws {
        try Self.check(vocabSize: vocabSize, contextLength: contextLength, dModel: dModel, layers: layers, heads: heads,
                       layerNormEps: layerNormEps, dropout: dropout, scalarHead: scalarHead, naming: name, in: source)
    }

    static func check(vocabSize: Int, contextLength: Int, dModel: Int, layers: Int, heads: Int,
                      layerNormEps: Float, dropout: Float, scalarHead: Bool, naming name: (String) -> String, in source: String?) throws {
        func setting(_ property: String) -> String { source.map { "\($0): \(name(property))" } ?? name(property) }
        for (property, value) in [("vocabSize", vocabSize), ("contextLength", contextLength), ("dModel", dModel),
                                  ("layers", layers), ("heads", heads)] {
            try Validate.inRange(value, 1...maxDimension, setting(property))
        }
        guard dModel % heads == 0 else {
            throw ConfigurationError(setting("heads"), "must divide \(name("dModel")) = \(dModel), got \(heads)")
        }
        try Validate.positive(layerNormEps, setting("layerNormEps"))
        try Validate.inRange(dropout, 0, 1, setting("dropout"), includeUpper: false)
        // Bounding the total keeps every element count and byte size computed from these sizes inside an Int.
        let parameters = parameterCount(vocabSize: vocabSize, contextLength: contextLength, dModel: dModel, layers: layers,
                                        scalarHead: scalarHead)
        guard parameters < 0x1p60 else {
            throw ConfigurationError(setting("dModel"), "\(dModel) with \(name("vocabSize")) = \(vocabSize), \(name("contextLength")) = "
                                     + "\(contextLength) and \(name("layers")) = \(layers) gives \(parameters) parameters, more than 2^60")
        }
    }

    /// Parameters of a GPT-2 model of these sizes, in Double so that no size can overflow it.
    public static func parameterCount(vocabSize: Int, contextLength: Int, dModel: Int, layers: Int, scalarHead: Bool = false) -> Double {
        let d = Double(dModel)
        let perBlock = 12 * d * d + 13 * d  // LayerNorms 4d, qkv 3d² + 3d, attention output d² + d, MLP 8d² + 5d
        return (Double(vocabSize) + Double(contextLength)) * d + Double(layers) * perBlock + 2 * d + (scalarHead ? d + 1 : 0)
    }

    /// Rough peak bytes of a training step's forward and backward pass over `rows` sequences of
    /// `length` tokens: attention probabilities (rows x heads x length² per layer), about 24
    /// d-model-wide activations per token and layer, and the logits, each with a gradient of the same
    /// size. Lets a caller refuse a batch before an allocation that fails would abort the process.
    public func trainingActivationBytes(rows: Double, length: Int) -> Double {
        let t = Double(length)
        let perLayer = Double(heads) * t * t + 24 * t * Double(dModel)
        return 2 * 4 * rows * (Double(layers) * perLayer + 3 * t * Double(vocabSize))
    }

    /// Rough peak bytes of sampling `rows` sequences up to `length` tokens without gradients: the KV
    /// cache of every layer, one layer's temporaries over the prompt, and the logits.
    public func samplingBytes(rows: Double, length: Int) -> Double {
        let t = Double(length), d = Double(dModel)
        let cache = Double(layers) * 2 * t * d
        let oneLayer = Double(heads) * t * t + 24 * t * d
        return 4 * rows * (cache + oneLayer + t * Double(vocabSize))
    }
}
