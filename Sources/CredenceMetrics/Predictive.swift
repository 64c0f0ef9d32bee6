import CredenceTensor
import Foundation

/// The predictive distribution of a model on `N` examples — the value every inference
/// method produces and every metric consumes.
///
/// - Classification: per-sample class probabilities `p_s(y | x_n)`, shape `[S, N, C]`
///   (`S = 1` for a point estimate). The predictive is their average
///   `p̄(y | x) = (1/S) Σₛ p_s(y | x)`.
/// - Regression: per-sample Gaussian means `μ_s` and variances `σ²_s`, shape `[S, N, D]`.
///   The predictive is the equal-weight Gaussian mixture `(1/S) Σₛ 𝒩(y; μ_s, σ²_s)`.
///
/// The initializers validate the input once and compute the per-example summaries in
/// `Double` (mean probabilities and entropies, or the law-of-total-variance split), so
/// metrics read them without another pass over the `S·N·C` samples. The sample tensors
/// are kept as given (copy-on-write, no copy).
///
/// ```swift
/// let p = try Predictive(logits: logits)          // [S, N, C] or [N, C]
/// let epistemic = p.mutualInformation             // N values, nats
/// let ece = try expectedCalibrationError(p, labels: y)
/// ```
public struct Predictive: Sendable {
    /// What the predictive describes.
    public enum Task: String, Sendable, Codable, CaseIterable {
        /// Class probabilities over `C` classes.
        case classification
        /// A Gaussian mixture over `D` real outputs.
        case regression
    }

    /// Classification or regression.
    public let task: Task
    /// Number of posterior samples `S` (1 for a point estimate).
    public let sampleCount: Int
    /// Number of examples `N`.
    public let exampleCount: Int
    /// Number of classes `C` (classification) or outputs `D` (regression).
    public let outputCount: Int

    /// Per-sample class probabilities `[S, N, C]` (classification; nil for regression).
    public let probabilities: Tensor?
    /// Per-sample Gaussian means `[S, N, D]` (regression; nil for classification).
    public let means: Tensor?
    /// Per-sample Gaussian variances `[S, N, D]` (regression; nil for classification).
    public let variances: Tensor?

    /// Mean class probabilities `p̄[n, c]`, row-major `N × C` (empty for regression).
    /// Each sample row is first divided by its sum (in `Double`), so every row of `p̄`
    /// sums to 1 up to rounding — as the PyTorch reference renormalises before scoring.
    public let meanProbabilities: [Double]
    /// Total predictive entropy `H[p̄] = −Σ_c p̄_c log p̄_c` per example, nats, with
    /// `0 log 0 = 0` (the PyTorch reference clamps p at 1e-12 instead, adding at most
    /// `C · 2.8e-11` nats). Empty for regression.
    public let totalEntropy: [Double]
    /// Expected entropy `E_s H[p_s]` per example (aleatoric part), nats (empty for regression);
    /// given rather than computed from the samples when `expectedEntropyIsGiven`.
    public let expectedEntropy: [Double]
    /// Whether `expectedEntropy` was given (a student distilled to output E_θ H[p(y|x,θ)],
    /// `init(probabilities:expectedEntropy:)`) instead of computed from the `S` samples.
    public let expectedEntropyIsGiven: Bool

    /// Predictive mean `E[y] = (1/S) Σₛ μ_s`, row-major `N × D` (empty for classification).
    public let predictiveMean: [Double]
    /// Aleatoric variance `E_s σ²_s`, `N × D` (empty for classification).
    public let aleatoricVariance: [Double]
    /// Epistemic variance `Var_s μ_s = (1/S) Σₛ (μ_s − E μ)²`, `N × D` (empty for classification).
    public let epistemicVariance: [Double]

    /// Default tolerance on `|Σ_c p_c − 1|` for each probability row.
    public static let defaultRowTolerance = 1e-3

    // MARK: - Classification

    /// A classification predictive from per-sample probabilities `[S, N, C]`, or `[N, C]`
    /// for a point estimate (read as `S = 1`).
    ///
    /// - Throws: `MetricsError` when the rank is not 2 or 3, an axis is empty, a value is
    ///   not finite or outside [0, 1], or a row sums to more than `rowTolerance` away from 1
    ///   (the error names the sample and example).
    public init(probabilities: Tensor, rowTolerance: Double = Predictive.defaultRowTolerance) throws {
        let (s, n, c) = try Self.sampleShape(probabilities, name: "probabilities")
        guard rowTolerance >= 0, rowTolerance < 1 else {
            throw MetricsError.invalidArgument(name: "rowTolerance", message: "must be in [0, 1), got \(rowTolerance)")
        }
        let summary = try ClassificationSummary(probabilities, samples: s, examples: n, classes: c, tolerance: rowTolerance)
        task = .classification
        (sampleCount, exampleCount, outputCount) = (s, n, c)
        self.probabilities = try probabilities.reshaped([s, n, c])
        (means, variances) = (nil, nil)
        (meanProbabilities, totalEntropy, expectedEntropy) = (summary.mean, summary.total, summary.expected)
        (predictiveMean, aleatoricVariance, epistemicVariance) = ([], [], [])
        expectedEntropyIsGiven = false
    }

    /// A one-sample classification predictive `[N, C]` whose expected entropy
    /// `E_θ H[p(y | x, θ)]` is given per example instead of computed from samples — what a
    /// student distilled to output it gives (generalized posterior expectation distillation,
    /// Vadera et al. 2020), so the mutual information `H[p̄] − E H` is epistemic uncertainty
    /// without samples. Each value is clamped to `[0, H[p̄]]` (Jensen: the expected entropy
    /// never exceeds the predictive's), so the decomposition stays valid.
    ///
    /// - Throws: `MetricsError` as `init(probabilities:)`, and when `expectedEntropy` does not
    ///   hold one finite value per example.
    public init(probabilities: Tensor, expectedEntropy given: [Double]) throws {
        guard probabilities.rank == 2 else {
            throw MetricsError.invalidShape(name: "probabilities", shape: probabilities.shape, expected: "[N, C]: one distilled predictive")
        }
        let base = try Predictive(probabilities: probabilities)
        guard given.count == base.exampleCount else {
            throw MetricsError.invalidArgument(name: "expectedEntropy", message: "needs one value per example (\(base.exampleCount)), got \(given.count)")
        }
        if let bad = given.firstIndex(where: { !$0.isFinite }) {
            throw MetricsError.nonFinite(name: "expectedEntropy", location: "example \(bad)", value: given[bad])
        }
        task = .classification
        (sampleCount, exampleCount, outputCount) = (1, base.exampleCount, base.outputCount)
        self.probabilities = base.probabilities
        (means, variances) = (nil, nil)
        (meanProbabilities, totalEntropy) = (base.meanProbabilities, base.totalEntropy)
        expectedEntropy = zip(given, base.totalEntropy).map { Swift.min(Swift.max($0, 0), $1) }
        expectedEntropyIsGiven = true
        (predictiveMean, aleatoricVariance, epistemicVariance) = ([], [], [])
    }

    /// A classification predictive from per-sample logits `[S, N, C]` (or `[N, C]`):
    /// `p_s = softmax(z_s / T)`, computed max-shifted in `Double` and stored as `Float`.
    ///
    /// - Parameter temperature: divides the logits first (temperature scaling); must be > 0.
    /// - Throws: `MetricsError` for a bad shape, a non-finite logit, or `temperature ≤ 0`.
    public init(logits: Tensor, temperature: Double = 1) throws {
        let (s, n, c) = try Self.sampleShape(logits, name: "logits")
        guard temperature > 0, temperature.isFinite else {
            throw MetricsError.invalidArgument(name: "temperature", message: "must be a finite number > 0, got \(temperature)")
        }
        var probs = Tensor(uninitializedShape: [s, n, c])
        try logits.withUnsafeBufferPointer { z in
            try probs.withUnsafeMutableBufferPointer { p in
                let beta = 1 / temperature
                var e = [Double](repeating: 0, count: c)
                for r in 0..<(s * n) {
                    let row = r * c
                    var m = -Double.infinity
                    for j in 0..<c {
                        let v = z[row + j]
                        guard v.isFinite else {
                            throw MetricsError.nonFinite(name: "logits", location: Self.location(r, n, j), value: Double(v))
                        }
                        m = Swift.max(m, Double(v))
                    }
                    var total = 0.0
                    for j in 0..<c { e[j] = Foundation.exp(beta * (Double(z[row + j]) - m)); total += e[j] }
                    for j in 0..<c { p[row + j] = Float(e[j] / total) }
                }
            }
        }
        try self.init(probabilities: probs)
    }

    // MARK: - Regression

    /// A regression predictive from per-sample Gaussian means and variances, each
    /// `[S, N, D]`, or `[N, D]` for a single Gaussian (read as `S = 1`).
    ///
    /// - Throws: `MetricsError` when the shapes differ or are not rank 2 or 3, a value is not
    ///   finite, or a variance is negative.
    public init(means: Tensor, variances: Tensor) throws {
        let (s, n, d) = try Self.sampleShape(means, name: "means")
        guard variances.shape == means.shape else {
            throw MetricsError.invalidShape(name: "variances", shape: variances.shape,
                                            expected: "the shape of the means, \(means.shape)")
        }
        let summary = try RegressionSummary(means: means, variances: variances, samples: s, examples: n, outputs: d)
        task = .regression
        (sampleCount, exampleCount, outputCount) = (s, n, d)
        probabilities = nil
        self.means = try means.reshaped([s, n, d])
        self.variances = try variances.reshaped([s, n, d])
        (meanProbabilities, totalEntropy, expectedEntropy) = ([], [], [])
        (predictiveMean, aleatoricVariance, epistemicVariance) = (summary.mean, summary.aleatoric, summary.epistemic)
        expectedEntropyIsGiven = false
    }

    // MARK: - Helpers

    /// `(S, N, C)` of a rank-3 tensor, or `(1, N, C)` of a rank-2 one; axes must be non-empty.
    static func sampleShape(_ t: Tensor, name: String) throws -> (Int, Int, Int) {
        let dims: [Int]
        switch t.rank {
        case 3: dims = t.shape
        case 2: dims = [1] + t.shape
        default:
            throw MetricsError.invalidShape(name: name, shape: t.shape, expected: "[S, N, C] (samples, examples, outputs) or [N, C]")
        }
        guard dims.allSatisfy({ $0 > 0 }) else {
            throw MetricsError.invalidShape(name: name, shape: t.shape, expected: "a non-empty [S, N, C]")
        }
        return (dims[0], dims[1], dims[2])
    }

    /// "sample s, example n, <axis> j" for flat row `r` of an `[S, N, ·]` tensor.
    static func location(_ r: Int, _ n: Int, _ j: Int, axis: String = "class") -> String {
        "sample \(r / n), example \(r % n), \(axis) \(j)"
    }

    /// Throws `wrongTask` unless this predictive is for `task`.
    func require(_ task: Task, for metric: String) throws {
        guard self.task == task else {
            throw MetricsError.wrongTask(metric: metric, expected: task.rawValue, found: self.task.rawValue)
        }
    }
}

/// Entropy `−Σ q log q` (0 log 0 = 0) of `count` values at `q`, in nats.
func entropy(_ q: UnsafePointer<Double>, count: Int) -> Double {
    var h = 0.0
    for j in 0..<count where q[j] > 0 { h -= q[j] * Foundation.log(q[j]) }
    return h
}

/// One validating pass over `[S, N, C]` probabilities: normalised mean rows and entropies.
struct ClassificationSummary {
    var mean: [Double], total: [Double], expected: [Double]

    init(_ probabilities: Tensor, samples s: Int, examples n: Int, classes c: Int, tolerance: Double) throws {
        var mean = [Double](repeating: 0, count: n * c)
        var expected = [Double](repeating: 0, count: n)
        var q = [Double](repeating: 0, count: c)
        try probabilities.withUnsafeBufferPointer { p in
            try q.withUnsafeMutableBufferPointer { q in
                for r in 0..<(s * n) {
                    let row = r * c, example = r % n
                    var sum = 0.0
                    for j in 0..<c {
                        let v = p[row + j]
                        guard v.isFinite else {
                            throw MetricsError.nonFinite(name: "probabilities", location: Predictive.location(r, n, j), value: Double(v))
                        }
                        guard v >= 0, v <= 1 else {
                            throw MetricsError.probabilityOutOfRange(location: Predictive.location(r, n, j), value: Double(v))
                        }
                        sum += Double(v)
                    }
                    guard Swift.abs(sum - 1) <= tolerance else {
                        throw MetricsError.rowNotNormalized(sample: r / n, example: example, sum: sum, tolerance: tolerance)
                    }
                    // Division (not multiplication by 1/sum) keeps every q ≤ 1 exactly.
                    for j in 0..<c { q[j] = Double(p[row + j]) / sum; mean[example * c + j] += q[j] }
                    expected[example] += entropy(UnsafePointer(q.baseAddress!), count: c)
                }
            }
        }
        let inv = 1 / Double(s)
        if s > 1 {
            for i in mean.indices { mean[i] *= inv }
            for i in expected.indices { expected[i] *= inv }
        }
        self.mean = mean
        self.expected = expected
        total = mean.withUnsafeBufferPointer { m in (0..<n).map { entropy(m.baseAddress! + $0 * c, count: c) } }
    }
}

/// One validating pass over `[S, N, D]` means and variances: the law of total variance.
struct RegressionSummary {
    var mean: [Double], aleatoric: [Double], epistemic: [Double]

    init(means: Tensor, variances: Tensor, samples s: Int, examples n: Int, outputs d: Int) throws {
        let count = n * d
        var mean = [Double](repeating: 0, count: count)
        var aleatoric = [Double](repeating: 0, count: count)
        var epistemic = [Double](repeating: 0, count: count)
        try means.withUnsafeBufferPointer { mu in
            try variances.withUnsafeBufferPointer { v in
                for i in 0..<(s * count) {
                    let r = i / d, j = i % d
                    guard mu[i].isFinite else {
                        throw MetricsError.nonFinite(name: "means", location: Predictive.location(r, n, j, axis: "output"), value: Double(mu[i]))
                    }
                    guard v[i].isFinite else {
                        throw MetricsError.nonFinite(name: "variances", location: Predictive.location(r, n, j, axis: "output"), value: Double(v[i]))
                    }
                    guard v[i] >= 0 else {
                        throw MetricsError.negativeVariance(location: Predictive.location(r, n, j, axis: "output"), value: Double(v[i]))
                    }
                    mean[i % count] += Double(mu[i])
                    aleatoric[i % count] += Double(v[i])
                }
                let inv = 1 / Double(s)
                for k in 0..<count { mean[k] *= inv; aleatoric[k] *= inv }
                // Second pass around the mean: no cancellation in Var μ = E μ² − (E μ)².
                for i in 0..<(s * count) { let e = Double(mu[i]) - mean[i % count]; epistemic[i % count] += e * e }
                for k in 0..<count { epistemic[k] *= inv }
            }
        }
        (self.mean, self.aleatoric, self.epistemic) = (mean, aleatoric, epistemic)
    }
}
