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
    func validate(model: any NetworkModel) throws
    func initialState(model: any NetworkModel, parameters: Tensor, task: Predictive.Task,
                      rng: inout RandomGenerator) throws -> State
    /// One step; reports the batch's loss (and correct predictions when it counts them).
    /// A non-finite loss throws (`EpochLoop.requireFinite`) before the state changes.
    func update(_ state: inout State, batch: TrainingBatch, rng: inout RandomGenerator) throws -> StepReport
    func posterior(from state: State) throws -> Output
}

extension InferenceMethod {
    public func validate(model: any NetworkModel) throws {}
}

/// Runs `method` for `epochs` passes over `data` in mini-batches through `EpochLoop` (its
/// seeding and shuffling rule), then returns its posterior and the wall time spent.
public func fitPosterior<M: InferenceMethod>(
    _ method: M, model: any NetworkModel, parameters: Tensor, task: Predictive.Task, data: some BatchSource,
    epochs: Int, batchSize: Int, seed: UInt64, shuffle: Bool = true,
    onProgress: (TrainingProgress) -> Void = { _ in }
) throws -> (posterior: M.Output, seconds: Double) {
    try runPhase(method, model: model, parameters: parameters, task: task, data: data, epochs: epochs, batchSize: batchSize,
                 seed: seed, shuffle: shuffle, checkpoint: nil, onProgress: onProgress)
}

/// `fitPosterior` that survives a kill: after every epoch the method's state, the epoch and
/// the seconds spent so far are written atomically to `checkpoint.path` (see
/// `PhaseCheckpoint`); with `checkpoint.resume`, a file there written by the same run (same
/// method settings — or the same `checkpoint.identity` —, batch size, seed, data size and
/// starting parameters; `epochs` may grow)
/// is continued from its epoch and ends bit for bit where the uninterrupted run would, and one
/// that holds every epoch gives its posterior without training. The seconds returned count
/// every attempt.
public func fitPosterior<M: InferenceMethod>(
    _ method: M, model: any NetworkModel, parameters: Tensor, task: Predictive.Task, data: some BatchSource,
    epochs: Int, batchSize: Int, seed: UInt64, shuffle: Bool = true, checkpoint: PhaseCheckpoint?,
    onProgress: (TrainingProgress) -> Void = { _ in }
) throws -> (posterior: M.Output, seconds: Double) where M.State: PersistentState {
    try runPhase(method, model: model, parameters: parameters, task: task, data: data, epochs: epochs, batchSize: batchSize,
                 seed: seed, shuffle: shuffle,
                 checkpoint: checkpoint.map { file in
                     PhaseStore(file: file, save: { state, out in try state.save(into: &out) },
                                restore: { state, saved, path in try state.restore(from: saved, path: path) })
                 }, onProgress: onProgress)
}

/// How `runPhase` keeps a state type on disk (nil: it does not).
private struct PhaseStore<State> {
    var file: PhaseCheckpoint
    var save: (State, inout SafeTensorsFile) throws -> Void
    var restore: (inout State, SafeTensorsFile, String) throws -> Void
}

private func runPhase<M: InferenceMethod>(
    _ method: M, model: any NetworkModel, parameters: Tensor, task: Predictive.Task, data: some BatchSource,
    epochs: Int, batchSize: Int, seed: UInt64, shuffle: Bool, checkpoint store: PhaseStore<M.State>?,
    onProgress: (TrainingProgress) -> Void
) throws -> (posterior: M.Output, seconds: Double) {
    try method.validate(model: model)
    BLASKernel.warnIfSlowerKernel()
    let start = Date()
    // The state's own randomness (none of today's methods draw any) is apart from the epochs' streams.
    var initialRNG = RandomGenerator(seed: seed ^ 0x1A17_5EED)
    var state = try method.initialState(model: model, parameters: parameters, task: task, rng: &initialRNG)
    let loop = EpochLoop(epochs: epochs, batchSize: batchSize, seed: seed, shuffle: shuffle)
    var startEpoch = 0, earlierSeconds = 0.0
    let identity = store?.file.identity ?? "\(method)"
    let fingerprint = "\(identity) batch \(batchSize) seed \(seed) shuffle \(shuffle) examples \(data.count) start \(checksum(parameters))"
    if let store, store.file.resume, FileManager.default.fileExists(atPath: store.file.path) {
        let path = store.file.path
        let saved = try readingResumeFile(path) { try SafeTensorsFile(contentsOf: path) }
        guard saved.metadata[PhaseCheckpoint.fingerprintKey] == fingerprint else {
            throw ResumeError.inconsistentState(path: path, reason: "it holds the state of another run (its settings, seed, data or starting network differ, or another version of Credence wrote it); delete it to start this phase over")
        }
        guard let epoch = saved.metadata[PhaseCheckpoint.epochKey].flatMap(Int.init), epoch >= 0, epoch <= epochs else {
            throw ResumeError.inconsistentState(path: path, reason: "it records \(saved.metadata[PhaseCheckpoint.epochKey] ?? "no") epochs done, but this run has \(epochs)")
        }
        try store.restore(&state, saved, path)
        startEpoch = epoch
        earlierSeconds = saved.metadata[PhaseCheckpoint.secondsKey].flatMap(Double.init) ?? 0
    }
    try loop.run(data: data, startEpoch: startEpoch, step: { batch, rng in
        try method.update(&state, batch: batch, rng: &rng)
    }, onProgress: onProgress, onEpochEnd: { epoch, _ in
        guard let store else { return }
        var file = SafeTensorsFile(metadata: [PhaseCheckpoint.fingerprintKey: fingerprint, PhaseCheckpoint.epochKey: String(epoch),
                                              PhaseCheckpoint.secondsKey: String(earlierSeconds + Date().timeIntervalSince(start))])
        try store.save(state, &file)
        try file.write(to: store.file.path)
    })
    let posterior = try method.posterior(from: state)
    return (posterior, earlierSeconds + Date().timeIntervalSince(start))
}

/// FNV-1a over a tensor's bits: tells two starting networks apart (phase checkpoints, HMC chains).
func checksum(_ tensor: Tensor) -> String {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    tensor.withUnsafeBufferPointer { values in
        for v in values { hash = (hash ^ UInt64(v.bitPattern)) &* 0x0000_0100_0000_01B3 }
    }
    return String(hash, radix: 16)
}

extension RandomGenerator {
    /// The generator for step `counter` of stream `stream` under `seed` (a SplitMix hash of the
    /// three): a step's randomness that depends on nothing drawn before it (HMC's iterations,
    /// a distillation's lessons), so it never shifts another stream's draws.
    static func counterBased(seed: UInt64, stream: Int, counter: Int) -> RandomGenerator {
        var x = seed ^ (UInt64(stream + 1) &* 0x9E37_79B9_7F4A_7C15)
        x = (x ^ (x >> 31)) &* 0xBF58_476D_1CE4_E5B9 ^ (UInt64(counter) &* 0xD1B5_4A32_D192_ED03)
        return RandomGenerator(seed: x)
    }
}

/// Plain mini-batch training as an inference method: MAP (weight decay = Gaussian prior)
/// or, for a model with dropout, MC dropout (`monteCarloDropout: true`).
public struct MAPTraining: InferenceMethod {
    public var optimizer: OptimizerKind = .adam
    public var learningRate: LearningRateSchedule = .constant(1e-3)
    public var weightDecay: Float = 0
    public var objective: (any TrainingObjective)?
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
        public var model: any NetworkModel
        public var parameters: Tensor
        public var task: Predictive.Task
        /// Holds the model, the objective and the optimizer (with its state).
        public var trainer: Trainer
    }

    public func validate(model: any NetworkModel) throws {
        if monteCarloDropout && !model.isStochastic {
            throw InferenceError.invalidOption("MC dropout needs a model with dropout layers (--dropout P with P > 0)")
        }
    }

    public func initialState(model: any NetworkModel, parameters: Tensor, task: Predictive.Task,
                             rng: inout RandomGenerator) throws -> State {
        let objective = self.objective ?? Objective.default(for: task)
        let opt = Optimizer.make(optimizer, learningRate: learningRate, weightDecay: weightDecay, parameterCount: model.parameterCount)
        let trainer = Trainer(model: model, optimizer: opt, configuration: TrainingConfiguration(epochs: 1, objective: objective))
        return State(model: model, parameters: parameters, task: task, trainer: trainer)
    }

    public func update(_ state: inout State, batch: TrainingBatch, rng: inout RandomGenerator) throws -> StepReport {
        let (loss, correct, parts) = try state.trainer.lossAndGradientParts(parameters: state.parameters, batch: batch, rng: &rng)
        try EpochLoop.requireFinite(loss)
        state.trainer.update(&state.parameters, gradientParts: parts)
        return StepReport(loss: loss, correct: state.task == .classification ? correct : nil)
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
    public var model: any NetworkModel { base.model }
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

extension MAPTraining.State: PersistentState {
    /// The parameters and the optimizer's state.
    public func save(into file: inout SafeTensorsFile) throws {
        file["parameters"] = parameters
        try trainer.optimizer.exportState().store(in: &file, path: "the training state")
    }

    public mutating func restore(from file: SafeTensorsFile, path: String) throws {
        parameters = try file.required("parameters", shape: [model.parameterCount], path: path)
        try trainer.optimizer.restore(from: file, path: path)
    }
}

extension Objective {
    /// The likelihood's loss for a task: cross-entropy for classification, the heteroscedastic
    /// Gaussian NLL for regression.
    public static func `default`(for task: Predictive.Task) -> Objective {
        task == .classification ? .crossEntropy(labelSmoothing: 0) : .gaussianNegativeLogLikelihood
    }
}
