import Foundation

/// Probability floor of `negativeLogLikelihood`: `−log max(p, 1e-12)`, as the reference clamps.
public let negativeLogLikelihoodFloor = 1e-12

extension Predictive {
    /// Throws unless this is a classification predictive and `labels` holds one class index
    /// in `0..<C` per example.
    func validateLabels(_ labels: [Int32], for metric: String) throws {
        try require(.classification, for: metric)
        guard labels.count == exampleCount else {
            throw MetricsError.countMismatch(name: "labels", count: labels.count, expected: exampleCount)
        }
        for (i, y) in labels.enumerated() where y < 0 || Int(y) >= outputCount {
            throw MetricsError.labelOutOfRange(index: i, label: Int(y), classCount: outputCount)
        }
    }

    /// `1[argmax p̄(x_n) = y_n]` per example.
    public func correctness(_ labels: [Int32]) -> [Bool] {
        zip(predictedClass, labels).map { $0 == Int($1) }
    }
}

/// Top-1 accuracy `(1/N) Σ_n 1[argmax_c p̄(c | x_n) = y_n]` (first class on ties).
///
/// ```swift
/// let acc = try accuracy(predictive, labels: y)   // 0.89
/// ```
/// - Throws: `MetricsError` for a regression predictive, a label count ≠ N, or a label ∉ 0..<C.
public func accuracy(_ predictive: Predictive, labels: [Int32]) throws -> Double {
    try predictive.validateLabels(labels, for: "accuracy")
    let correct = predictive.correctness(labels).reduce(0) { $0 + ($1 ? 1 : 0) }
    return Double(correct) / Double(predictive.exampleCount)
}

/// Negative log-likelihood of the labels under the predictive (the log score, a strictly
/// proper scoring rule; Gneiting & Raftery 2007):
/// `NLL = −(1/N) Σ_n log max(p̄(y_n | x_n), 1e-12)`, in nats.
///
/// The floor `1e-12` keeps a confidently wrong prediction finite (≈ 27.6 nats), matching
/// the PyTorch reference (`clamp_min(1e-12)`). For a sampled predictive this is the NLL of
/// the *mean* probability (the Bayesian model average), not the mean of per-sample NLLs.
///
/// - Throws: `MetricsError` for a regression predictive or bad labels.
public func negativeLogLikelihood(_ predictive: Predictive, labels: [Int32]) throws -> Double {
    try predictive.validateLabels(labels, for: "negativeLogLikelihood")
    let c = predictive.outputCount
    var total = 0.0
    for (n, y) in labels.enumerated() {
        total -= Foundation.log(Swift.max(predictive.meanProbabilities[n * c + Int(y)], negativeLogLikelihoodFloor))
    }
    return total / Double(predictive.exampleCount)
}

/// Brier score (Brier 1950), summed over classes and averaged over examples:
/// `BS = (1/N) Σ_n Σ_c (p̄_c(x_n) − 1[c = y_n])²` ∈ [0, 2]; 0 for a correct one-hot prediction.
///
/// This is the multi-class form used by the reference and by Ovadia et al. (2019); some
/// libraries divide by `C` as well.
///
/// - Throws: `MetricsError` for a regression predictive or bad labels.
public func brierScore(_ predictive: Predictive, labels: [Int32]) throws -> Double {
    try predictive.validateLabels(labels, for: "brierScore")
    let c = predictive.outputCount
    var total = 0.0
    for (n, y) in labels.enumerated() {
        for j in 0..<c {
            let e = predictive.meanProbabilities[n * c + j] - (j == Int(y) ? 1 : 0)
            total += e * e
        }
    }
    return total / Double(predictive.exampleCount)
}
