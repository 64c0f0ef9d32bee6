import CredenceData
import CredenceInference
import CredenceMetrics
import CredenceNN
import CredenceRobustness
import CredenceTensor
import Foundation

/// Where a run keeps its files and finds its data.
public struct RunEnvironment: Sendable {
    /// Checkpoints and posteriors, one directory per run (`KEY/`) or per shared MAP
    /// network (`network-HASH/`, used by map, laplace and temperature runs with the same
    /// training options); resumable after a kill through `train(resume:)`.
    public var cacheDirectory: String
    /// Where data files live (nil: each data set's standard location). Not part of run keys.
    public var dataDirectory: String?

    public init(cacheDirectory: String, dataDirectory: String? = nil) {
        self.cacheDirectory = cacheDirectory
        self.dataDirectory = dataDirectory
    }
}

/// Errors of the benchmark runner.
public enum BenchError: Error, CustomStringConvertible, Equatable {
    /// Another `credence bench` holds the database's lock.
    case locked(database: String, lockFile: String)
    /// A configuration the runner cannot run (a hand-made one; suites are checked when read).
    case invalidRun(key: String, message: String)
    /// A data or OOD set the suite needs cannot be loaded (checked before any training).
    case dataUnavailable(what: String, runs: Int, message: String)
    /// `forget` was given keys of runs the database does not hold.
    case unknownRuns(database: String, keys: [String])

    public var description: String {
        switch self {
        case let .locked(database, lockFile):
            return "another `credence bench` is writing to \(database) (it holds \(lockFile)); wait for it to finish, or pass another --db"
        case let .invalidRun(key, message):
            return "run \(key): \(message)"
        case let .dataUnavailable(what, runs, message):
            return "\(what), needed by \(runs) run(s), cannot be loaded: \(message)"
        case let .unknownRuns(database, keys):
            return "\(database) holds no run\(keys.count == 1 ? "" : "s") with key \(keys.joined(separator: ", ")); nothing was removed "
                + "(`credence bench --dry-run SUITE --db \(database)` lists a suite's keys, `credence report` the stored ones)"
        }
    }
}

extension RunConfiguration {
    /// The `train` options of this run's networks.
    public func trainingOptions(dataDirectory: String? = nil) throws -> TrainingOptions {
        var o = TrainingOptions()
        o.dataset = dataset
        o.model = model
        o.hidden = hidden
        o.epochs = epochs
        o.batchSize = batchSize
        o.learningRate = learningRate
        o.seed = seed
        o.trainLimit = trainLimit
        o.heldOutClasses = heldOutClasses
        o.dataDirectory = dataDirectory
        func value<T: LosslessStringConvertible>(_ table: [String: String]?, _ name: String, _: T.Type) throws -> T? {
            guard let text = table?[name] else { return nil }
            guard let v = T(text) else { throw BenchError.invalidRun(key: key, message: "setting \(name) = '\(text)' is not a valid \(T.self)") }
            return v
        }
        func choice<T: RawRepresentable>(_ name: String, _: T.Type) throws -> T? where T.RawValue == String {
            guard let text = training?[name] else { return nil }
            guard let v = T(rawValue: text) else { throw BenchError.invalidRun(key: key, message: "unknown \(name) '\(text)'") }
            return v
        }
        if let h = try value(training, "holdout", Int.self) { o.holdout = h }
        if let w = try value(training, "weightDecay", Float.self) { o.weightDecay = w }
        if let m = try value(training, "momentum", Float.self) { o.momentum = m }
        if let kind = try choice("optimizer", OptimizerKind.self) { o.optimizer = kind }
        if let kind = try choice("augmentation", Augmentation.self) { o.augmentation = kind }
        if let p = try value(training, "augmentationPadding", Int.self) { o.augmentationPadding = p }
        if let s = try value(training, "noiseSigma", Float.self) { o.noiseSigma = s }
        if let kind = try choice("regressionNoise", RegressionNoise.self) { o.regressionNoise = kind }
        do {
            o.adversarial = try Self.adversarialTraining(training ?? [:])
        } catch let error as TrainingSettingError {
            throw BenchError.invalidRun(key: key, message: "training.\(error.setting): \(error.message)")
        }
        if let kind = try choice("schedule", ScheduleKind.self) { o.schedule = kind }
        try o.validate()
        return o
    }

    /// The adversarial training a suite's `training` settings ask for (nil: none), checked.
    static func adversarialTraining(_ training: [String: String]) throws -> AdversarialTraining? {
        let attackKeys = ["adversarialEpsilon", "adversarialNorm", "attackSteps", "attackStepSize", "attackNoise", "tradesBeta", "epsWarmup",
                          "attackEot"]
        guard let name = training["adversarial"] else {
            if let stray = attackKeys.first(where: { training[$0] != nil }) {
                throw TrainingSettingError(setting: stray, message: "this sets adversarial training: add \"adversarial\": \"pgd\" (or trades, fgsm-rs, n-fgsm)")
            }
            return nil
        }
        func value<T: LosslessStringConvertible>(_ key: String, _: T.Type) throws -> T? {
            guard let text = training[key] else { return nil }
            guard let v = T(text) else { throw TrainingSettingError(setting: key, message: "'\(text)' is not a valid \(T.self)") }
            return v
        }
        guard let kind = AdversarialTrainingKind(rawValue: name) else {
            throw TrainingSettingError(setting: "adversarial", message: "unknown adversarial training '\(name)'")
        }
        guard let epsilon = try value("adversarialEpsilon", Float.self) else {
            throw TrainingSettingError(setting: "adversarial", message: "adversarial training needs its budget: \"adversarialEpsilon\": 0.1")
        }
        let settings = AdversarialTraining(
            kind: kind, epsilon: epsilon, steps: try value("attackSteps", Int.self), stepSize: try value("attackStepSize", Float.self),
            beta: try value("tradesBeta", Float.self), noise: try value("attackNoise", Float.self),
            warmupEpochs: try value("epsWarmup", Double.self), eotSamples: try value("attackEot", Int.self),
            norm: try training["adversarialNorm"].map { text in
                guard let norm = AttackNorm(rawValue: text) else {
                    throw TrainingSettingError(setting: "adversarialNorm", message: "'\(text)' is not a norm: linf or l2")
                }
                return norm
            })
        do { try settings.validate() } catch { throw TrainingSettingError(setting: "adversarial", message: "\(error)") }
        return settings
    }

    /// The run's method, built from its recorded settings through the registry.
    public func inferenceMethod() throws -> any RegisteredMethod {
        do {
            return try MethodRegistry.make(method, recorded: settings)
        } catch {
            throw BenchError.invalidRun(key: key, message: "\(error)")
        }
    }
}

/// A suite's training setting that cannot be used, and why.
struct TrainingSettingError: Error {
    var setting: String
    var message: String
}

/// A fitted posterior and the time fitting it took (over every attempt).
struct FittedPosterior {
    var posterior: any Posterior
    var fitSeconds: Double
}

/// Trains or fits the run's posterior through its registered method. Networks live in the
/// cache shared by every run with the same training options (`trainNetwork`), so a MAP,
/// a Laplace and an ensemble's first member train one network between them, and whatever
/// a killed attempt left there is resumed — as is a method's own phase (SWAG's collection),
/// whose state lives in the run's directory. The posterior is written to the run's directory
/// and read back, so a run evaluates exactly what its file holds.
func fitRunPosterior(_ configuration: RunConfiguration, method: any RegisteredMethod, options: TrainingOptions,
                     environment: RunEnvironment, onEvent: (BenchEvent) -> Void) throws -> FittedPosterior {
    let cache = URL(fileURLWithPath: environment.cacheDirectory)
    let runDirectory = cache.appendingPathComponent(configuration.key)
    // The job's closures do not outlive `method.run`.
    let outcome = try withoutActuallyEscaping(onEvent) { onEvent in
        var job = MethodJob(options: options, samples: configuration.samples, seed: configuration.seed,
                            network: { o in try trainNetwork(o, cache: cache, onEvent: onEvent) },
                            phaseCheckpoint: { phase, member in
                                PhaseCheckpoint(path: runDirectory.appendingPathComponent("\(phase).member-\(member).safetensors").path,
                                                resume: true, run: "run \(configuration.key)", phase: phase, member: member)
                            },
                            onStage: { onEvent(.stage($0)) }, onProgress: { onEvent(.training($0)) })
        job.objective = try AdversarialObjective.forOptions(options)
        try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
        return try restartingOnUnusableCheckpoint(runDirectory, onEvent: onEvent) { try method.run(job) }
    }
    if outcome.posterior is PointPosterior { return FittedPosterior(posterior: outcome.posterior, fitSeconds: outcome.seconds) }
    let out = runDirectory.appendingPathComponent("posterior.safetensors").path
    var archive = try outcome.posterior.archive()
    archive.provenance = try checkpointMetadata(options)
    try archive.save(to: out)
    return FittedPosterior(posterior: try loadPosterior(from: out), fitSeconds: outcome.seconds)
}

/// Runs `body`; if it fails because a checkpoint left in `directory` cannot be resumed
/// (written with other options — e.g. another `--data-dir` — or unreadable), empties the
/// directory and runs `body` once more from scratch.
func restartingOnUnusableCheckpoint<T>(_ directory: URL, onEvent: (BenchEvent) -> Void, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error where error is ResumeError || error is CheckpointError {
        onEvent(.stage("discarding the unusable checkpoint in \(directory.lastPathComponent) (\(error)); starting over"))
        try? FileManager.default.removeItem(at: directory)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return try body()
    }
}

/// Trains (or resumes, or finds complete) the network with these training options, in the
/// cache directory every run with the same options shares. Returns its checkpoint and the
/// seconds its training took (over every attempt).
func trainNetwork(_ options: TrainingOptions, cache: URL, onEvent: (BenchEvent) -> Void) throws -> TrainedFile {
    let directory = cache.appendingPathComponent("network-" + (try optionsKey(options)))
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let path = directory.appendingPathComponent("map.safetensors").path
    // Ranks of a distributed bench that need this network wait here for the one training it.
    let locks = cache.appendingPathComponent("locks")
    try FileManager.default.createDirectory(at: locks, withIntermediateDirectories: true)
    let lock = try DirectoryLock(waitingFor: locks.appendingPathComponent(directory.lastPathComponent).path)
    defer { lock.release() }
    return try restartingOnUnusableCheckpoint(directory, onEvent: onEvent) {
        var clock = FitClock(directory: directory)
        onEvent(.stage("training"))
        _ = try train(options, checkpointPath: path, resume: true, objective: try AdversarialObjective.forOptions(options), onProgress: { p in
            if p.isEpochEnd { clock.checkpointed() }
            onEvent(.training(p))
        })
        return TrainedFile(path: path, seconds: clock.recorded)
    }
}

/// The training options in 16 hex digits (FNV-1a of their JSON, keys sorted), without where
/// the data files are: what names the network they train.
func optionsKey(_ options: TrainingOptions) throws -> String {
    var keyed = options
    keyed.dataDirectory = nil  // where the files are does not change the network
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    return fnv1a(try encoder.encode(keyed))
}

/// FNV-1a (64 bit) in 16 hex digits, as `RunConfiguration.key`.
func fnv1a(_ bytes: Data) -> String {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for b in bytes { hash = (hash ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
    return String(hash, radix: 16).leftPadded(to: 16)
}

/// A seed for one part of a run's evaluation, derived from the run's seed and the part's
/// name, so each part's random numbers do not depend on which other parts run.
func derivedSeed(_ seed: UInt64, _ part: String) -> UInt64 {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325 ^ seed
    for b in part.utf8 { hash = (hash ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
    return hash
}

/// Runs one benchmark configuration start to finish — fit, evaluate (in-distribution
/// always; OOD detection and the shifts of Ovadia et al.'s protocol, `Shift.ovadiaProtocol`,
/// when the configuration asks for them), measure — and returns its record (not yet stored).
/// Every predictive draws from a generator seeded by the run's seed and the part's name. Deterministic: the same configuration gives the
/// same metrics, whether or not an earlier attempt was killed half-way.
public func runBenchmark(_ configuration: RunConfiguration, environment: RunEnvironment,
                         onEvent: (BenchEvent) -> Void = { _ in }) throws -> RunRecord {
    BLASKernel.warnIfSlowerKernel()
    let method = try configuration.inferenceMethod()
    var options = try configuration.trainingOptions(dataDirectory: environment.dataDirectory)
    method.adjust(&options)
    // Evaluation arithmetic must not depend on whether training ran in this process.
    Parallel.flushSubnormalsToZero()
    PeakMemory.reset()
    let fitted = try fitRunPosterior(configuration, method: method, options: options, environment: environment, onEvent: onEvent)
    onEvent(.stage("evaluating"))
    let (_, _, test) = try loadRunData(options)
    let c = configuration
    var metrics = try evaluatePosterior(
        fitted.posterior, on: test,
        ood: c.evaluations.contains(.ood) ? lazyOODInputs(c.oodSets, options: options, test: test) : [],
        shifts: c.evaluations.contains(.shift) ? c.shiftsEvaluated : [],
        samples: c.samples, seeding: .perPart(c.seed), onStage: { onEvent(.stage($0)) })
    metrics.scalability?.fitSeconds = fitted.fitSeconds
    if c.evaluations.contains(.attacks) {
        metrics.attacks = try (c.attacks ?? []).map { settings in
            onEvent(.stage("attacking: \(settings.attack.rawValue) at ε \(settings.epsilons.map { "\($0)" }.joined(separator: ", "))"))
            return try attackPosterior(fitted.posterior, test: test, settings: settings)
        }
    }
    if c.evaluations.contains(.certification) {
        metrics.certifications = try (c.certifications ?? []).map { settings in
            onEvent(.stage("certifying: \(settings.label)"))
            return try certifyPosterior(fitted.posterior, test: test, settings: settings, file: c.key)
        }
    }
    return RunRecord(configuration: configuration, metrics: metrics)
}
