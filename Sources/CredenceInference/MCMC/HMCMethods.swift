import CredenceData
import CredenceNN
import CredenceTensor
import Foundation

/// Where the Hamiltonian chains start.
public enum HMCStart: String, CaseIterable, Sendable {
    /// Every chain at the trained network (warm-up then only has to find the typical set nearby).
    case trained
    /// Each chain at its own fresh initialisation of the network (seeded by the chain): dispersed
    /// starts, so R̂ across chains can tell chains that did not meet.
    case random
}

/// The settings `hmc` and `nuts` share, read and checked once.
public struct HMCRunSettings: Sendable {
    public var sampler: HMCSettings
    public var chains: Int
    public var temperature: Double
    public var priorPrecision: Double
    public var start: HMCStart

    static func options(targetAcceptance: String) -> [MethodOption] {
        [MethodOption("warmup", .integer(atLeast: 0), default: "500", help: "warm-up iterations per chain (step size by dual averaging; the metric in Stan's windows)"),
         MethodOption("iterations", .integer(atLeast: 1), default: "500", help: "iterations per chain after warm-up"),
         MethodOption("thinning", .integer(atLeast: 1), default: "1", help: "keep every n-th iteration"),
         MethodOption("chains", .integer(atLeast: 1), default: "4", help: "chains, run side by side on the cores"),
         MethodOption("targetAcceptance", .real(above: 0, below: 1), default: targetAcceptance, help: "mean acceptance statistic δ the step size adapts to"),
         MethodOption("initialStepSize", .real(above: 0, below: nil), default: "0.01", help: "step size ε before the initial search"),
         MethodOption.choice("metric", HMCMetric.self, default: .diagonal, help: "diagonal: variances estimated during warm-up; dense: the covariance, shrunk towards the diagonal (≤ 4096 parameters); unit: the identity"),
         MethodOption.choice("start", HMCStart.self, default: .trained, help: "trained: every chain at the trained network; random: each at its own initialisation"),
         MethodOption("temperature", .real(above: 0, below: nil), default: "1", help: "posterior temperature T (1 = Bayes, < 1 cold)"),
         MethodOption("priorPrecision", .real(above: 0, below: nil), default: "1", help: "precision of the isotropic Gaussian prior")]
    }

    init(settings: MethodSettings, integrator: HMCSettings.Integrator) throws {
        sampler = HMCSettings(integrator: integrator, warmup: try settings.required("warmup"), iterations: try settings.required("iterations"),
                              thinning: try settings.required("thinning"), targetAcceptance: try settings.required("targetAcceptance"),
                              initialStepSize: try settings.required("initialStepSize"),
                              metric: try settings.choice("metric", as: HMCMetric.self) ?? .diagonal)
        chains = try settings.required("chains")
        temperature = try settings.required("temperature")
        priorPrecision = try settings.required("priorPrecision")
        start = try settings.choice("start") ?? .trained
        try sampler.validate()
    }

    /// Refuses a run whose kept networks would not fit in memory (the samples are held as
    /// networks; thin more, or keep fewer iterations).
    func validate(_ name: String, _ context: MethodContext) throws {
        let parameters = try context.model().parameterCount
        let gibibytes = Double(parameters) * Double(chains * sampler.keptPerChain) * 4 / 1_073_741_824
        guard gibibytes <= 8 else {
            throw InferenceError.invalidOption(String(format: "%@ would keep %d chains × %d networks of %d parameters (%.1f GiB); raise thinning or lower iterations (at most 8 GiB)",
                                                      name, chains, sampler.keptPerChain, parameters, gibibytes))
        }
    }

    /// Trains (or resumes) the run's network, then runs the chains on the full training set's
    /// log-posterior as the phase "<name>-chains" (resumable) and returns every kept network —
    /// over `job.world`'s ranks when it is set (`HamiltonianSampler.world`; rank 0's posterior
    /// holds every chain, the others' only theirs).
    func run(_ job: MethodJob, name: String, seedSalt: UInt64) throws -> MethodOutcome {
        let options = job.options
        let file = try job.network(options)
        let trained = try file.pointPosterior()
        let (trainSet, _, _) = try loadRunData(options)
        let posterior = try LogPosterior(model: trained.model, objective: Objective.default(for: trained.task),
                                         prior: GaussianPrior(precision: priorPrecision), datasetSize: trainSet.count, temperature: temperature)
        let target = try NetworkLogDensity(posterior: posterior, data: trainSet)
        let seed = options.phaseSeed(salt: seedSalt)
        let starts: [[Double]] = (0..<chains).map { c in
            switch start {
            case .trained: return trained.parameters.values.map(Double.init)
            case .random:
                var rng = RandomGenerator(seed: seed ^ UInt64(c + 1) &* 0x2545_F491_4F6C_DD1D)
                return trained.model.initialParameters(rng: &rng).values.map(Double.init)
            }
        }
        job.onStage("running \(chains) \(name.uppercased()) chains on \(trainSet.count) examples (\(trained.model.parameterCount) parameters): \(sampler)")
        var sampler = HamiltonianSampler(settings: self.sampler, chains: chains, seed: seed)
        sampler.world = job.world
        let (result, seconds) = try sampler.timedRun(target: target, starts: starts, checkpoint: job.phaseCheckpoint("\(name)-chains", options.ensembleMember),
                                                     fingerprint: "T \(temperature) prior \(priorPrecision) start \(start.rawValue) examples \(trainSet.count) network \(checksum(trained.parameters))",
                                                     examples: trainSet.count, onStatus: job.onStage, onProgress: job.onProgress)
        let chainPosterior = try EnsemblePosterior(model: trained.model, members: result.flatMap(\.draws), task: trained.task, method: name,
                                                   chainCount: result.count, samplerStatistics: result.map(\.statistics))
        return MethodOutcome(posterior: chainPosterior, seconds: file.seconds + seconds, posteriorSeconds: seconds)
    }
}

/// The metric's form: the posterior variances warm-up estimates (`diagonal`), its covariance
/// (`dense`: for up to `HMCSettings.denseMetricLimit` parameters, shrunk towards the diagonal —
/// `shrunkCovariance`), or the identity (`unit`).
public enum HMCMetric: String, CaseIterable, Sendable {
    case diagonal, dense, unit
}

/// Full-batch Hamiltonian Monte Carlo as the registry lists it: train the network, then run
/// `chains` HMC chains (fixed `leapfrogSteps`, Metropolis correction) on the log-posterior of
/// the whole training set, with Stan's warm-up; every kept iterate of every chain is an
/// equally weighted sample. The gold standard for small networks (Izmailov et al. 2021).
public struct HMCMethod: RegisteredMethod {
    public static let name = "hmc"
    public static let family = MethodFamily.mcmc
    public static let phase = MethodPhase.trained
    public static let summary = "full-batch Hamiltonian Monte Carlo, several chains, step size and metric adapted in warm-up (Neal 2011; Stan)"
    public static let options = [MethodOption("leapfrogSteps", .integer(atLeast: 1), default: "20", help: "leapfrog steps per transition")]
        + HMCRunSettings.options(targetAcceptance: "0.65")
    public static let quickSettings = ["warmup": "30", "iterations": "20", "chains": "2", "leapfrogSteps": "5"]

    public var hamiltonian: HMCRunSettings

    public init(settings: MethodSettings) throws {
        hamiltonian = try HMCRunSettings(settings: settings, integrator: .hmc(leapfrogSteps: try settings.required("leapfrogSteps")))
    }

    public func validate(_ context: MethodContext) throws { try hamiltonian.validate(Self.name, context) }
    public var spreadsOverRanks: Bool { true }
    public func run(_ job: MethodJob) throws -> MethodOutcome { try hamiltonian.run(job, name: Self.name, seedSalt: 0x4A4C) }
    public static func restore(_ archive: PosteriorArchive) throws -> any Posterior { try EnsemblePosterior(archive: archive) }
}

/// The No-U-Turn Sampler (Hoffman & Gelman 2014, multinomial form as in Stan) on the
/// full-batch log-posterior; otherwise as `hmc`.
public struct NUTSMethod: RegisteredMethod {
    public static let name = "nuts"
    public static let family = MethodFamily.mcmc
    public static let phase = MethodPhase.trained
    public static let summary = "the No-U-Turn Sampler on the full-batch log-posterior, several chains, Stan's warm-up (Hoffman & Gelman 2014)"
    public static let options = [MethodOption("maxTreeDepth", .integer(atLeast: 1), default: "10", help: "at most 2^depth leapfrog steps per transition")]
        + HMCRunSettings.options(targetAcceptance: "0.8")
    public static let quickSettings = ["warmup": "30", "iterations": "20", "chains": "2", "maxTreeDepth": "5"]

    public var hamiltonian: HMCRunSettings

    public init(settings: MethodSettings) throws {
        hamiltonian = try HMCRunSettings(settings: settings, integrator: .nuts(maxTreeDepth: try settings.required("maxTreeDepth")))
    }

    public func validate(_ context: MethodContext) throws { try hamiltonian.validate(Self.name, context) }
    public var spreadsOverRanks: Bool { true }
    public func run(_ job: MethodJob) throws -> MethodOutcome { try hamiltonian.run(job, name: Self.name, seedSalt: 0x4E55) }
    public static func restore(_ archive: PosteriorArchive) throws -> any Posterior { try EnsemblePosterior(archive: archive) }
}
