import CredenceData
import CredenceInference
import CredenceMetrics
import CredenceNN
import CredenceRobustness
import CredenceTensor
import Foundation

/// What `trainPosterior` produced.
public struct PosteriorTrainingResult: Codable, Sendable {
    public var method: String
    /// One training run per network (members of an ensemble).
    public var runs: [TrainingResult]
    /// Wall time of work after training the networks (SWAG collection, Laplace, temperature).
    public var posteriorSeconds: Double
    /// The posterior file (for a single trained network: a copy of its checkpoint).
    public var posterior: String?
    /// Fitted scalars the method reports (temperature scaling: the temperature and held-out NLL).
    public var details: [String: Double]
    /// The posterior on the test set and OOD sets; `metrics.scalability.fitSeconds` is the
    /// training and fitting time, `peakResidentBytes` the whole command's peak memory.
    public var evaluation: PosteriorEvaluation
    /// MPI ranks the posterior was trained over, and the wall time before rank 0 mixed or
    /// gathered it (`trainPosteriorOverRanks`; nil: this process alone).
    public var ranks: Int?
    public var distributedSeconds: Double?
}

/// Runs any registered method from scratch — trains the networks it needs, fits what comes
/// after — writes the posterior to `out`, and evaluates it on the test set and OOD sets.
///
/// Each network's training checkpoint is resumable on its own and lives next to `out` as
/// `STEM.member-M.safetensors` (M = 0 for a single network), the state of a method's own
/// phase as `STEM.PHASE.member-M.safetensors` (SWAG: `swag-collection`); `out` holds the posterior
/// archive, or — when the posterior is one trained network — a copy of its checkpoint, so
/// it loads in PyTorch and in `credence fit` alike.
public func trainPosterior(_ options: TrainingOptions, method: any RegisteredMethod, samples: Int = 32, ood: [OODSource] = [],
                           out: String? = nil, resume: Bool = false, methodIdentity: String? = nil, world: MPIWorld? = nil,
                           onStage: @escaping (String) -> Void = { _ in },
                           onProgress: @escaping (TrainingProgress) -> Void = { _ in }) throws -> PosteriorTrainingResult {
    var options = options
    method.adjust(&options)
    try options.validate()
    try method.validateRun(MethodContext(options: options))
    guard samples >= 1 else { throw TrainingError.invalidConfiguration("--samples must be ≥ 1, got \(samples)") }
    // Without `out`, the networks' checkpoints go to a scratch directory removed at the end.
    let scratch = out == nil ? FileManager.default.temporaryDirectory.appendingPathComponent("credence-\(UUID().uuidString)") : nil
    if let scratch { try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true) }
    defer { if let scratch { try? FileManager.default.removeItem(at: scratch) } }
    let target = out ?? scratch!.appendingPathComponent("posterior.safetensors").path
    var runs: [TrainingResult] = []
    var networkPaths: [String] = []
    var job = try methodJob(options, samples: samples, target: target, resume: resume, methodIdentity: methodIdentity,
                            onStage: onStage, onProgress: onProgress) { run, path in
        var run = run
        if out == nil { run.checkpoint = nil }
        runs.append(run)
        networkPaths.append(path)
    }
    job.world = world
    let outcome = try method.run(job)
    if let out {
        if outcome.posterior is PointPosterior, networkPaths.count == 1 {
            try Checkpoint.load(from: networkPaths[0]).save(to: out)  // atomic, like every write
        } else {
            var archive = try outcome.posterior.archive()
            archive.provenance = try checkpointMetadata(options)
            try archive.save(to: out)
        }
    }
    let fitSeconds = runs.reduce(0) { $0 + $1.trainingSeconds } + outcome.posteriorSeconds
    let evaluation = try evaluatePosterior(outcome.posterior, run: options, ood: ood, samples: samples, seed: options.seed,
                                           fitSeconds: fitSeconds)
    return PosteriorTrainingResult(method: type(of: method).name, runs: runs, posteriorSeconds: outcome.posteriorSeconds,
                                   posterior: out, details: outcome.details, evaluation: evaluation)
}

/// The job `trainPosterior` runs a method with: networks trained (resumably) to
/// `STEM.member-M.safetensors` next to `target`, phases to `STEM.PHASE.member-M.safetensors`;
/// `trained` hears of each network trained.
func methodJob(_ options: TrainingOptions, samples: Int, target: String, resume: Bool, methodIdentity: String?,
               onStage: @escaping (String) -> Void, onProgress: @escaping (TrainingProgress) -> Void,
               trained: @escaping (TrainingResult, String) -> Void) throws -> MethodJob {
    let runIdentity = try methodIdentity.map { "train \($0) options \(try optionsKey(options))" }
    var job = MethodJob(options: options, samples: samples, seed: options.seed, network: { o in
        let path = memberPath(target, "member-\(o.ensembleMember)")
        let run = try train(o, checkpointPath: path, resume: resume, objective: try AdversarialObjective.forOptions(o), onProgress: onProgress)
        trained(run, path)
        return TrainedFile(path: path, seconds: run.trainingSeconds)
    }, phaseCheckpoint: { phase, member in
        PhaseCheckpoint(path: memberPath(target, "\(phase).member-\(member)"), resume: resume, run: runIdentity, phase: phase, member: member)
    },
    onStage: onStage, onProgress: onProgress)
    job.objective = try AdversarialObjective.forOptions(options)
    return job
}

/// `trainPosterior` over the ranks of an MPI job, every rank calling it alike; the files go
/// next to `out`, which every rank must reach. Returns the result on rank 0, nil elsewhere.
///
/// - An **ensemble** (`DeepEnsembleMethod`): rank r trains the members m with m mod ranks = r
///   (their networks and own phases, to the files `trainPosterior` uses), and after a barrier
///   rank 0 runs `trainPosterior` with `resume`: it finds every member complete, mixes them,
///   writes and evaluates the posterior, exactly as one process would have.
/// - A method that **spreads its own work** (`spreadsOverRanks`: HMC and NUTS, their chains):
///   rank 0 trains the starting network while the others wait, then every rank runs the
///   method with `MethodJob.world` set, and rank 0 writes and evaluates the whole posterior.
///
/// `distributedSeconds` is the wall time before rank 0's last step (the members; the
/// starting network), added to the evaluation's fit time.
public func trainPosteriorOverRanks(_ options: TrainingOptions, method: any RegisteredMethod, world: MPIWorld, samples: Int = 32,
                                    ood: [OODSource] = [], out: String, resume: Bool = false, methodIdentity: String? = nil,
                                    onStage: @escaping (String) -> Void = { _ in },
                                    onProgress: @escaping (TrainingProgress) -> Void = { _ in }) throws -> PosteriorTrainingResult? {
    var options = options
    method.adjust(&options)
    try options.validate()
    try method.validateRun(MethodContext(options: options))
    let start = Date()
    let job = try methodJob(options, samples: samples, target: out, resume: resume, methodIdentity: methodIdentity,
                            onStage: onStage, onProgress: onProgress) { _, _ in }
    if let ensemble = method as? DeepEnsembleMethod {
        for m in stride(from: world.rank, to: ensemble.members, by: world.size) {
            onStage("member \(m + 1)/\(ensemble.members) on rank \(world.rank)")
            var memberJob = job
            memberJob.options.ensembleMember = m
            _ = try ensemble.member.run(memberJob)
        }
    } else if method.spreadsOverRanks {
        if world.rank == 0 { _ = try job.network(options) }
    } else {
        throw InferenceError.invalidOption("\(type(of: method).name) does not run over MPI ranks (ensembles, hmc and nuts do); run it as one process")
    }
    try world.barrier(polling: 0.05)
    let distributed = Date().timeIntervalSince(start)
    let spread = method.spreadsOverRanks ? world : nil
    guard world.rank == 0 else {
        if let spread {  // this rank's share of the method's own work; rank 0 gathers it
            var shared = try methodJob(options, samples: samples, target: out, resume: true, methodIdentity: methodIdentity,
                                       onStage: { _ in }, onProgress: { _ in }) { _, _ in }
            shared.world = spread
            _ = try method.run(shared)
        }
        return nil
    }
    var result = try trainPosterior(options, method: method, samples: samples, ood: ood, out: out, resume: true,
                                    methodIdentity: methodIdentity, world: spread,
                                    onStage: onStage, onProgress: onProgress)
    result.ranks = world.size
    result.distributedSeconds = distributed
    result.evaluation.metrics.scalability?.fitSeconds += distributed
    return result
}

/// What `fitPostHoc` produced.
public struct PostHocResult: Codable, Sendable {
    public var method: String
    public var base: String
    /// Fitted scalars the method reports (temperature scaling: "temperature", "heldOutNLLBefore", "heldOutNLLAfter").
    public var details: [String: Double]
    public var posterior: String?
    /// The fitted posterior on the test set and OOD sets; `metrics.scalability.fitSeconds` is
    /// the fitting time, `peakResidentBytes` the whole command's peak memory.
    public var evaluation: PosteriorEvaluation
}

/// The training options of the run a file came from (`credence.training_options`); throws,
/// naming the file and what `need`s them, when it records none.
func recordedRunOptions(_ archive: PosteriorArchive, path: String, need: String) throws -> TrainingOptions {
    guard let json = archive.provenance["credence.training_options"],
          let options = try? JSONDecoder().decode(TrainingOptions.self, from: Data(json.utf8)) else {
        throw TrainingError.invalidConfiguration("\(path) does not record the run it came from (credence.training_options); \(need)")
    }
    return options
}

/// Fits a post-hoc method on top of the posterior (or checkpoint) at `path`, writes the
/// result to `out`, and evaluates it on the test set and OOD sets. The run's data come
/// from the options recorded in the file.
public func fitPostHoc(_ method: any RegisteredMethod, posteriorAt path: String, out: String?, samples: Int = 32,
                       ood: [OODSource] = [], seed: UInt64 = 0, onStage: @escaping (String) -> Void = { _ in }) throws -> PostHocResult {
    let name = type(of: method).name
    guard type(of: method).phase == .postHoc else {
        throw TrainingError.invalidConfiguration("\(name) trains its own networks; use `credence train --method \(name)` (fit takes \(MethodRegistry.names(phase: .postHoc).joined(separator: ", ")))")
    }
    let archive = try PosteriorArchive.load(from: path)
    let options = try recordedRunOptions(archive, path: path, need: "fit needs the run's data")
    try method.validateRun(MethodContext(options: options))
    let job = MethodJob(options: options, samples: samples, seed: seed,
                        network: { _ in TrainedFile(path: path, seconds: 0) }, onStage: onStage)
    let outcome = try method.run(job)
    if let out {
        var fitted = try outcome.posterior.archive()
        fitted.provenance = archive.provenance
        try fitted.save(to: out)
    }
    let evaluation = try evaluatePosterior(outcome.posterior, run: options, ood: ood, samples: samples, seed: seed,
                                           fitSeconds: outcome.seconds)
    return PostHocResult(method: name, base: archive.method, details: outcome.details, posterior: out, evaluation: evaluation)
}

/// Scores a posterior on its run's test set and the OOD sources, recording the time its fit took.
func evaluatePosterior(_ posterior: any Posterior, run options: TrainingOptions, ood: [OODSource], samples: Int,
                       seed: UInt64, fitSeconds: Double) throws -> PosteriorEvaluation {
    let (_, _, test) = try loadRunData(options)
    var metrics = try evaluatePosterior(posterior, on: test, ood: lazyOODInputs(ood, options: options, test: test),
                                        samples: samples, seeding: .sequential(seed))
    metrics.scalability?.fitSeconds = fitSeconds
    return PosteriorEvaluation(method: posterior.method, dataset: test.name, metrics: metrics)
}

/// `dir/stem.suffix.safetensors` next to `path`.
func memberPath(_ path: String, _ suffix: String) -> String {
    let url = URL(fileURLWithPath: path)
    let stem = url.deletingPathExtension().lastPathComponent
    return url.deletingLastPathComponent().appendingPathComponent("\(stem).\(suffix).safetensors").path
}
