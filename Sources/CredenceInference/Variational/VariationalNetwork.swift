import CredenceNN
import CredenceTensor
import Foundation

/// Which layers of a network get Gaussian weights; the others keep point weights.
public enum BayesianLayers: String, CaseIterable, Codable, Sendable {
    /// Every dense and convolutional layer (mean-field VI).
    case all
    /// Only the first layer with weights (STF-BNN).
    case first
    /// Only the last layer with weights (last-layer VI).
    case last
}

/// Where the Gaussian weights of a network live: the chain's Bayesian layers and, for each of
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

    /// Chain indices of the Bayesian layers, ascending.
    public let layers: [Int]
    public let blocks: [Block]
    /// Number of Bayesian parameters (length of σ).
    public var count: Int { blocks.last?.sigmaRange.upperBound ?? 0 }

    /// The Bayesian layers `choice` names in `chain`: dense and convolutional layers only
    /// (their local reparameterization and Flipout are defined), every parameter of each.
    public init(_ choice: BayesianLayers, chain: Sequential) throws {
        let candidates = chain.layers.indices.filter { !chain.layout.entries(ofLayer: $0).isEmpty }
        guard let first = candidates.first, let last = candidates.last else {
            throw InferenceError.incompatibleModel("the network has no parameters to make Bayesian")
        }
        let chosen: [Int]
        switch choice {
        case .all: chosen = candidates
        case .first: chosen = [first]
        case .last: chosen = [last]
        }
        for i in chosen where !(chain.layers[i] is any GaussianWeightLayer) {
            let which = choice == .all ? "every layer with parameters" : "the \(choice.rawValue) layer"
            throw InferenceError.incompatibleModel(
                "variational inference over \(which) needs dense or convolutional layers; layer \(i) is \(chain.spec.layers[i]) — choose bayesianLayers first or last, or a model without it")
        }
        var blocks: [Block] = []
        var offset = 0
        for i in chosen {
            for entry in chain.layout.entries(ofLayer: i) {
                blocks.append(Block(layer: i, entry: entry, sigmaRange: offset..<(offset + entry.count)))
                offset += entry.count
            }
        }
        layers = chosen
        self.blocks = blocks
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
/// ψ = (μ, s): μ has the chain's layout (every parameter's mean, or its point value outside the
/// Bayesian layers), then s, one per Bayesian parameter (`MeanFieldLayout`) — the standard
/// deviations σ > 0, or with `.layerNoise` coordinates the layers' noise input drawn once for
/// many passes (ΔW = σ ⊙ ε, or σ² for local reparameterization; `GaussianWeightLayer`). So
/// the trainer and its worker shards see an ordinary model. (`MeanFieldVI` optimises
/// σ = softplus(ρ), forms the layer noise once per step off the tape and hands this network
/// ψ = (μ, ΔW); the shards of a step share the draw, and the chain rule back to ρ is one pass.)
///
/// In `.train` and `.mcSample` modes the Bayesian layers draw their outputs with `estimator`
/// (`WeightNoiseEstimator`) from `context.rng`; in `.eval` mode the network runs at μ. The
/// tape carries gradients to μ and s — and to the point weights of the other layers unless
/// `fixedPointWeights` (STF-BNN), when they enter as constants: their gradient is zero and its
/// products are never computed.
public struct VariationalNetwork: NetworkModel {
    public let chain: Sequential
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

    public init(chain: Sequential, meanField: MeanFieldLayout, estimator: WeightNoiseEstimator, fixedPointWeights: Bool = false,
                coordinates: Coordinates = .standardDeviations) {
        self.chain = chain
        self.meanField = meanField
        self.estimator = estimator
        self.fixedPointWeights = fixedPointWeights
        self.coordinates = coordinates
        var layout = chain.layout
        for block in meanField.blocks { layout.append(name: block.entry.name + "_sigma", layer: block.layer, shape: block.entry.shape) }
        self.layout = layout
    }

    public var spec: ModelSpec { chain.spec }
    public var inputShape: [Int] { chain.inputShape }
    public var outputShape: [Int] { chain.outputShape }
    public var buffers: [NamedBuffer] { chain.buffers }
    public var isStochastic: Bool { true }
    public var layerChain: Sequential? { nil }
    /// Number of means (the chain's parameter count).
    public var meanCount: Int { chain.parameterCount }

    public func replacingBuffers(_ values: [String: Tensor]) throws -> any NetworkModel {
        VariationalNetwork(chain: try chain.withBuffers(values), meanField: meanField, estimator: estimator,
                           fixedPointWeights: fixedPointWeights, coordinates: coordinates)
    }

    public func updatingBuffers(with statistics: [String: [BatchNormStatistics]]) throws -> any NetworkModel {
        guard let updated = try chain.updatingBuffers(with: statistics) as? Sequential else { return self }
        return VariationalNetwork(chain: updated, meanField: meanField, estimator: estimator, fixedPointWeights: fixedPointWeights,
                                  coordinates: coordinates)
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

    /// The chain's initialisation for μ and σ = 1e-3 (`MeanFieldVI`'s default start).
    public func initialParameters(rng: inout RandomGenerator) -> Tensor {
        try! parameters(mean: chain.initialParameters(rng: &rng), standardDeviations: Tensor(shape: [meanField.count], repeating: 1e-3))
    }

    public func callAsFunction(_ x: Variable, parameters psi: Variable, context: inout ForwardContext) throws -> Variable {
        guard psi.value.rank == 1, psi.value.count == layout.count else {
            throw ModelError.parameterCount(got: psi.value.count, expected: layout.count)
        }
        guard context.mode.isStochastic else {
            return try chain(x, parameters: try psi.segment(offset: 0, shape: [meanCount]), context: &context)
        }
        var h = x
        var next = meanField.blocks.startIndex
        for i in chain.layers.indices {
            let entries = chain.layout.entries(ofLayer: i)
            guard next < meanField.blocks.endIndex, meanField.blocks[next].layer == i,
                  let layer = chain.layers[i] as? any GaussianWeightLayer else {
                let weights = try entries.map {
                    fixedPointWeights ? Variable(constant: try psi.value.segment(offset: $0.offset, shape: $0.shape))
                        : try psi.segment(offset: $0.offset, shape: $0.shape)
                }
                h = try chain.forwardLayer(i, h, parameters: weights, context: &context)
                continue
            }
            let means = try entries.map { try psi.segment(offset: $0.offset, shape: $0.shape) }
            let blocks = meanField.blocks[next..<(next + entries.count)]
            next += entries.count
            let second = try blocks.map { try psi.segment(offset: meanCount + $0.sigmaRange.lowerBound, shape: $0.entry.shape) }
            switch coordinates {
            case .standardDeviations:
                h = try layer.forward(h, mean: means, standardDeviation: second, estimator: estimator, context: &context)
            case .layerNoise:
                h = try layer.forward(h, mean: means, layerNoise: second, estimator: estimator, context: &context)
            }
        }
        return h
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
