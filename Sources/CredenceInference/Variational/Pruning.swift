import CredenceMetrics
import CredenceNN
import CredenceTensor

/// How weights are ranked for pruning; the lowest-ranked go first.
public enum PruningScore: String, CaseIterable, Sendable {
    /// |μ|/σ of a mean-field posterior's weights (for variational dropout, log α = −2 log SNR)
    case signalToNoise = "signal-to-noise"
    /// |w| of one network's weights (magnitude pruning)
    case magnitude
    /// the diagonal of the Fisher information of the (mean) network's weights on training data
    case fisher
}

/// A network with a fraction of its weights set to exactly zero.
public struct PrunedNetwork {
    public let model: any NetworkModel
    /// The mean (or point) parameters with the pruned weights zeroed.
    public let parameters: Tensor
    public let score: PruningScore
    /// Weights ranked (weight tensors of the scored layers; biases are never pruned) and pruned.
    public let weightCount: Int
    public let prunedCount: Int
    public var fraction: Double { weightCount == 0 ? 0 : Double(prunedCount) / Double(weightCount) }
}

/// Pruning a posterior's network: a mean-field posterior's mean network by signal-to-noise
/// ratio (its Bayesian layers' weight tensors), or a single network by magnitude (all its
/// weight tensors) — the "Bayesian self-compression" comparison.
///
/// ```swift
/// let pruning = try WeightPruning(posterior)                 // variational dropout, VI, or MAP
/// let sparse = pruning.pruned(fraction: 0.95)                // zeros the 95 % lowest-ranked weights
/// try Checkpoint(spec: sparse.model.spec, parameters: sparse.parameters).save(to: "pruned.safetensors")
/// ```
public struct WeightPruning {
    public let model: any NetworkModel
    public let parameters: Tensor
    public let score: PruningScore
    /// Flat indices of the ranked weights, lowest score first.
    public let ranking: [Int]
    /// Each ranked weight's score, in `ranking`'s order.
    public let scores: [Float]

    /// Ranks by Fisher information: the diagonal of the Fisher information matrix of the mean
    /// network (a mean-field posterior's μ, or the network itself) on `data` — for a softmax
    /// likelihood the generalized Gauss–Newton matrix, Σₙ Jₙᵀ(diag pₙ − pₙpₙᵀ)Jₙ, computed by a
    /// diagonal Laplace over all weights (`Laplace`). The weights it is flattest in go first (the
    /// radio-galaxy VI study's Fisher pruning). Weight tensors of every layer with parameters.
    public init(_ posterior: any Posterior, fisherOn data: some BatchSource, batchSize: Int = 256) throws {
        let network: PointPosterior
        if let meanField = posterior as? MeanFieldPosterior {
            network = try PointPosterior(model: meanField.model, parameters: meanField.mean, task: meanField.task)
        } else if let point = posterior as? PointPosterior {
            network = point
        } else {
            throw InferenceError.invalidOption(
                "Fisher pruning needs a mean-field posterior or one network; this is a \(posterior.method) posterior")
        }
        guard network.task == .classification else {
            throw InferenceError.invalidOption("Fisher pruning is implemented for classification networks")
        }
        let laplace = try Laplace(subset: .all, structure: .diagonal, predictive: .monteCarlo, priorOptimization: .none)
        let (fitted, _) = try fitPosterior(laplace, model: network.model, parameters: network.parameters, task: .classification,
                                           data: data, epochs: 1, batchSize: batchSize, seed: 0, shuffle: false)
        guard let diagonal = fitted.precision as? DiagonalPrecision else {
            throw InferenceError.invalidOption("the diagonal Laplace did not give a diagonal curvature")
        }
        var fisher = [Int: Float]()
        for (k, i) in fitted.subset.flatIndices.enumerated() { fisher[i] = Float(diagonal.curvature[k]) }
        var indices: [Int] = [], values: [Float] = []
        for entry in network.model.layout.entries where entry.name.hasSuffix(".weight") {
            for i in entry.range { indices.append(i); values.append(fisher[i] ?? 0) }
        }
        self.init(model: network.model, parameters: network.parameters, score: .fisher, indices: indices, values: values)
    }

    /// Ranks `indices` by `values`, lowest first; ties keep flat order, so the same scores
    /// always prune the same weights.
    init(model: any NetworkModel, parameters: Tensor, score: PruningScore, indices: [Int], values: [Float]) {
        self.model = model
        self.parameters = parameters
        self.score = score
        let order = values.indices.sorted { values[$0] < values[$1] || (values[$0] == values[$1] && $0 < $1) }
        ranking = order.map { indices[$0] }
        scores = order.map { values[$0] }
    }

    /// Ranks by signal-to-noise |μ|/σ (a mean-field posterior's Bayesian weight tensors) or by
    /// magnitude |w| (one network's weight tensors).
    public init(_ posterior: any Posterior) throws {
        var indices: [Int] = [], values: [Float] = []
        if let meanField = posterior as? MeanFieldPosterior {
            meanField.mean.withUnsafeBufferPointer { mu in
                meanField.standardDeviations.withUnsafeBufferPointer { sigma in
                    for block in meanField.meanField.blocks where block.entry.name.hasSuffix(".weight") {
                        for (k, i) in zip(block.sigmaRange, block.entry.range) {
                            indices.append(i)
                            values.append(Swift.abs(mu[i]) / Swift.max(sigma[k], 1e-30))
                        }
                    }
                }
            }
            self.init(model: meanField.model, parameters: meanField.mean, score: .signalToNoise, indices: indices, values: values)
        } else if let point = posterior as? PointPosterior {
            point.parameters.withUnsafeBufferPointer { theta in
                for entry in point.model.layout.entries where entry.name.hasSuffix(".weight") {
                    for i in entry.range { indices.append(i); values.append(Swift.abs(theta[i])) }
                }
            }
            self.init(model: point.model, parameters: point.parameters, score: .magnitude, indices: indices, values: values)
        } else {
            throw InferenceError.invalidOption(
                "pruning needs a mean-field posterior (vi, vi-flipout, stf-bnn, variational-dropout) or one network (map); this is a \(posterior.method) posterior")
        }
    }

    /// The network with the lowest-ranked ⌊fraction · weights⌉ weights set to zero.
    public func pruned(fraction: Double) -> PrunedNetwork {
        let count = Swift.min(ranking.count, Swift.max(0, Int((fraction * Double(ranking.count)).rounded())))
        var theta = parameters
        theta.withUnsafeMutableBufferPointer { t in for i in ranking.prefix(count) { t[i] = 0 } }
        return PrunedNetwork(model: model, parameters: theta, score: score, weightCount: ranking.count, prunedCount: count)
    }

    /// The fraction of ranked weights whose score is below `threshold` (for variational
    /// dropout, log α > 3 is SNR < e^−1.5).
    public func fraction(below threshold: Float) -> Double {
        guard !scores.isEmpty else { return 0 }
        var low = 0, high = scores.count
        while low < high { let mid = (low + high) / 2; if scores[mid] < threshold { low = mid + 1 } else { high = mid } }
        return Double(low) / Double(scores.count)
    }
}
