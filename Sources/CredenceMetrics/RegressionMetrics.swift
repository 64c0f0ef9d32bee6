import CredenceTensor
import Foundation

/// Observed coverage of a central prediction interval.
public struct IntervalCoverage: Codable, Sendable, Equatable {
    /// Nominal coverage, e.g. 0.9 for the interval `μ ± 1.645 σ`.
    public var level: Double
    /// Fraction of targets inside the interval (PICP).
    public var coverage: Double
    /// Mean interval width `2 z σ` (sharpness; narrower is better at equal coverage).
    public var meanWidth: Double
}

/// The standard normal CDF `Φ(z) = ½ erfc(−z/√2)`.
func standardNormalCDF(_ z: Double) -> Double { 0.5 * Foundation.erfc(-z / 2.0.squareRoot()) }

/// The standard normal density `φ(z) = exp(−z²/2) / √(2π)`.
func standardNormalPDF(_ z: Double) -> Double { Foundation.exp(-0.5 * z * z) / (2 * Double.pi).squareRoot() }

/// `Φ⁻¹(p)` for p ∈ (0, 1) by bisection on `Φ` (exact to double precision; interval widths,
/// and the rank normalisation of chain diagnostics).
public func standardNormalQuantile(_ p: Double) -> Double {
    var lo = -40.0, hi = 40.0
    for _ in 0..<200 {
        let mid = 0.5 * (lo + hi)
        if standardNormalCDF(mid) < p { lo = mid } else { hi = mid }
        if hi - lo <= 1e-15 * Swift.max(1, Swift.abs(mid)) { break }
    }
    return 0.5 * (lo + hi)
}

/// CRPS of the Gaussian `𝒩(μ, σ²)` at observation `y`, in closed form (Gneiting &
/// Raftery 2007, eq. 21; Gneiting et al. 2005):
/// `CRPS = σ [ z (2Φ(z) − 1) + 2φ(z) − 1/√π ]`, `z = (y − μ)/σ`; `|y − μ|` when σ = 0.
/// It equals `∫ (F(x) − 1[x ≥ y])² dx`, in the units of `y`; lower is better.
public func gaussianCRPS(mean: Double, standardDeviation sigma: Double, observation y: Double) -> Double {
    guard sigma > 0 else { return Swift.abs(y - mean) }
    let z = (y - mean) / sigma
    return sigma * (z * (2 * standardNormalCDF(z) - 1) + 2 * standardNormalPDF(z) - 1 / Double.pi.squareRoot())
}

extension Predictive {
    /// The targets as `N·D` doubles, after checking task, shape and finiteness.
    func regressionTargets(_ targets: Tensor, for metric: String) throws -> [Double] {
        try require(.regression, for: metric)
        let ok = targets.shape == [exampleCount, outputCount] || (outputCount == 1 && targets.shape == [exampleCount])
        guard ok else {
            throw MetricsError.invalidShape(name: "targets", shape: targets.shape,
                                            expected: "[\(exampleCount), \(outputCount)] (one row per example of the predictive)")
        }
        let y = targets.values.map(Double.init)
        if let i = y.firstIndex(where: { !$0.isFinite }) {
            throw MetricsError.nonFinite(name: "targets", location: "example \(i / outputCount), output \(i % outputCount)", value: y[i])
        }
        return y
    }
}

/// Root mean squared error of the predictive mean, `√((1/(N·D)) Σ (E[y] − y)²)`.
///
/// - Throws: `MetricsError` for a classification predictive or targets not `[N, D]`.
public func rootMeanSquaredError(_ predictive: Predictive, targets: Tensor) throws -> Double {
    let y = try predictive.regressionTargets(targets, for: "rootMeanSquaredError")
    let sum = zip(predictive.predictiveMean, y).reduce(0.0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
    return (sum / Double(y.count)).squareRoot()
}

/// Gaussian NLL of the **moment-matched** predictive `𝒩(E[y], Var[y])` (the mixture replaced
/// by one Gaussian with its mean and total variance), per target element:
/// `(1/(N·D)) Σ ½ [log(2π σ²) + (y − μ)²/σ²]`, `σ² = max(Var[y], minimumVariance)`.
/// This is the usual "test log-likelihood" of the UCI BNN benchmarks (with sign flipped).
/// See `mixtureNegativeLogLikelihood` for the exact mixture density.
///
/// - Throws: `MetricsError` for a classification predictive or targets not `[N, D]`.
public func gaussianNegativeLogLikelihood(_ predictive: Predictive, targets: Tensor,
                                          minimumVariance: Double = 1e-12) throws -> Double {
    let y = try predictive.regressionTargets(targets, for: "gaussianNegativeLogLikelihood")
    let variance = predictive.totalVariance
    var sum = 0.0
    for i in y.indices {
        let v = Swift.max(variance[i], minimumVariance), r = y[i] - predictive.predictiveMean[i]
        sum += 0.5 * (Foundation.log(2 * Double.pi * v) + r * r / v)
    }
    return sum / Double(y.count)
}

/// Exact NLL of the **Gaussian mixture** `(1/S) Σₛ 𝒩(y; μ_s, diag σ²_s)`, per target element:
/// `−(1/(N·D)) Σ_n [logsumexp_s Σ_d log 𝒩(y_nd; μ_snd, σ²_snd) − log S]`
/// (log-sum-exp max-shifted; each `σ²` floored at `minimumVariance`). This is the density
/// the sampled posterior actually predicts; the two agree for `S = 1`, and neither bounds
/// the other in general (they differ most for multimodal predictives).
///
/// - Throws: `MetricsError` for a classification predictive or targets not `[N, D]`.
public func mixtureNegativeLogLikelihood(_ predictive: Predictive, targets: Tensor,
                                         minimumVariance: Double = 1e-12) throws -> Double {
    let y = try predictive.regressionTargets(targets, for: "mixtureNegativeLogLikelihood")
    guard let means = predictive.means, let variances = predictive.variances else { return .nan }
    let (s, n, d) = (predictive.sampleCount, predictive.exampleCount, predictive.outputCount)
    var logComponent = [Double](repeating: 0, count: s)
    var total = 0.0
    means.withUnsafeBufferPointer { mu in
        variances.withUnsafeBufferPointer { v in
            for example in 0..<n {
                for sample in 0..<s {
                    var l = 0.0
                    for j in 0..<d {
                        let i = (sample * n + example) * d + j
                        let variance = Swift.max(Double(v[i]), minimumVariance), r = y[example * d + j] - Double(mu[i])
                        l -= 0.5 * (Foundation.log(2 * Double.pi * variance) + r * r / variance)
                    }
                    logComponent[sample] = l
                }
                let m = logComponent.max()!
                let sum = logComponent.reduce(0.0) { $0 + Foundation.exp($1 - m) }
                total -= m + Foundation.log(sum) - Foundation.log(Double(s))
            }
        }
    }
    return total / Double(n * d)
}

/// Prediction-interval coverage probability (PICP) of central intervals of the
/// moment-matched Gaussian: for each level `α`, the fraction of targets with
/// `|y − E[y]| ≤ z σ`, `z = Φ⁻¹((1 + α)/2)`, `σ = √Var[y]`, and the mean width `2 z σ`.
/// A calibrated predictive covers about `α` of the targets.
///
/// - Throws: `MetricsError` for a classification predictive, targets not `[N, D]`, or a
///   level ∉ (0, 1).
public func predictionIntervalCoverage(_ predictive: Predictive, targets: Tensor,
                                       levels: [Double] = [0.5, 0.9, 0.95]) throws -> [IntervalCoverage] {
    let y = try predictive.regressionTargets(targets, for: "predictionIntervalCoverage")
    if let bad = levels.first(where: { !($0 > 0 && $0 < 1) }) {
        throw MetricsError.invalidArgument(name: "levels", message: "coverage levels must be in (0, 1), got \(bad)")
    }
    let sigma = predictive.totalVariance.map { $0.squareRoot() }
    return levels.map { level in
        let z = standardNormalQuantile((1 + level) / 2)
        var inside = 0, width = 0.0
        for i in y.indices {
            if Swift.abs(y[i] - predictive.predictiveMean[i]) <= z * sigma[i] { inside += 1 }
            width += 2 * z * sigma[i]
        }
        return IntervalCoverage(level: level, coverage: Double(inside) / Double(y.count), meanWidth: width / Double(y.count))
    }
}

/// Mean continuous ranked probability score of the moment-matched Gaussian
/// `𝒩(E[y], Var[y])` over the `N·D` targets (closed form, see `gaussianCRPS`; Gneiting &
/// Raftery 2007). A proper score in the units of `y`; lower is better; equals the absolute
/// error for a zero-variance predictive.
///
/// - Throws: `MetricsError` for a classification predictive or targets not `[N, D]`.
public func continuousRankedProbabilityScore(_ predictive: Predictive, targets: Tensor) throws -> Double {
    let y = try predictive.regressionTargets(targets, for: "continuousRankedProbabilityScore")
    let variance = predictive.totalVariance
    var sum = 0.0
    for i in y.indices {
        sum += gaussianCRPS(mean: predictive.predictiveMean[i], standardDeviation: variance[i].squareRoot(), observation: y[i])
    }
    return sum / Double(y.count)
}
