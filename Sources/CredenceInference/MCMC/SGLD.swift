import CredenceData
import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation

/// Stochastic gradient Langevin dynamics as the registry lists it (Welling & Teh 2011):
/// train the network (the chain's start), then run a Langevin chain on the tempered
/// log-posterior with mini-batch gradients, discard `burnInEpochs`, and keep every
/// `thinning`-th iterate of the next `sampleEpochs` as an equally weighted sample. The chain
/// resumes after a kill (`job.phaseCheckpoint`); MC-ensembles of chains are
/// `ensemble member=sgld`.
public struct SGLDMethod: RegisteredMethod {
    public static let name = "sgld"
    public static let family = MethodFamily.mcmc
    public static let phase = MethodPhase.trained
    public static let summary = "stochastic gradient Langevin dynamics from the trained network (Welling & Teh 2011)"
    public static let options = [
        MethodOption("learningRate", .real(above: 0, below: nil), default: "0.01",
                     help: "step on the mean-loss scale: the Langevin step ε is learningRate / N"),
        MethodOption("temperature", .real(above: 0, below: nil), default: "1", help: "posterior temperature T (1 = Bayes, < 1 cold)"),
        MethodOption("priorPrecision", .real(above: 0, below: nil), default: "1", help: "precision of the isotropic Gaussian prior"),
        MethodOption("burnInEpochs", .integer(atLeast: 0), default: "1", help: "epochs of the chain before samples are kept"),
        MethodOption("sampleEpochs", .integer(atLeast: 1), default: "4", help: "epochs of the chain that keep samples"),
        MethodOption("thinning", .integer(atLeast: 1), default: "50", help: "steps between kept samples"),
    ]
    public static let quickSettings = ["sampleEpochs": "2", "thinning": "2"]

    public var learningRate = 0.01, temperature = 1.0, priorPrecision = 1.0
    public var burnInEpochs = 1, sampleEpochs = 4, thinning = 50

    public init() {}

    public init(settings: MethodSettings) throws {
        learningRate = try settings.required("learningRate")
        temperature = try settings.required("temperature")
        priorPrecision = try settings.required("priorPrecision")
        burnInEpochs = try settings.required("burnInEpochs")
        sampleEpochs = try settings.required("sampleEpochs")
        thinning = try settings.required("thinning")
    }

    public func validate(_ context: MethodContext) throws {
        let batch = Swift.min(context.options.batchSize, Swift.max(context.trainCount - context.options.holdout, 1))
        let steps = sampleEpochs * ((context.trainCount - context.options.holdout + batch - 1) / batch)
        guard steps >= thinning else {
            throw InferenceError.invalidOption("sgld keeps every \(thinning)th of \(steps) sampling steps: no sample; lower thinning or raise sampleEpochs")
        }
    }

    public func run(_ job: MethodJob) throws -> MethodOutcome {
        let options = job.options
        let file = try job.network(options)
        let start = try file.pointPosterior()
        job.onStage("running the SGLD chain for \(burnInEpochs) + \(sampleEpochs) epochs")
        let (trainSet, _, _) = try loadRunData(options)
        let target = try LogPosterior(model: start.model, objective: Objective.default(for: start.task),
                                      prior: GaussianPrior(precision: priorPrecision), datasetSize: trainSet.count,
                                      temperature: temperature)
        let batchSize = Swift.min(options.batchSize, trainSet.count)
        let steps = (trainSet.count + batchSize - 1) / batchSize
        let chain = SGLD(target: target, stepSize: learningRate / Double(trainSet.count), burnInSteps: burnInEpochs * steps,
                         thinning: thinning)
        let seed = options.seed ^ 0x5C1D ^ (0x9E37_79B9_7F4A_7C15 &* UInt64(options.ensembleMember))
        let fit = try fitPosterior(chain, model: start.model, parameters: start.parameters, task: start.task, data: trainSet,
                                   epochs: burnInEpochs + sampleEpochs, batchSize: batchSize, seed: seed,
                                   checkpoint: job.phaseCheckpoint("sgld-chain", options.ensembleMember), onProgress: job.onProgress)
        return MethodOutcome(posterior: fit.posterior, seconds: file.seconds + fit.seconds, posteriorSeconds: fit.seconds)
    }

    public static func restore(_ archive: PosteriorArchive) throws -> any Posterior { try EnsemblePosterior(archive: archive) }
}

/// The Langevin chain: θ ← θ + ε·∇log p̂_T(θ | D) + √(2ε)·ξ, ξ ~ N(0, I), with the
/// mini-batch estimate of the tempered log-posterior's gradient (`LogPosterior.logDensity`:
/// N × the batch mean, plus the prior, over T). Its stationary law tends to p_T(θ | D) as
/// ε → 0; for a Gaussian target of precision P and exact gradients it is Gaussian with
/// covariance (P(I − εP/2))⁻¹ — the discretisation bias `step` is tested against.
public struct SGLD: InferenceMethod {
    public var target: LogPosterior
    /// ε.
    public var stepSize: Double
    /// Steps before samples are kept.
    public var burnInSteps: Int
    /// Steps between kept samples.
    public var thinning: Int

    public init(target: LogPosterior, stepSize: Double, burnInSteps: Int, thinning: Int) {
        self.target = target
        self.stepSize = stepSize
        self.burnInSteps = burnInSteps
        self.thinning = thinning
    }

    public struct State {
        public let model: any NetworkModel
        public let task: Predictive.Task
        /// The chain's current θ.
        public var parameters: Tensor
        public var steps = 0
        /// The kept samples, oldest first.
        public var samples: [Tensor] = []
    }

    public func validate(model: any NetworkModel) throws {
        guard stepSize > 0, stepSize.isFinite else { throw InferenceError.invalidOption("the SGLD step size is \(stepSize); it must be > 0") }
        guard burnInSteps >= 0, thinning >= 1 else {
            throw InferenceError.invalidOption("SGLD needs burn-in ≥ 0 and thinning ≥ 1 steps (got \(burnInSteps), \(thinning))")
        }
    }

    public func initialState(model: any NetworkModel, parameters: Tensor, task: Predictive.Task,
                             rng: inout RandomGenerator) throws -> State {
        guard parameters.count == model.parameterCount else {
            throw ModelError.parameterCount(got: parameters.count, expected: model.parameterCount)
        }
        return State(model: model, task: task, parameters: parameters)
    }

    /// One Langevin step; reports U/N, the tempered potential on the mean-loss scale.
    public func update(_ state: inout State, batch: TrainingBatch, rng: inout RandomGenerator) throws -> StepReport {
        let (logDensity, gradient) = try target.logDensity(parameters: state.parameters, batch: batch, rng: &rng)
        try EpochLoop.requireFinite(logDensity)
        Self.step(&state.parameters, gradient: gradient, stepSize: stepSize, rng: &rng)
        state.steps += 1
        if state.steps > burnInSteps && (state.steps - burnInSteps) % thinning == 0 { state.samples.append(state.parameters) }
        return StepReport(loss: -logDensity * target.temperature / Double(target.datasetSize))
    }

    /// θ ← θ + ε·g + √(2ε)·ξ for the gradient g of the log-density.
    public static func step(_ theta: inout Tensor, gradient: Tensor, stepSize: Double, rng: inout RandomGenerator) {
        let epsilon = Float(stepSize), noise = Float((2 * stepSize).squareRoot())
        theta.withUnsafeMutableBufferPointer { t in
            gradient.withUnsafeBufferPointer { g in
                for i in t.indices { t[i] += epsilon * g[i] + noise * rng.normalFloat() }
            }
        }
    }

    public func posterior(from state: State) throws -> EnsemblePosterior {
        guard !state.samples.isEmpty else {
            throw InferenceError.invalidOption("the SGLD chain kept no sample in \(state.steps) steps (burn-in \(burnInSteps), thinning \(thinning))")
        }
        return try EnsemblePosterior(model: state.model, members: state.samples, task: state.task, method: SGLDMethod.name)
    }
}

extension SGLD.State: PersistentState {
    /// θ, the step count and the samples kept so far.
    public func save(into file: inout SafeTensorsFile) throws {
        file["parameters"] = parameters
        file.metadata["sgld.steps"] = String(steps)
        file.metadata["sgld.samples"] = String(samples.count)
        for (k, sample) in samples.enumerated() { file["sample.\(k)"] = sample }
    }

    public mutating func restore(from file: SafeTensorsFile, path: String) throws {
        parameters = try file.required("parameters", shape: [model.parameterCount], path: path)
        steps = try file.requiredInteger("sgld.steps", path: path)
        let count = try file.requiredInteger("sgld.samples", path: path)
        samples = try (0..<count).map { try file.required("sample.\($0)", shape: [model.parameterCount], path: path) }
    }
}
