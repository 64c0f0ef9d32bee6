import CredenceTensor

/// The serialisable description of one layer. Written into checkpoints so that a file
/// describes the model it holds.
public enum LayerSpec: Codable, Equatable, Sendable {
    case dense(inputs: Int, outputs: Int, bias: Bool)
    case conv2d(inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int, bias: Bool)
    case maxPool2d(kernel: Int, stride: Int)
    case avgPool2d(kernel: Int, stride: Int)
    case globalAveragePool
    case flatten
    case activation(Activation.Kind)
    case dropout(rate: Float)
    /// Batch normalization over the features of [B, C] inputs (PyTorch's `nn.BatchNorm1d(C)`).
    case batchNorm1d(features: Int)
    /// Batch normalization over the channels of [B, C, H, W] inputs (`nn.BatchNorm2d(C)`).
    case batchNorm2d(channels: Int)
    /// Layer normalization over each example's trailing axes `shape` (`nn.LayerNorm(shape)`).
    case layerNorm(shape: [Int])
    /// The noise head of a homoscedastic regression: [B, D] means → [B, 2D] means and one
    /// learned raw variance per output (`HomoscedasticNoise`).
    case homoscedasticNoise(outputs: Int)

    /// The layer this spec describes.
    public func makeLayer() throws -> any Layer {
        switch self {
        case let .dense(i, o, b): return Dense(inputs: i, outputs: o, bias: b)
        case let .conv2d(i, o, k, s, p, b):
            guard i > 0, o > 0, k > 0, s > 0, p >= 0 else {
                throw ModelError.invalidSpecification("conv2d needs positive channels, kernel and stride and padding ≥ 0")
            }
            return Conv2D(inChannels: i, outChannels: o, kernel: k, stride: s, padding: p, bias: b)
        case let .maxPool2d(k, s): return Pool2D(.max, kernel: k, stride: s)
        case let .avgPool2d(k, s): return Pool2D(.average, kernel: k, stride: s)
        case .globalAveragePool: return GlobalAveragePool()
        case .flatten: return Flatten()
        case let .activation(kind): return Activation(kind)
        case let .dropout(rate): return try Dropout(rate: rate)
        case let .batchNorm1d(c): return try BatchNorm(channels: c, spatial: false)
        case let .batchNorm2d(c): return try BatchNorm(channels: c, spatial: true)
        case let .layerNorm(shape): return try LayerNorm(shape: shape)
        case let .homoscedasticNoise(d): return try HomoscedasticNoise(outputs: d)
        }
    }
}

/// A model: input shape (per example) and either a sequence of layers or a graph of named
/// blocks.
///
/// - A chain (`layers`, built as `Sequential`): layer i corresponds to module i of a PyTorch
///   `nn.Sequential`, and its parameters are named "i.weight", "i.bias" — the state-dict
///   names PyTorch uses.
/// - A graph (`blocks`, built as `BlockNetwork`; `layers` is empty): residual and dense
///   blocks, parameters named by their path in the module tree ("layer1.0.conv1.weight").
public struct ModelSpec: Codable, Equatable, Sendable {
    public var inputShape: [Int]
    public var layers: [LayerSpec]
    /// The graph of a model that is not a chain (nil for a chain; absent from older files).
    public var blocks: [NamedBlock]?

    public init(inputShape: [Int], layers: [LayerSpec]) {
        self.inputShape = inputShape
        self.layers = layers
    }

    /// A graph model: `blocks` run in order, as the children of a `Block.sequence`.
    public init(inputShape: [Int], blocks: [NamedBlock]) {
        self.inputShape = inputShape
        layers = []
        self.blocks = blocks
    }

    /// A multilayer perceptron: (Flatten) → [Dense → activation → (Dropout)]* → Dense.
    public static func mlp(inputShape: [Int], hidden: [Int], outputs: Int,
                           activation: Activation.Kind = .relu, dropout: Float = 0) -> ModelSpec {
        var layers: [LayerSpec] = inputShape.count > 1 ? [.flatten] : []
        var width = inputShape.reduce(1, *)
        for h in hidden {
            layers.append(.dense(inputs: width, outputs: h, bias: true))
            layers.append(.activation(activation))
            if dropout > 0 { layers.append(.dropout(rate: dropout)) }
            width = h
        }
        layers.append(.dense(inputs: width, outputs: outputs, bias: true))
        return ModelSpec(inputShape: inputShape, layers: layers)
    }

    /// The small CNN for 28×28 grey images: conv(1→32, 3×3, pad 1)–ReLU–maxpool2–
    /// conv(32→64, 3×3, pad 1)–ReLU–maxpool2–flatten–dense(3136→128)–ReLU–dense(128→classes).
    public static func smallCNN(inputShape: [Int] = [1, 28, 28], outputs: Int = 10, dropout: Float = 0) -> ModelSpec {
        let c = inputShape.first ?? 1
        let h = (inputShape.count == 3 ? inputShape[1] : 28) / 4, w = (inputShape.count == 3 ? inputShape[2] : 28) / 4
        var layers: [LayerSpec] = [
            .conv2d(inChannels: c, outChannels: 32, kernel: 3, stride: 1, padding: 1, bias: true), .activation(.relu),
            .maxPool2d(kernel: 2, stride: 2),
            .conv2d(inChannels: 32, outChannels: 64, kernel: 3, stride: 1, padding: 1, bias: true), .activation(.relu),
            .maxPool2d(kernel: 2, stride: 2),
            .flatten,
            .dense(inputs: 64 * h * w, outputs: 128, bias: true), .activation(.relu),
        ]
        if dropout > 0 { layers.append(.dropout(rate: dropout)) }
        layers.append(.dense(inputs: 128, outputs: outputs, bias: true))
        return ModelSpec(inputShape: inputShape, layers: layers)
    }
}
