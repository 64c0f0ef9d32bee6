import CredenceTensor

/// A mini-batch as the training loop sees it.
public struct TrainingBatch {
    public var inputs: Tensor
    /// Class labels (classification); empty for regression.
    public var labels: [Int32]
    /// Targets [B, D] (regression); nil for classification.
    public var targets: Tensor?

    public init(inputs: Tensor, labels: [Int32] = [], targets: Tensor? = nil) {
        self.inputs = inputs
        self.labels = labels
        self.targets = targets
    }

    public var count: Int { inputs.shape.first ?? 0 }

    /// Examples `range` of this batch (views, no copy of the inputs).
    public func shard(_ range: Range<Int>) throws -> TrainingBatch {
        TrainingBatch(inputs: try inputs.rows(range),
                      labels: labels.isEmpty ? [] : Array(labels[range]),
                      targets: try targets.map { try $0.rows(range) })
    }
}

/// Anything the training loop can draw mini-batches from.
public protocol BatchSource {
    var count: Int { get }
    func trainingBatch(_ indices: [Int]) throws -> TrainingBatch
}

/// What training minimises (mean over the batch).
public enum Objective: Codable, Equatable, Sendable {
    /// Softmax cross-entropy with optional label smoothing.
    case crossEntropy(labelSmoothing: Float)
    /// Heteroscedastic Gaussian NLL: the model outputs D means then D raw variances.
    case gaussianNegativeLogLikelihood
    /// Mean squared error.
    case meanSquaredError

    public var isClassification: Bool { if case .crossEntropy = self { return true } else { return false } }

    /// The loss of `output` on `batch`.
    public func loss(_ output: Variable, batch: TrainingBatch) throws -> Variable {
        switch self {
        case let .crossEntropy(smoothing):
            return try Loss.softmaxCrossEntropy(logits: output, labels: batch.labels, labelSmoothing: smoothing)
        case .gaussianNegativeLogLikelihood:
            guard let targets = batch.targets else { throw TrainingError.invalidConfiguration("Gaussian NLL needs regression targets") }
            let (mean, variance) = try Loss.meanAndVariance(output)
            return try Loss.gaussianNegativeLogLikelihood(mean: mean, variance: variance, targets: targets)
        case .meanSquaredError:
            guard let targets = batch.targets else { throw TrainingError.invalidConfiguration("MSE needs regression targets") }
            return try Loss.meanSquaredError(predictions: output, targets: targets)
        }
    }
}
