import CredenceData
import CredenceInference
import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation

/// Methods that change how networks are trained (`credence train --method`); post-hoc
/// methods (Laplace, temperature scaling) are `credence fit`.
public enum TrainingMethod: String, CaseIterable, Codable, Sendable {
    /// One network; weight decay acts as a Gaussian prior (the MAP baseline).
    case map
    /// One network trained with dropout, kept on at test time (needs --dropout P > 0).
    case mcDropout = "mc-dropout"
    /// M networks from independent initialisations and data orders (--members M).
    case ensemble
    /// SWA-Gaussian: after training, --swag-epochs more epochs (the training optimizer at its
    /// learning rate by default), collecting the iterates' moments 4 times per epoch.
    case swag
}

/// Settings of the SWAG phase of `--method swag` (Maddox et al. 2019).
public struct SWAGSettings: Codable, Sendable {
    public var epochs = 5
    public var rank = 20
    /// Learning rate and optimizer of the collection phase (nil: the training run's).
    public var learningRate: Float?
    public var optimizer: OptimizerKind?
    public var collectionsPerEpoch = 4
    /// Sampling scale of the covariance (Maddox et al.'s formula; 0.5 as their experiments).
    public var scale = 0.5
    public init() {}
}

/// What `trainPosterior` produced.
public struct PosteriorTrainingResult: Codable, Sendable {
    public var method: String
    /// One training run per network (members of an ensemble).
    public var runs: [TrainingResult]
    /// Wall time of work after training the networks (the SWAG collection phase).
    public var posteriorSeconds: Double
    /// The posterior file (for MAP: the training checkpoint itself).
    public var posterior: String?
    public var evaluation: PosteriorEvaluation
    /// Peak resident memory of the whole command (data, training, evaluation), MB.
    public var peakResidentMegabytes = Double(PeakMemory.bytes()) / 1e6
}

/// Trains the networks `method` needs, writes the posterior, and evaluates it.
///
/// Each network's training checkpoint is resumable on its own: MAP writes `out` directly;
/// MC dropout writes `STEM.run.safetensors` and ensembles `STEM.member-M.safetensors`
/// next to `out`, which then holds the posterior archive.
public func trainPosterior(_ options: TrainingOptions, method: TrainingMethod, members: Int = 5,
                           swag: SWAGSettings = SWAGSettings(), samples: Int = 32, ood: [OODSource] = [], out: String? = nil, resume: Bool = false,
                           onMember: (Int, Int) -> Void = { _, _ in },
                           onProgress: (TrainingProgress) -> Void = { _ in }) throws -> PosteriorTrainingResult {
    switch method {
    case .mcDropout where options.dropout <= 0:
        throw TrainingError.invalidConfiguration("--method mc-dropout needs dropout layers: pass --dropout P with 0 < P < 1 (e.g. 0.1)")
    case .ensemble where members < 2:
        throw TrainingError.invalidConfiguration("--method ensemble needs --members ≥ 2, got \(members)")
    default: break
    }
    guard samples >= 1 else { throw TrainingError.invalidConfiguration("--samples must be ≥ 1, got \(samples)") }
    let count = method == .ensemble ? members : 1
    // Without `out`, the networks' checkpoints go to a scratch directory removed at the end.
    let scratch = out == nil ? FileManager.default.temporaryDirectory.appendingPathComponent("credence-\(UUID().uuidString)") : nil
    if let scratch { try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true) }
    defer { if let scratch { try? FileManager.default.removeItem(at: scratch) } }
    let target = out ?? scratch!.appendingPathComponent("posterior.safetensors").path
    var runs: [TrainingResult] = []
    var parameters: [Tensor] = []
    for m in 0..<count {
        onMember(m, count)
        var memberOptions = options
        memberOptions.ensembleMember = m
        let path = method == .map ? target : memberPath(target, method == .ensemble ? "member-\(m)" : "run")
        var run = try train(memberOptions, checkpointPath: path, resume: resume, onProgress: onProgress)
        if out == nil { run.checkpoint = nil }
        runs.append(run)
        parameters.append(try Checkpoint.load(from: path).parameters)
    }
    let (trainSet, _, test) = try loadRunData(options)
    let model = try Sequential(options.modelSpec(inputShape: trainSet.inputShape, task: trainSet.task))
    let task: Predictive.Task = options.dataset.isRegression ? .regression : .classification
    let posterior: any Posterior
    var posteriorSeconds = 0.0
    switch method {
    case .map: posterior = try PointPosterior(model: model, parameters: parameters[0], task: task)
    case .mcDropout: posterior = try MCDropoutPosterior(model: model, parameters: parameters[0], task: task)
    case .ensemble: posterior = try EnsemblePosterior(model: model, members: parameters, task: task)
    case .swag:
        let batchSize = Swift.min(options.batchSize, trainSet.count)
        var collection = SWAGCollection(
            learningRate: .constant(swag.learningRate ?? options.learningRate), weightDecay: options.weightDecay,
            collectEvery: SWAGCollection.collectionInterval(datasetSize: trainSet.count, batchSize: batchSize,
                                                            perEpoch: swag.collectionsPerEpoch),
            rank: swag.rank, scale: swag.scale)
        collection.optimizer = swag.optimizer ?? options.optimizer
        let fit = try fitPosterior(collection, model: model, parameters: parameters[0], task: task, data: trainSet,
                                   epochs: swag.epochs, batchSize: batchSize, seed: options.seed ^ 0x5A46)
        posterior = fit.posterior
        posteriorSeconds = fit.seconds
    }
    if let out, method != .map {
        var archive = try posterior.archive()
        archive.provenance = try checkpointMetadata(options)
        try archive.save(to: out)
    }
    let oodSets = try loadOODInputs(ood, options: options, test: test)
    let evaluation = try evaluatePosterior(posterior, on: test, ood: oodSets, samples: samples, seed: options.seed)
    return PosteriorTrainingResult(method: method.rawValue, runs: runs, posteriorSeconds: posteriorSeconds,
                                   posterior: out, evaluation: evaluation)
}

/// `dir/stem.suffix.safetensors` next to `path`.
func memberPath(_ path: String, _ suffix: String) -> String {
    let url = URL(fileURLWithPath: path)
    let stem = url.deletingPathExtension().lastPathComponent
    return url.deletingLastPathComponent().appendingPathComponent("\(stem).\(suffix).safetensors").path
}
