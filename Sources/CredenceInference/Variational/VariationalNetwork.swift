import CredenceNN
import CredenceTensor
import Foundation

/// Which layers of a network get Gaussian weights; the others keep point weights.
public enum BayesianLayers: String, CaseIterable, Codable, Sendable {
    /// Every dense and convolutional layer (mean-field VI); other layers with parameters
    /// (batch normalization's scale and shift) keep point weights.
    case all
    /// Only the first layer with weights (STF-BNN).
    case first
    /// Only the last layer with weights (last-layer VI).
    case last
}

/// Where the Gaussian weights of a network live: the model's Bayesian layers and, for each of
/// their parameter tensors, its window in θ and in the vector of standard deviations (which
/// lists the Bayesian tensors in θ's order, so σ has `count` elements).
public struct MeanFieldLayout: Equatable, Sendable {
    public struct Block: Equatable, Sendable {
        public let layer: Int
        /// The tensor's entry in the network's layout (name, window of θ).
        public let entry: ParameterLayout.Entry
        /// Its window in the vector of standard deviations.
        public let sigmaRange: Range<Int>
    }

    /// Indices of the Bayesian layers (the model's numbering), ascending.
    public let layers: [Int]
    public let blocks: [Block]
    /// Each Bayesian layer's run of `blocks`, by layer index.
    let blockRuns: [Int: Range<Int>]
    /// Number of Bayesian parameters (length of σ).
    public var count: Int { blocks.last?.sigmaRange.upperBound ?? 0 }

    /// The Bayesian layers `choice` names in `model`, a chain or a graph of blocks: dense and
    /// convolutional layers only (their local reparameterization and Flipout are defined),
    /// every parameter of each. `.first` and `.last` are the first and last layers with
    /// parameters, and must be dense or convolutional.
    public init(_ choice: BayesianLayers, model: any LayeredModel) throws {
        let candidates = model.layers.indices.filter { !model.layout.entries(ofLayer: $0).isEmpty }
        guard let first = candidates.first, let last = candidates.last else {
            throw InferenceError.incompatibleModel("the network has no parameters to make Bayesian")
        }
        let chosen: [Int]
        switch choice {
        case .all: chosen = candidates.filter { model.layers[$0] is any GaussianWeightLayer }
        case .first: chosen = [first]
        case .last: chosen = [last]
        }
        for i in chosen where !(model.layers[i] is any GaussianWeightLayer) {
            throw InferenceError.incompatibleModel(
                "variational inference over the \(choice.rawValue) layer needs a dense or convolutional layer; it is \(model.layerDescription(i)) — choose bayesianLayers all, or a model that \(choice == .first ? "begins" : "ends") with one")
        }
        var blocks: [Block] = []
        var runs: [Int: Range<Int>] = [:]
        var offset = 0
        for i in chosen {
            let first = blocks.count
            for entry in model.layout.entries(ofLayer: i) {
                blocks.append(Block(layer: i, entry: entry, sigmaRange: offset..<(offset + entry.count)))
                offset += entry.count
            }
            runs[i] = first..<blocks.count
        }
        layers = chosen
        self.blocks = blocks
        blockRuns = runs
    }

    /// Layer `i`'s blocks (its weight, then its bias), or nil when it is not Bayesian.
    public func blocks(ofLayer i: Int) -> ArraySlice<Block>? { blockRuns[i].map { blocks[$0] } }

    /// `model` as numbered layers (a chain or a graph of blocks), or an error saying VI needs one.
    public static func layered(_ model: any NetworkModel) throws -> any LayeredModel {
        guard let base = model as? any LayeredModel else {
            throw InferenceError.incompatibleModel("variational inference needs a model made of layers (a chain or a graph of blocks); \(type(of: model)) is neither")
        }
        return base
    }

    /// The standard deviations gathered from a vector over all of θ (MOPED's δ·|w|).
    public func gather(_ full: Tensor) -> Tensor {
        var out = Tensor(uninitializedShape: [count])
        out.withUnsafeMutableBufferPointer { o in
            full.withUnsafeBufferPointer { f in
                for b in blocks { for (k, i) in zip(b.sigmaRange, b.entry.range) { o[k] = f[i] } }
            }
        }
        return out
    }
}

/// A network with mean-field Gaussian weights, as a function of one flat vector
/// ψ = (μ, s): μ has the base model's layout (every parameter's mean, or its point value
/// outside the Bayesian layers), then s, one per Bayesian parameter (`MeanFieldLayout`) — the
/// standard deviations σ > 0, or with `.layerNoise` coordinates the layers' noise input drawn
/// once for many passes (ΔW = σ ⊙ ε, or σ² for local reparameterization;
/// `GaussianWeightLayer`). So the trainer and its worker shards see an ordinary model.
/// (`MeanFieldVI` optimises σ = softplus(ρ), forms the layer noise once per step off the tape
/// and hands this network ψ = (μ, ΔW); the shards of a step share the draw, and the chain rule
/// back to ρ is one pass.)
///
/// The base model is a chain of layers or a graph of blocks (`LayeredModel`: ResNet-20,
/// DenseNet-BC); its wiring, batch normalization and buffers are its own. In `.train` and
/// `.mcSample` modes the Bayesian layers draw their outputs with `estimator`
/// (`WeightNoiseEstimator`) from `context.rng`; in `.eval` mode the network runs at μ. The
/// tape carries gradients to μ and s — and to the point weights of the other layers unless
/// `fixedPointWeights` (STF-BNN), when they enter as constants: their gradient is zero and its
/// products are never computed.
public struct VariationalNetwork: NetworkModel {
    public let base: any LayeredModel
    public let meanField: MeanFieldLayout
    public let estimator: WeightNoiseEstimator
    public let fixedPointWeights: Bool
    public let layout: ParameterLayout
    /// What ψ holds after the means.
    public var coordinates: Coordinates

    public enum Coordinates: Sendable {
        /// σ: every pass draws its own weight noise.
        case standardDeviations
        /// The layers' noise input `estimator.layerNoise(σ, ε)` for one draw ε shared by every
        /// pass; the gradient comes back with respect to it.
        case layerNoise
    }

    public init(base: any LayeredModel, meanField: MeanFieldLayout, estimator: WeightNoiseEstimator, fixedPointWeights: Bool = false,
                coordinates: Coordinates = .standardDeviations) {
        self.base = base
        self.meanField = meanField
        self.estimator = estimator
        self.fixedPointWeights = fixedPointWeights
        self.coordinates = coordinates
        var layout = base.layout
        for block in meanField.blocks { layout.append(name: block.entry.name + "_sigma", layer: block.layer, shape: block.entry.shape) }
        self.layout = layout
    }

    public var spec: ModelSpec { base.spec }
    public var inputShape: [Int] { base.inputShape }
    public var outputShape: [Int] { base.outputShape }
    public var buffers: [NamedBuffer] { base.buffers }
    public var isStochastic: Bool { true }
    public var layerChain: Sequential? { nil }
    /// Number of means (the base model's parameter count).
    public var meanCount: Int { base.parameterCount }

    /// This network over another base model (the same architecture with other buffers).
    func with(base newBase: any LayeredModel) -> VariationalNetwork {
        VariationalNetwork(base: newBase, meanField: meanField, estimator: estimator, fixedPointWeights: fixedPointWeights,
                           coordinates: coordinates)
    }

    public func replacingBuffers(_ values: [String: Tensor]) throws -> any NetworkModel {
        with(base: try base.withBuffers(values))
    }

    public func updatingBuffers(with statistics: [String: [BatchNormStatistics]]) throws -> any NetworkModel {
        with(base: try base.withBatchStatistics(statistics))
    }

    /// This network over other coordinates.
    public func with(_ coordinates: Coordinates) -> VariationalNetwork {
        var copy = self
        copy.coordinates = coordinates
        return copy
    }

    /// ψ for means `mean` (θ's layout) and standard deviations `sigma` (one per Bayesian parameter).
    public func parameters(mean: Tensor, standardDeviations sigma: Tensor) throws -> Tensor {
        guard mean.count == meanCount else { throw ModelError.parameterCount(got: mean.count, expected: meanCount) }
        guard sigma.count == meanField.count else { throw ModelError.parameterCount(got: sigma.count, expected: meanField.count) }
        return try Tensor.concatenate([mean.reshaped([meanCount]), sigma.reshaped([meanField.count])], axis: 0)
    }

    /// (μ, σ) of ψ.
    public func split(_ psi: Tensor) throws -> (mean: Tensor, standardDeviations: Tensor) {
        guard psi.count == layout.count else { throw ModelError.parameterCount(got: psi.count, expected: layout.count) }
        return (try psi.segment(offset: 0, shape: [meanCount]).map { $0 },
                try psi.segment(offset: meanCount, shape: [meanField.count]).map { $0 })
    }

    /// The base model's initialisation for μ and σ = 1e-3 (`MeanFieldVI`'s default start).
    public func initialParameters(rng: inout RandomGenerator) -> Tensor {
        try! parameters(mean: base.initialParameters(rng: &rng), standardDeviations: Tensor(shape: [meanField.count], repeating: 1e-3))
    }

    public func callAsFunction(_ x: Variable, parameters psi: Variable, context: inout ForwardContext) throws -> Variable {
        guard psi.value.rank == 1, psi.value.count == layout.count else {
            throw ModelError.parameterCount(got: psi.value.count, expected: layout.count)
        }
        guard context.mode.isStochastic else {
            return try base(x, parameters: try psi.segment(offset: 0, shape: [meanCount]), context: &context)
        }
        return try base.run(x, context: &context) { i, h, context in
            guard let blocks = meanField.blocks(ofLayer: i), let layer = base.layers[i] as? any GaussianWeightLayer else {
                let weights = fixedPointWeights
                    ? try base.layout.entries(ofLayer: i).map { Variable(constant: try psi.value.segment(offset: $0.offset, shape: $0.shape)) }
                    : try base.layerParameters(i, of: psi)
                return try base.forwardLayer(i, h, parameters: weights, context: &context)
            }
            let means = try blocks.map { try psi.segment(offset: $0.entry.offset, shape: $0.entry.shape) }
            let second = try blocks.map { try psi.segment(offset: meanCount + $0.sigmaRange.lowerBound, shape: $0.entry.shape) }
            switch coordinates {
            case .standardDeviations:
                return try layer.forward(h, mean: means, standardDeviation: second, estimator: estimator, context: &context)
            case .layerNoise:
                return try layer.forward(h, mean: means, layerNoise: second, estimator: estimator, context: &context)
            }
        }
    }

    /// `[S, B, C]` softmax outputs of `samples` passes in `.mcSample` mode.
    public func monteCarloProbabilities(_ x: Tensor, parameters: Tensor, samples: Int, rng: inout RandomGenerator) throws -> Tensor {
        guard samples >= 1 else { throw ModelError.invalidSpecification("Monte-Carlo samples must be ≥ 1, got \(samples)") }
        let passes = try (0..<samples).map { _ in
            try predict(x, parameters: parameters, mode: .mcSample, rng: rng.split()).softmaxLastAxis()
        }
        return try Tensor.concatenate(passes, axis: 0).reshaped([samples] + (passes.first?.shape ?? []))
    }
}
