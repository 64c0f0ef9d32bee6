import CredenceData
import CredenceMetrics
import CredenceNN
import CredenceTensor

/// The prior of a registered VI method, by name.
public enum VariationalPriorKind: String, CaseIterable, Sendable {
    /// N(0, 1/priorPrecision) per weight; KL in closed form
    case gaussian
    /// π N(0, σ₁²) + (1 − π) N(0, σ₂²) per weight (Blundell et al. 2015); KL by Monte Carlo
    case scaleMixture = "scale-mixture"
}

/// Where a registered VI method starts.
public enum VariationalStart: String, CaseIterable, Sendable {
    /// μ = a fresh network's initialisation (the MAP run's, same seed), σ = initialStandardDeviation; the run's epochs and schedule
    case scratch
    /// μ = the trained MAP network, σ = mopedDelta·|w| (Krishnan et al. 2020); viEpochs at the run's learning rate
    case moped
}

/// What the registered VI methods (`vi`, `vi-flipout`, `stf-bnn`) share: the prior, the
/// temperature, KL annealing and weight samples, read once, and the run — from scratch, or
/// from the trained network (MOPED) as a resumable phase.
public struct VariationalSettings: Sendable {
    public var prior: VariationalPrior
    public var temperature: Double
    public var klAnnealingEpochs: Int
    public var weightSamples: Int
    public var start: VariationalStart
    public var initialStandardDeviation: Double
    public var mopedDelta: Double
    /// Epochs of VI after training the network (MOPED starts only).
    public var viEpochs: Int
    /// Adam's learning rate for them (nil: the run's).
    public var viLearningRate: Float?

    static let priorOptions: [MethodOption] = [
        MethodOption.choice("prior", VariationalPriorKind.self, default: .gaussian, help: "the weights' prior"),
        MethodOption("priorPrecision", .real(above: 0, below: nil), default: "1", help: "precision δ of the Gaussian prior N(0, 1/δ)"),
        MethodOption("mixtureWeight", .real(above: 0, below: 1), default: "0.5", help: "π of the scale-mixture prior"),
        MethodOption("mixtureSigma1", .real(above: 0, below: nil), default: "1", help: "σ₁ of the scale-mixture prior (the wide component)"),
        MethodOption("mixtureSigma2", .real(above: 0, below: nil), default: "0.0025", help: "σ₂ of the scale-mixture prior (the narrow one, ≈ e⁻⁶)"),
    ]

    /// Everything but the prior (variational dropout fixes its own).
    static let trainingOptions: [MethodOption] = [
        MethodOption("temperature", .real(above: 0, below: nil), default: "1", help: "posterior temperature T: the KL is weighted by T (< 1 cold)"),
        MethodOption("klAnnealingEpochs", .integer(atLeast: 0), default: "0", help: "epochs of linear KL warm-up from 0 to 1 (0: none)"),
        MethodOption("weightSamples", .integer(atLeast: 1), default: "1", help: "Monte-Carlo weight samples per step"),
        MethodOption("mopedDelta", .real(above: 0, below: nil), default: "0.1", help: "MOPED start: σ = δ·|w| of the trained weights"),
        MethodOption("viEpochs", .integer(atLeast: 1), default: "5", help: "MOPED start: epochs of VI after training the network"),
        MethodOption("viLearningRate", .real(above: 0, below: nil),
                     help: "MOPED start: Adam's learning rate for the VI epochs (default: the run's, which suits a network trained with Adam; set it when the network was trained by SGD at a large rate)"),
    ]

    static let options = priorOptions + trainingOptions

    static let startOptions: [MethodOption] = [
        MethodOption.choice("start", VariationalStart.self, default: .scratch, help: "from scratch, or from the trained network (MOPED)"),
        MethodOption("initialStandardDeviation", .real(above: 0, below: nil), default: "0.001", help: "scratch start: σ of every weight"),
    ]

    init(settings: MethodSettings, start fixed: VariationalStart? = nil, prior fixedPrior: VariationalPrior? = nil) throws {
        if let fixedPrior {
            prior = fixedPrior
        } else {
            switch try settings.choice("prior", as: VariationalPriorKind.self) ?? .gaussian {
            case .gaussian: prior = .gaussian(precision: try settings.required("priorPrecision"))
            case .scaleMixture:
                prior = .scaleMixture(weight: try settings.required("mixtureWeight"), firstStandardDeviation: try settings.required("mixtureSigma1"),
                                      secondStandardDeviation: try settings.required("mixtureSigma2"))
            }
        }
        temperature = try settings.value("temperature") ?? 1
        klAnnealingEpochs = try settings.value("klAnnealingEpochs") ?? 0
        weightSamples = try settings.value("weightSamples") ?? 1
        start = try fixed ?? settings.choice("start") ?? .scratch
        initialStandardDeviation = try settings.value("initialStandardDeviation") ?? 0.001
        mopedDelta = try settings.required("mopedDelta")
        viEpochs = try settings.required("viEpochs")
        viLearningRate = try settings.value("viLearningRate")
    }

    /// Checks the model against the Bayesian layers before any work.
    func validate(_ context: MethodContext, bayesianLayers: BayesianLayers) throws {
        if context.options.adversarial?.kind == .ibp {
            throw InferenceError.invalidOption("IBP training bounds one deterministic network; a variational posterior's are stochastic — use --adversarial pgd or trades with VI")
        }
        if start == .scratch, viLearningRate != nil {
            throw InferenceError.invalidOption("viLearningRate sets the learning rate of VI after training (start=moped); from scratch VI runs at the run's learning rate and schedule — drop it, or set start=moped")
        }
        _ = try MeanFieldLayout(bayesianLayers, model: MeanFieldLayout.layered(context.model()))
    }

    /// Runs VI as the phase "<name>" (resumable): from a fresh network for the run's epochs and
    /// schedule, or from the trained network (`job.network`) for `viEpochs`.
    func run(_ job: MethodJob, name: String, bayesianLayers: BayesianLayers, estimator: WeightNoiseEstimator,
             fixPointWeights: Bool) throws -> MethodOutcome {
        let options = job.options
        let (trainSet, _, _) = try loadRunData(options)
        let batchSize = Swift.min(options.batchSize, trainSet.count)
        let stepsPerEpoch = EpochLoop(epochs: 1, batchSize: batchSize, seed: 0).stepsPerEpoch(count: trainSet.count)
        let model: any NetworkModel, initial: Tensor, epochs: Int, seed: UInt64, learningRate: LearningRateSchedule
        var trainingSeconds = 0.0
        var method = MeanFieldVI(datasetSize: trainSet.count, bayesianLayers: bayesianLayers, estimator: estimator, prior: prior,
                                 temperature: temperature, klAnnealingSteps: klAnnealingEpochs * stepsPerEpoch,
                                 weightSamples: weightSamples, fixPointWeights: fixPointWeights, method: name)
        switch start {
        case .scratch:
            // The MAP run's initialisation and data order for the same seed (`train`).
            model = try options.modelSpec(inputShape: trainSet.inputShape, task: trainSet.task).makeModel()
            var rng = RandomGenerator(seed: options.memberSeed)
            initial = model.initialParameters(rng: &rng)
            (epochs, seed) = (options.epochs, rng.next())
            learningRate = options.learningRateSchedule(totalSteps: stepsPerEpoch * epochs, stepsPerEpoch: stepsPerEpoch)
            method.initialization = .constant(standardDeviation: initialStandardDeviation)
        case .moped:
            let file = try job.network(options)
            let network = try file.pointPosterior()
            (model, initial, trainingSeconds) = (network.model, network.parameters, file.seconds)
            (epochs, seed) = (viEpochs, options.phaseSeed(salt: 0x7A71))
            learningRate = .constant(viLearningRate ?? options.learningRate)
            method.initialization = .moped(delta: mopedDelta)
        }
        method.learningRate = learningRate
        // VI's likelihood term on the inputs training sees (augmentation, adversarial training).
        if options.altersTrainingInputs { method.likelihood = try options.trainingObjective(for: trainSet, adversarial: job.objective) }
        job.onStage("fitting \(name) (\(estimator.rawValue), \(bayesianLayers.rawValue) layers) for \(epochs) epochs")
        let fit = try fitPosterior(method, model: model, parameters: initial, task: trainSet.task.classCount == nil ? .regression : .classification,
                                   data: trainSet,
                                   epochs: epochs, batchSize: batchSize, seed: seed,
                                   checkpoint: job.phaseCheckpoint(name, options.ensembleMember), onProgress: job.onProgress)
        return MethodOutcome(posterior: fit.posterior, seconds: trainingSeconds + fit.seconds, posteriorSeconds: fit.seconds)
    }
}

/// Mean-field Gaussian VI (Bayes by Backprop, Blundell et al. 2015) as the registry lists it:
/// every dense and convolutional layer (or the first or last) Bayesian, fitted by the ELBO
/// with the chosen gradient estimator — local reparameterization by default (Kingma et al. 2015).
public struct VIMethod: RegisteredMethod {
    public static let name = "vi"
    public static let family = MethodFamily.variational
    public static let phase = MethodPhase.trained
    public static let summary = "mean-field Gaussian variational inference, Bayes by Backprop (Blundell et al. 2015)"
    public static let options = [
        MethodOption.choice("estimator", WeightNoiseEstimator.self, default: .localReparameterization, help: "gradient estimator of the expected log-likelihood"),
        MethodOption.choice("bayesianLayers", BayesianLayers.self, default: .all, help: "which layers get Gaussian weights (the rest: MAP under the prior)"),
    ] + VariationalSettings.startOptions + VariationalSettings.options
    public static let quickSettings = ["viEpochs": "2"]

    public var settings: VariationalSettings
    public var estimator: WeightNoiseEstimator
    public var bayesianLayers: BayesianLayers

    public init(settings: MethodSettings) throws {
        self.settings = try VariationalSettings(settings: settings)
        estimator = try settings.choice("estimator") ?? .localReparameterization
        bayesianLayers = try settings.choice("bayesianLayers") ?? .all
    }

    public func validate(_ context: MethodContext) throws { try settings.validate(context, bayesianLayers: bayesianLayers) }
    public var takesAdversarialTraining: Bool { true }

    public func run(_ job: MethodJob) throws -> MethodOutcome {
        try settings.run(job, name: Self.name, bayesianLayers: bayesianLayers, estimator: estimator, fixPointWeights: false)
    }

    public static func restore(_ archive: PosteriorArchive) throws -> any Posterior { try MeanFieldPosterior(archive: archive) }
}

/// Mean-field VI with Flipout (Wen et al. 2018): every example of a batch gets a
/// pseudo-independent weight perturbation from one draw and random sign flips.
public struct VIFlipoutMethod: RegisteredMethod {
    public static let name = "vi-flipout"
    public static let family = MethodFamily.variational
    public static let phase = MethodPhase.trained
    public static let summary = "mean-field Gaussian VI with Flipout perturbations (Wen et al. 2018)"
    public static let options = [
        MethodOption.choice("bayesianLayers", BayesianLayers.self, default: .all, help: "which layers get Gaussian weights (the rest: MAP under the prior)"),
    ] + VariationalSettings.startOptions + VariationalSettings.options
    public static let quickSettings = ["viEpochs": "2"]

    public var settings: VariationalSettings
    public var bayesianLayers: BayesianLayers

    public init(settings: MethodSettings) throws {
        self.settings = try VariationalSettings(settings: settings)
        bayesianLayers = try settings.choice("bayesianLayers") ?? .all
    }

    public func validate(_ context: MethodContext) throws { try settings.validate(context, bayesianLayers: bayesianLayers) }
    public var takesAdversarialTraining: Bool { true }

    public func run(_ job: MethodJob) throws -> MethodOutcome {
        try settings.run(job, name: Self.name, bayesianLayers: bayesianLayers, estimator: .flipout, fixPointWeights: false)
    }

    public static func restore(_ archive: PosteriorArchive) throws -> any Posterior { try MeanFieldPosterior(archive: archive) }
}

/// STF-BNN — stochastic first layer: train the network deterministically, then make only its
/// first layer Bayesian, initialised at the trained weights (MOPED), and fit it by stochastic
/// VI with every other layer fixed. A posterior that stores the network plus one layer's σ.
public struct STFBNNMethod: RegisteredMethod {
    public static let name = "stf-bnn"
    public static let family = MethodFamily.variational
    public static let phase = MethodPhase.trained
    public static let summary = "trained network with only its first layer Bayesian, fitted by VI with the rest fixed"
    public static let options = [
        MethodOption.choice("estimator", WeightNoiseEstimator.self, default: .localReparameterization, help: "gradient estimator of the expected log-likelihood"),
    ] + VariationalSettings.options
    public static let quickSettings = ["viEpochs": "2"]

    public var settings: VariationalSettings
    public var estimator: WeightNoiseEstimator

    public init(settings: MethodSettings) throws {
        self.settings = try VariationalSettings(settings: settings, start: .moped)
        estimator = try settings.choice("estimator") ?? .localReparameterization
    }

    public func validate(_ context: MethodContext) throws { try settings.validate(context, bayesianLayers: .first) }
    public var takesAdversarialTraining: Bool { true }

    public func run(_ job: MethodJob) throws -> MethodOutcome {
        try settings.run(job, name: Self.name, bayesianLayers: .first, estimator: estimator, fixPointWeights: true)
    }

    public static func restore(_ archive: PosteriorArchive) throws -> any Posterior { try MeanFieldPosterior(archive: archive) }
}
