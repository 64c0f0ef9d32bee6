import CredenceMetrics
import CredenceNN
import CredenceTensor

/// SWA and SWAG: run SGD (momentum, constant or cyclical learning rate) from a trained
/// network and fit a Gaussian to the iterates it visits.
///
/// - SWA (Izmailov et al., 2018, "Averaging Weights Leads to Wider Optima"): the mean of the
///   collected iterates θ̄ = (1/n) Σᵢ θᵢ as a point estimate (`meanOnly: true` → `SWAPosterior`).
/// - SWAG (Maddox et al., 2019, "A Simple Baseline for Bayesian Uncertainty in Deep
///   Learning"): 𝒩(θ̄, Σ) with Σ_diag = diag(θ²‾ − θ̄²) (`.diagonal`) or
///   Σ = ½ Σ_diag + D Dᵀ/(2(K − 1)) (`.lowRankPlusDiagonal`), D the last K deviations
///   θᵢ − θ̄ᵢ (→ `SWAGPosterior`; sampling is scaled by `scale`).
///
/// `update` takes one SGD step on the batch (mean loss plus coupled L2 weight decay λ, the
/// Gaussian prior N(0, (λN)⁻¹ I)); after `startAfter` steps it collects the iterate every
/// `collectEvery` steps. With a constant learning rate, SGD's stationary distribution
/// approximates a posterior (Mandt et al., 2017), which is why the iterates' spread is
/// meaningful; start from a pretrained (MAP) network, as the paper does.
///
/// ```swift
/// let swag = SWAGCollection(learningRate: .constant(0.01), collectEvery: stepsPerEpoch / 4)
/// let (posterior, _) = try fitPosterior(swag, model: model, parameters: θ_MAP, task: .classification,
///                                       data: train, epochs: 20, batchSize: 128, seed: 0)
/// ```
public struct SWAGCollection: InferenceMethod {
    /// SGD learning-rate schedule: `.constant` (the paper) or `.cyclicalCosine` (collect at
    /// the end of each cycle by setting `collectEvery` to the cycle length).
    public var learningRate: LearningRateSchedule
    /// Heavy-ball momentum (the paper: 0.9).
    public var momentum: Float
    /// Coupled L2 weight decay λ (prior precision λN).
    public var weightDecay: Float
    /// SGD steps between collections (the reference collects once per epoch on CIFAR and
    /// 4 times per epoch on ImageNet: `collectionInterval(...)` converts).
    public var collectEvery: Int
    /// SGD steps before the first collection counts (burn-in; 0 when starting from MAP).
    public var startAfter: Int
    /// K, the number of latest deviation columns kept (the paper: 20).
    public var rank: Int
    public var covariance: SWAGCovariance
    /// Sampling scale s: θ̃ = θ̄ + √s · Σ^{1/2} z, covariance s·Σ. Default 0.5, the setting the
    /// reference experiments use. For `.diagonal` this matches the reference sampler exactly;
    /// for `.lowRankPlusDiagonal` the reference code (swag.py `sample_fullrank`) omits the
    /// paper's ½ factors — its covariance is s·(Σ_diag + DDᵀ/(K − 1)) — so reproducing its
    /// samples needs s = 1 here (our s = 0.5 is half its spread).
    public var scale: Double
    /// SWA: produce the mean alone as a point posterior (no second moment or deviations kept).
    public var meanOnly: Bool
    /// Training loss (default: cross-entropy for classification, Gaussian NLL for regression).
    public var objective: (any TrainingObjective)?
    /// The optimizer of the collection phase (SGD with momentum in the paper; Adam continues
    /// an Adam-trained network as the PyTorch reference does, and keeps heteroscedastic
    /// regression stable where plain SGD diverges).
    public var optimizer: OptimizerKind = .sgd
    /// Training inputs for recomputing batch-norm running statistics (SWA's mean and each SWAG
    /// sample, as the papers' `bn_update`); needed only for a model with batch normalization.
    public var recalibrationInputs: Tensor?

    public init(learningRate: LearningRateSchedule = .constant(0.01), momentum: Float = 0.9, weightDecay: Float = 0,
                collectEvery: Int, startAfter: Int = 0, rank: Int = 20,
                covariance: SWAGCovariance = .lowRankPlusDiagonal, scale: Double = 0.5, meanOnly: Bool = false,
                objective: (any TrainingObjective)? = nil) {
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
        self.collectEvery = collectEvery
        self.startAfter = startAfter
        self.rank = rank
        self.covariance = covariance
        self.scale = scale
        self.meanOnly = meanOnly
        self.objective = objective
    }

    /// Stochastic weight averaging: the same SGD phase, keeping only the running mean.
    public static func swa(learningRate: LearningRateSchedule = .constant(0.01), momentum: Float = 0.9,
                           weightDecay: Float = 0, collectEvery: Int, startAfter: Int = 0) -> SWAGCollection {
        SWAGCollection(learningRate: learningRate, momentum: momentum, weightDecay: weightDecay,
                       collectEvery: collectEvery, startAfter: startAfter, meanOnly: true)
    }

    /// Steps between collections for `perEpoch` collections per epoch of `datasetSize`
    /// examples in batches of `batchSize` (at least 1).
    public static func collectionInterval(datasetSize: Int, batchSize: Int, perEpoch: Int = 1) -> Int {
        let steps = (datasetSize + Swift.max(batchSize, 1) - 1) / Swift.max(batchSize, 1)
        return Swift.max(1, steps / Swift.max(perEpoch, 1))
    }

    public struct State {
        public var model: any NetworkModel
        public var task: Predictive.Task
        /// The current SGD iterate.
        public var parameters: Tensor
        /// Holds the objective and the SGD optimizer (with its momentum buffer).
        public var trainer: Trainer
        /// SGD steps taken.
        public var steps = 0
        public var moments: SWAGMoments
    }

    /// Deviation rows actually kept (none for SWA and SWAG-Diagonal).
    var keptRank: Int { meanOnly || covariance == .diagonal ? 0 : rank }

    public func validate(model: any NetworkModel) throws {
        guard collectEvery >= 1 else { throw InferenceError.invalidOption("SWAG collectEvery must be ≥ 1 step, got \(collectEvery)") }
        guard startAfter >= 0 else { throw InferenceError.invalidOption("SWAG startAfter must be ≥ 0 steps, got \(startAfter)") }
        guard momentum >= 0, momentum < 1 else { throw InferenceError.invalidOption("SWAG momentum must be in [0, 1), got \(momentum)") }
        guard weightDecay >= 0, weightDecay.isFinite else {
            throw InferenceError.invalidOption("SWAG weight decay must be a finite number ≥ 0, got \(weightDecay)")
        }
        guard meanOnly || (scale > 0 && scale.isFinite) else {
            throw InferenceError.invalidOption("SWAG sampling scale must be a finite number > 0, got \(scale)")
        }
        if !meanOnly && covariance == .lowRankPlusDiagonal && rank < 2 {
            throw InferenceError.invalidOption("low-rank-plus-diagonal SWAG needs rank K ≥ 2 (it divides by K − 1), got \(rank); use the diagonal covariance for K < 2")
        }
    }

    public func initialState(model: any NetworkModel, parameters: Tensor, task: Predictive.Task,
                             rng: inout RandomGenerator) throws -> State {
        try validate(model: model)
        guard parameters.count == model.parameterCount else {
            throw ModelError.parameterCount(got: parameters.count, expected: model.parameterCount)
        }
        let objective = self.objective ?? Objective.default(for: task)
        let sgd = Optimizer.make(optimizer, learningRate: learningRate, momentum: momentum, weightDecay: weightDecay,
                                 parameterCount: model.parameterCount)
        let trainer = Trainer(model: model, optimizer: sgd, configuration: TrainingConfiguration(epochs: 1, objective: objective))
        let moments = SWAGMoments(parameterCount: model.parameterCount, rank: keptRank, tracksSecondMoment: !meanOnly)
        return State(model: model, task: task, parameters: parameters, trainer: trainer, moments: moments)
    }

    /// One SGD step; then, every `collectEvery` steps after `startAfter`, a collection.
    public func update(_ state: inout State, batch: TrainingBatch, rng: inout RandomGenerator) throws -> StepReport {
        let (loss, correct, parts) = try state.trainer.lossAndGradientParts(parameters: state.parameters, batch: batch, rng: &rng)
        try EpochLoop.requireFinite(loss)
        state.trainer.update(&state.parameters, gradientParts: parts)
        state.steps += 1
        if state.steps > startAfter && (state.steps - startAfter) % collectEvery == 0 {
            collect(state.parameters, into: &state)
        }
        return StepReport(loss: loss, correct: state.task == .classification ? correct : nil)
    }

    /// Adds `theta` to the moments as if SGD had just visited it (tests feed known iterates).
    func collect(_ theta: Tensor, into state: inout State) {
        state.moments.collect(theta)
    }

    /// `SWAPosterior` when `meanOnly`, else `SWAGPosterior`.
    public func posterior(from state: State) throws -> AnyPosterior {
        meanOnly ? AnyPosterior(try swaPosterior(from: state)) : AnyPosterior(try swagPosterior(from: state))
    }

    /// The mean of the collected iterates as a point posterior.
    public func swaPosterior(from state: State) throws -> SWAPosterior {
        try requireCollections(1, state)
        let mean = state.moments.meanTensor
        var model = state.model
        if model.hasRunningStatistics {
            guard let inputs = recalibrationInputs else {
                throw InferenceError.invalidOption("SWA over a network with batch normalization needs training inputs (recalibrationInputs) to recompute the averaged weights' running statistics")
            }
            model = try model.recomputingRunningStatistics(parameters: mean, inputs: inputs)
        }
        return try SWAPosterior(model: model, mean: mean, task: state.task, collections: state.moments.count)
    }

    /// The Gaussian fitted to the collected iterates (needs the second moment: not `meanOnly`).
    public func swagPosterior(from state: State) throws -> SWAGPosterior {
        guard !state.moments.secondMoment.isEmpty else {
            throw InferenceError.invalidOption("this SWAG run kept only the mean (SWA); it has no covariance to sample")
        }
        try requireCollections(2, state)
        return try SWAGPosterior(model: state.model, task: state.task, mean: state.moments.meanTensor,
                                 variance: state.moments.variance,
                                 deviations: covariance == .lowRankPlusDiagonal ? state.moments.deviations : nil,
                                 scale: scale, collections: state.moments.count, rank: rank,
                                 recalibrationInputs: recalibrationInputs)
    }

    private func requireCollections(_ needed: Int, _ state: State) throws {
        guard state.moments.count >= needed else {
            throw InferenceError.invalidOption(
                "SWAG collected \(state.moments.count) iterate(s) in \(state.steps) SGD steps but needs at least \(needed): "
                    + "train for at least startAfter + \(needed) × collectEvery = \(startAfter + needed * collectEvery) steps")
        }
    }
}

extension SWAGCollection.State: PersistentState {
    /// The SGD iterate, the optimizer's state, the step count and the moments.
    public func save(into file: inout SafeTensorsFile) throws {
        file["parameters"] = parameters
        try trainer.optimizer.exportState().store(in: &file, path: "the SWAG collection state")
        file.metadata["swag.steps"] = String(steps)
        moments.save(into: &file)
    }

    public mutating func restore(from file: SafeTensorsFile, path: String) throws {
        parameters = try file.required("parameters", shape: [model.parameterCount], path: path)
        try trainer.optimizer.restore(from: file, path: path)
        steps = try file.requiredInteger("swag.steps", path: path)
        try moments.restore(from: file, path: path)
    }
}
