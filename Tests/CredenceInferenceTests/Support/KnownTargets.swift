import CredenceTensor
import Foundation
import Testing

/// Shared harness: targets with exact answers that every sampler and variational method is
/// tested against (DESIGN.md, rule 4; after the `posteriors` library's "recover a known
/// Gaussian" tests). A method gets `dimension`, `logDensity` and `gradient`; the test then
/// compares its draws (or its fitted Gaussian, via `gaussianKL`) with `mean`/`covariance`.
///
/// ```swift
/// let target = CorrelatedGaussian(dimension: 3, conditionNumber: 10, seed: 1)
/// let draws = mySampler(target.logDensity, target.gradient, ...)
/// expectRecovers(draws, target, meanTolerance: 0.1, covarianceTolerance: 0.1)
/// ```
protocol KnownTarget {
    var dimension: Int { get }
    /// log π(x) up to an additive constant (each target says which constant).
    func logDensity(_ x: [Double]) -> Double
    /// ∇ₓ log π(x).
    func gradient(_ x: [Double]) -> [Double]
    /// The exact mean and covariance of π.
    var mean: [Double] { get }
    var covariance: [[Double]] { get }
    /// Exact i.i.d. draws from π (to test the harness itself and as a reference sampler).
    func exactSamples(_ count: Int, rng: inout RandomGenerator) -> [[Double]]
}

extension DenseMatrix {
    init(nested rows: [[Double]]) { self.init(rows: rows.count, columns: rows.first?.count ?? 0, values: rows.flatMap { $0 }) }
    var nested: [[Double]] { (0..<rows).map { Array(values[($0 * columns)..<(($0 + 1) * columns)]) } }
}

/// A standard-normal draw in `Double` (Box–Muller of `uniformDouble`).
func standardNormal(_ rng: inout RandomGenerator) -> Double {
    (-2 * log(1 - rng.uniformDouble())).squareRoot() * cos(2 * Double.pi * rng.uniformDouble())
}

/// Draws mean + L·z, z ~ N(0, I), for a lower-triangular L (covariance L·Lᵀ).
func gaussianDraws(mean: [Double], choleskyFactor l: DenseMatrix, count: Int, rng: inout RandomGenerator) -> [[Double]] {
    let d = mean.count
    return (0..<count).map { _ in
        let z = (0..<d).map { _ in standardNormal(&rng) }
        return (0..<d).map { i in mean[i] + (0...i).reduce(0) { $0 + l[i, $1] * z[$1] } }
    }
}

/// N(μ, Σ) in d dimensions with Σ = Q·diag(λ)·Qᵀ: Q a seeded random rotation (Gram–Schmidt of
/// a Gaussian matrix), λₖ = κ^(k/(d−1)) from 1 to κ, so the condition number is exactly κ;
/// μ has standard-normal entries. `logDensity` is normalised.
struct CorrelatedGaussian: KnownTarget {
    let dimension: Int
    let mean: [Double]
    let covariance: [[Double]]
    let precision: [[Double]]
    let choleskyFactor: DenseMatrix
    let logNormalizer: Double

    init(dimension d: Int, conditionNumber kappa: Double, seed: UInt64) {
        var rng = RandomGenerator(seed: seed)
        var q: [[Double]] = []
        while q.count < d {
            var v = (0..<d).map { _ in standardNormal(&rng) }
            for u in q { let p = zip(u, v).reduce(0) { $0 + $1.0 * $1.1 }; v = zip(v, u).map { $0 - p * $1 } }
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            q.append(v.map { $0 / norm })
        }
        let lambda = (0..<d).map { d == 1 ? 1 : pow(kappa, Double($0) / Double(d - 1)) }
        func product(_ scale: [Double]) -> [[Double]] {
            (0..<d).map { i in (0..<d).map { j in (0..<d).reduce(0) { $0 + q[$1][i] * scale[$1] * q[$1][j] } } }
        }
        dimension = d
        mean = (0..<d).map { _ in standardNormal(&rng) }
        covariance = product(lambda)
        precision = product(lambda.map { 1 / $0 })
        choleskyFactor = try! DenseMatrix(nested: covariance).choleskyFactor()
        logNormalizer = -0.5 * (Double(d) * log(2 * Double.pi) + lambda.reduce(0) { $0 + log($1) })
    }

    func gradient(_ x: [Double]) -> [Double] {
        precision.map { row in -(0..<dimension).reduce(0) { $0 + row[$1] * (x[$1] - mean[$1]) } }
    }
    func logDensity(_ x: [Double]) -> Double {
        logNormalizer + 0.5 * zip(gradient(x), zip(x, mean)).reduce(0) { $0 + $1.0 * ($1.1.0 - $1.1.1) }
    }
    func exactSamples(_ count: Int, rng: inout RandomGenerator) -> [[Double]] {
        gaussianDraws(mean: mean, choleskyFactor: choleskyFactor, count: count, rng: &rng)
    }
}

/// Bayesian linear regression t = Φw + ε, ε ~ N(0, β⁻¹I), prior w ~ N(0, α⁻¹I), with N seeded
/// rows φ = (1, x₁, …, x_{M−1}), x ~ N(0, 1), and true weights w* ~ N(0, 1).
/// Posterior N(m, S): A = S⁻¹ = αI + βΦᵀΦ, m = βSΦᵀt (Bishop, PRML eqs. 3.53–3.54).
/// `logDensity` is the *unnormalised* log posterior log p(t | w) + log p(w), whose integral
/// over w is the evidence (PRML eq. 3.86):
/// log p(t | α, β) = (M/2) log α + (N/2) log β − E(m) − ½ log|A| − (N/2) log 2π,
/// E(m) = (β/2)‖t − Φm‖² + (α/2) mᵀm.
struct BayesianLinearRegressionTarget: KnownTarget {
    let alpha: Double, beta: Double
    let design: [[Double]]   // Φ, N × M
    let targets: [Double]    // t
    let mean: [Double]
    let covariance: [[Double]]
    let logEvidence: Double
    let covarianceFactor: DenseMatrix
    var dimension: Int { mean.count }

    /// `featureCorrelation` c makes neighbouring features correlated: x_k ← c·x_{k−1} + √(1 − c²)·x_k
    /// (each still N(0, 1)), so the posterior's weights are correlated (0: independent features).
    init(features m: Int, count n: Int, alpha: Double, beta: Double, seed: UInt64, featureCorrelation c: Double = 0) {
        var rng = RandomGenerator(seed: seed)
        let w = (0..<m).map { _ in standardNormal(&rng) }
        var phi = (0..<n).map { _ in [1] + (1..<m).map { _ in standardNormal(&rng) } }
        if c != 0 {
            for r in phi.indices where m > 2 { for k in 2..<m { phi[r][k] = c * phi[r][k - 1] + (1 - c * c).squareRoot() * phi[r][k] } }
        }
        let t = phi.map { row in zip(row, w).reduce(0) { $0 + $1.0 * $1.1 } + standardNormal(&rng) / beta.squareRoot() }
        var a = DenseMatrix(rows: m, columns: m)
        var b = [Double](repeating: 0, count: m)
        for (row, y) in zip(phi, t) {
            for i in 0..<m {
                b[i] += beta * row[i] * y
                for j in 0..<m { a[i, j] += beta * row[i] * row[j] }
            }
        }
        a.addDiagonal([Double](repeating: alpha, count: m))
        let la = try! a.choleskyFactor()
        let s = try! la.choleskyInverse()
        let mean = try! la.choleskySolve(DenseMatrix(column: b)).values
        let misfit = zip(phi, t).reduce(0) { acc, p in let r = p.1 - zip(p.0, mean).reduce(0) { $0 + $1.0 * $1.1 }; return acc + r * r }
        let energy = beta / 2 * misfit + alpha / 2 * mean.reduce(0) { $0 + $1 * $1 }
        (self.alpha, self.beta, design, targets, self.mean, covariance) = (alpha, beta, phi, t, mean, s.nested)
        covarianceFactor = try! s.choleskyFactor()
        logEvidence = Double(m) / 2 * log(alpha) + Double(n) / 2 * log(beta) - energy - la.choleskyLogDeterminant / 2
            - Double(n) / 2 * log(2 * Double.pi)
    }

    func residuals(_ w: [Double]) -> [Double] { zip(design, targets).map { $0.1 - zip($0.0, w).reduce(0) { $0 + $1.0 * $1.1 } } }
    func logDensity(_ w: [Double]) -> Double {
        let n = Double(targets.count), m = Double(dimension)
        return n / 2 * log(beta / (2 * Double.pi)) - beta / 2 * residuals(w).reduce(0) { $0 + $1 * $1 }
            + m / 2 * log(alpha / (2 * Double.pi)) - alpha / 2 * w.reduce(0) { $0 + $1 * $1 }
    }
    func gradient(_ w: [Double]) -> [Double] {
        let r = residuals(w)
        return (0..<dimension).map { j in beta * zip(design, r).reduce(0) { $0 + $1.0[j] * $1.1 } - alpha * w[j] }
    }
    func exactSamples(_ count: Int, rng: inout RandomGenerator) -> [[Double]] {
        gaussianDraws(mean: mean, choleskyFactor: covarianceFactor, count: count, rng: &rng)
    }
}

/// The twisted Gaussian "banana" of Haario, Saksman & Tamminen (1999):
/// x₁ ~ N(0, a²), x₂ | x₁ ~ N(b(x₁² − a²), 1); `logDensity` is normalised.
///
/// Moments, exactly: E[x₁] = 0; E[x₂] = b(E[x₁²] − a²) = 0; Cov(x₁, x₂) = b(E[x₁³] − a²E[x₁])
/// = 0 (odd moments of a centred Gaussian vanish); Var(x₂) = E[Var(x₂|x₁)] + Var(E[x₂|x₁])
/// = 1 + b² Var(x₁²) = 1 + 2a⁴b² (Var(x₁²) = E[x₁⁴] − a⁴ = 3a⁴ − a⁴). So the mean is 0 and the
/// covariance diag(a², 1 + 2a⁴b²), although the density is far from Gaussian.
struct Banana: KnownTarget {
    let a: Double, b: Double
    init(a: Double = 1, b: Double = 1) { (self.a, self.b) = (a, b) }
    var dimension: Int { 2 }
    var mean: [Double] { [0, 0] }
    var covariance: [[Double]] { [[a * a, 0], [0, 1 + 2 * pow(a, 4) * b * b]] }

    func logDensity(_ x: [Double]) -> Double {
        let r = x[1] - b * (x[0] * x[0] - a * a)
        return -x[0] * x[0] / (2 * a * a) - r * r / 2 - log(2 * Double.pi * a)
    }
    func gradient(_ x: [Double]) -> [Double] {
        let r = x[1] - b * (x[0] * x[0] - a * a)
        return [-x[0] / (a * a) + 2 * b * x[0] * r, -r]
    }
    func exactSamples(_ count: Int, rng: inout RandomGenerator) -> [[Double]] {
        (0..<count).map { _ in let x1 = a * standardNormal(&rng); return [x1, b * (x1 * x1 - a * a) + standardNormal(&rng)] }
    }
}

// MARK: - Statistics

func sampleMean(_ samples: [[Double]]) -> [Double] {
    let d = samples.first?.count ?? 0
    return samples.reduce([Double](repeating: 0, count: d)) { zip($0, $1).map(+) }.map { $0 / Double(samples.count) }
}

/// The unbiased (n − 1) sample covariance.
func sampleCovariance(_ samples: [[Double]]) -> [[Double]] {
    let m = sampleMean(samples), d = m.count
    var c = [[Double]](repeating: [Double](repeating: 0, count: d), count: d)
    for x in samples { for i in 0..<d { for j in 0..<d { c[i][j] += (x[i] - m[i]) * (x[j] - m[j]) } } }
    return c.map { $0.map { $0 / Double(samples.count - 1) } }
}

/// How far draws are from a target: the mean error in units of the target's standard
/// deviations, maxᵢ |m̂ᵢ − mᵢ| / √Σᵢᵢ, and the covariance error ‖Σ̂ − Σ‖_F / ‖Σ‖_F.
struct RecoveryCheck: CustomStringConvertible {
    let meanError: Double, covarianceError: Double
    let meanTolerance: Double, covarianceTolerance: Double
    var meanRecovered: Bool { meanError <= meanTolerance }
    var covarianceRecovered: Bool { covarianceError <= covarianceTolerance }
    var recovered: Bool { meanRecovered && covarianceRecovered }
    var description: String {
        String(format: "mean off by %.4f sd (tolerance %.4f), covariance off by %.4f relative Frobenius (tolerance %.4f)",
               meanError, meanTolerance, covarianceError, covarianceTolerance)
    }
}

func checkRecovery(_ samples: [[Double]], _ target: KnownTarget, meanTolerance: Double,
                   covarianceTolerance: Double) -> RecoveryCheck {
    let m = sampleMean(samples), c = sampleCovariance(samples)
    let meanError = (0..<target.dimension).map { abs(m[$0] - target.mean[$0]) / target.covariance[$0][$0].squareRoot() }.max() ?? 0
    var difference = 0.0, norm = 0.0
    for (rowHat, row) in zip(c, target.covariance) {
        for (x, y) in zip(rowHat, row) { difference += (x - y) * (x - y); norm += y * y }
    }
    return RecoveryCheck(meanError: meanError, covarianceError: (difference / norm).squareRoot(),
                         meanTolerance: meanTolerance, covarianceTolerance: covarianceTolerance)
}

/// `#expect`s that `samples` recover the target's mean and covariance (see `RecoveryCheck`).
func expectRecovers(_ samples: [[Double]], _ target: KnownTarget, meanTolerance: Double, covarianceTolerance: Double,
                    sourceLocation: SourceLocation = #_sourceLocation) {
    let check = checkRecovery(samples, target, meanTolerance: meanTolerance, covarianceTolerance: covarianceTolerance)
    #expect(check.meanRecovered, "\(type(of: target)) mean not recovered from \(samples.count) draws: \(check)",
            sourceLocation: sourceLocation)
    #expect(check.covarianceRecovered, "\(type(of: target)) covariance not recovered from \(samples.count) draws: \(check)",
            sourceLocation: sourceLocation)
}

/// KL(N(μ₀, Σ₀) ‖ N(μ₁, Σ₁)) = ½[tr(Σ₁⁻¹Σ₀) + (μ₁−μ₀)ᵀΣ₁⁻¹(μ₁−μ₀) − d + log|Σ₁| − log|Σ₀|],
/// with Σ = LLᵀ: tr(Σ₁⁻¹Σ₀) = ‖L₁⁻¹L₀‖²_F and the quadratic form ‖L₁⁻¹(μ₁−μ₀)‖² (LAPACK, Double).
func gaussianKL(_ mean0: [Double], _ cov0: [[Double]], _ mean1: [Double], _ cov1: [[Double]]) throws -> Double {
    let l0 = try DenseMatrix(nested: cov0).choleskyFactor(), l1 = try DenseMatrix(nested: cov1).choleskyFactor()
    let trace = try l1.solveLowerTriangular(l0).values.reduce(0) { $0 + $1 * $1 }
    let quadratic = try l1.solveLowerTriangular(DenseMatrix(column: zip(mean1, mean0).map(-))).values.reduce(0) { $0 + $1 * $1 }
    return 0.5 * (trace + quadratic - Double(mean0.count) + l1.choleskyLogDeterminant - l0.choleskyLogDeterminant)
}

/// Effective sample size of one chain by Geyer's (1992) initial positive sequence: with
/// autocovariances γₖ, sum the pairs Γₘ = γ₂ₘ + γ₂ₘ₊₁ while they stay positive;
/// τ = −1 + 2 Σₘ Γₘ / γ₀ (the integrated autocorrelation time) and ESS = n / τ.
func effectiveSampleSize(_ chain: [Double]) -> Double {
    let n = chain.count, mu = chain.reduce(0, +) / Double(n)
    let x = chain.map { $0 - mu }
    func autocovariance(_ k: Int) -> Double { (0..<(n - k)).reduce(0) { $0 + x[$1] * x[$1 + k] } / Double(n) }
    let gamma0 = autocovariance(0)
    var sum = 0.0, m = 0
    while 2 * m + 1 < n {
        let pair = (2 * m == 0 ? gamma0 : autocovariance(2 * m)) + autocovariance(2 * m + 1)
        if pair <= 0 { break }
        sum += pair
        m += 1
    }
    return Double(n) / (-1 + 2 * sum / gamma0)
}

/// Monte-Carlo standard error of a chain's mean, sd / √ESS — the unit for MCMC tolerances.
func monteCarloStandardError(_ chain: [Double]) -> Double {
    let mu = chain.reduce(0, +) / Double(chain.count)
    let variance = chain.reduce(0) { $0 + ($1 - mu) * ($1 - mu) } / Double(chain.count - 1)
    return (variance / effectiveSampleSize(chain)).squareRoot()
}
