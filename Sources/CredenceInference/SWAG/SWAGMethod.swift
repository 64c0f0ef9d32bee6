import CredenceData
import CredenceMetrics
import CredenceNN
import CredenceTensor

/// SWAG as the registry lists it (Maddox et al. 2019): train the network, then
/// `swagEpochs` more epochs — continuing the training optimizer at its learning rate unless
/// `swagOptimizer` / `swagLearningRate` say otherwise, as the PyTorch reference does —
/// collecting the iterates' moments `collectionsPerEpoch` times per epoch (`SWAGCollection`).
public struct SWAGMethod: RegisteredMethod {
    public static let name = "swag"
    public static let family = MethodFamily.swag
    public static let phase = MethodPhase.trained
    public static let summary = "SWA-Gaussian: a Gaussian fitted to the iterates of continued training (Maddox et al. 2019)"
    public static let options = [
        MethodOption("rank", .integer(atLeast: 2), default: "20", recordsDefault: true, help: "K, deviation columns of the low-rank covariance"),
        MethodOption("swagEpochs", .integer(atLeast: 1), default: "5", recordsDefault: true, help: "epochs of the collection phase"),
        MethodOption("swagLearningRate", .real(above: 0, below: nil), help: "constant learning rate of the collection phase (default: the run's)"),
        MethodOption.choice("swagOptimizer", OptimizerKind.self, default: nil,
                            help: "optimizer of the collection phase (default: the run's; the paper uses sgd)"),
        MethodOption("collectionsPerEpoch", .integer(atLeast: 1), default: "4", help: "moment collections per epoch"),
        SWAGCollectionSettings.recalibrationOption,
        MethodOption("scale", .real(above: 0, below: nil), default: "0.5", help: "sampling scale s of the covariance (the paper's 0.5)"),
        MethodOption.choice("covariance", SWAGCovariance.self, default: .lowRankPlusDiagonal,
                            help: "low-rank-plus-diagonal (SWAG) or diagonal (SWAG-Diagonal)"),
    ]
    public static let quickSettings = ["swagEpochs": "2", "rank": "5"]

    public var collection = SWAGCollectionSettings()
    public var covariance = SWAGCovariance.lowRankPlusDiagonal
    public var rank = 20
    public var scale = 0.5

    public init() {}

    public init(settings: MethodSettings) throws {
        collection = try SWAGCollectionSettings(settings: settings)
        rank = try settings.required("rank")
        scale = try settings.required("scale")
        covariance = try settings.choice("covariance") ?? .lowRankPlusDiagonal
    }

    public var takesAdversarialTraining: Bool { true }

    public func run(_ job: MethodJob) throws -> MethodOutcome {
        try collection.run(job, meanOnly: false, rank: rank, covariance: covariance, scale: scale)
    }

    public static func restore(_ archive: PosteriorArchive) throws -> any Posterior { try SWAGPosterior(archive: archive) }
}

/// The collection phase SWA and SWAG share: after the network is trained, `epochs` more
/// epochs of its optimizer (or `optimizer`) at a constant learning rate, collecting
/// `collectionsPerEpoch` times per epoch.
public struct SWAGCollectionSettings: Sendable {
    public var epochs = 5
    /// Constant learning rate of the collection phase (nil: the training run's).
    public var learningRate: Float?
    /// The optimizer of the collection phase (nil: the training run's).
    public var optimizer: OptimizerKind?
    public var collectionsPerEpoch = 4
    /// Training examples the running statistics of a batch-normalized network are recomputed on
    /// for the SWA mean and every SWAG sample (the papers use the whole training set).
    public var recalibrationExamples = 2048

    static let recalibrationOption = MethodOption(
        "recalibrationExamples", .integer(atLeast: 2), default: "2048",
        help: "training examples batch-norm statistics are recomputed on for each sampled network (models with batch normalization)")

    public init() {}

    init(settings: MethodSettings) throws {
        epochs = try settings.required("swagEpochs")
        learningRate = try settings.value("swagLearningRate")
        optimizer = try settings.choice("swagOptimizer")
        collectionsPerEpoch = try settings.required("collectionsPerEpoch")
        recalibrationExamples = try settings.required("recalibrationExamples")
    }

    /// Trains the network, then collects, resumable epoch by epoch (`job.phaseCheckpoint`).
    /// The collection's randomness is seeded by the run's seed (and the ensemble member, so
    /// MultiSWAG's members differ).
    func run(_ job: MethodJob, meanOnly: Bool, rank: Int, covariance: SWAGCovariance, scale: Double) throws -> MethodOutcome {
        let options = job.options
        let file = try job.network(options)
        let network = try file.pointPosterior()
        job.onStage("collecting \(meanOnly ? "SWA" : "SWAG") moments for \(epochs) epochs")
        let (trainSet, _, _) = try loadRunData(options)
        let batchSize = Swift.min(options.batchSize, trainSet.count)
        var method = SWAGCollection(
            learningRate: .constant(learningRate ?? options.learningRate), weightDecay: options.weightDecay,
            collectEvery: SWAGCollection.collectionInterval(datasetSize: trainSet.count, batchSize: batchSize, perEpoch: collectionsPerEpoch),
            rank: rank, covariance: covariance, scale: scale, meanOnly: meanOnly)
        method.optimizer = optimizer ?? options.optimizer
        // The collection sees the inputs training saw (augmentation, adversarial training).
        if options.altersTrainingInputs { method.objective = try options.trainingObjective(for: trainSet, adversarial: job.objective) }
        if network.model.hasRunningStatistics {
            method.recalibrationInputs = try trainSet.inputs.rows(0..<Swift.min(recalibrationExamples, trainSet.count))
        }
        let seed = options.phaseSeed(salt: 0x5A46)
        let fit = try fitPosterior(method, model: network.model, parameters: network.parameters, task: network.task,
                                   data: trainSet, epochs: epochs, batchSize: batchSize, seed: seed,
                                   checkpoint: job.phaseCheckpoint(meanOnly ? "swa-collection" : "swag-collection", options.ensembleMember),
                                   onProgress: job.onProgress)
        return MethodOutcome(posterior: fit.posterior, seconds: file.seconds + fit.seconds, posteriorSeconds: fit.seconds)
    }
}
