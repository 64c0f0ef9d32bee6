import CredenceMetrics
import CredenceNN
import CredenceTensor

/// How weights are ranked for pruning; the lowest-ranked go first.
public enum PruningScore: String, CaseIterable, Sendable {
    /// |μ|/σ of a mean-field posterior's weights (for variational dropout, log α = −2 log SNR)
    case signalToNoise = "signal-to-noise"
    /// |w| of one network's weights (magnitude pruning)
    case magnitude
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

    public init(_ posterior: any Posterior) throws {
        var indices: [Int] = [], values: [Float] = []
        if let meanField = posterior as? MeanFieldPosterior {
            (model, parameters, score) = (meanField.model, meanField.mean, .signalToNoise)
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
        } else if let point = posterior as? PointPosterior {
            (model, parameters, score) = (point.model, point.parameters, .magnitude)
            point.parameters.withUnsafeBufferPointer { theta in
                for entry in point.model.layout.entries where entry.name.hasSuffix(".weight") {
                    for i in entry.range { indices.append(i); values.append(Swift.abs(theta[i])) }
                }
            }
        } else {
            throw InferenceError.invalidOption(
                "pruning needs a mean-field posterior (vi, vi-flipout, stf-bnn, variational-dropout) or one network (map); this is a \(posterior.method) posterior")
        }
        // Stable: ties keep flat order, so the same posterior always prunes the same weights.
        let order = values.indices.sorted { values[$0] < values[$1] || (values[$0] == values[$1] && $0 < $1) }
        ranking = order.map { indices[$0] }
        scores = order.map { values[$0] }
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
