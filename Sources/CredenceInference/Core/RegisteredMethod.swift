import CredenceData
import CredenceNN
import CredenceTensor
import Foundation

/// Where a method belongs (DESIGN.md's rooms), for help texts and the report.
public enum MethodFamily: String, Sendable, CaseIterable {
    case point, dropout, ensembles, swag, laplace, calibration, variational, mcmc, distillation
}

/// Whether a method trains its networks or is fitted after training on a trained posterior.
public enum MethodPhase: String, Sendable {
    /// Trains (`credence train --method`, a suite's method entry).
    case trained
    /// Fitted on a trained network or posterior (`credence fit --method`; `train` and suites
    /// train the network it needs first).
    case postHoc = "post-hoc"
}

/// An inference method as the registry lists it: described once — name, family, phase,
/// options with defaults — and able to build itself from settings, check itself against a
/// run before any work, run (train or fit) and restore its posterior from an archive.
///
/// Everything outside CredenceInference (CLI choices and help, suite entries and their
/// checks, the benchmark runner, archive restore, the report's order) goes through
/// `MethodRegistry`, never through a list of methods of its own. `docs/adding-a-method.md`
/// walks through adding one.
public protocol RegisteredMethod {
    /// The name used by the CLI, suites, archives and the report ("swag", "mc-dropout").
    static var name: String { get }
    static var family: MethodFamily { get }
    static var phase: MethodPhase { get }
    /// One line for `--help` and the docs.
    static var summary: String { get }
    /// The hyperparameters it takes.
    static var options: [MethodOption] { get }
    /// The options an entry may carry given the values written so far (a combinator adds
    /// the options of the method it combines). Default: `options`.
    static func options(given values: [String: String]) -> [MethodOption]
    /// Settings (canonical text) for a quick run on a small data set: the test suite's
    /// registry walk runs every registered method with them (two moons, 8 epochs) and checks
    /// it end to end. Default: none (the defaults are quick enough).
    static var quickSettings: [String: String] { get }
    /// The method with these (already checked) settings; throws on combinations that are
    /// wrong whatever the model.
    init(settings: MethodSettings) throws
    /// What the method changes in the training of its networks (MC dropout: the dropout rate).
    func adjust(_ options: inout TrainingOptions)
    /// Checks against the run — the model, the task, the data — before any work starts.
    /// Callers use `validateRun`, which adds the checks common to every method.
    func validate(_ context: MethodContext) throws
    /// Whether adversarial training reaches every phase in which the method trains: its
    /// networks come from `MethodJob.network` (the one training loop, under the run's
    /// objective) and any loop of its own minimises `MethodJob.objective` (SWAG's collection,
    /// VI). The samplers and distillation do not. Default: false.
    var takesAdversarialTraining: Bool { get }
    /// Whether `run` spreads its own work over `MethodJob.world`'s ranks (HMC and NUTS: their
    /// chains), every rank running it alike, rank 0 getting the whole posterior. Default: false.
    var spreadsOverRanks: Bool { get }
    /// Trains or fits the posterior.
    func run(_ job: MethodJob) throws -> MethodOutcome
    /// The posterior an archive written by this method describes.
    static func restore(_ archive: PosteriorArchive) throws -> any Posterior
}

extension RegisteredMethod {
    public static func options(given values: [String: String]) -> [MethodOption] { options }
    public static var quickSettings: [String: String] { [:] }
    public func adjust(_ options: inout TrainingOptions) {}
    public func validate(_ context: MethodContext) throws {}
    public var takesAdversarialTraining: Bool { false }
    public var spreadsOverRanks: Bool { false }

    /// `validate`, after the checks every method shares: adversarial training only for
    /// methods it reaches in every phase (`takesAdversarialTraining`).
    public func validateRun(_ context: MethodContext) throws {
        if let adversarial = context.options.adversarial, context.task.classCount == nil {
            throw InferenceError.invalidOption("adversarial training (\(adversarial.kind.rawValue)) is for classifiers; \(context.options.dataset.rawValue) is a regression set")
        }
        if let adversarial = context.options.adversarial, !takesAdversarialTraining {
            let takers = MethodRegistry.names.filter { (try? MethodRegistry.make($0, recorded: [:]))?.takesAdversarialTraining == true }
            throw InferenceError.invalidOption(
                "\(Self.name) trains in a phase of its own, which adversarial training (\(adversarial.kind.rawValue)) does not reach; it is for \(takers.joined(separator: ", "))")
        }
        try validate(context)
    }
}

/// What a method is checked against before a run: the run's (adjusted) training options
/// and the facts of its data set, known without loading it.
public struct MethodContext {
    public var options: TrainingOptions
    public var inputShape: [Int]
    public var task: PredictionTask
    /// Training examples available (after any limit, before the hold-out).
    public var trainCount: Int

    public init(options: TrainingOptions, inputShape: [Int], task: PredictionTask, trainCount: Int) {
        self.options = options
        self.inputShape = inputShape
        self.task = task
        self.trainCount = trainCount
    }

    /// The context of a run on a named data set (its facts, without loading it).
    public init(options: TrainingOptions) {
        let facts = DatasetFacts(options.dataset)
        var task = facts.task
        if case let .classification(k) = task, let held = options.heldOutClasses { task = .classification(classCount: k - held.count) }
        self.init(options: options, inputShape: facts.inputShape, task: task,
                  trainCount: Swift.min(facts.trainCount, options.trainLimit ?? .max))
    }

    /// Steps per epoch on the run's training set (as `EpochLoop` batches it).
    public var stepsPerEpoch: Int {
        let count = Swift.max(trainCount - options.holdout, 1)
        return EpochLoop(epochs: 1, batchSize: Swift.min(options.batchSize, count), seed: 0).stepsPerEpoch(count: count)
    }

    /// The model the run trains.
    public func model() throws -> any NetworkModel { try options.modelSpec(inputShape: inputShape, task: task).makeModel() }
}

/// A trained network or posterior on disk and the seconds it took to train (over every
/// attempt, when it was resumed).
public struct TrainedFile: Sendable {
    public var path: String
    public var seconds: Double

    public init(path: String, seconds: Double) {
        self.path = path
        self.seconds = seconds
    }
}

/// One run of a method: its training options, how to get trained networks (the CLI writes
/// them next to `--out`, the benchmark shares them between runs through its cache; both
/// resume a killed run), and where to report progress.
public struct MethodJob {
    /// The run's training options, already adjusted by the method.
    public var options: TrainingOptions
    /// Monte-Carlo samples of a stochastic base posterior's predictive (temperature fitting).
    public var samples: Int
    /// Seed of the method's own randomness after training (post-hoc fitting, SWAG collection).
    public var seed: UInt64
    /// Trains (or resumes, or finds complete) the network with these options and returns its
    /// checkpoint. A post-hoc method's base posterior comes from here too.
    public var network: (TrainingOptions) throws -> TrainedFile
    /// Where the method keeps the resumable state of a phase of its own, by name and
    /// ensemble member (`phaseCheckpoint("swag-collection", 2)`); nil: nowhere (the phase
    /// then starts over after a kill).
    public var phaseCheckpoint: (_ phase: String, _ member: Int) -> PhaseCheckpoint?
    /// Stages of long work, for progress lines ("fitting Laplace", "member 2/5").
    public var onStage: (String) -> Void
    /// Progress of a phase of the method's own (SWAG's collection epochs).
    public var onProgress: (TrainingProgress) -> Void
    /// The objective the run's options ask for beyond the likelihood — adversarial training:
    /// CredenceRobustness's `AdversarialObjective` for `options.adversarial` — or nil. `network`
    /// trains under it already; a method with a training loop of its own minimises it there
    /// (`TrainingOptions.trainingObjective`: SWAG's collection; VI, as its likelihood term).
    public var objective: (any TrainingObjective)?
    /// The MPI job a method may spread its own independent work over (HMC and NUTS: their
    /// chains; see `RegisteredMethod.spreadsOverRanks`), every rank running the method alike;
    /// nil: this process alone.
    public var world: MPIWorld?

    public init(options: TrainingOptions, samples: Int, seed: UInt64, network: @escaping (TrainingOptions) throws -> TrainedFile,
                phaseCheckpoint: @escaping (String, Int) -> PhaseCheckpoint? = { _, _ in nil },
                onStage: @escaping (String) -> Void = { _ in }, onProgress: @escaping (TrainingProgress) -> Void = { _ in }) {
        self.options = options
        self.samples = samples
        self.seed = seed
        self.network = network
        self.phaseCheckpoint = phaseCheckpoint
        self.onStage = onStage
        self.onProgress = onProgress
    }
}

/// What a method's run produced.
public struct MethodOutcome {
    public var posterior: any Posterior
    /// Wall time of the whole fit: training its networks (over every attempt) and after.
    public var seconds: Double
    /// Wall time of the work after training the networks (SWAG collection, Laplace, temperature).
    public var posteriorSeconds: Double
    /// Fitted scalars worth reporting (temperature scaling: "temperature", "heldOutNLLBefore", "heldOutNLLAfter").
    public var details: [String: Double]

    public init(posterior: any Posterior, seconds: Double, posteriorSeconds: Double = 0, details: [String: Double] = [:]) {
        self.posterior = posterior
        self.seconds = seconds
        self.posteriorSeconds = posteriorSeconds
        self.details = details
    }
}

extension TrainedFile {
    /// The trained network in the file as a point posterior; any other posterior is refused.
    public func pointPosterior() throws -> PointPosterior {
        try loadPointPosterior(from: PosteriorArchive.load(from: path), path: path)
    }
}

/// The trained network an archive already read from `path` holds, as a point posterior; any
/// other posterior is refused.
public func loadPointPosterior(from archive: PosteriorArchive, path: String) throws -> PointPosterior {
    let posterior = try loadPosterior(from: archive, path: path)
    guard let point = posterior as? PointPosterior else {
        throw TrainingError.invalidConfiguration("\(path) holds a \(posterior.method) posterior, not one trained network — pass a network's checkpoint (e.g. the MAP's)")
    }
    return point
}
