import CredenceData
import CredenceInference
import CredenceNN

/// The inference methods a benchmark suite can run (`RunConfiguration.method`).
public enum BenchMethod: String, CaseIterable, Codable, Sendable {
    /// One network; weight decay as a Gaussian prior (the baseline).
    case map
    /// One network trained with dropout, sampled at test time (`dropout`, default 0.1).
    case mcDropout = "mc-dropout"
    /// M independently initialised networks (`members`, default 5).
    case ensemble
    /// SWA-Gaussian after training (`rank` 20, `swagEpochs` 5; `swagLearningRate` and
    /// `swagOptimizer` default to the training run's).
    case swag
    /// Laplace around the MAP network (`subset` last-layer, `hessian` kronecker, `predictive` glm, `link` probit).
    case laplace
    /// Temperature scaling of the MAP network on held-out data (needs `training.holdout` > 0).
    case temperature

    /// The hyperparameters the method takes in a suite, with their defaults.
    var settings: [SettingSpec] {
        switch self {
        case .map, .temperature: return []
        case .mcDropout: return [.init("dropout", .real(above: 0, below: 1), default: "0.1")]
        case .ensemble: return [.init("members", .integer(atLeast: 2), default: "5")]
        case .swag:
            return [.init("rank", .integer(atLeast: 2), default: "20"),
                    .init("swagEpochs", .integer(atLeast: 1), default: "5"),
                    .init("swagLearningRate", .real(above: 0, below: nil)),
                    .init("swagOptimizer", .choice(OptimizerKind.allCases.map(\.rawValue)))]
        case .laplace:
            // A subnetwork needs weight indices chosen by another fit: not a suite setting.
            return [.init("subset", .choice(WeightSubset.allCases.filter { $0 != .subnetwork }.map(\.rawValue)), default: WeightSubset.lastLayer.rawValue),
                    .init("hessian", .choice(HessianStructure.allCases.map(\.rawValue)), default: HessianStructure.kronecker.rawValue),
                    .init("predictive", .choice(PredictiveKind.allCases.map(\.rawValue)), default: PredictiveKind.glm.rawValue),
                    .init("link", .choice(LinkApproximation.allCases.map(\.rawValue)), default: LinkApproximation.probit.rawValue)]
        }
    }
}

/// One hyperparameter of a method, or of the suite's `training` block.
struct SettingSpec {
    enum Kind {
        case integer(atLeast: Int)
        /// A real number with open bounds.
        case real(above: Double, below: Double?)
        /// A real number ≥ 0.
        case nonNegativeReal
        case choice([String])
    }

    var name: String
    var kind: Kind
    var defaultValue: String?

    init(_ name: String, _ kind: Kind, default value: String? = nil) {
        self.name = name
        self.kind = kind
        defaultValue = value
    }

    /// The value's canonical text (what `RunConfiguration.settings` stores), or a reason to reject it.
    func canonical(_ node: SuiteNode) -> Result<String, SettingRejection> {
        switch kind {
        case let .integer(minimum):
            guard case let .number(v, text) = node.kind else { return .failure(.type("an integer")) }
            guard let n = Int(exactly: v), !text.contains("."), !text.lowercased().contains("e") else {
                return .failure(.type("an integer"))
            }
            guard n >= minimum else { return .failure(.range("needs \(name) ≥ \(minimum), got \(n)")) }
            return .success(String(n))
        case let .real(lower, upper):
            guard case let .number(v, _) = node.kind else { return .failure(.type("a number")) }
            guard v > lower, upper.map({ v < $0 }) ?? true else {
                let bounds = upper.map { "\(Self.text(lower)) < \(name) < \(Self.text($0))" } ?? "\(name) > \(Self.text(lower))"
                return .failure(.range("needs \(bounds), got \(Self.text(v))"))
            }
            return .success(String(describing: Float(v)))
        case .nonNegativeReal:
            guard case let .number(v, _) = node.kind else { return .failure(.type("a number")) }
            guard v >= 0 else { return .failure(.range("needs \(name) ≥ 0, got \(Self.text(v))")) }
            return .success(String(describing: Float(v)))
        case let .choice(values):
            guard case let .string(s) = node.kind else { return .failure(.type("one of \(values.joined(separator: ", "))")) }
            guard values.contains(s) else { return .failure(.unknown(s, values)) }
            return .success(s)
        }
    }

    static func text(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : String(v)
    }
}

/// Why a setting's value was rejected.
enum SettingRejection: Error {
    /// Wrong JSON type; the associated text says what was expected.
    case type(String)
    case range(String)
    case unknown(String, [String])
}
