/// Errors raised while building a `Predictive` or computing a metric.
///
/// Every message names the offending input and position and says what to do, so the CLI
/// can print `error.description` as it is.
///
/// ```swift
/// do { _ = try Predictive(probabilities: Tensor(shape: [1, 2], values: [0.5, 0.6])) }
/// catch let error as MetricsError { print(error) }   // "... row sums to 1.1 ..."
/// ```
public enum MetricsError: Error, CustomStringConvertible, Equatable {
    /// A tensor whose rank or extents do not fit what the operation needs.
    case invalidShape(name: String, shape: [Int], expected: String)
    /// A NaN or ±∞ in an input; `location` says where (e.g. "sample 0, example 3, class 1").
    case nonFinite(name: String, location: String, value: Double)
    /// A class probability outside [0, 1].
    case probabilityOutOfRange(location: String, value: Double)
    /// A probability row whose sum differs from 1 by more than `tolerance`.
    case rowNotNormalized(sample: Int, example: Int, sum: Double, tolerance: Double)
    /// A negative predictive variance.
    case negativeVariance(location: String, value: Double)
    /// A class label outside `0..<classCount`.
    case labelOutOfRange(index: Int, label: Int, classCount: Int)
    /// Two inputs that disagree on the number of examples (or elements).
    case countMismatch(name: String, count: Int, expected: Int)
    /// A metric that needs a classification predictive given a regression one, or vice versa.
    case wrongTask(metric: String, expected: String, found: String)
    /// An input with no elements where at least one is needed.
    case empty(name: String)
    /// An argument outside its allowed range (bin count, coverage level, cost matrix, ...).
    case invalidArgument(name: String, message: String)

    public var description: String {
        switch self {
        case let .invalidShape(name, shape, expected):
            return "\(name) has shape \(shape) but \(expected) is needed."
        case let .nonFinite(name, location, value):
            return "\(name) holds \(value) at \(location); every value must be finite — "
                + "check the model outputs for overflow or a diverged run."
        case let .probabilityOutOfRange(location, value):
            return "probability \(value) at \(location) is outside [0, 1]; pass softmax outputs, "
                + "or use Predictive(logits:) for raw scores."
        case let .rowNotNormalized(sample, example, sum, tolerance):
            return "probabilities of sample \(sample), example \(example) sum to \(sum), not 1 (tolerance \(tolerance)); "
                + "pass softmax outputs, or use Predictive(logits:) for raw scores."
        case let .negativeVariance(location, value):
            return "variance \(value) at \(location) is negative; variances must be ≥ 0 "
                + "(a softplus head or an exp of a log-variance guarantees it)."
        case let .labelOutOfRange(index, label, classCount):
            return "example \(index) has label \(label), outside 0..<\(classCount); "
                + "labels must be class indices of the predictive's \(classCount) classes."
        case let .countMismatch(name, count, expected):
            return "\(name) has \(count) entries but \(expected) are needed (one per example of the predictive)."
        case let .wrongTask(metric, expected, found):
            return "\(metric) needs a \(expected) predictive but was given a \(found) one."
        case let .empty(name):
            return "\(name) is empty; at least one example is needed."
        case let .invalidArgument(name, message):
            return "invalid \(name): \(message)"
        }
    }
}
