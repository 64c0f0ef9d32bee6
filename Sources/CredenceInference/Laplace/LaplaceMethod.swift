import CredenceData
import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation

/// How a subnetwork Laplace chooses its weights (Daxberger et al. 2021, "Bayesian Deep
/// Learning via Subnetwork Inference").
public enum SubnetworkSelection: String, Codable, CaseIterable, Sendable {
    /// The weights with the largest marginal variance under a diagonal Laplace over all
    /// weights (the paper's choice; its prior precision tuned by the marginal likelihood).
    case largestVariance = "largest-variance"
    /// The weights of largest magnitude |θ̂ᵢ| (the paper's baseline).
    case largestMagnitude = "largest-magnitude"
    /// A seeded uniformly random subset (the paper's baseline).
    case random
}

/// The Laplace approximation as the registry lists it: fitted around the trained network on
/// its training set (one pass, batches of 1,000), every axis of `Laplace` an option, and the
/// subnetwork chosen by `subnetworkSelection` among `subnetworkSize` weights.
public struct LaplaceMethod: RegisteredMethod {
    public static let name = "laplace"
    public static let family = MethodFamily.laplace
    public static let phase = MethodPhase.postHoc
    public static let summary = "Gaussian around the trained weights with GGN curvature (MacKay 1992; Daxberger et al. 2021)"
    public static let options = [
        MethodOption.choice("subset", WeightSubset.self, default: .lastLayer, recordsDefault: true, help: "which weights are Bayesian"),
        MethodOption.choice("hessian", HessianStructure.self, default: .kronecker, recordsDefault: true,
                            help: "structure of the generalized Gauss-Newton curvature (kron = kronecker)", aliases: ["kron": "kronecker"]),
        MethodOption.choice("predictive", PredictiveKind.self, default: .glm, recordsDefault: true,
                            help: "linearized GLM or Monte-Carlo over sampled weights"),
        MethodOption.choice("link", LinkApproximation.self, default: .probit, recordsDefault: true, help: "link approximation of the GLM predictive"),
        MethodOption.choice("prior", PriorOptimization.self, default: .marginalLikelihood,
                            help: "how the prior precision is chosen (held-out: the NLL on --holdout N examples over 10^-4…10^4, laplace-torch's gridsearch)"),
        MethodOption("priorPrecision", .real(above: 0, below: nil), default: "1.0", help: "prior precision (the start value when it is optimized)"),
        MethodOption.choice("priorStructure", PriorStructure.self, default: .scalar, help: "one prior precision for all weights, or one per layer"),
        MethodOption("rank", .integer(atLeast: 1), default: "20", help: "rank of a low-rank curvature"),
        MethodOption("subnetworkSize", .integer(atLeast: 1), default: "1000", help: "weights in a subnetwork (subset=subnetwork)"),
        MethodOption.choice("subnetworkSelection", SubnetworkSelection.self, default: .largestVariance,
                            help: "how a subnetwork's weights are chosen (subset=subnetwork)"),
    ]
    /// Monte-Carlo link: the walk compares the predictive with the posterior's samples, and the
    /// probit link approximates the GLM integral (0.10–0.12 off its samples on two moons).
    public static let quickSettings = ["link": "monte-carlo"]

    public var subset = WeightSubset.lastLayer
    public var structure = HessianStructure.kronecker
    public var predictive = PredictiveKind.glm
    public var link = LinkApproximation.probit
    public var prior = PriorOptimization.marginalLikelihood
    public var priorPrecision = 1.0
    public var priorStructure = PriorStructure.scalar
    public var rank = 20
    public var subnetworkSize = 1000
    public var subnetworkSelection = SubnetworkSelection.largestVariance

    public init() {}

    public init(settings: MethodSettings) throws {
        subset = try settings.choice("subset") ?? subset
        structure = try settings.choice("hessian") ?? structure
        predictive = try settings.choice("predictive") ?? predictive
        link = try settings.choice("link") ?? link
        prior = try settings.choice("prior") ?? prior
        priorPrecision = try settings.required("priorPrecision")
        priorStructure = try settings.choice("priorStructure") ?? priorStructure
        rank = try settings.required("rank")
        subnetworkSize = try settings.required("subnetworkSize")
        subnetworkSelection = try settings.choice("subnetworkSelection") ?? subnetworkSelection
        if prior == .heldOut && priorStructure != .scalar {
            throw LaplaceError.illegalCombination("the held-out prior search tunes one scalar precision; use priorStructure scalar, or prior marginal-likelihood for a layerwise prior")
        }
        _ = try laplace(subnetworkIndices: subset == .subnetwork ? [0] : nil)  // option combinations, before any work
    }

    /// The fitting method with these settings (and, for a subnetwork, its chosen weights); with
    /// the held-out prior it keeps `priorPrecision`, which `run` then tunes.
    public func laplace(subnetworkIndices: [Int]?) throws -> Laplace {
        try Laplace(subset: subset, structure: structure, predictive: predictive, link: link, priorPrecision: priorPrecision,
                    priorOptimization: prior == .heldOut ? .none : prior, priorStructure: priorStructure, rank: rank,
                    subnetworkIndices: subnetworkIndices)
    }

    public func validate(_ context: MethodContext) throws {
        if prior == .heldOut && context.options.holdout == 0 {
            throw InferenceError.invalidOption("the held-out prior needs held-out data: keep N training examples out of training (--holdout N, or \"training\": {\"holdout\": N} in a suite; e.g. 5000 for Fashion-MNIST, 200 for two-moons)")
        }
        let model = try context.model()
        if fitsOnClassifierFeatures(model) {
            try laplace(subnetworkIndices: nil).validate(model: ClassifierFeatures.head(of: model))
            return
        }
        try laplace(subnetworkIndices: subset == .subnetwork ? Array(0..<Swift.min(subnetworkSize, model.parameterCount)) : nil)
            .validate(model: model)
        if subset == .subnetwork && subnetworkSelection == .largestVariance {
            do {
                try Laplace(subset: .all, structure: .diagonal, predictive: .monteCarlo).validate(model: model)
            } catch let error as LaplaceError {
                throw LaplaceError.illegalCombination("choosing the subnetwork by largest variance fits a diagonal Laplace over every weight first, which this model does not allow (\(error)); use subnetworkSelection largest-magnitude or random")
            }
        }
    }

    /// Whether the last-layer subset of a graph of blocks is fitted on the classifier's
    /// features (computed once) rather than by per-example rows through the whole network.
    func fitsOnClassifierFeatures(_ model: any NetworkModel) -> Bool {
        subset == .lastLayer && model.layerChain == nil
    }

    public var takesAdversarialTraining: Bool { true }

    public func run(_ job: MethodJob) throws -> MethodOutcome {
        let file = try job.network(job.options)
        let point = try file.pointPosterior()
        let (train, heldOut, _) = try loadRunData(job.options)
        if prior == .heldOut && heldOut == nil {
            throw TrainingError.invalidConfiguration("the held-out prior needs held-out data: train with --holdout N (e.g. --holdout 5000) so N training examples are kept out of training")
        }
        let start = Date()
        var indices: [Int]? = nil
        if subset == .subnetwork {
            job.onStage("choosing \(subnetworkSize) weights by \(subnetworkSelection.rawValue)")
            indices = try chooseSubnetwork(point, data: train, seed: job.seed)
        }
        let method = try laplace(subnetworkIndices: indices)
        if fitsOnClassifierFeatures(point.model) {
            job.onStage("fitting Laplace (\(subset.rawValue) on the classifier's features, \(structure.rawValue))")
            var posterior = try method.fitOnClassifierFeatures(point, data: train, seed: job.seed)
            var details: [String: Double] = [:]
            if let heldOut, let head = posterior.head as? LaplacePosterior {
                var features = heldOut
                features.inputs = try posterior.features.features(heldOut.inputs)
                let tuned = try tunePrior(head, on: features, job: job)
                posterior = FeatureSpacePosterior(head: tuned.posterior, features: posterior.features)
                details = tuned.details
            }
            let seconds = Date().timeIntervalSince(start)
            return MethodOutcome(posterior: posterior, seconds: file.seconds + seconds, posteriorSeconds: seconds, details: details)
        }
        try method.validate(model: point.model)
        job.onStage("fitting Laplace (\(subset.rawValue), \(structure.rawValue))")
        let fit = try fitPosterior(method, model: point.model, parameters: point.parameters, task: point.task, data: train,
                                   epochs: 1, batchSize: 1000, seed: job.seed, shuffle: false)
        var posterior = fit.posterior, details: [String: Double] = [:]
        if let heldOut { (posterior, details) = try tunePrior(posterior, on: heldOut, job: job) }
        let seconds = Date().timeIntervalSince(start)
        return MethodOutcome(posterior: posterior, seconds: file.seconds + seconds, posteriorSeconds: seconds, details: details)
    }

    /// With the held-out prior: the grid search on `heldOut`, and what it found for the record
    /// ("priorPrecision", "heldOutNLL"); otherwise `posterior` as it is.
    func tunePrior(_ posterior: LaplacePosterior, on heldOut: InMemoryDataset, job: MethodJob) throws
        -> (posterior: LaplacePosterior, details: [String: Double]) {
        guard prior == .heldOut else { return (posterior, [:]) }
        let search = HeldOutPriorSearch()
        let result = try search.tune(posterior, on: heldOut, samples: job.samples, seed: job.seed) { i, n in
            if i == 1 || i % 10 == 0 { job.onStage("choosing the prior on \(heldOut.count) held-out examples (\(i)/\(n))") }
        }
        return (result.posterior, ["priorPrecision": result.precision, "heldOutNLL": result.negativeLogLikelihood])
    }

    /// The subnetwork's flat weight indices (sorted), chosen as `subnetworkSelection` says.
    public func chooseSubnetwork(_ point: PointPosterior, data: some BatchSource, seed: UInt64) throws -> [Int] {
        let count = Swift.min(subnetworkSize, point.model.parameterCount)
        switch subnetworkSelection {
        case .largestVariance:
            let diagonal = try Laplace(subset: .all, structure: .diagonal, predictive: .monteCarlo)
            let fit = try fitPosterior(diagonal, model: point.model, parameters: point.parameters, task: point.task, data: data,
                                       epochs: 1, batchSize: 1000, seed: seed, shuffle: false)
            return fit.posterior.largestVarianceIndices(count)
        case .largestMagnitude:
            let v = point.parameters.values
            return v.indices.sorted { abs(v[$0]) > abs(v[$1]) }.prefix(count).sorted()
        case .random:
            var rng = RandomGenerator(seed: seed ^ 0x5B5E_7000)
            return Array(rng.permutation(point.model.parameterCount).prefix(count)).sorted()
        }
    }

    public static func restore(_ archive: PosteriorArchive) throws -> any Posterior {
        FeatureSpacePosterior.wrote(archive) ? try FeatureSpacePosterior(archive: archive, restoreHead: LaplacePosterior.init(archive:))
                                             : try LaplacePosterior(archive: archive)
    }
}
