import CredenceMetrics
import CredenceTensor
import Foundation
import Testing

@Suite struct RegressionMetricsTests {
    @Test func rmseAndGaussianNLLByHand() throws {
        // Means (1, 2, 3), variances (1, 1, 4), targets (1, 0, 0): RMSE = √((0 + 4 + 9)/3).
        let p = try Predictive(means: Tensor(shape: [3, 1], values: [1, 2, 3]), variances: Tensor(shape: [3, 1], values: [1, 1, 4]))
        let y = Tensor(shape: [3, 1], values: [1, 0, 0])
        #expect(close(try rootMeanSquaredError(p, targets: y), (13.0 / 3).squareRoot()))
        // NLL = mean ½[ln 2πσ² + r²/σ²] = ½ ln 2π + ½ (0 + 0 + 0 + 0 + 4 + ln 4 + 9/4)/3.
        let expected = 0.5 * log(2 * Double.pi) + 0.5 * (4 + log(4.0) + 9.0 / 4) / 3
        #expect(close(try gaussianNegativeLogLikelihood(p, targets: y), expected))
        // One sample: the mixture is the Gaussian itself. A [N] target vector is accepted for D = 1.
        #expect(close(try mixtureNegativeLogLikelihood(p, targets: Tensor([1, 0, 0])), expected))
    }

    @Test func destandardizingMovesEveryMetricToTheOriginalUnits() throws {
        // Standardised predictive (two samples, two outputs) and targets; σ = (2, 10), μ = (5, −1).
        let means = Tensor(shape: [2, 3, 2], values: [0.1, -1, 0.5, 0.2, -0.3, 1, 0.3, -0.8, 0.4, 0.1, -0.1, 1.2])
        let variances = Tensor(shape: [2, 3, 2], values: [1, 0.5, 0.2, 2, 0.7, 1, 0.9, 0.4, 0.3, 1.5, 0.6, 1.1])
        let z = try Predictive(means: means, variances: variances)
        let y = Tensor(shape: [3, 2], values: [0.5, -0.2, 0.1, 0.9, -1, 0.4])
        let sigma = [2.0, 10.0], mu = [5.0, -1.0]
        let p = try z.destandardized(mean: mu, standardDeviation: sigma)
        let original = Tensor(shape: [3, 2], values: (0..<6).map { Float(mu[$0 % 2] + sigma[$0 % 2] * Double(y.values[$0])) })
        #expect(close(Double(p.means![1, 2, 1]), mu[1] + sigma[1] * 1.2, 1e-5))
        #expect(close(Double(p.variances![0, 1, 0]), 4 * 0.2, 1e-6))
        // One output at a time: RMSE and CRPS scale by σ, NLL shifts by log σ, coverage stays.
        for d in 0..<2 {
            func column(_ t: Tensor, _ rank3: Bool) -> Tensor {
                let n = rank3 ? 6 : 3
                return Tensor(shape: rank3 ? [2, 3, 1] : [3, 1], values: (0..<n).map { t.values[2 * $0 + d] })
            }
            let zd = try Predictive(means: column(means, true), variances: column(variances, true))
            let pd = try Predictive(means: column(p.means!, true), variances: column(p.variances!, true))
            let (yz, yo) = (column(y, false), column(original, false))
            #expect(close(try rootMeanSquaredError(pd, targets: yo), sigma[d] * (try rootMeanSquaredError(zd, targets: yz)), 1e-5))
            #expect(close(try continuousRankedProbabilityScore(pd, targets: yo), sigma[d] * (try continuousRankedProbabilityScore(zd, targets: yz)), 1e-5))
            #expect(close(try mixtureNegativeLogLikelihood(pd, targets: yo), (try mixtureNegativeLogLikelihood(zd, targets: yz)) + log(sigma[d]), 1e-5))
            #expect(try predictionIntervalCoverage(pd, targets: yo, levels: [0.9]).map(\.coverage)
                    == (try predictionIntervalCoverage(zd, targets: yz, levels: [0.9])).map(\.coverage))
        }
        #expect(throws: MetricsError.self) { try z.destandardized(mean: [0], standardDeviation: [1]) }
        #expect(throws: MetricsError.self) { try z.destandardized(mean: [0, 0], standardDeviation: [1, 0]) }
    }

    @Test func mixtureVersusMomentMatchedNLL() throws {
        // Two samples, μ = (0, 2), σ² = (1, 1); predictive mean 1, total variance 1 + 1 = 2.
        let p = try Predictive(means: Tensor(shape: [2, 1, 1], values: [0, 2]), variances: Tensor(shape: [2, 1, 1], values: [1, 1]))
        let halfLog2Pi = 0.5 * log(2 * Double.pi)
        // y = 1 sits one σ from both components: mixture NLL = ½ ln 2π + ½ = 1.418939;
        // moment-matched 𝒩(1, 2) at its mean: ½ ln(2π · 2) = 1.265512.
        #expect(close(try mixtureNegativeLogLikelihood(p, targets: Tensor([1])), halfLog2Pi + 0.5))
        #expect(close(try gaussianNegativeLogLikelihood(p, targets: Tensor([1])), 0.5 * log(4 * Double.pi)))
        // y = 0: −ln(½ (𝒩(0; 0, 1) + 𝒩(0; 2, 1))) = ½ ln 2π − ln(½ (1 + e⁻²)) = 1.485158.
        #expect(close(try mixtureNegativeLogLikelihood(p, targets: Tensor([0])), halfLog2Pi - log(0.5 * (1 + exp(-2.0)))))
        // A far target: the log-sum-exp stays finite where exp would underflow.
        #expect(try mixtureNegativeLogLikelihood(p, targets: Tensor([1000])).isFinite)
    }

    @Test func crpsMatchesNumericalIntegration() throws {
        // CRPS = ∫ (Φ((x − μ)/σ) − 1[x ≥ y])² dx by Simpson's rule on both sides of y.
        func integrated(_ mu: Double, _ sigma: Double, _ y: Double) -> Double {
            // The step sits at y, so each side integrates its own smooth piece up to y.
            func f(_ x: Double, above: Bool) -> Double {
                let cdf = 0.5 * erfc(-(x - mu) / (sigma * 2.0.squareRoot()))
                return above ? (cdf - 1) * (cdf - 1) : cdf * cdf
            }
            func simpson(_ a: Double, _ b: Double, _ n: Int, above: Bool) -> Double {
                let h = (b - a) / Double(n)
                var s = f(a, above: above) + f(b, above: above)
                for i in 1..<n { s += (i % 2 == 1 ? 4 : 2) * f(a + Double(i) * h, above: above) }
                return s * h / 3
            }
            return simpson(mu - 15 * sigma, y, 20_000, above: false) + simpson(y, mu + 15 * sigma, 20_000, above: true)
        }
        for (mu, sigma, y) in [(0.3, 1.7, 1.1), (0.0, 1.0, 0.0), (-2.0, 0.5, 1.0)] {
            #expect(close(gaussianCRPS(mean: mu, standardDeviation: sigma, observation: y), integrated(mu, sigma, y), 1e-7))
        }
        // Zero spread: CRPS is the absolute error. At the mean of 𝒩(0, 1): (√2 − 1)/√π = 0.233695.
        #expect(gaussianCRPS(mean: 1, standardDeviation: 0, observation: 3.5) == 2.5)
        #expect(close(gaussianCRPS(mean: 0, standardDeviation: 1, observation: 0), (2.0.squareRoot() - 1) / Double.pi.squareRoot()))
        let p = try Predictive(means: Tensor(shape: [2, 1], values: [0, 1]), variances: Tensor(shape: [2, 1], values: [1, 0]))
        let mean = (gaussianCRPS(mean: 0, standardDeviation: 1, observation: 0.5) + 2) / 2
        #expect(close(try continuousRankedProbabilityScore(p, targets: Tensor([0.5, 3])), mean))
    }

    @Test func coverageOfTheTrueGaussianIsNominal() throws {
        // y_n ~ 𝒩(μ_n, σ_n²) scored by exactly that Gaussian: PICP → α. N = 20,000, SE ≤ 0.0035; tolerance 0.015.
        var rng = RandomGenerator(seed: 11)
        let n = 20_000
        var mu: [Float] = [], variance: [Float] = [], y: [Float] = []
        for _ in 0..<n {
            let m = 3 * rng.normalFloat(), s = 0.5 + rng.uniformFloat()
            mu.append(m); variance.append(s * s); y.append(m + s * rng.normalFloat())
        }
        let targets = Tensor(shape: [n, 1], values: y)
        let p = try Predictive(means: Tensor(shape: [n, 1], values: mu), variances: Tensor(shape: [n, 1], values: variance))
        let coverage = try predictionIntervalCoverage(p, targets: targets)
        #expect(coverage.map(\.level) == [0.5, 0.9, 0.95])
        for c in coverage { #expect(close(c.coverage, c.level, 0.015)) }
        // An over-confident predictive (σ halved) under-covers.
        let narrow = try Predictive(means: Tensor(shape: [n, 1], values: mu), variances: Tensor(shape: [n, 1], values: variance.map { $0 / 4 }))
        #expect(try predictionIntervalCoverage(narrow, targets: targets, levels: [0.9])[0].coverage < 0.7)
        // Width of the 95 % interval of 𝒩(0, 1): 2 · 1.959964.
        let unit = try Predictive(means: Tensor(shape: [1, 1], values: [0]), variances: Tensor(shape: [1, 1], values: [1]))
        #expect(close(try predictionIntervalCoverage(unit, targets: Tensor([0]), levels: [0.95])[0].meanWidth, 2 * 1.959964, 1e-6))
    }

    @Test func invalidTargetsAreTypedErrors() throws {
        let p = try Predictive(means: Tensor(shape: [2, 1], values: [0, 0]), variances: Tensor(shape: [2, 1], values: [1, 1]))
        #expect(throws: MetricsError.self) { try rootMeanSquaredError(p, targets: Tensor([1, 2, 3])) }
        #expect(throws: MetricsError.nonFinite(name: "targets", location: "example 1, output 0", value: .infinity)) {
            try gaussianNegativeLogLikelihood(p, targets: Tensor([0, .infinity]))
        }
        #expect(throws: MetricsError.self) { try predictionIntervalCoverage(p, targets: Tensor([0, 0]), levels: [1]) }
        let classifier = try pointPredictive([[0.5, 0.5]])
        #expect(throws: MetricsError.wrongTask(metric: "rootMeanSquaredError", expected: "regression", found: "classification")) {
            try rootMeanSquaredError(classifier, targets: Tensor([0]))
        }
    }

    /// Φ⁻¹ to double precision: Φ(Φ⁻¹(p)) = p across (1e-12, 1 − 1e-12).
    @Test func standardNormalQuantileIsExact() {
        for p in [1e-12, 1e-6, 0.01, 0.02425, 0.3, 0.5, 0.77, 0.97575, 0.999, 1 - 1e-9] {
            let x = standardNormalQuantile(p)
            #expect(abs(0.5 * erfc(-x / 2.0.squareRoot()) - p) <= 1e-14 + 1e-12 * p, "p \(p) → \(x)")
        }
    }
}
