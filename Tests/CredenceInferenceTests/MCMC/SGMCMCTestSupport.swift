@testable import CredenceInference
import CredenceTensor
import Foundation

/// Runs an SG-MCMC dynamics (the very `step` the chain runs) under a schedule for `steps`
/// steps on a known target from its mean, with `gradient` (exact or mini-batch) of the
/// log-density, and returns the iterates the schedule keeps.
func runDynamics<D: SGMCMCDynamics>(_ dynamics: D, schedule: SGMCMCSchedule, from start: [Double], steps: Int, seed: UInt64,
                                    gradient: (_ x: [Double], _ rng: inout RandomGenerator) -> [Double]) -> [[Double]] {
    var rng = RandomGenerator(seed: seed)
    var theta = Tensor(start.map { Float($0) })
    var buffers = dynamics.makeBuffers(parameterCount: start.count)
    var kept: [[Double]] = []
    for k in 0..<steps {
        let g = Tensor(gradient(theta.values.map(Double.init), &rng).map { Float($0) })
        dynamics.step(&theta, &buffers, gradient: g, stepSize: schedule.stepSize(at: k), noise: schedule.addsNoise(at: k), rng: &rng)
        if schedule.keeps(after: k) { kept.append(theta.values.map(Double.init)) }
    }
    return kept
}

/// The mini-batch gradient N/|B| Σ_B ∇log p(tₙ | w) + ∇log p(w) of Bayesian linear regression,
/// rows drawn with replacement (unbiased) — the stochastic part of SG-MCMC on an exact target.
struct MiniBatchRegressionGradient {
    let target: BayesianLinearRegressionTarget
    let batch: Int
    let rows: [Double]  // Φ row-major

    init(_ target: BayesianLinearRegressionTarget, batch: Int) {
        self.target = target
        self.batch = batch
        rows = target.design.flatMap { $0 }
    }

    func callAsFunction(_ w: [Double], _ rng: inout RandomGenerator) -> [Double] {
        let n = target.targets.count, m = w.count
        let scale = Double(n) / Double(batch) * target.beta
        var g = w.map { -target.alpha * $0 }
        rows.withUnsafeBufferPointer { phi in
            target.targets.withUnsafeBufferPointer { t in
                for _ in 0..<batch {
                    let e = Int(rng.next() % UInt64(n))
                    var r = t[e]
                    for j in 0..<m { r -= phi[e * m + j] * w[j] }
                    for j in 0..<m { g[j] += scale * phi[e * m + j] * r }
                }
            }
        }
        return g
    }
}

/// The stationary covariance of the linear Gaussian recursion z ← Fz + w, w ~ N(0, Q):
/// Σ = FΣFᵀ + Q, by the doubling iteration Σ ← Σ + AΣAᵀ, A ← A² (Σ₀ = Q, A₀ = F), in Double.
func stationaryCovariance(_ f: [[Double]], _ q: [[Double]]) -> [[Double]] {
    func multiply(_ a: [[Double]], _ b: [[Double]]) -> [[Double]] {
        a.map { row in (0..<b[0].count).map { j in (0..<b.count).reduce(0) { $0 + row[$1] * b[$1][j] } } }
    }
    func transpose(_ a: [[Double]]) -> [[Double]] { (0..<a[0].count).map { j in a.map { $0[j] } } }
    var sigma = q, a = f
    for _ in 0..<40 {  // 2⁴⁰ steps of the recursion
        let next = multiply(multiply(a, sigma), transpose(a))
        sigma = zip(sigma, next).map { zip($0, $1).map(+) }
        a = multiply(a, a)
    }
    return sigma
}

/// A Gaussian with the mean and gradient of `base` but another covariance: what a discretised
/// kernel's stationary law is compared with.
struct ShiftedCovariance: KnownTarget {
    let base: CorrelatedGaussian, covariance: [[Double]]
    var dimension: Int { base.dimension }
    var mean: [Double] { base.mean }
    func logDensity(_ x: [Double]) -> Double { base.logDensity(x) }
    func gradient(_ x: [Double]) -> [Double] { base.gradient(x) }
    func exactSamples(_ count: Int, rng: inout RandomGenerator) -> [[Double]] { [] }
}
