import CredenceData
import CredenceNN
import CredenceTensor
import Foundation

/// What one `credence train` run produced.
public struct TrainingResult: Codable, Sendable {
    public var dataset: String
    public var model: String
    public var parameterCount: Int
    public var trainExamples: Int
    public var epochs: Int
    /// Mean training loss per epoch (on resume: also the epochs done before, read from the checkpoint).
    public var lossHistory: [Double]
    /// Seconds spent training in this call (0 when resuming a completed run).
    public var trainingSeconds: Double
    public var samplesPerSecond: Double
    public var test: EvaluationSummary
    public var checkpoint: String?
    /// Epochs the checkpoint already held when this run resumed from it (nil: not resumed).
    public var resumedFromEpoch: Int?
}

/// Trains a model on a named data set, writes a checkpoint after every epoch (atomically,
/// so a diverged or interrupted run keeps the last good one), and evaluates on the test set.
///
/// Each checkpoint holds the parameters, the model's buffers (batch normalization's running
/// statistics, restored on resume), the optimizer's state (`Checkpoint.optimizerState`)
/// and the metadata `credence.epoch`, `credence.training_options`, `credence.seed` and
/// `credence.loss_history`, all in one file replaced atomically. With `resume`, an existing
/// checkpoint at `checkpointPath` written with the same options (`epochs` may grow, unless
/// the schedule is laid out over the run's length) is continued from its epoch and ends bit
/// for bit where the uninterrupted run would; one that holds every epoch is evaluated
/// without training; options that differ throw `ResumeError`. Without `resume` an existing
/// file is overwritten.
///
/// ```swift
/// var options = TrainingOptions()
/// options.dataset = .fashionMNIST; options.epochs = 10
/// let result = try train(options, checkpointPath: "mlp.safetensors", resume: true)
/// print(result.test.accuracy!)
/// ```
///
/// - Parameters:
///   - objective: the loss to train on (default: cross-entropy with the options' label
///     smoothing, or the Gaussian NLL for regression); another module's objective plugs in
///     here — options with `adversarial` settings need CredenceRobustness's
///     `AdversarialObjective(options)`. A checkpoint records a non-default objective's
///     `identity` and is resumed only under the same one.
///   - dataParallel: the MPI job to train in, data parallel (`Trainer`): every rank calls
///     `train` with the same options; the checkpoint must be on a path every rank reads, and
///     rank 0 alone writes it.
///   - onProgress: training progress, as `Trainer.fit` reports it.
///   - onResume: called once before training when `resume` is set: where the run picks up.
public func train(_ options: TrainingOptions, checkpointPath: String? = nil, resume: Bool = false,
                  objective customObjective: (any TrainingObjective)? = nil, dataParallel: MPIWorld? = nil,
                  onProgress: (TrainingProgress) -> Void = { _ in },
                  onResume: (ResumePoint) -> Void = { _ in }) throws -> TrainingResult {
    try options.validate()
    BLASKernel.warnIfSlowerKernel()
    guard !resume || checkpointPath != nil else {
        throw TrainingError.invalidConfiguration("resuming needs the checkpoint to resume from (--out FILE)")
    }
    let (trainSet, _, testSet) = try loadRunData(options)
    let spec = try options.modelSpec(inputShape: trainSet.inputShape, task: trainSet.task)
    let model = try spec.makeModel()
    // A resumed run derives the same seeds as a fresh one: initialise, then draw the trainer's seed.
    // Ensemble member m > 0 draws initialisation, data order and dropout from its own stream;
    // the data set itself still comes from `seed`, so every member sees the same data.
    var rng = RandomGenerator(seed: options.memberSeed)
    var parameters = model.initialParameters(rng: &rng)
    let batchSize = Swift.min(options.batchSize, trainSet.count)
    let stepsPerEpoch = (trainSet.count + batchSize - 1) / batchSize
    let schedule = options.learningRateSchedule(totalSteps: stepsPerEpoch * options.epochs, stepsPerEpoch: stepsPerEpoch)
    let optimizer = Optimizer.make(options.optimizer, learningRate: schedule, momentum: options.momentum,
                                   weightDecay: options.weightDecay, clipNorm: options.clipNorm,
                                   parameterCount: model.parameterCount)
    let objective = try options.trainingObjective(for: trainSet, adversarial: customObjective)
    var trainer = Trainer(model: model, optimizer: optimizer, configuration: TrainingConfiguration(
        epochs: options.epochs, batchSize: batchSize, seed: rng.next(), objective: objective))
    trainer.dataParallel = dataParallel
    // Data parallel: every rank reads the checkpoint to resume from, rank 0 alone writes it.
    let writesCheckpoints = (dataParallel?.rank ?? 0) == 0
    var metadata = try checkpointMetadata(options)
    metadata[SavedRun.objectiveKey] = customObjective?.identity

    func save(epoch: Int, parameters: Tensor, buffers: [String: Tensor], optimizer: OptimizerState?, history: [Double],
              test: EvaluationSummary? = nil) throws {
        guard let path = checkpointPath, writesCheckpoints else { return }
        var meta = metadata
        meta[SavedRun.epochKey] = String(epoch)
        meta[SavedRun.lossHistoryKey] = String(decoding: try JSONEncoder().encode(history), as: UTF8.self)
        if let a = test?.accuracy { meta["credence.test_accuracy"] = String(a) }
        if let n = test?.negativeLogLikelihood { meta["credence.test_nll"] = String(n) }
        try Checkpoint(spec: spec, parameters: parameters, buffers: buffers, metadata: meta, optimizerState: optimizer).save(to: path)
    }
    func result(history: [Double], seconds: Double, epochsTrained: Int, test: EvaluationSummary,
                resumedFrom: Int?) -> TrainingResult {
        TrainingResult(
            dataset: options.dataset.rawValue, model: options.model.rawValue, parameterCount: model.parameterCount,
            trainExamples: trainSet.count, epochs: options.epochs, lossHistory: history, trainingSeconds: seconds,
            samplesPerSecond: Double(trainSet.count * epochsTrained) / Swift.max(seconds, 1e-9),
            test: test, checkpoint: checkpointPath, resumedFromEpoch: resumedFrom)
    }

    var history: [Double] = []
    var startEpoch = 0
    var resumedFrom: Int?
    if resume, let path = checkpointPath {
        if FileManager.default.fileExists(atPath: path) {
            let saved = try SavedRun(path: path, options: options, spec: spec, stepsPerEpoch: stepsPerEpoch)
            let savedObjective = saved.checkpoint.metadata[SavedRun.objectiveKey]
            guard savedObjective == metadata[SavedRun.objectiveKey] else {
                throw ResumeError.inconsistentState(
                    path: path, reason: "it was trained on the objective '\(savedObjective ?? objective.identity)', this run's is '\(objective.identity)'")
            }
            parameters = saved.checkpoint.parameters
            trainer.model = try model.replacingBuffers(saved.checkpoint.buffers)  // running statistics
            history = saved.lossHistory
            startEpoch = saved.epoch
            resumedFrom = saved.epoch
            let point = ResumePoint(path: path, epoch: saved.epoch, epochs: options.epochs, found: true)
            onResume(point)
            if point.isComplete {
                Parallel.flushSubnormalsToZero()  // as after training, so the figures match the original run's
                let test = try evaluate(model: trainer.model, parameters: parameters, on: testSet)
                if saved.checkpoint.metadata["credence.test_nll"] == nil || saved.optionsJSON != metadata[SavedRun.optionsKey] {
                    try save(epoch: saved.epoch, parameters: parameters, buffers: saved.checkpoint.buffers,
                             optimizer: saved.checkpoint.optimizerState, history: history, test: test)
                }
                return result(history: history, seconds: 0, epochsTrained: 0, test: test, resumedFrom: saved.epoch)
            }
            do {
                try trainer.optimizer.importState(saved.checkpoint.optimizerState!)  // SavedRun checked it exists
            } catch let error as OptimizerStateError {
                throw ResumeError.optimizerState(path: path, error)
            }
        } else {
            onResume(ResumePoint(path: path, epoch: 0, epochs: options.epochs, found: false))
        }
    }

    let start = Date()
    try trainer.fit(parameters: &parameters, data: trainSet, startEpoch: startEpoch, onProgress: onProgress,
                    onEpochEnd: { (state: EpochEndState) in
        history.append(state.loss)
        guard checkpointPath != nil else { return }
        try save(epoch: state.epoch, parameters: state.parameters, buffers: state.buffers, optimizer: state.optimizer.exportState(),
                 history: history)
    })
    let seconds = Date().timeIntervalSince(start)
    // The trainer's model holds the running statistics training left (batch normalization).
    let test = try evaluate(model: trainer.model, parameters: parameters, on: testSet)
    if checkpointPath != nil {  // rewrite with the test figures
        try save(epoch: options.epochs, parameters: parameters, buffers: trainer.model.bufferValues,
                 optimizer: trainer.optimizer.exportState(), history: history, test: test)
    }
    return result(history: history, seconds: seconds, epochsTrained: options.epochs - startEpoch, test: test,
                  resumedFrom: resumedFrom)
}

/// The run's options as checkpoint metadata (so `credence evaluate` knows the data set).
public func checkpointMetadata(_ options: TrainingOptions) throws -> [String: String] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys  // the same run writes the same bytes
    let json = String(decoding: try encoder.encode(options), as: UTF8.self)
    return ["credence.dataset": options.dataset.rawValue, "credence.training_options": json,
            "credence.seed": String(options.seed)]
}

extension TrainingOptions {
    /// The objective the run's networks train on: `custom` (CredenceRobustness's
    /// `AdversarialObjective` when the options ask for adversarial training — it must carry
    /// exactly those settings) or the likelihood's loss (cross-entropy with the label smoothing,
    /// or the Gaussian NLL), inside the options' augmentation. `train` uses it, and so do
    /// methods' own training phases (SWAG's collection, VI), so every phase of a run sees the
    /// same inputs.
    public func trainingObjective(for data: InMemoryDataset, adversarial custom: (any TrainingObjective)?) throws -> any TrainingObjective {
        var objective: any TrainingObjective = custom ?? (data.task.classCount != nil
            ? Objective.crossEntropy(labelSmoothing: labelSmoothing) : Objective.gaussianNegativeLogLikelihood)
        if let adversarial {
            guard data.task.classCount != nil else {
                throw TrainingError.invalidConfiguration("adversarial training is for classifiers; \(dataset.rawValue) is a regression set")
            }
            // The objective's identity is the settings' own, with at most the label smoothing after it.
            let rest = custom.map { $0.identity.hasPrefix(adversarial.identity) ? String($0.identity.dropFirst(adversarial.identity.count)) : "?" }
            guard let rest, rest.isEmpty || rest.hasPrefix(" label-smoothing=") else {
                throw TrainingError.invalidConfiguration(
                    "the options ask for adversarial training (\(adversarial.identity)) but the objective is '\(objective.identity)': pass objective: AdversarialObjective(options) from CredenceRobustness")
            }
        }
        if let augmentation, augmentation != .none {
            guard data.inputShape.count == 3 || augmentation != .cropFlip else {
                throw TrainingError.invalidConfiguration("--augment \(augmentation.rawValue) needs image inputs [C, H, W]; \(dataset.rawValue) has \(data.inputShape)")
            }
            objective = AugmentedObjective(base: objective, augmentation: augmentation,
                                           padding: augmentationPadding ?? Self.defaultAugmentationPadding,
                                           noiseSigma: noiseSigma ?? Self.defaultNoiseSigma)
        }
        return objective
    }

    /// Whether the run trains on anything but the plain likelihood (augmentation or
    /// adversarial training): then a method's own training phase must use `trainingObjective`.
    public var altersTrainingInputs: Bool { (augmentation.map { $0 != .none } ?? false) || adversarial != nil }
}
