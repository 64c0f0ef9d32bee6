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
extension Laplace {
    /// Fits this last-layer Laplace on the classifier of `point`'s network over the
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
