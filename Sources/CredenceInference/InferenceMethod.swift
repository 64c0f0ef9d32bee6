import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation

/// An inference method in the shape every method shares (after the `posteriors` library):
/// hyperparameters are the conforming value's properties; `State` is what changes;
/// `initialState` starts it from a model and initial (or MAP) parameters; `update` does
/// one step on a mini-batch — a training step (MAP, MC dropout, ensemble members), an
/// SGD step plus moment collection (SWAG), accumulating curvature (Laplace); and
/// `posterior(from:)` finishes (e.g. tunes the prior) and returns the posterior.
public protocol InferenceMethod {
    associatedtype State
    associatedtype Output: Posterior
    /// Rejects impossible option combinations before any work starts.
    func validate(model: Sequential) throws
    func initialState(model: Sequential, parameters: Tensor, task: Predictive.Task,
                      rng: inout RandomGenerator) throws -> State
    func update(_ state: inout State, batch: TrainingBatch, rng: inout RandomGenerator) throws
    func posterior(from state: State) throws -> Output
}

extension InferenceMethod {
    public func validate(model: Sequential) throws {}
}

/// Progress of `fitPosterior`.
public struct InferenceProgress: Sendable {
    public var epoch: Int
    public var epochs: Int
    public var step: Int
    public var stepsPerEpoch: Int
    public var elapsed: Double
}

/// Runs `method` for `epochs` passes over `data` in shuffled mini-batches (seeded), then
/// returns its posterior and the wall time spent.
public func fitPosterior<M: InferenceMethod>(
    _ method: M, model: Sequential, parameters: Tensor, task: Predictive.Task, data: some BatchSource,
    epochs: Int, batchSize: Int, seed: UInt64, shuffle: Bool = true,
    onProgress: (InferenceProgress) -> Void = { _ in }
) throws -> (posterior: M.Output, seconds: Double) {
    guard epochs >= 0, batchSize >= 1 else {
        throw InferenceError.invalidOption("epochs must be ≥ 0 and batch size ≥ 1 (got \(epochs), \(batchSize))")
    }
    guard data.count > 0 else { throw TrainingError.emptyDataset }
    try method.validate(model: model)
    Parallel.flushSubnormalsToZero()
    let start = Date()
    var rng = RandomGenerator(seed: seed)
    var state = try method.initialState(model: model, parameters: parameters, task: task, rng: &rng)
    let steps = (data.count + batchSize - 1) / batchSize
    var lastReport = Date.distantPast
    for epoch in 0..<epochs {
        let order = shuffle ? rng.permutation(data.count) : Array(0..<data.count)
        for step in 0..<steps {
            let batch = try data.trainingBatch(Array(order[(step * batchSize)..<Swift.min((step + 1) * batchSize, data.count)]))
            try method.update(&state, batch: batch, rng: &rng)
            if Date().timeIntervalSince(lastReport) > 0.5 || step == steps - 1 {
                lastReport = Date()
                onProgress(InferenceProgress(epoch: epoch + 1, epochs: epochs, step: step + 1, stepsPerEpoch: steps,
                                             elapsed: lastReport.timeIntervalSince(start)))
            }
        }
    }
    let posterior = try method.posterior(from: state)
    return (posterior, Date().timeIntervalSince(start))
}

/// Plain mini-batch training as an inference method: MAP (weight decay = Gaussian prior)
/// or, for a model with dropout, MC dropout (`monteCarloDropout: true`).
public struct MAPTraining: InferenceMethod {
    public var optimizer: OptimizerKind = .adam
    public var learningRate: LearningRateSchedule = .constant(1e-3)
    public var weightDecay: Float = 0
    public var objective: Objective?
    /// Produce an `MCDropoutPosterior` (the model must contain dropout).
    public var monteCarloDropout = false

    public init(optimizer: OptimizerKind = .adam, learningRate: LearningRateSchedule = .constant(1e-3),
                weightDecay: Float = 0, monteCarloDropout: Bool = false) {
        self.optimizer = optimizer
        self.learningRate = learningRate
        self.weightDecay = weightDecay
        self.monteCarloDropout = monteCarloDropout
    }

    public struct State {
        public var model: Sequential
        public var parameters: Tensor
        public var task: Predictive.Task
        /// Holds the model, the objective and the optimizer (with its state).
        public var trainer: Trainer
    }

    public func validate(model: Sequential) throws {
        if monteCarloDropout && model.firstStochasticLayer == nil {
            throw InferenceError.invalidOption("MC dropout needs a model with dropout layers (--dropout P with P > 0)")
        }
    }

    public func initialState(model: Sequential, parameters: Tensor, task: Predictive.Task,
                             rng: inout RandomGenerator) throws -> State {
        let objective = self.objective ?? (task == .classification ? .crossEntropy(labelSmoothing: 0) : .gaussianNegativeLogLikelihood)
        let opt = Optimizer.make(optimizer, learningRate: learningRate, weightDecay: weightDecay, parameterCount: model.parameterCount)
        let trainer = Trainer(model: model, optimizer: opt, configuration: TrainingConfiguration(epochs: 1, objective: objective))
        return State(model: model, parameters: parameters, task: task, trainer: trainer)
    }

    public func update(_ state: inout State, batch: TrainingBatch, rng: inout RandomGenerator) throws {
        let (loss, _, parts) = try state.trainer.lossAndGradientParts(parameters: state.parameters, batch: batch, rng: &rng)
        guard loss.isFinite else { throw TrainingError.nonFiniteLoss(epoch: 0, step: state.trainer.optimizer.step + 1, value: loss) }
        state.trainer.optimizer.update(&state.parameters, gradientParts: parts)
    }

    public func posterior(from state: State) throws -> AnyPosterior {
        monteCarloDropout
            ? AnyPosterior(try MCDropoutPosterior(model: state.model, parameters: state.parameters, task: state.task))
            : AnyPosterior(try PointPosterior(model: state.model, parameters: state.parameters, task: state.task))
    }
}

/// A type-erased posterior (for methods whose output type depends on a setting).
public struct AnyPosterior: Posterior {
    public let base: any Posterior
    public init(_ base: any Posterior) { self.base = base }
    public var method: String { base.method }
    public var model: Sequential { base.model }
    public var task: Predictive.Task { base.task }
    public var storedFloatCount: Int { base.storedFloatCount }
    public func predictive(_ inputs: Tensor, samples: Int, rng: inout RandomGenerator) throws -> Predictive {
        try base.predictive(inputs, samples: samples, rng: &rng)
    }
    public func archive() throws -> PosteriorArchive { try base.archive() }
    public func sampleCount(requested: Int) -> Int { base.sampleCount(requested: requested) }
    public func sample(_ index: Int, of count: Int, rng: inout RandomGenerator) throws -> PosteriorSample {
        try base.sample(index, of: count, rng: &rng)
    }
}
