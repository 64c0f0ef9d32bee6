import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation

/// The Laplace approximation (MacKay 1992; Ritter et al. 2018; Daxberger et al. 2021,
/// "Laplace Redux"): around trained weights θ̂, p(θ | D) ≈ N(θ̂, P⁻¹) with the posterior
/// precision P = s·H + P₀ — H the generalized Gauss–Newton of the negative log-likelihood
/// over a weight subset, s = 1/(σ²T) the likelihood scale, P₀ = diag(δ) the prior.
///
/// Two independent axes — *which weights* (`WeightSubset`) × *which curvature structure*
/// (`HessianStructure`) — plus the predictive (`PredictiveKind`, `LinkApproximation`) and
/// the prior (fixed, or tuned by the marginal likelihood). This initializer is the one
/// factory: it rejects illegal combinations before any work starts (model-dependent ones
/// in `validate(model:)`, which `fitPosterior` calls first).
///
/// As an `InferenceMethod`: `initialState` takes the MAP parameters, `update` adds one
/// batch's curvature (one pass over the data with `epochs: 1`; more epochs would count the
/// data twice), `posterior(from:)` factorizes and tunes the prior.
///
/// What is supported (anything else is refused up front with a `LaplaceError`):
/// - Dense layers, any subset × any structure, except KFAC over a subnetwork. Per-example
///   Jacobians come factored (layer input × output-gradient): the GGN needs one backward pass
///   per output (K for classification) per batch — none for the last layer — and so does the
///   GLM predictive, so GLM over all weights works for any multilayer perceptron.
/// - Subsets containing convolutions (all weights, first layer or a subnetwork of a CNN):
///   diagonal, full and low-rank through per-example Jacobian rows (one reverse pass per
///   example and output), only for subsets of at most `denseLimit` weights; no KFAC (no
///   im2col factors). The last layer of a CNN is dense and supports everything.
/// - Full and low-rank need the dense n×n curvature: n ≤ `denseLimit` (12,000 by default,
///   1.15 GB per matrix in double precision).
/// - Low-rank with the marginal-likelihood prior: the evidence sees only k directions of data
///   and picks a small δ (an underconfident predictive); prefer a fixed or separately tuned prior.
///
/// ```swift
/// let laplace = try Laplace(subset: .lastLayer, structure: .kronecker, predictive: .glm)
/// let (posterior, _) = try fitPosterior(laplace, model: model, parameters: map, task: .classification,
///                                       data: train, epochs: 1, batchSize: 1000, seed: 0)
/// let p = try posterior.predictive(xTest, samples: 1, rng: &rng)   // GLM + probit: S = 1
/// ```
public struct Laplace: InferenceMethod {
    public let subset: WeightSubset
    public let structure: HessianStructure
    public let predictive: PredictiveKind
    /// Used by the GLM predictive for classification.
    public let link: LinkApproximation
    /// The prior precision to start from (and keep, without optimization).
    public let priorPrecision: Double
    public let priorOptimization: PriorOptimization
    public let priorStructure: PriorStructure
    /// Posterior temperature T: the likelihood (and curvature) is scaled by 1/T.
    public let temperature: Double
    /// k for `.lowRank`.
    public let rank: Int
    /// Flat parameter indices of a `.subnetwork` subset.
    public let subnetworkIndices: [Int]?
    /// The observation model of a regression network.
    public let regression: RegressionLikelihood
    /// σ of a homoscedastic regression; nil = the maximum-likelihood value from the training residuals.
    public let noiseStandardDeviation: Double?
    /// Most weights a dense (full or low-rank) curvature may cover.
    public let denseLimit: Int
    public static let defaultDenseLimit = 12_000

    public init(subset: WeightSubset = .lastLayer, structure: HessianStructure = .kronecker,
                predictive: PredictiveKind = .glm, link: LinkApproximation = .probit,
                priorPrecision: Double = 1, priorOptimization: PriorOptimization = .marginalLikelihood,
                priorStructure: PriorStructure = .scalar, temperature: Double = 1, rank: Int = 20,
                subnetworkIndices: [Int]? = nil, regression: RegressionLikelihood = .heteroscedastic,
                noiseStandardDeviation: Double? = nil, denseLimit: Int = Laplace.defaultDenseLimit) throws {
        if subset == .subnetwork && structure == .kronecker {
            throw LaplaceError.illegalCombination(
                "Kronecker factors describe whole layers; a subnetwork selects individual weights — use --hessian full, low-rank or diagonal")
        }
        if subset == .subnetwork && subnetworkIndices == nil {
            throw LaplaceError.illegalCombination(
                "a subnetwork Laplace needs the chosen weight indices (e.g. from LaplacePosterior.largestVarianceIndices of a diagonal Laplace)")
        }
        if subset != .subnetwork && subnetworkIndices != nil {
            throw LaplaceError.illegalCombination("subnetwork indices were given for the \(subset.rawValue) subset; use --subset subnetwork")
        }
        guard priorPrecision > 0, priorPrecision.isFinite else {
            throw LaplaceError.invalidValue("the prior precision must be finite and > 0, got \(priorPrecision)")
        }
        if priorOptimization == .heldOut {
            throw LaplaceError.illegalCombination(
                "Laplace fits on the training data alone; to tune the prior on held-out data fit with priorOptimization .none, then HeldOutPriorSearch().tune(posterior, on: heldOut, …) (the registry's laplace does this with prior held-out and --holdout N)")
        }
        guard temperature > 0, temperature.isFinite else { throw LaplaceError.invalidValue("the temperature must be > 0, got \(temperature)") }
        guard structure != .lowRank || rank >= 1 else { throw LaplaceError.invalidValue("a low-rank Laplace needs rank ≥ 1, got \(rank)") }
        if let s = noiseStandardDeviation, !(s > 0 && s.isFinite) {
            throw LaplaceError.invalidValue("the noise standard deviation must be > 0, got \(s)")
        }
        self.subset = subset
        self.structure = structure
        self.predictive = predictive
        self.link = link
        self.priorPrecision = priorPrecision
        self.priorOptimization = priorOptimization
        self.priorStructure = priorStructure
        self.temperature = temperature
        self.rank = rank
        self.subnetworkIndices = subnetworkIndices
        self.regression = regression
        self.noiseStandardDeviation = noiseStandardDeviation
        self.denseLimit = denseLimit
    }

    /// Model-dependent checks: the subset exists, its Jacobians fit the structure, and a dense
    /// curvature fits.
    public func validate(model: any NetworkModel) throws {
        let (n, perExampleLayer) = try LaplaceSubset.extent(of: subset, model: model, indices: subnetworkIndices)
        if let layer = perExampleLayer {
            if structure == .kronecker {
                throw LaplaceError.illegalCombination(
                    "Kronecker factors are implemented for the dense layers of a chain; the \(subset.rawValue) subset includes \(layer) "
                        + (subset == .lastLayer ? "— use --hessian diagonal/full/low-rank" : "— use --subset last-layer or --hessian diagonal/full/low-rank"))
            }
            if n > denseLimit {
                throw LaplaceError.tooLarge(
                    parameters: n, bytes: n * n * 8, limit: denseLimit,
                    message: "the \(subset.rawValue) subset includes \(layer), whose "
                        + "per-example Jacobians (one reverse pass per example and output) are limited to small subsets; "
                        + "use --subset last-layer, first-layer or a subnetwork")
            }
        }
        if (structure == .full || structure == .lowRank) && n > denseLimit {
            throw LaplaceError.tooLarge(
                parameters: n, bytes: n * n * 8, limit: denseLimit,
                message: "the \(subset.rawValue) subset has \(n) weights; use --hessian kronecker or diagonal, "
                    + "or --subset last-layer / a subnetwork of at most \(denseLimit) weights")
        }
    }

    public struct State {
        public let model: any NetworkModel
        /// θ̂, the MAP parameters.
        public let parameters: Tensor
        public let task: Predictive.Task
        public let subset: LaplaceSubset
        public let likelihood: LaplaceLikelihood
        var accumulator: CurvatureAccumulator
        /// Examples seen.
        public var examples = 0
        /// Σ log p(y | f(θ̂)) — or Σ squared residuals for the homoscedastic Gaussian.
        public var likelihoodStatistic = 0.0
        /// Outputs per example whose targets enter the likelihood.
        public var targetCount = 0
    }

    public func initialState(model: any NetworkModel, parameters: Tensor, task: Predictive.Task,
                             rng: inout RandomGenerator) throws -> State {
        try validate(model: model)
        guard parameters.count == model.parameterCount else {
            throw ModelError.parameterCount(got: parameters.count, expected: model.parameterCount)
        }
        let likelihood: LaplaceLikelihood
        let outputs = model.outputShape.reduce(1, *)
        switch task {
        case .classification: likelihood = .categorical
        case .regression:
            likelihood = regression == .homoscedastic ? .homoscedasticGaussian : .heteroscedasticGaussian
            if likelihood == .heteroscedasticGaussian && outputs % 2 != 0 {
                throw LaplaceError.unsupportedModel(
                    "a heteroscedastic regression network outputs D means and D raw variances; this one outputs \(outputs) values (use --regression homoscedastic)")
            }
        }
        let resolved = try LaplaceSubset(subset, model: model, indices: subnetworkIndices)
        return State(model: model, parameters: parameters, task: task, subset: resolved, likelihood: likelihood,
                     accumulator: CurvatureAccumulator(structure: structure, subset: resolved),
                     targetCount: likelihood.predictedOutputs(outputs))
    }

    /// Accumulates the batch's curvature; reports the MAP network's mean loss on it (negative
    /// log-likelihood, or the mean squared residual for the homoscedastic Gaussian).
    public func update(_ state: inout State, batch: TrainingBatch, rng: inout RandomGenerator) throws -> StepReport {
        let likelihood = state.likelihood
        let (f, factors) = try state.subset.backpropagate(model: state.model, parameters: state.parameters,
                                                          inputs: batch.inputs, seeds: likelihood.hessianSquareRoot)
        let statistic = try likelihood.batchStatistic(f, batch: batch)
        state.likelihoodStatistic += statistic
        try state.accumulator.add(factors)
        state.examples += batch.count
        let perExample = statistic / Double(Swift.max(batch.count, 1))
        return StepReport(loss: likelihood == .homoscedasticGaussian ? perExample : -perExample)
    }

    public func posterior(from state: State) throws -> LaplacePosterior {
        var state = state
        let n = Double(state.examples)
        var noiseVariance = 1.0, logLikelihood = state.likelihoodStatistic / temperature
        if state.likelihood == .homoscedasticGaussian {
            let squares = state.likelihoodStatistic, count = n * Double(state.targetCount)
            noiseVariance = noiseStandardDeviation.map { $0 * $0 } ?? Swift.max(squares / Swift.max(count, 1), 1e-12)
            logLikelihood = -0.5 * squares / (noiseVariance * temperature) - 0.5 * count * Foundation.log(2 * Double.pi * noiseVariance)
        }
        let scale = 1 / (noiseVariance * temperature)
        let tune = priorOptimization == .marginalLikelihood
        var precision = try state.accumulator.precision(prior: PriorPrecision(priorPrecision), curvatureScale: scale, rank: rank,
                                                        forSearch: tune)
        var evidence: Double? = nil
        if tune {
            let curvature = precision
            let search = PriorPrecisionSearch(logLikelihood: logLikelihood, groups: precision.groups,
                                              mean: state.subset.gather(state.parameters),
                                              logDeterminant: try precision.logDeterminantFunction(curvatureScale: scale),
                                              factorized: { prior in
                                                  let p = try curvature.with(prior: prior, curvatureScale: scale)
                                                  return (p.logDeterminant, p.marginalVariances)
                                              })
            let (prior, value) = try search.maximize(priorStructure)
            precision = try precision.with(prior: prior, curvatureScale: scale)
            evidence = value
        }
        return try LaplacePosterior(model: state.model, parameters: state.parameters, task: state.task,
                                    subset: state.subset, likelihood: state.likelihood, precision: precision,
                                    predictive: predictive, link: link, noiseVariance: noiseVariance,
                                    temperature: temperature, logLikelihood: logLikelihood, examples: state.examples,
                                    logMarginalLikelihood: evidence)
    }
}
