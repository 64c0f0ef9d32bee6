import Foundation

/// Accuracy on the examples kept after rejecting the most uncertain fraction.
public struct RejectionPoint: Codable, Sendable, Equatable {
    /// Fraction of examples rejected (requested).
    public var rejectionRate: Double
    /// Number of examples kept, `round((1 − rate) · N)`, at least 1.
    public var retainedCount: Int
    /// Accuracy on the kept examples.
    public var accuracy: Double
}

/// The risk–coverage summary of a selective classifier (Geifman & El-Yaniv 2017;
/// Geifman et al. 2019, "Bias-reduced uncertainty estimation for deep neural classifiers").
public struct RiskCoverage: Codable, Sendable, Equatable {
    /// Area under the risk–coverage curve, `AURC = (1/N) Σ_{k=1}^{N} E_k / k`.
    public var aurc: Double
    /// The AURC of a perfect ranking (every error rejected first) at the same error rate.
    public var optimalAURC: Double
    /// Excess AURC, `E-AURC = AURC − AURC*` (0 for a perfect ranking).
    public var excessAURC: Double
    /// Top-1 error rate at full coverage.
    public var errorRate: Double
    /// `(coverage, risk)` points for plotting, at most 200.
    public var coverage: [Double]
    public var risk: [Double]
}

/// Expected cumulative error counts `E_k`, k = 0…N, of the `k` least uncertain examples.
/// Examples are ranked by increasing uncertainty; within a group of tied scores the order
/// is random, so the errors of a partially kept group count in proportion (the expectation
/// over tie orders) — a constant score gives risk = error rate at every coverage.
func expectedCumulativeErrors(uncertainty: [Double], correct: [Bool]) -> [Double] {
    let order = uncertainty.indices.sorted { uncertainty[$0] < uncertainty[$1] }
    var cumulative = [0.0]
    cumulative.reserveCapacity(order.count + 1)
    var start = 0
    while start < order.count {
        var end = start
        while end < order.count && uncertainty[order[end]] == uncertainty[order[start]] { end += 1 }
        let errors = order[start..<end].reduce(0.0) { $0 + (correct[$1] ? 0 : 1) }
        let base = cumulative.last!, size = Double(end - start)
        for j in 1...(end - start) { cumulative.append(base + errors * Double(j) / size) }
        start = end
    }
    return cumulative
}

/// Accuracy–rejection curve (Nadeem et al. 2009; Filos et al. 2019): for each rejection
/// rate `r`, the accuracy of the `round((1 − r) · N)` (≥ 1) least uncertain examples,
/// ranked by `score` (default `1 − max p̄`). Ties at the cut count in proportion.
///
/// ```swift
/// let curve = try accuracyRejectionCurve(p, labels: y)   // r = 0, 0.05, …, 0.95
/// ```
/// - Throws: `MetricsError` for a regression predictive, bad labels, or a rate ∉ [0, 1).
public func accuracyRejectionCurve(_ predictive: Predictive, labels: [Int32],
                                   rejectionRates: [Double] = (0..<20).map { Double($0) / 20 },
                                   score: UncertaintyScore = .maxProbability) throws -> [RejectionPoint] {
    try predictive.validateLabels(labels, for: "accuracyRejectionCurve")
    if let bad = rejectionRates.first(where: { !($0 >= 0 && $0 < 1) }) {
        throw MetricsError.invalidArgument(name: "rejectionRates", message: "every rate must be in [0, 1), got \(bad)")
    }
    let errors = expectedCumulativeErrors(uncertainty: try predictive.uncertainty(score),
                                          correct: predictive.correctness(labels))
    let n = predictive.exampleCount
    return rejectionRates.map { r in
        let k = Swift.min(Swift.max(Int(((1 - r) * Double(n)).rounded()), 1), n)
        return RejectionPoint(rejectionRate: r, retainedCount: k, accuracy: 1 - errors[k] / Double(k))
    }
}

/// Risk–coverage curve and its area (Geifman et al. 2019): ranking examples by increasing
/// `score`, the risk at coverage `k/N` is the error rate `E_k / k` of the `k` kept
/// examples, and `AURC = (1/N) Σ_{k=1}^{N} E_k / k`. The optimal ranking rejects all
/// `e` errors first: `E*_k = max(0, k − (N − e))`; `E-AURC = AURC − AURC*` removes the
/// dependence on the error rate. (AURC* is computed by the same discrete sum, so a perfect
/// ranking has E-AURC = 0 exactly; Geifman's closed form `r + (1 − r) log(1 − r)` is its
/// large-N limit.) Ties count in proportion, as in `accuracyRejectionCurve`.
///
/// - Throws: `MetricsError` for a regression predictive or bad labels.
public func riskCoverage(_ predictive: Predictive, labels: [Int32],
                         score: UncertaintyScore = .maxProbability) throws -> RiskCoverage {
    try predictive.validateLabels(labels, for: "riskCoverage")
    let correct = predictive.correctness(labels)
    let errors = expectedCumulativeErrors(uncertainty: try predictive.uncertainty(score), correct: correct)
    let n = predictive.exampleCount, totalErrors = correct.filter { !$0 }.count
    var aurc = 0.0, optimal = 0.0
    for k in 1...n {
        aurc += errors[k] / Double(k)
        optimal += Double(Swift.max(0, k - (n - totalErrors))) / Double(k)
    }
    aurc /= Double(n); optimal /= Double(n)
    let ks = downsample(Array(1...n), to: 200)
    return RiskCoverage(aurc: aurc, optimalAURC: optimal, excessAURC: aurc - optimal,
                        errorRate: Double(totalErrors) / Double(n),
                        coverage: ks.map { Double($0) / Double(n) }, risk: ks.map { errors[$0] / Double($0) })
}

/// Area under the risk–coverage curve (see `riskCoverage`); lower is better.
public func areaUnderRiskCoverageCurve(_ predictive: Predictive, labels: [Int32],
                                       score: UncertaintyScore = .maxProbability) throws -> Double {
    try riskCoverage(predictive, labels: labels, score: score).aurc
}
