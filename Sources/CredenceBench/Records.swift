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
    /// The suite's attacks (`RunConfiguration.attacks`) on the test set.
    case attacks
    /// The suite's certifications (`RunConfiguration.certifications`) on the test set.
    case certification

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

/// Which shifts a run's `shift` evaluation covers.
public enum ShiftSelection: String, Codable, CaseIterable, Sendable {
    /// Every kind at every severity (Ovadia et al.'s protocol, 81 shifted test sets).
    case all
    /// Every kind at its strongest severity (13 shifted test sets).
    case strongest

    /// The shifted test sets it stands for.
    public var shifts: [Shift] { self == .strongest ? Shift.strongest : Shift.ovadiaProtocol }
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
    /// The attacks of `.attacks` (nil: none; then absent from the key).
    public var attacks: [AttackSettings]?
    /// Which shifts `.shift` evaluates (nil: every one, `ShiftSelection.all`; then absent from the key).
    public var shifts: ShiftSelection?
    /// The certificates of `.certification` (nil: none; then absent from the key).
    public var certifications: [CertificationSettings]?

    /// The shifts `.shift` evaluates.
    public var shiftsEvaluated: [Shift] { (shifts ?? .all).shifts }

    public init(dataset: DatasetName, model: ModelKind = .mlp, hidden: [Int]? = nil, method: String,
                settings: [String: String] = [:], epochs: Int = 10, batchSize: Int = 128, learningRate: Float = 1e-3,
                seed: UInt64 = 0, trainLimit: Int? = nil, samples: Int = 32,
                evaluations: [EvaluationKind] = [.inDistribution], oodSets: [OODSource] = [],
                training: [String: String]? = nil, heldOutClasses: [Int]? = nil, attacks: [AttackSettings]? = nil) {
        self.attacks = attacks
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

/// Everything one finished run produced — one row of the results database.
///
/// Records written before the one result schema (results databases of schema version 1,
/// `run-record.json` files of older `credence score --report`) held the metrics' fields at
/// the top level; they decode all the same (`ResultStore` rewrites them when it opens a
/// version-1 database for writing).
public struct RunRecord: Codable, Sendable {
    public var key: String
    public var configuration: RunConfiguration
    public var finishedAt: Date
    public var metrics: EvaluationMetrics
    /// Wall time of the whole run — fit and evaluation — in the process that ran it (nil in
    /// records written before it was kept). A distributed bench orders runs by it.
    public var seconds: Double?

    public init(configuration: RunConfiguration, finishedAt: Date = Date(), metrics: EvaluationMetrics) {
        key = configuration.key
        self.configuration = configuration
        self.finishedAt = finishedAt
        self.metrics = metrics
    }

    private enum CodingKeys: String, CodingKey {
        case key, configuration, finishedAt, metrics, seconds
    }

    /// The top-level fields of a record written before `metrics` (schema version 1).
    private enum LegacyKeys: String, CodingKey {
        case classification, regression, reliability, rejection, misclassification, ood, shift, scalability
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        key = try c.decode(String.self, forKey: .key)
        configuration = try c.decode(RunConfiguration.self, forKey: .configuration)
        finishedAt = try c.decode(Date.self, forKey: .finishedAt)
        seconds = try c.decodeIfPresent(Double.self, forKey: .seconds)
        if c.contains(.metrics) {
            metrics = try c.decode(EvaluationMetrics.self, forKey: .metrics)
            return
        }
        let legacy = try decoder.container(keyedBy: LegacyKeys.self)
        metrics = EvaluationMetrics(
            classification: try legacy.decodeIfPresent(MetricsSummary.self, forKey: .classification),
            regression: try legacy.decodeIfPresent(RegressionMetricsSummary.self, forKey: .regression),
            reliability: try legacy.decodeIfPresent(ReliabilityDiagram.self, forKey: .reliability),
            rejection: try legacy.decode([RejectionPoint].self, forKey: .rejection),
            misclassification: try legacy.decode([String: DetectionScores].self, forKey: .misclassification),
            ood: try legacy.decode([OODRecord].self, forKey: .ood),
            shift: try legacy.decode([ShiftPoint].self, forKey: .shift),
            scalability: try legacy.decode(Scalability.self, forKey: .scalability))
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(key, forKey: .key)
        try c.encode(configuration, forKey: .configuration)
        try c.encode(finishedAt, forKey: .finishedAt)
        try c.encode(metrics, forKey: .metrics)
        try c.encodeIfPresent(seconds, forKey: .seconds)
    }
}

extension String {
    func leftPadded(to width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}
