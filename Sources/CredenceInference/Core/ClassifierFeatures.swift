import CredenceData
import CredenceMetrics
import CredenceNN
import CredenceTensor

/// A network split into its features and its dense classifier, at fixed weights: the features
/// of a data set are computed once (eval mode), and a posterior over the classifier alone is
/// fitted on them as on an ordinary one-layer network (`head`). Last-layer Laplace on a graph
/// of blocks and adversarial posterior distillation of the last layer work this way.
///
/// ```swift
/// let split = try ClassifierFeatures(network: model, parameters: θ)
/// var featureSet = train
/// featureSet.inputs = try split.features(train.inputs)     // [N, 512] for the MLP
/// ```
public struct ClassifierFeatures {
    public let network: any LayeredModel
    public let parameters: Tensor
    /// The classifier as a one-layer chain on the features (`0.weight`, `0.bias`).
    public let head: Sequential
    /// Where the classifier's weights sit in `parameters`.
    public let headRange: Range<Int>
    /// The classifier's weights (a view of `parameters`).
    public let headParameters: Tensor

    public init(network: any NetworkModel, parameters: Tensor) throws {
        let (layered, index, head) = try Self.split(network)
        guard parameters.rank == 1, parameters.count == layered.parameterCount else {
            throw ModelError.parameterCount(got: parameters.count, expected: layered.parameterCount)
        }
        self.network = layered
        self.parameters = parameters
        self.head = head
        headRange = layered.layout.range(ofLayers: index..<(index + 1))
        headParameters = try parameters.segment(offset: headRange.lowerBound, shape: [headRange.count])
    }

    /// The classifier of `network` as a one-layer chain on its features, or the error saying
    /// the network has none — what a method checks before any work, without weights.
    public static func head(of network: any NetworkModel) throws -> Sequential { try split(network).head }

    /// `network` as layers, its classifier's layer index and the classifier as a one-layer chain.
    private static func split(_ network: any NetworkModel) throws -> (layered: any LayeredModel, index: Int, head: Sequential) {
        guard let layered = network as? any LayeredModel, let (index, dense) = layered.classifier else {
            throw InferenceError.incompatibleModel("a posterior over the classifier on the network's features needs a network ending in a dense classifier (its last layer, or a graph's last block); \(network.spec.blocks == nil ? "this chain" : "this graph") does not")
        }
        return (layered, index, try Sequential(ModelSpec(inputShape: [dense.inputs], layers: [dense.spec])))
    }

    /// The features of `inputs`, in chunks of 500 over the worker threads.
    public func features(_ inputs: Tensor) throws -> Tensor {
        try mapRows(inputs, in: rowChunks(inputs.shape.first ?? 0, batchSize: 500)) { _, rows in
            try network.features(rows, parameters: parameters, mode: .eval)
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

/// A posterior over a network's classifier (`head`, fitted on `features`), answering on the
/// network's inputs: last-layer Laplace on a graph, adversarial posterior distillation of the
/// last layer.
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
                                    tensors: archive.tensors.filter { $0.name != "network.parameters" && !$0.name.hasPrefix(PosteriorArchive.bufferPrefix) },
                                    settings: archive.settings.filter { $0.key != Self.headKey })
        part.provenance = archive.provenance
        self.init(head: try restoreHead(part), features: features)
    }

    /// Whether `archive` was written by a `FeatureSpacePosterior`.
    public static func wrote(_ archive: PosteriorArchive) -> Bool { archive.settings[headKey] != nil }
}
