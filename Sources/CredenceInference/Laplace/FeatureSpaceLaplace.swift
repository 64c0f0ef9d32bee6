import CredenceData
import CredenceMetrics
import CredenceNN
import CredenceTensor

/// Last-layer Laplace on a network that is not a chain of layers (ResNet-20, DenseNet): the
/// Laplace approximation of the dense classifier on the features the rest of the network
/// computes — laplace-torch's last-layer Laplace with a feature extractor. The features of
/// every example are computed once (eval mode), the classifier is an ordinary one-layer chain
/// on them, and everything Laplace offers for a last layer (Kronecker, full, diagonal and
/// low-rank curvature, the GLM predictive with the probit link, the marginal-likelihood prior)
/// runs unchanged on it. Its samples are the whole network with the classifier's weights drawn.
///
/// ```swift
/// let laplace = try Laplace(subset: .lastLayer, structure: .kronecker, predictive: .glm)
/// let posterior = try laplace.fitOnClassifierFeatures(PointPosterior(model: resnet, parameters: θ, task: .classification),
///                                                     data: train, seed: 0)
/// ```
public struct ClassifierFeatures {
    public let network: BlockNetwork
    public let parameters: Tensor
    /// The classifier as a one-layer chain on the features (`0.weight`, `0.bias`).
    public let head: Sequential
    /// Where the classifier's weights sit in `parameters`.
    public let headRange: Range<Int>
    /// The classifier's weights (a view of `parameters`).
    public let headParameters: Tensor

    public init(network: any NetworkModel, parameters: Tensor) throws {
        guard let graph = network as? BlockNetwork, let (index, dense) = graph.classifier else {
            throw LaplaceError.unsupportedModel("last-layer Laplace on a graph of blocks needs its last block to be a dense classifier")
        }
        guard parameters.rank == 1, parameters.count == graph.parameterCount else {
            throw ModelError.parameterCount(got: parameters.count, expected: graph.parameterCount)
        }
        self.network = graph
        self.parameters = parameters
        head = try Sequential(ModelSpec(inputShape: [dense.inputs], layers: [dense.spec]))
        headRange = graph.layout.range(ofLayers: index..<(index + 1))
        headParameters = try parameters.segment(offset: headRange.lowerBound, shape: [headRange.count])
    }


    /// The features of `inputs`, in chunks of 500 over the worker threads.
    public func features(_ inputs: Tensor) throws -> Tensor {
        try mapRows(inputs, in: rowChunks(inputs.shape.first ?? 0, batchSize: 500)) { _, rows in
            try network.features(rows, parameters: parameters)
        }
    }

    /// The network's parameters with the classifier's replaced by `head`.
    public func parameters(withHead head: Tensor) -> Tensor {
        var theta = parameters
        theta.withUnsafeMutableBufferPointer { t in
            head.withUnsafeBufferPointer { h in (t.baseAddress! + headRange.lowerBound).update(from: h.baseAddress!, count: h.count) }
        }
        return theta
    }
}

extension Laplace {
    /// Fits this last-layer Laplace on the classifier of `point`'s graph network over the
    /// features of `data` (computed once, eval mode).
    public func fitOnClassifierFeatures(_ point: PointPosterior, data: InMemoryDataset, seed: UInt64) throws -> FeatureSpacePosterior {
        let features = try ClassifierFeatures(network: point.model, parameters: point.parameters)
        var featureSet = data
        featureSet.inputs = try features.features(data.inputs)
        let fit = try fitPosterior(self, model: features.head, parameters: features.headParameters, task: point.task, data: featureSet,
                                   epochs: 1, batchSize: 1000, seed: seed, shuffle: false)
        return FeatureSpacePosterior(head: fit.posterior, features: features)
    }
}

/// A posterior over a graph network's classifier (`head`, fitted on `features`), answering on
/// the network's inputs.
public struct FeatureSpacePosterior: Posterior {
    public let head: any Posterior
    public let features: ClassifierFeatures
    public var method: String { head.method }
    public var model: any NetworkModel { features.network }
    public var task: Predictive.Task { head.task }
    /// The head's floats and the rest of the network's weights.
    public var storedFloatCount: Int { head.storedFloatCount + features.parameters.count - features.headRange.count }

    public init(head: any Posterior, features: ClassifierFeatures) {
        self.head = head
        self.features = features
    }

    public func predictive(_ inputs: Tensor, samples: Int, rng: inout RandomGenerator) throws -> Predictive {
        try head.predictive(try features.features(inputs), samples: samples, rng: &rng)
    }

    public func sampleCount(requested: Int) -> Int { head.sampleCount(requested: requested) }

    public func sample(_ index: Int, of count: Int, rng: inout RandomGenerator) throws -> PosteriorSample {
        let drawn = try head.sample(index, of: count, rng: &rng)
        return PosteriorSample(model: features.network, parameters: features.parameters(withHead: drawn.parameters))
    }

    /// The head's archive with the network (spec, buffers, "network.parameters") and the
    /// head's description (setting "featureHead").
    public func archive() throws -> PosteriorArchive {
        let part = try head.archive()
        var archive = PosteriorArchive(method: part.method, model: features.network, task: part.task,
                                       tensors: part.tensors + [("network.parameters", features.parameters)], settings: part.settings)
        archive.settings[Self.headKey] = try PosteriorArchive.settingText(describing: part.spec)
        return archive
    }

    static let headKey = "featureHead"

    /// Rebuilds what `archive()` wrote, the head restored by its method.
    public init(archive: PosteriorArchive, restoreHead: (PosteriorArchive) throws -> any Posterior) throws {
        let network = try archive.model()
        let features = try ClassifierFeatures(network: network, parameters: try archive.tensor("network.parameters"))
        var part = PosteriorArchive(method: archive.method, spec: try archive.modelSpec(setting: Self.headKey), task: archive.task,
                                    tensors: archive.tensors.filter { $0.name != "network.parameters" && !$0.name.hasPrefix("buffer.") },
                                    settings: archive.settings.filter { $0.key != Self.headKey })
        part.provenance = archive.provenance
        self.init(head: try restoreHead(part), features: features)
    }

    /// Whether `archive` was written by a `FeatureSpacePosterior`.
    public static func wrote(_ archive: PosteriorArchive) -> Bool { archive.settings[headKey] != nil }
}
