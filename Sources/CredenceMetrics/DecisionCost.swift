import Foundation

/// Decisions that minimise expected cost under the predictive, and what they cost.
public struct DecisionOutcome: Codable, Sendable, Equatable {
    /// The chosen decision (column of the cost matrix) per example.
    public var decisions: [Int]
    /// Expected cost of the chosen decision under the predictive, per example.
    public var expectedCost: [Double]
    /// Mean expected cost `(1/N) Σ_n min_j Σ_c p̄_c L[c][j]`.
    public var meanExpectedCost: Double
    /// Mean realised cost `(1/N) Σ_n L[y_n][d_n]` (nil without labels).
    public var meanRealizedCost: Double?
}

/// Bayes decisions under a user cost matrix (the Bayes decision rule; Berger 1985,
/// "Statistical Decision Theory and Bayesian Analysis"): `costs[c][j]` is the cost of
/// decision `j` when the true class is `c`. Each example takes
/// `d_n = argmin_j Σ_c p̄_c(x_n) · costs[c][j]` (the first on ties), and with labels the
/// mean realised cost `(1/N) Σ_n costs[y_n][d_n]` is reported.
///
/// The matrix has `C` rows and any number `K ≥ 1` of columns, so decisions beyond the
/// classes (e.g. an "abstain / refer to a human" column of constant cost) are allowed.
/// The 0–1 loss `costs[c][j] = 1[c ≠ j]` reproduces `argmax p̄` and realised cost = 1 − accuracy.
///
/// ```swift
/// let abstain = 0.2   // a fourth column: refer to a human
/// let costs = (0..<3).map { c in (0..<3).map { $0 == c ? 0.0 : 1.0 } + [abstain] }
/// let outcome = try minimumExpectedCostDecisions(p, costs: costs, labels: y)
/// ```
/// - Throws: `MetricsError` for a regression predictive, a matrix that is not `C × K` with
///   finite entries, or bad labels.
public func minimumExpectedCostDecisions(_ predictive: Predictive, costs: [[Double]],
                                         labels: [Int32]? = nil) throws -> DecisionOutcome {
    try predictive.require(.classification, for: "minimumExpectedCostDecisions")
    let c = predictive.outputCount, k = costs.first?.count ?? 0
    guard costs.count == c, k >= 1, costs.allSatisfy({ $0.count == k }) else {
        throw MetricsError.invalidArgument(
            name: "costs", message: "needs \(c) rows (one per true class) of equal length ≥ 1 (one column per decision); got rows of lengths \(costs.map(\.count))")
    }
    if let row = costs.firstIndex(where: { $0.contains { !$0.isFinite } }) {
        throw MetricsError.invalidArgument(name: "costs", message: "row \(row) holds a non-finite cost")
    }
    if let labels { try predictive.validateLabels(labels, for: "minimumExpectedCostDecisions") }
    var decisions: [Int] = [], expected: [Double] = []
    decisions.reserveCapacity(predictive.exampleCount); expected.reserveCapacity(predictive.exampleCount)
    for n in 0..<predictive.exampleCount {
        var best = 0, bestCost = Double.infinity
        for j in 0..<k {
            var risk = 0.0
            for y in 0..<c { risk += predictive.meanProbabilities[n * c + y] * costs[y][j] }
            if risk < bestCost { best = j; bestCost = risk }
        }
        decisions.append(best); expected.append(bestCost)
    }
    let count = Double(predictive.exampleCount)
    let realized = labels.map { ys in zip(ys, decisions).reduce(0.0) { $0 + costs[Int($1.0)][$1.1] } / count }
    return DecisionOutcome(decisions: decisions, expectedCost: expected,
                           meanExpectedCost: expected.reduce(0, +) / count, meanRealizedCost: realized)
}
