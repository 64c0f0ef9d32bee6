/// Out-of-distribution detection: how well `score` separates OOD inputs (positives) from
/// in-distribution ones (negatives), higher score = more likely OOD (Hendrycks & Gimpel 2017
/// for the max-probability baseline; entropy and mutual information as in Malinin & Gales
/// 2018 and Ovadia et al. 2019).
///
/// ```swift
/// let d = try oodDetection(inDistribution: pTest, outOfDistribution: pMNIST, score: .entropy)
/// print(d.auroc, d.averagePrecision, d.falsePositiveRateAt95)
/// ```
/// - Throws: `MetricsError` for a regression predictive, or when the two predictives have
///   different class counts.
public func oodDetection(inDistribution: Predictive, outOfDistribution: Predictive,
                         score: UncertaintyScore, maxROCPoints: Int = 200) throws -> DetectionScores {
    let negatives = try inDistribution.uncertainty(score), positives = try outOfDistribution.uncertainty(score)
    guard inDistribution.outputCount == outOfDistribution.outputCount else {
        throw MetricsError.invalidArgument(
            name: "outOfDistribution",
            message: "has \(outOfDistribution.outputCount) classes but the in-distribution predictive has \(inDistribution.outputCount); score both with the same model")
    }
    return try detectionScores(positives: positives, negatives: negatives, maxROCPoints: maxROCPoints)
}

/// Misclassification detection (URSABench, Vadera et al. 2020; Hendrycks & Gimpel 2017):
/// how well `score` ranks the examples whose top-1 prediction is wrong (positives) above
/// the correct ones (negatives).
///
/// - Throws: `MetricsError` for a regression predictive, bad labels, or when every example
///   is correct (or every one wrong), leaving a class of the detection problem empty.
public func misclassificationDetection(_ predictive: Predictive, labels: [Int32], score: UncertaintyScore,
                                       maxROCPoints: Int = 200) throws -> DetectionScores {
    try predictive.validateLabels(labels, for: "misclassificationDetection")
    let u = try predictive.uncertainty(score), correct = predictive.correctness(labels)
    let wrong = u.indices.filter { !correct[$0] }.map { u[$0] }, right = u.indices.filter { correct[$0] }.map { u[$0] }
    guard !wrong.isEmpty else { throw MetricsError.empty(name: "misclassified examples (every prediction is correct)") }
    guard !right.isEmpty else { throw MetricsError.empty(name: "correctly classified examples (every prediction is wrong)") }
    return try detectionScores(positives: wrong, negatives: right, maxROCPoints: maxROCPoints)
}
