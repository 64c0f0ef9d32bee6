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
    /// Mean training loss per epoch.
    public var lossHistory: [Double]
    public var trainingSeconds: Double
    public var samplesPerSecond: Double
    public var test: EvaluationSummary
    public var checkpoint: String?
}

/// Trains a model on a named data set, writes a checkpoint after every epoch (atomically,
/// so a diverged or interrupted run keeps the last good one), and evaluates on the test set.
///
/// ```swift
/// var options = TrainingOptions()
/// options.dataset = .fashionMNIST; options.epochs = 10
/// let result = try train(options, checkpointPath: "mlp.safetensors")
/// print(result.test.accuracy!)
/// ```
public func train(_ options: TrainingOptions, checkpointPath: String? = nil,
                  onProgress: (TrainingProgress) -> Void = { _ in }) throws -> TrainingResult {
    try options.validate()
    let (trainSet, testSet) = try loadDataset(options.dataset, options: DataOptions(
        directory: options.dataDirectory, seed: options.seed, trainLimit: options.trainLimit))
    let spec = try options.modelSpec(inputShape: trainSet.inputShape, task: trainSet.task)
    let model = try Sequential(spec)
    var rng = RandomGenerator(seed: options.seed)
    var parameters = model.initialParameters(rng: &rng)
    let batchSize = Swift.min(options.batchSize, trainSet.count)
    let stepsPerEpoch = (trainSet.count + batchSize - 1) / batchSize
    let schedule = options.learningRateSchedule(totalSteps: stepsPerEpoch * options.epochs, stepsPerEpoch: stepsPerEpoch)
    let optimizer = Optimizer.make(options.optimizer, learningRate: schedule, momentum: options.momentum,
                                   weightDecay: options.weightDecay, clipNorm: options.clipNorm,
                                   parameterCount: model.parameterCount)
    let objective: Objective = trainSet.task.classCount != nil
        ? .crossEntropy(labelSmoothing: options.labelSmoothing) : .gaussianNegativeLogLikelihood
    var trainer = Trainer(model: model, optimizer: optimizer, configuration: TrainingConfiguration(
        epochs: options.epochs, batchSize: batchSize, seed: rng.next(), objective: objective))
    let metadata = try checkpointMetadata(options)

    let start = Date()
    let history = try trainer.fit(parameters: &parameters, data: trainSet, onProgress: onProgress) { epoch, params in
        guard let path = checkpointPath else { return }
        var meta = metadata
        meta["credence.epoch"] = String(epoch)
        try Checkpoint(spec: spec, parameters: params, metadata: meta).save(to: path)
    }
    let seconds = Date().timeIntervalSince(start)
    let test = try evaluate(model: model, parameters: parameters, on: testSet)
    if let path = checkpointPath {  // rewrite with the test figures
        var meta = metadata
        meta["credence.epoch"] = String(options.epochs)
        if let a = test.accuracy { meta["credence.test_accuracy"] = String(a) }
        if let n = test.negativeLogLikelihood { meta["credence.test_nll"] = String(n) }
        try Checkpoint(spec: spec, parameters: parameters, metadata: meta).save(to: path)
    }
    return TrainingResult(
        dataset: options.dataset.rawValue, model: options.model.rawValue, parameterCount: model.parameterCount,
        trainExamples: trainSet.count, epochs: options.epochs, lossHistory: history, trainingSeconds: seconds,
        samplesPerSecond: Double(trainSet.count * options.epochs) / Swift.max(seconds, 1e-9),
        test: test, checkpoint: checkpointPath)
}

/// The run's options as checkpoint metadata (so `credence evaluate` knows the data set).
func checkpointMetadata(_ options: TrainingOptions) throws -> [String: String] {
    let json = String(decoding: try JSONEncoder().encode(options), as: UTF8.self)
    return ["credence.dataset": options.dataset.rawValue, "credence.training_options": json,
            "credence.seed": String(options.seed)]
}

/// Loads a checkpoint and evaluates it on the test split of a data set (by default the
/// one it was trained on, read from its metadata).
public func evaluateCheckpoint(at path: String, dataset: DatasetName?, dataDirectory: String? = nil) throws -> EvaluationSummary {
    let checkpoint = try Checkpoint.load(from: path)
    guard let name = dataset ?? checkpoint.metadata["credence.dataset"].flatMap(DatasetName.init(rawValue:)) else {
        throw TrainingError.invalidConfiguration("\(path) does not say which data set it was trained on; pass --dataset")
    }
    let seed = checkpoint.metadata["credence.seed"].flatMap(UInt64.init) ?? 0  // synthetic test sets are drawn from the seed
    let (_, testSet) = try loadDataset(name, options: DataOptions(directory: dataDirectory, seed: seed))
    let model = try Sequential(checkpoint.spec)
    guard Array(model.spec.inputShape) == testSet.inputShape else {
        throw ModelError.inputShape(layer: "checkpoint \(path)", got: testSet.inputShape,
                                    expected: "\(model.spec.inputShape) — the model was trained on other data")
    }
    return try evaluate(model: model, parameters: checkpoint.parameters, on: testSet)
}
