import CredenceTensor
import Foundation

/// Nesterov dual averaging of log ε towards a target acceptance statistic δ (Hoffman & Gelman
/// 2014, Algorithm 5; Stan's constants γ = 0.05, t₀ = 10, κ = 0.75, μ = log 10ε₀):
/// after the t-th transition with acceptance statistic α_t,
///
///     H̄ ← (1 − 1/(t + t₀))·H̄ + (δ − α_t)/(t + t₀),   log ε ← μ − √t/γ·H̄,
///     log ε̄ ← t^−κ·log ε + (1 − t^−κ)·log ε̄,
///
/// and ε̄ is the step size kept after warm-up.
struct DualAveraging: Equatable {
    var targetAcceptance: Double
    var mu: Double
    var counter = 0.0
    var averageError = 0.0
    var logStepSize = 0.0
    var logAverageStepSize = 0.0
    static let gamma = 0.05, t0 = 10.0, kappa = 0.75

    init(targetAcceptance: Double, initialStepSize: Double) {
        self.targetAcceptance = targetAcceptance
        mu = log(10 * initialStepSize)
    }

    /// Starts over around a new initial step size (after each metric update).
    mutating func restart(initialStepSize: Double) {
        mu = log(10 * initialStepSize)
        counter = 0
        averageError = 0
        logStepSize = 0
        logAverageStepSize = 0
    }

    /// The next step size after a transition with acceptance statistic `acceptance`.
    mutating func update(acceptance: Double) -> Double {
        counter += 1
        let eta = 1 / (counter + Self.t0)
        averageError = (1 - eta) * averageError + eta * (targetAcceptance - Swift.min(1, acceptance))
        logStepSize = mu - counter.squareRoot() / Self.gamma * averageError
        let weight = pow(counter, -Self.kappa)
        logAverageStepSize = weight * logStepSize + (1 - weight) * logAverageStepSize
        return exp(logStepSize)
    }

    /// ε̄, the step size sampling uses.
    var finalStepSize: Double { exp(logAverageStepSize) }

    var stored: [Double] { [targetAcceptance, mu, counter, averageError, logStepSize, logAverageStepSize] }
    init(stored v: [Double]) {
        (targetAcceptance, mu, counter, averageError, logStepSize, logAverageStepSize) = (v[0], v[1], v[2], v[3], v[4], v[5])
    }
    static let storedCount = 6
}

/// Welford's running mean and variance of each coordinate (the draws of one adaptation window).
struct WelfordVariance: Equatable {
    var count = 0
    var mean: [Double]
    var squaredDeviations: [Double]

    init(dimension: Int) {
        mean = [Double](repeating: 0, count: dimension)
        squaredDeviations = mean
    }

    mutating func add(_ x: [Double]) {
        count += 1
        for i in x.indices {
            let delta = x[i] - mean[i]
            mean[i] += delta / Double(count)
            squaredDeviations[i] += delta * (x[i] - mean[i])
        }
    }

    /// Stan's regularised estimate: n/(n + 5)·s² + 10⁻³·5/(n + 5), shrinking towards a small
    /// constant when the window holds few draws.
    var regularizedVariance: [Double] {
        let n = Double(count)
        return squaredDeviations.map { n / (n + 5) * ($0 / Swift.max(n - 1, 1)) + 1e-3 * 5 / (n + 5) }
    }
}

/// Stan's windowed warm-up: an initial fast buffer (step size only), slow windows that double
/// in length and each end with the metric estimated from their draws (the last one
/// stretched to the terminal buffer), and a terminal fast buffer (step size only) with the
/// final metric. Defaults 75 / 25 / 50 iterations; a warm-up shorter than their sum uses
/// 15 % / 75 % / 10 % of it; under 20 iterations, or with the metric fixed, only the step
/// size adapts.
struct WarmupWindows: Equatable {
    let warmup: Int
    let initialBuffer: Int, terminalBuffer: Int, baseWindow: Int
    let adaptsMetric: Bool
    /// The warm-up iterations (0-based) after which a slow window ends and the metric is
    /// re-estimated: windows of base, 2·base, 4·base, … from the initial buffer, the last one
    /// absorbing a remainder shorter than twice its length.
    let windowEnds: [Int]

    init(warmup: Int, adaptsMetric: Bool) {
        self.warmup = warmup
        if warmup < 20 || !adaptsMetric {
            (initialBuffer, terminalBuffer, baseWindow, self.adaptsMetric) = (warmup, 0, 0, false)
        } else if 75 + 50 + 25 > warmup {
            let initial = Int(0.15 * Double(warmup)), terminal = Int(0.1 * Double(warmup))
            (initialBuffer, terminalBuffer, baseWindow, self.adaptsMetric) = (initial, terminal, warmup - initial - terminal, true)
        } else {
            (initialBuffer, terminalBuffer, baseWindow, self.adaptsMetric) = (75, 50, 25, true)
        }
        var ends: [Int] = []
        if self.adaptsMetric {
            let slowEnd = warmup - terminalBuffer  // first iteration of the terminal buffer
            var start = initialBuffer, size = baseWindow
            while start < slowEnd {
                var end = start + size
                if end + 2 * size > slowEnd { end = slowEnd }
                ends.append(end - 1)
                start = end
                size *= 2
            }
        }
        windowEnds = ends
    }

    /// Whether warm-up iteration `k` (0-based) adds its draw to the metric estimate.
    func collects(_ k: Int) -> Bool { adaptsMetric && k >= initialBuffer && k < warmup - terminalBuffer }
}

/// The dense metric's estimate from one window's draws: their correlations shrunk towards
/// zero by the intensity Schäfer & Strimmer (2005, target "D": diagonal, unequal variances)
/// estimate from the draws themselves,
///
///     λ* = Σ_{i≠j} Var̂(r_ij) / Σ_{i≠j} r_ij²  (clipped to [0, 1]),
///
/// and scaled by the window's regularised variances (the diagonal metric's), so a window of
/// few draws in many dimensions gives nearly the diagonal metric and one of many draws nearly
/// the full sample covariance; Σ stays positive definite while λ* > 0. (Stan shrinks towards
/// 10⁻³·I instead, which leaves the directions a short window never moved along almost frozen
/// when there are more parameters than draws.) Two products of the d×n standardised draws.
///
/// Var̂(r_ij) is Schäfer & Strimmer's for independent draws; a Markov chain's draws are not,
/// and its sample correlations scatter more — by Bartlett's Σₜ ρᵢ(t)ρⱼ(t) — so the spread is
/// multiplied by `autocorrelationTime` (≥ 1; the chain passes the draws' mean integrated
/// autocorrelation time, `meanAutocorrelationTime`): a window of few effective draws shrinks
/// towards the diagonal as a window of few draws does.
///
/// - Returns: Σ, and λ* (1 when the draws carry no correlation to estimate).
func shrunkCovariance(draws: [[Double]], variances: [Double], autocorrelationTime: Double = 1) throws
    -> (covariance: DenseMatrix, shrinkage: Double) {
    let n = draws.count, d = variances.count
    var covariance = DenseMatrix(diagonal: variances)
    guard n >= 3 else { return (covariance, 1) }
    var mean = [Double](repeating: 0, count: d)
    for x in draws { for i in 0..<d { mean[i] += x[i] } }
    for i in 0..<d { mean[i] /= Double(n) }
    var sd = [Double](repeating: 0, count: d)
    for x in draws { for i in 0..<d { sd[i] += (x[i] - mean[i]) * (x[i] - mean[i]) } }
    for i in 0..<d { sd[i] = (sd[i] / Double(n - 1)).squareRoot() }
    // Standardised draws y (a coordinate that never moved stays 0: no correlation) and y².
    var y = DenseMatrix(rows: n, columns: d), ySquared = y
    for (k, x) in draws.enumerated() {
        for i in 0..<d where sd[i] > 0 {
            let v = (x[i] - mean[i]) / sd[i]
            y.values[k * d + i] = v
            ySquared.values[k * d + i] = v * v
        }
    }
    let products = try y.matmul(y, transposeLeft: true)                        // n·w̄_ij
    let squares = try ySquared.matmul(ySquared, transposeLeft: true)           // Σ_k w_kij²
    let nn = Double(n)
    var spread = 0.0, size = 0.0
    for i in 0..<d {
        for j in 0..<d where j != i {
            let meanProduct = products[i, j] / nn, r = products[i, j] / (nn - 1)
            spread += nn / pow(nn - 1, 3) * Swift.max(squares[i, j] - nn * meanProduct * meanProduct, 0)
            size += r * r
        }
    }
    spread *= Swift.max(autocorrelationTime, 1)
    let shrinkage = size > 0 ? Swift.min(1, Swift.max(0, spread / size)) : 1
    for i in 0..<d {
        for j in 0..<d where j != i {
            covariance.values[i * d + j] = (1 - shrinkage) * products[i, j] / (nn - 1) * (variances[i] * variances[j]).squareRoot()
        }
    }
    return (covariance, shrinkage)
}

/// τ̄ = mean over the coordinates of n/ESS (`ChainDiagnostics.effectiveSampleSize` of one
/// chain: Geyer's initial monotone sequence), at least 1: how many draws of the window make
/// one independent draw, on average.
func meanAutocorrelationTime(draws: [[Double]]) -> Double {
    let n = draws.count, d = draws.first?.count ?? 0
    guard n >= 4, d > 0 else { return 1 }
    let total = (0..<d).reduce(0.0) { sum, i in
        sum + Double(n) / ChainDiagnostics.effectiveSampleSize([draws.map { $0[i] }])
    }
    return Swift.max(total / Double(d), 1)
}
