import CredenceTensor

/// The standard table row of a classifier's predictive: accuracy, proper scores,
/// calibration, selective prediction and (with an OOD set) detection — what
/// `credence evaluate` prints and the benchmark stores. Codable for JSON.
public struct MetricsSummary: Codable, Sendable, Equatable {
    /// `N`, `S` and `C` of the scored predictive.
    public var examples: Int
    public var samples: Int
    public var classes: Int
    /// Equal-width bins used for ECE and MCE (and equal-mass bins for adaptive ECE).
    public var binCount: Int

    public var accuracy: Double
    public var negativeLogLikelihood: Double
    public var brierScore: Double
    public var expectedCalibrationError: Double
    public var maximumCalibrationError: Double
    public var adaptiveCalibrationError: Double
    /// Area under the risk–coverage curve by `1 − max p̄`, and its excess over the optimum.
    public var aurc: Double
    public var excessAURC: Double
    /// Mean total predictive entropy and mean mutual information (nats) on the test set.
    public var meanEntropy: Double
    public var meanMutualInformation: Double

    /// Number of OOD examples (nil when no OOD set was given).
    public var oodExamples: Int?
    /// OOD detection by predictive entropy: AUROC, average precision, FPR at 95 % TPR.
    public var oodAUROCEntropy: Double?
    public var oodAUPREntropy: Double?
    public var oodFPR95Entropy: Double?
    /// OOD detection by `1 − max p̄`.
    public var oodAUROCMaxProbability: Double?
    public var oodAUPRMaxProbability: Double?
    public var oodFPR95MaxProbability: Double?
    /// OOD detection by mutual information (only for sampled predictives, `S > 1`).
    public var oodAUROCMutualInformation: Double?
    public var oodAUPRMutualInformation: Double?
    public var oodFPR95MutualInformation: Double?
}

/// Computes the standard table row of `predictive` on `labels`, plus OOD detection
/// against `outOfDistribution` when given (positives = OOD).
///
/// ```swift
/// let row = try metricsSummary(pTest, labels: yTest, outOfDistribution: pOOD)
/// let json = try JSONEncoder().encode(row)
/// ```
/// - Throws: `MetricsError` for a regression predictive, bad labels or `binCount < 1`.
public func metricsSummary(_ predictive: Predictive, labels: [Int32], outOfDistribution: Predictive? = nil,
                           binCount: Int = 15) throws -> MetricsSummary {
    let diagram = try reliabilityDiagram(predictive, labels: labels, binCount: binCount)
    let rc = try riskCoverage(predictive, labels: labels)
    let n = Double(predictive.exampleCount)
    var row = MetricsSummary(
        examples: predictive.exampleCount, samples: predictive.sampleCount, classes: predictive.outputCount,
        binCount: binCount,
        accuracy: try accuracy(predictive, labels: labels),
        negativeLogLikelihood: try negativeLogLikelihood(predictive, labels: labels),
        brierScore: try brierScore(predictive, labels: labels),
        expectedCalibrationError: diagram.expectedCalibrationError,
        maximumCalibrationError: diagram.maximumCalibrationError,
        adaptiveCalibrationError: try adaptiveCalibrationError(predictive, labels: labels, binCount: binCount),
        aurc: rc.aurc, excessAURC: rc.excessAURC,
        meanEntropy: predictive.totalEntropy.reduce(0, +) / n,
        meanMutualInformation: predictive.mutualInformation.reduce(0, +) / n)
    guard let ood = outOfDistribution else { return row }
    row.oodExamples = ood.exampleCount
    let byEntropy = try oodDetection(inDistribution: predictive, outOfDistribution: ood, score: .entropy)
    (row.oodAUROCEntropy, row.oodAUPREntropy, row.oodFPR95Entropy) =
        (byEntropy.auroc, byEntropy.averagePrecision, byEntropy.falsePositiveRateAt95)
    let byMaxProbability = try oodDetection(inDistribution: predictive, outOfDistribution: ood, score: .maxProbability)
    (row.oodAUROCMaxProbability, row.oodAUPRMaxProbability, row.oodFPR95MaxProbability) =
        (byMaxProbability.auroc, byMaxProbability.averagePrecision, byMaxProbability.falsePositiveRateAt95)
    if predictive.decomposesEntropy && ood.decomposesEntropy {
        let byMI = try oodDetection(inDistribution: predictive, outOfDistribution: ood, score: .mutualInformation)
        (row.oodAUROCMutualInformation, row.oodAUPRMutualInformation, row.oodFPR95MutualInformation) =
            (byMI.auroc, byMI.averagePrecision, byMI.falsePositiveRateAt95)
    }
    return row
}

/// The standard table row of a regression predictive (UCI-style benchmarks).
public struct RegressionMetricsSummary: Codable, Sendable, Equatable {
    public var examples: Int
    public var samples: Int
    public var outputs: Int
    public var rootMeanSquaredError: Double
    /// Gaussian NLL of the moment-matched predictive, and of the exact sample mixture.
    public var negativeLogLikelihood: Double
    public var mixtureNegativeLogLikelihood: Double
    /// Mean CRPS of the moment-matched Gaussian.
    public var continuousRankedProbabilityScore: Double
    /// PICP of the central 50 %, 90 % and 95 % intervals.
    public var coverage: [IntervalCoverage]
    /// Mean aleatoric and epistemic variance.
    public var meanAleatoricVariance: Double
    public var meanEpistemicVariance: Double
}

/// Computes the regression table row of `predictive` on `targets` `[N, D]`.
/// - Throws: `MetricsError` for a classification predictive or targets not `[N, D]`.
public func regressionMetricsSummary(_ predictive: Predictive, targets: Tensor) throws -> RegressionMetricsSummary {
    let count = Double(predictive.exampleCount * predictive.outputCount)
    return RegressionMetricsSummary(
        examples: predictive.exampleCount, samples: predictive.sampleCount, outputs: predictive.outputCount,
        rootMeanSquaredError: try rootMeanSquaredError(predictive, targets: targets),
        negativeLogLikelihood: try gaussianNegativeLogLikelihood(predictive, targets: targets),
        mixtureNegativeLogLikelihood: try mixtureNegativeLogLikelihood(predictive, targets: targets),
        continuousRankedProbabilityScore: try continuousRankedProbabilityScore(predictive, targets: targets),
        coverage: try predictionIntervalCoverage(predictive, targets: targets),
        meanAleatoricVariance: predictive.aleatoricVariance.reduce(0, +) / count,
        meanEpistemicVariance: predictive.epistemicVariance.reduce(0, +) / count)
}
