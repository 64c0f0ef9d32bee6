import CredenceTensor

/// A mini-batch as the training loop sees it.
public struct TrainingBatch {
    public var inputs: Tensor
    /// Class labels (classification); empty for regression.
    public var labels: [Int32]
    /// Targets [B, D] (regression); nil for classification.
    public var targets: Tensor?
    /// Epochs of training done before this batch, fractional within the epoch (batch 5 of 10
    /// in epoch 3: 2.4); set by `EpochLoop`, nil outside a training loop. Objectives with a
    /// schedule of their own read it (adversarial training's ε warm-up).
    public var epochsDone: Double?

    public init(inputs: Tensor, labels: [Int32] = [], targets: Tensor? = nil, epochsDone: Double? = nil) {
        self.inputs = inputs
        self.labels = labels
        self.targets = targets
        self.epochsDone = epochsDone
    }

    public var count: Int { inputs.shape.first ?? 0 }

    /// Examples `range` of this batch (views, no copy of the inputs).
    public func shard(_ range: Range<Int>) throws -> TrainingBatch {
        TrainingBatch(inputs: try inputs.rows(range),
                      labels: labels.isEmpty ? [] : Array(labels[range]),
                      targets: try targets.map { try $0.rows(range) }, epochsDone: epochsDone)
    }
}

/// Anything the training loop can draw mini-batches from.
public protocol BatchSource {
    var count: Int { get }
    func trainingBatch(_ indices: [Int]) throws -> TrainingBatch
}

/// What a training step minimises, open for extension: the built-in losses are `Objective`;
/// another module adds its own by conforming (the robustness module's adversarial training
/// runs an attack on the inputs inside `loss`, then the loss on the perturbed batch). Every
/// trained method takes one (`Trainer`, `MAPTraining`, `SWAGCollection`, `train(objective:)`).
public protocol TrainingObjective: Sendable {
    /// Names the objective and its settings, e.g. "cross-entropy" or "pgd-at eps=0.1 steps=7";
    /// checkpoints record it, so a run is never resumed under another objective.
    var identity: String { get }
    /// Whether the outputs are class logits (training accuracy is counted).
    var isClassification: Bool { get }
    /// The mean loss over `batch` at `parameters` (on the tape, so ∇θ flows), and the
    /// model's outputs on the batch's clean inputs (for the training accuracy). `context`
    /// carries the step's randomness (dropout masks; an attack's random start).
    func loss(model: any NetworkModel, parameters: Variable, batch: TrainingBatch,
              context: inout ForwardContext) throws -> (loss: Variable, outputs: Tensor)
}

/// The built-in losses (mean over the batch).
public enum Objective: Codable, Equatable, Sendable, TrainingObjective {
    /// Softmax cross-entropy with optional label smoothing.
    case crossEntropy(labelSmoothing: Float)
    /// Heteroscedastic Gaussian NLL: the model outputs D means then D raw variances.
    case gaussianNegativeLogLikelihood
    /// Mean squared error.
    case meanSquaredError

    public var isClassification: Bool { if case .crossEntropy = self { return true } else { return false } }

    public var identity: String {
        switch self {
        case let .crossEntropy(smoothing): return smoothing == 0 ? "cross-entropy" : "cross-entropy label-smoothing=\(smoothing)"
        case .gaussianNegativeLogLikelihood: return "gaussian-nll"
        case .meanSquaredError: return "mse"
        }
    }

    /// The model's outputs on the batch and this loss of them.
    public func loss(model: any NetworkModel, parameters: Variable, batch: TrainingBatch,
                     context: inout ForwardContext) throws -> (loss: Variable, outputs: Tensor) {
        let output = try model(Variable(constant: batch.inputs), parameters: parameters, context: &context)
        return (try loss(output, batch: batch), output.value)
    }

    /// The loss of `output` on `batch`.
    public func loss(_ output: Variable, batch: TrainingBatch) throws -> Variable {
        switch self {
        case let .crossEntropy(smoothing):
            return try Loss.softmaxCrossEntropy(logits: output, labels: batch.labels, labelSmoothing: smoothing)
        case .gaussianNegativeLogLikelihood:
            guard let targets = batch.targets else { throw TrainingError.invalidConfiguration("Gaussian NLL needs regression targets") }
            return try Loss.gaussianNegativeLogLikelihood(output: output, targets: targets)
        case .meanSquaredError:
            guard let targets = batch.targets else { throw TrainingError.invalidConfiguration("MSE needs regression targets") }
            return try Loss.meanSquaredError(predictions: output, targets: targets)
        }
    }
}
