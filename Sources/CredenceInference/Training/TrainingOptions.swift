import CredenceData
import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation

/// Ready-made architectures selectable by name.
public enum ModelKind: String, CaseIterable, Codable, Sendable {
    /// Multilayer perceptron (widths from `--hidden`).
    case mlp
    /// conv(32)–pool–conv(64)–pool–dense(128) for 28×28 images.
    case cnn
    /// LeNet-5 with ReLU and max pooling (61,706 parameters for 28×28×1, 10 classes).
    case lenet5
    /// ResNet-20, He et al.'s CIFAR ResNet with batch normalization and projection shortcuts (272 k parameters).
    case resnet20
    /// DenseNet-BC, depth 40, growth rate 12, with batch normalization (176 k parameters).
    case densenet
}

/// Learning-rate schedules selectable by name (`--warmup STEPS` can precede any of them).
public enum ScheduleKind: String, CaseIterable, Codable, Sendable {
    /// The base rate throughout.
    case constant
    /// Cosine decay to 0 over the whole run.
    case cosine
    /// ×0.1 after each third of the run.
    case step
    /// Cosine decay to 0 restarted every epoch.
    case cyclical
}

/// How a regression network models the noise of its targets.
public enum RegressionNoise: String, CaseIterable, Codable, Sendable {
    /// A variance for every input: the network's last layer outputs D means and D raw variances.
    case heteroscedastic
    /// One learned variance per output for all inputs: a `HomoscedasticNoise` head after the
    /// means (the noise level is a parameter, sampled with the weights by HMC and SG-MCMC).
    case homoscedastic
}

/// Everything `credence train` needs; every field has the CLI's default.
public struct TrainingOptions: Codable, Sendable {
    public var dataset: DatasetName = .twoMoons
    public var model: ModelKind = .mlp
    /// Hidden widths of the MLP; nil = 512,512 for images, 64,64 otherwise.
    public var hidden: [Int]?
    public var dropout: Float = 0
    public var epochs = 10
    public var batchSize = 128
    public var learningRate: Float = 1e-3
    public var optimizer: OptimizerKind = .adam
    public var momentum: Float = 0.9
    public var weightDecay: Float = 0
    public var schedule: ScheduleKind = .constant
    public var warmupSteps = 0
    public var clipNorm: Float?
    public var labelSmoothing: Float = 0
    /// Random augmentation of the training images; nil (as `.none`) leaves it out of the
    /// options a checkpoint records, so runs from before it existed still resume.
    public var augmentation: Augmentation?
    /// The crop's zero padding in pixels (`crop-flip`); nil: `defaultAugmentationPadding`.
    public var augmentationPadding: Int?
    public static let defaultAugmentationPadding = 2
    /// σ of `gaussian-noise` augmentation; nil: `defaultNoiseSigma`.
    public var noiseSigma: Float?
    public static let defaultNoiseSigma: Float = 0.25
    /// Adversarial training (the inputs each step trains on are an attack's); nil: none.
    /// Classification only; its objective is CredenceRobustness's `AdversarialObjective`.
    public var adversarial: AdversarialTraining?
    public var seed: UInt64 = 0
    public var dataDirectory: String?
    /// Keep only the first N training examples (smoke runs).
    public var trainLimit: Int?
    /// Training examples held out of training (a seeded random subset) for post-hoc
    /// calibration such as temperature scaling (`credence fit --method temperature`).
    public var holdout = 0
    /// Index of this run as a deep-ensemble member (0 for a single model): members differ in
    /// initialisation, data order and dropout noise, not in the data set drawn from `seed`.
    public var ensembleMember = 0

    /// The seed of this member's own randomness (initialisation, data order, noise): `seed`
    /// for member 0, else `seed` mixed with the member's index.
    public var memberSeed: UInt64 {
        ensembleMember == 0 ? seed : seed ^ (0x9E37_79B9_7F4A_7C15 &* UInt64(ensembleMember))
    }

    /// The seed of a method's phase after training (SWAG collection, a chain), apart from
    /// training's by `salt` and from the other members'.
    public func phaseSeed(salt: UInt64) -> UInt64 { memberSeed ^ salt }
    /// Classes left out of training and testing (the rest relabelled 0, 1, …); their test
    /// examples are the OOD set `held-out-classes`. Nil: every class.
    public var heldOutClasses: [Int]?
    /// The noise model of a regression network; nil (as `.heteroscedastic`) leaves it out of
    /// the options a checkpoint records, so earlier runs still resume.
    public var regressionNoise: RegressionNoise?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case dataset, model, hidden, dropout, epochs, batchSize, learningRate, optimizer, momentum, weightDecay, schedule, warmupSteps, clipNorm, labelSmoothing, augmentation, augmentationPadding, noiseSigma, adversarial, seed, dataDirectory, trainLimit, holdout, ensembleMember, heldOutClasses, regressionNoise
    }

    /// Missing keys take their defaults, so options written by an older Credence (before a
    /// field existed) still decode — a field's default is the behaviour from before it existed.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        dataset = try c.decodeIfPresent(DatasetName.self, forKey: .dataset) ?? dataset
        model = try c.decodeIfPresent(ModelKind.self, forKey: .model) ?? model
        hidden = try c.decodeIfPresent([Int].self, forKey: .hidden)
        dropout = try c.decodeIfPresent(Float.self, forKey: .dropout) ?? dropout
        epochs = try c.decodeIfPresent(Int.self, forKey: .epochs) ?? epochs
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? batchSize
        learningRate = try c.decodeIfPresent(Float.self, forKey: .learningRate) ?? learningRate
        optimizer = try c.decodeIfPresent(OptimizerKind.self, forKey: .optimizer) ?? optimizer
        momentum = try c.decodeIfPresent(Float.self, forKey: .momentum) ?? momentum
        weightDecay = try c.decodeIfPresent(Float.self, forKey: .weightDecay) ?? weightDecay
        schedule = try c.decodeIfPresent(ScheduleKind.self, forKey: .schedule) ?? schedule
        warmupSteps = try c.decodeIfPresent(Int.self, forKey: .warmupSteps) ?? warmupSteps
        clipNorm = try c.decodeIfPresent(Float.self, forKey: .clipNorm)
        labelSmoothing = try c.decodeIfPresent(Float.self, forKey: .labelSmoothing) ?? labelSmoothing
        augmentation = try c.decodeIfPresent(Augmentation.self, forKey: .augmentation)
        augmentationPadding = try c.decodeIfPresent(Int.self, forKey: .augmentationPadding)
        noiseSigma = try c.decodeIfPresent(Float.self, forKey: .noiseSigma)
        adversarial = try c.decodeIfPresent(AdversarialTraining.self, forKey: .adversarial)
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? seed
        dataDirectory = try c.decodeIfPresent(String.self, forKey: .dataDirectory)
        trainLimit = try c.decodeIfPresent(Int.self, forKey: .trainLimit)
        holdout = try c.decodeIfPresent(Int.self, forKey: .holdout) ?? holdout
        ensembleMember = try c.decodeIfPresent(Int.self, forKey: .ensembleMember) ?? ensembleMember
        heldOutClasses = try c.decodeIfPresent([Int].self, forKey: .heldOutClasses)
        regressionNoise = try c.decodeIfPresent(RegressionNoise.self, forKey: .regressionNoise)
    }

    /// How the run's data is loaded (files, seed, limit, held-out classes).
    public var dataOptions: DataOptions {
        DataOptions(directory: dataDirectory, seed: seed, trainLimit: trainLimit, heldOutClasses: heldOutClasses ?? [])
    }

    public func validate() throws {
        func bad(_ m: String) -> TrainingError { .invalidConfiguration(m) }
        guard epochs >= 1 else { throw bad("--epochs must be ≥ 1, got \(epochs)") }
        guard batchSize >= 1 else { throw bad("--batch-size must be ≥ 1, got \(batchSize)") }
        guard learningRate > 0, learningRate.isFinite else { throw bad("--lr must be a positive number, got \(learningRate)") }
        guard dropout >= 0, dropout < 1 else { throw bad("--dropout must be in [0, 1), got \(dropout)") }
        guard labelSmoothing >= 0, labelSmoothing < 1 else { throw bad("--label-smoothing must be in [0, 1), got \(labelSmoothing)") }
        if let p = augmentationPadding, p < 0 { throw bad("--augment-padding must be ≥ 0, got \(p)") }
        if let sigma = noiseSigma {
            guard sigma > 0, sigma.isFinite else { throw bad("--noise-sigma must be > 0, got \(sigma)") }
            guard augmentation == .gaussianNoise else { throw bad("--noise-sigma is the σ of --augment gaussian-noise; add that option") }
        }
        try adversarial?.validate()
        guard weightDecay >= 0 else { throw bad("--weight-decay must be ≥ 0, got \(weightDecay)") }
        if let c = clipNorm, !(c > 0) { throw bad("--clip-norm must be > 0, got \(c)") }
        if let h = hidden, h.isEmpty || h.contains(where: { $0 < 1 }) { throw bad("--hidden needs positive widths, got \(h)") }
        if let n = trainLimit, n < 1 { throw bad("--train-limit must be ≥ 1, got \(n)") }
        guard holdout >= 0 else { throw bad("--holdout must be ≥ 0, got \(holdout)") }
        guard ensembleMember >= 0 else { throw bad("ensemble member index must be ≥ 0, got \(ensembleMember)") }
        if let classes = heldOutClasses, classes.isEmpty || classes.contains(where: { $0 < 0 }) || Set(classes).count != classes.count {
            throw bad("--held-out-classes needs distinct class indices ≥ 0, got \(classes)")
        }
    }

    /// The model this run trains for a data set with the given input shape and task.
    public func modelSpec(inputShape: [Int], task: PredictionTask) throws -> ModelSpec {
        let outputs = task.classCount ?? 2 * task.outputCount  // regression: mean and variance per output
        if regressionNoise == .homoscedastic {
            guard task.classCount == nil else {
                throw TrainingError.invalidConfiguration("--regression-noise is for regression data sets; \(dataset.rawValue) is a classification set")
            }
            guard model == .mlp else {
                throw TrainingError.invalidConfiguration("--regression-noise homoscedastic is built for --model mlp, not \(model.rawValue)")
            }
        }
        switch model {
        case .mlp:
            let widths = hidden ?? (inputShape.count == 3 ? [512, 512] : [64, 64])
            guard regressionNoise == .homoscedastic else {
                return .mlp(inputShape: inputShape, hidden: widths, outputs: outputs, dropout: dropout)
            }
            var spec = ModelSpec.mlp(inputShape: inputShape, hidden: widths, outputs: task.outputCount, dropout: dropout)
            spec.layers.append(.homoscedasticNoise(outputs: task.outputCount))
            return spec
        case .cnn:
            guard inputShape.count == 3, inputShape[1] % 4 == 0, inputShape[2] % 4 == 0 else {
                throw TrainingError.invalidConfiguration("--model cnn needs image inputs [C, H, W] with H, W divisible by 4; \(dataset.rawValue) has \(inputShape). Use --model mlp.")
            }
            return .smallCNN(inputShape: inputShape, outputs: outputs, dropout: dropout)
        case .lenet5: return try imageModel { try .lenet5(inputShape: inputShape, outputs: outputs, dropout: dropout) }
        case .resnet20: return try imageModel { try .resnet20(inputShape: inputShape, outputs: outputs, dropout: dropout) }
        case .densenet: return try imageModel { try .densenet(inputShape: inputShape, outputs: outputs, dropout: dropout) }
        }

        /// A convolutional architecture for image inputs, its errors in the CLI's words.
        func imageModel(_ make: () throws -> ModelSpec) throws -> ModelSpec {
            guard inputShape.count == 3 else {
                throw TrainingError.invalidConfiguration("--model \(model.rawValue) needs image inputs [C, H, W]; \(dataset.rawValue) has \(inputShape). Use --model mlp.")
            }
            do {
                return try make()
            } catch let error as ModelError {
                throw TrainingError.invalidConfiguration("--model \(model.rawValue) does not fit \(dataset.rawValue): \(error)")
            }
        }
    }

    func learningRateSchedule(totalSteps: Int, stepsPerEpoch: Int) -> LearningRateSchedule {
        let base: LearningRateSchedule
        switch schedule {
        case .constant: base = .constant(learningRate)
        case .cosine: base = .cosine(initial: learningRate, totalSteps: totalSteps - warmupSteps, minimum: 0)
        case .step: base = .step(initial: learningRate, every: Swift.max(1, totalSteps / 3), gamma: 0.1)
        case .cyclical: base = .cyclicalCosine(initial: learningRate, cycleLength: stepsPerEpoch, minimum: 0)
        }
        return warmupSteps > 0 ? .warmup(steps: warmupSteps, then: base) : base
    }
}

/// The data of a run: the training examples (without the hold-out), the held-out
/// examples (nil when `holdout` is 0) and the test set (`InMemoryDataset.holdingOut`: the
/// same examples for `credence fit` and `credence data export --holdout`).
public func loadRunData(_ options: TrainingOptions) throws -> (train: InMemoryDataset, holdout: InMemoryDataset?, test: InMemoryDataset) {
    let (train, test) = try loadDataset(options.dataset, options: options.dataOptions)
    guard options.holdout > 0 else { return (train, nil, test) }
    guard options.holdout < train.count else {
        throw TrainingError.invalidConfiguration("--holdout \(options.holdout) leaves no training examples out of \(train.count)")
    }
    let (rest, held) = try train.holdingOut(options.holdout, seed: options.seed)
    return (rest, held, test)
}

/// The inputs of each OOD source for a run's test set, named as the source is written.
public func loadOODInputs(_ sources: [OODSource], options: TrainingOptions, test: InMemoryDataset) throws -> [(name: String, inputs: Tensor)] {
    try sources.map { (name: $0.description, inputs: try loadOODInputs($0, dataset: options.dataset, test: test, options: options.dataOptions)) }
}

/// Test-set figures of a trained model.
public struct EvaluationSummary: Codable, Sendable {
    public var dataset: String
    public var examples: Int
    /// Classification: top-1 accuracy and mean negative log-likelihood.
    public var accuracy: Double?
    public var negativeLogLikelihood: Double?
    /// Regression: root mean squared error of the predicted mean.
    public var rootMeanSquaredError: Double?
}

/// Accuracy and NLL (classification) or RMSE and Gaussian NLL (regression) of a model.
public func evaluate(model: any NetworkModel, parameters: Tensor, on data: InMemoryDataset) throws -> EvaluationSummary {
    let outputs = try model.predictBatched(data.inputs, parameters: parameters)
    var summary = EvaluationSummary(dataset: data.name, examples: data.count)
    switch data.task {
    case .classification:
        let logp = outputs.logSoftmaxLastAxis()
        let picked = try logp.gatherColumns(data.labels)
        let predicted = outputs.argmaxLastAxis()
        summary.accuracy = Double(zip(predicted, data.labels).filter { $0 == Int($1) }.count) / Double(data.count)
        summary.negativeLogLikelihood = -picked.sumOfElements / Double(data.count)
    case let .regression(d):
        guard outputs.shape.last == 2 * d else {
            throw TrainingError.invalidConfiguration("the model outputs \(outputs.shape.last ?? 0) values per example; a regression model for \(d) targets outputs \(2 * d) (means, then variances)")
        }
        let head = try Loss.meanAndVariance(Variable(constant: outputs))
        let (p, targets) = try inOriginalUnits(try Predictive(means: head.mean.value, variances: head.variance.value), of: data)
        summary.rootMeanSquaredError = try rootMeanSquaredError(p, targets: targets)
        summary.negativeLogLikelihood = try gaussianNegativeLogLikelihood(p, targets: targets)
    }
    return summary
}

/// A regression predictive made on `data`'s stored (possibly standardised) targets and
/// the targets, both in the data's own units — what every reported regression metric uses.
public func inOriginalUnits(_ p: Predictive, of data: InMemoryDataset) throws -> (predictive: Predictive, targets: Tensor) {
    guard let targets = data.originalTargets else {
        throw TrainingError.invalidConfiguration("\(data.name) is a regression set without targets")
    }
    guard let scaler = data.targetStandardization else { return (p, targets) }
    return (try p.destandardized(mean: scaler.mean.map(Double.init), standardDeviation: scaler.standardDeviation.map(Double.init)), targets)
}
