import CredenceData
import CredenceInference
import CredenceMetrics
import Foundation

/// Which evaluations a run performs.
public enum EvaluationKind: String, Codable, CaseIterable, Sendable, Comparable {
    /// Test-set metrics, reliability diagram, rejection curve, misclassification detection.
    case inDistribution = "in-distribution"
    /// The test set under every shift transform at every severity.
    case shift
    /// OOD detection against the suite's OOD sets.
    case ood

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

/// One cell of a benchmark grid: what to train, with which method and settings, on what,
/// with which seed, and what to evaluate. Its `key` (a hash of the canonical JSON) names
/// the run in the results database, so a restarted suite skips what is already there.
public struct RunConfiguration: Codable, Hashable, Sendable {
    public var dataset: DatasetName
    public var model: ModelKind
    /// MLP hidden widths (nil: the model's default for the data set).
    public var hidden: [Int]?
    /// Inference method: `map`, `mc-dropout`, `ensemble`, `swag`, `laplace`, `temperature`.
    public var method: String
    /// The method's hyperparameters as strings (e.g. `members`, `rank`, `dropout`, `subset`, `hessian`).
    public var settings: [String: String]
    /// Training options shared by every method of a suite, as strings (`holdout`, `weightDecay`,
    /// `optimizer`, `schedule`, `momentum`); nil when the suite sets none (then absent from the key).
    public var training: [String: String]?
    public var epochs: Int
    public var batchSize: Int
    public var learningRate: Float
    public var seed: UInt64
    /// First N training examples only (smoke suites).
    public var trainLimit: Int?
    /// Monte-Carlo samples for stochastic predictives.
    public var samples: Int
    public var evaluations: [EvaluationKind]
    /// OOD sets (for `.ood`).
    public var oodSets: [OODSource]
    /// Classes of `dataset` left out of training and testing (nil: none; then absent from the key).
    public var heldOutClasses: [Int]?

    public init(dataset: DatasetName, model: ModelKind = .mlp, hidden: [Int]? = nil, method: String,
                settings: [String: String] = [:], epochs: Int = 10, batchSize: Int = 128, learningRate: Float = 1e-3,
                seed: UInt64 = 0, trainLimit: Int? = nil, samples: Int = 32,
                evaluations: [EvaluationKind] = [.inDistribution], oodSets: [OODSource] = [],
                training: [String: String]? = nil, heldOutClasses: [Int]? = nil) {
        self.dataset = dataset
        self.heldOutClasses = heldOutClasses
        self.model = model
        self.hidden = hidden
        self.method = method
        self.settings = settings
        self.epochs = epochs
        self.batchSize = batchSize
        self.learningRate = learningRate
        self.seed = seed
        self.trainLimit = trainLimit
        self.samples = samples
        self.evaluations = evaluations
        self.oodSets = oodSets
        self.training = training
    }

    /// A stable identifier: FNV-1a (64 bit) of the configuration's JSON with sorted keys, in hex.
    public var key: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let bytes = (try? encoder.encode(self)) ?? Data()
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in bytes { hash = (hash ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return String(hash, radix: 16).leftPadded(to: 16)
    }

    /// The data set as the report names it: "fashion-mnist", or with held-out classes
    /// "fashion-mnist without classes 5, 6, 7, 8, 9".
    /// Predictions scored by `credence score` without `--dataset` are "external predictions".
    public var datasetLabel: String {
        if isExternal { return "external predictions" }
        return heldOutClassesText.map { "\(dataset.rawValue) without \($0)" } ?? dataset.rawValue
    }

    /// "class 3" or "classes 5, 6, 7" for the held-out classes; nil when none are held out.
    var heldOutClassesText: String? {
        guard let held = heldOutClasses, !held.isEmpty else { return nil }
        return "class\(held.count > 1 ? "es" : "") " + held.map(String.init).joined(separator: ", ")
    }

    /// True for predictions made elsewhere on an unnamed data set (`dataset` is then a placeholder).
    public var isExternal: Bool { settings["dataset"] == "external" }

    /// A short label for tables and legends, e.g. "ensemble (members 5)".
    public var label: String {
        let extras = settings.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        return extras.isEmpty ? method : "\(method) (\(extras))"
    }
}

/// Accuracy and calibration of a run on the test set under one shift at one severity.
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
}

/// OOD detection of one run against one OOD set, by each uncertainty score (with ROC curves).
public struct OODRecord: Codable, Sendable, Equatable {
    public var set: String
    public var scores: [String: DetectionScores]

    public init(set: String, scores: [String: DetectionScores]) {
        self.set = set
        self.scores = scores
    }
}

/// What the harness measured about a run's cost.
public struct Scalability: Codable, Sendable, Equatable {
    /// Wall time of training / fitting the posterior.
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

/// Everything one finished run produced — one row of the results database.
public struct RunRecord: Codable, Sendable {
    public var key: String
    public var configuration: RunConfiguration
    public var finishedAt: Date
    /// Classification summary (nil for regression runs).
    public var classification: MetricsSummary?
    /// Regression summary (nil for classification runs).
    public var regression: RegressionMetricsSummary?
    public var reliability: ReliabilityDiagram?
    public var rejection: [RejectionPoint]
    /// Misclassification detection, by score name ("entropy", "maxProbability", ...).
    public var misclassification: [String: DetectionScores]
    public var ood: [OODRecord]
    public var shift: [ShiftPoint]
    public var scalability: Scalability

    public init(configuration: RunConfiguration, finishedAt: Date = Date(), classification: MetricsSummary? = nil,
                regression: RegressionMetricsSummary? = nil, reliability: ReliabilityDiagram? = nil,
                rejection: [RejectionPoint] = [], misclassification: [String: DetectionScores] = [:],
                ood: [OODRecord] = [], shift: [ShiftPoint] = [], scalability: Scalability) {
        key = configuration.key
        self.configuration = configuration
        self.finishedAt = finishedAt
        self.classification = classification
        self.regression = regression
        self.reliability = reliability
        self.rejection = rejection
        self.misclassification = misclassification
        self.ood = ood
        self.shift = shift
        self.scalability = scalability
    }
}

extension String {
    func leftPadded(to width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}
