import CredenceData
import CredenceMetrics
import CredenceTensor
import Foundation

/// Everything Credence measures about a predictive: the one result schema of
/// `credence evaluate`, `train --method`, `fit`, `bench` (each stored run) and `score`.
/// A new metric is added here and in `evaluationMetrics`, and every command reports it.
///
/// Classification fills `classification`, `reliability`, `rejection`, `riskCoverage` and
/// `misclassification`; regression fills `regression`. `ood` and `shift` hold one entry per
/// OOD set and per shift evaluated; `scalability` what was measured about cost (nil when
/// nothing was run here: predictions scored by `credence score`).
///
/// ```swift
/// let metrics = try evaluationMetrics(pTest, truth: .labels(yTest), ood: [("mnist", { pMNIST })])
/// print(metrics.classification!.expectedCalibrationError, metrics.ood[0].scores["entropy"]!.auroc)
/// ```
public struct EvaluationMetrics: Codable, Sendable, Equatable {
    /// Accuracy, NLL, Brier, ECE/MCE/adaptive ECE, AURC, mean entropy and mutual information
    /// (nil for regression). Its OOD fields stay nil: OOD detection is in `ood`, per set.
    public var classification: MetricsSummary?
    /// RMSE, Gaussian and mixture NLL, CRPS, interval coverage, in the targets' own units
    /// (nil for classification).
    public var regression: RegressionMetricsSummary?
    /// Equal-width reliability bins of top-1 confidence (classification).
    public var reliability: ReliabilityDiagram?
    /// Accuracy after rejecting the 0 %, 5 %, …, 95 % least confident examples (by `1 − max p̄`).
    public var rejection: [RejectionPoint]
    /// The risk–coverage curve behind `classification.aurc` (nil in records stored before it was kept).
    public var riskCoverage: RiskCoverage?
    /// Misclassification detection, by score name ("maxProbability", "entropy" and, for
    /// `S > 1`, "mutualInformation"); empty when every prediction is right, or every one wrong.
    public var misclassification: [String: DetectionScores]
    /// OOD detection per OOD set (positives = OOD inputs).
    public var ood: [OODRecord]
    /// Accuracy and calibration under each shift at each severity.
    public var shift: [ShiftPoint]
    /// Fit and prediction time, memory and size of the posterior (nil: nothing was run here).
    public var scalability: Scalability?
    /// The attacks' results, in the configuration's order (nil: none were run).
    public var attacks: [AttackResult]?
    /// The certifications' results, in the configuration's order (nil: none were run).
    public var certifications: [CertificationResult]?
    /// An SG-MCMC posterior's chain diagnostics (nil for other posteriors).
    public var chain: ChainDiagnosis?
    /// The test set's mean class probabilities, [N, C] row-major, kept when the test set is
    /// small (N·C ≤ `testProbabilityLimit`: the gold-standard suite's tasks), so the report
    /// scores every run's agreement with a reference sampler's run (nil otherwise).
    public var testProbabilities: [Double]?

    /// The most values of `testProbabilities` a record keeps.
    public static let testProbabilityLimit = 20_000
    /// A regression predictive's `quantileCellMeans` on the test set in the targets' units,
    /// [N, D, K] row-major with K = `RegressionAgreement.defaultCells`, kept when N·D·K ≤
    /// `testQuantileCellMeansLimit` (the 1-D regression's 500 points, the UCI sets' tests), so
    /// the report scores every run's W₁ to a reference sampler's run (nil otherwise).
    public var testQuantileCellMeans: [Float]?

    /// The most values of `testQuantileCellMeans` a record keeps.
    public static let testQuantileCellMeansLimit = 40_000

    public init(classification: MetricsSummary? = nil, regression: RegressionMetricsSummary? = nil,
                reliability: ReliabilityDiagram? = nil, rejection: [RejectionPoint] = [], riskCoverage: RiskCoverage? = nil,
                misclassification: [String: DetectionScores] = [:], ood: [OODRecord] = [], shift: [ShiftPoint] = [],
                scalability: Scalability? = nil) {
        self.classification = classification
        self.regression = regression
        self.reliability = reliability
        self.rejection = rejection
        self.riskCoverage = riskCoverage
        self.misclassification = misclassification
        self.ood = ood
        self.shift = shift
        self.scalability = scalability
    }

    /// `N`, the test examples scored.
    public var examples: Int? { classification?.examples ?? regression?.examples }
    /// `S`, the Monte-Carlo samples behind each prediction.
    public var samples: Int? { classification?.samples ?? regression?.samples }
}

/// What a test set's predictions are scored against.
public enum GroundTruth: Sendable {
    /// Class labels in `0..<C`, one per example.
    case labels([Int32])
    /// Regression targets `[N, D]` in the data's own units; `standardization` says in which
    /// units the predictive's outputs are (nil: the targets' own), so metrics are reported
    /// in the targets' units.
    case targets(Tensor, standardization: Standardization?)

    /// The labels, or the targets in their own units, of a test set.
    public init(_ test: InMemoryDataset) throws {
        switch test.task {
        case .classification:
            self = .labels(test.labels)
        case .regression:
            guard let targets = test.originalTargets else {
                throw MetricsError.invalidArgument(name: "test", message: "\(test.name) is a regression set without targets")
            }
            self = .targets(targets, standardization: test.targetStandardization)
        }
    }
}

/// The one evaluation behind every command: scores `test` (the predictive on the test set)
/// against `truth`, each OOD set's predictive against `test`, and the predictive under each
/// shift against the same labels.
///
/// OOD and shifted predictives are made by their closures when they are scored, in order,
/// one at a time (so only one of them is in memory). For regression, OOD detection compares
/// `test` and the OOD predictive in the units the model predicts in.
///
/// - Parameters:
///   - binCount: equal-width bins of the reliability diagram and ECE/MCE (and equal-mass
///     bins of the adaptive ECE).
/// - Returns: the metrics, `scalability` nil (the caller measures cost).
/// - Throws: `MetricsError` for labels that do not fit the predictive, OOD predictives of
///   another class count, or shifts of a regression predictive.
public func evaluationMetrics(_ test: Predictive, truth: GroundTruth,
                              ood: [(set: String, predictive: () throws -> Predictive)] = [],
                              shifts: [(shift: Shift, predictive: () throws -> Predictive)] = [],
                              binCount: Int = 15) throws -> EvaluationMetrics {
    var metrics = EvaluationMetrics()
    switch truth {
    case let .labels(labels):
        metrics.classification = try metricsSummary(test, labels: labels, binCount: binCount)
        metrics.reliability = try reliabilityDiagram(test, labels: labels, binCount: binCount)
        metrics.rejection = try accuracyRejectionCurve(test, labels: labels)
        metrics.riskCoverage = try riskCoverage(test, labels: labels)
        metrics.misclassification = try misclassificationScores(test, labels: labels)
    case let .targets(targets, standardization):
        var original = test
        if let s = standardization {
            original = try test.destandardized(mean: s.mean.map(Double.init), standardDeviation: s.standardDeviation.map(Double.init))
        }
        metrics.regression = try regressionMetricsSummary(original, targets: targets)
    }
    for (set, predictive) in ood {
        metrics.ood.append(OODRecord(set: set, scores: try oodScores(inDistribution: test, outOfDistribution: try predictive())))
    }
    for (shift, predictive) in shifts {
        guard case let .labels(labels) = truth else {
            throw MetricsError.invalidArgument(name: "shifts", message: "dataset shift is evaluated for classifiers only")
        }
        metrics.shift.append(try ShiftPoint(shift, predictive: try predictive(), labels: labels, binCount: binCount))
    }
    return metrics
}

/// Misclassification detection (positives = wrong top-1 predictions) by every score that
/// means something for `p`. Empty when every prediction is right (or every one wrong):
/// there is nothing to detect.
func misclassificationScores(_ p: Predictive, labels: [Int32]) throws -> [String: DetectionScores] {
    var scores: [String: DetectionScores] = [:]
    for score in detectionScores(for: p) {
        do {
            scores[score.rawValue] = try misclassificationDetection(p, labels: labels, score: score)
        } catch MetricsError.empty {
            return [:]
        }
    }
    return scores
}

/// The uncertainty scores that mean something for this predictive: mutual information is
/// identically 0 with one sample (unless a distilled student gives the expected entropy).
func detectionScores(for p: Predictive) -> [UncertaintyScore] {
    p.decomposesEntropy ? [.maxProbability, .entropy, .mutualInformation] : [.maxProbability, .entropy]
}

/// OOD detection (positives = OOD inputs) by every meaningful score: for classification
/// `maxProbability`, `entropy` and, when both predictives split their entropy (sampled, or
/// distilled with an expected-entropy student), `mutualInformation` and `expectedEntropy`; for
/// regression the per-example predictive variance averaged over outputs, `totalVariance`
/// and (both sampled) `epistemicVariance`.
func oodScores(inDistribution p: Predictive, outOfDistribution q: Predictive) throws -> [String: DetectionScores] {
    var scores: [String: DetectionScores] = [:]
    let sampled = p.sampleCount > 1 && q.sampleCount > 1
    switch p.task {
    case .classification:
        let decomposed = p.decomposesEntropy && q.decomposesEntropy
        for score in decomposed ? [UncertaintyScore.maxProbability, .entropy, .mutualInformation, .expectedEntropy] : [.maxProbability, .entropy] {
            scores[score.rawValue] = try oodDetection(inDistribution: p, outOfDistribution: q, score: score)
        }
    case .regression:
        func perExample(_ values: [Double], _ predictive: Predictive) -> [Double] {
            let d = Swift.max(predictive.outputCount, 1)
            return (0..<predictive.exampleCount).map { n in values[(n * d)..<((n + 1) * d)].reduce(0, +) / Double(d) }
        }
        scores["totalVariance"] = try detectionScores(positives: perExample(q.totalVariance, q), negatives: perExample(p.totalVariance, p))
        if sampled {
            scores["epistemicVariance"] = try detectionScores(positives: perExample(q.epistemicVariance, q),
                                                              negatives: perExample(p.epistemicVariance, p))
        }
    }
    return scores
}

/// OOD detection against one OOD set, by each uncertainty score (with ROC curves).
public struct OODRecord: Codable, Sendable, Equatable {
    public var set: String
    public var scores: [String: DetectionScores]

    public init(set: String, scores: [String: DetectionScores]) {
        self.set = set
        self.scores = scores
    }
}

/// Accuracy and calibration on the test set under one shift at one severity.
public struct ShiftPoint: Codable, Sendable, Equatable {
    /// The shift's name, e.g. "gaussian-noise", "rotation".
    public var shift: String
    /// 1…5 for corruptions; the angle in degrees for rotations, pixels for translations.
    public var severity: Int
    public var accuracy: Double
    public var negativeLogLikelihood: Double
    public var expectedCalibrationError: Double
    public var brierScore: Double
    public var meanEntropy: Double

    public init(shift: String, severity: Int, accuracy: Double, negativeLogLikelihood: Double,
                expectedCalibrationError: Double, brierScore: Double, meanEntropy: Double) {
        self.shift = shift
        self.severity = severity
        self.accuracy = accuracy
        self.negativeLogLikelihood = negativeLogLikelihood
        self.expectedCalibrationError = expectedCalibrationError
        self.brierScore = brierScore
        self.meanEntropy = meanEntropy
    }

    /// The figures of `predictive`, made on the shifted test inputs, against the test labels.
    init(_ shift: Shift, predictive p: Predictive, labels: [Int32], binCount: Int) throws {
        self.init(shift: shift.kind.rawValue, severity: shift.severity,
                  accuracy: try CredenceMetrics.accuracy(p, labels: labels),
                  negativeLogLikelihood: try CredenceMetrics.negativeLogLikelihood(p, labels: labels),
                  expectedCalibrationError: try CredenceMetrics.expectedCalibrationError(p, labels: labels, binCount: binCount),
                  brierScore: try CredenceMetrics.brierScore(p, labels: labels),
                  meanEntropy: p.totalEntropy.reduce(0, +) / Double(p.exampleCount))
    }
}

/// What was measured about a posterior's cost.
public struct Scalability: Codable, Sendable, Equatable {
    /// Wall time of training / fitting the posterior (0 when the command fitted nothing: `evaluate`).
    public var fitSeconds: Double
    /// Wall time of the predictive per 1,000 test inputs (with the run's samples).
    public var predictionSecondsPer1000: Double
    /// Peak resident memory of the process while the run executed (bytes; from /proc).
    public var peakResidentBytes: Int
    /// Floats the posterior stores (ensemble = M × parameters, SWAG = (rank + 2) ×, ...).
    public var storedFloats: Int
    /// Parameters of one network.
    public var parameterCount: Int

    public init(fitSeconds: Double, predictionSecondsPer1000: Double, peakResidentBytes: Int,
                storedFloats: Int, parameterCount: Int) {
        self.fitSeconds = fitSeconds
        self.predictionSecondsPer1000 = predictionSecondsPer1000
        self.peakResidentBytes = peakResidentBytes
        self.storedFloats = storedFloats
        self.parameterCount = parameterCount
    }
}
