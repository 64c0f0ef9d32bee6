import CredenceTensor
import Foundation
import Testing

/// Tests of the shared known-target harness itself: gradients, exact moments, and that it
/// says "no" to draws from the wrong distribution.
@Suite struct KnownTargetsTests {
    static let targets: [any KnownTarget] = [
        CorrelatedGaussian(dimension: 2, conditionNumber: 10, seed: 1),
        CorrelatedGaussian(dimension: 5, conditionNumber: 100, seed: 2),
        BayesianLinearRegressionTarget(features: 3, count: 20, alpha: 2, beta: 4, seed: 3),
        Banana(a: 1, b: 1),
    ]
    /// Exact i.i.d. draws per target. With n = 20,000 the mean error is ≈ N(0, 1/n) per
    /// coordinate in sd units (max over ≤ 5 coordinates ≲ 0.025) and the relative covariance
    /// error ≲ √(2d/n) ≈ 0.02, so these tolerances leave a wide margin yet reject the
    /// negative controls (0.5 sd, and 1.0 relative for a doubled covariance) by a wide one.
    static let drawCount = 20_000
    static let meanTolerance = 0.05
    static let covarianceTolerance = 0.06

    static func draws(_ target: any KnownTarget, seed: UInt64) -> [[Double]] {
        var rng = RandomGenerator(seed: seed)
        return target.exactSamples(drawCount, rng: &rng)
    }

    /// Central differences (h = 1e-5) of `logDensity` at seeded points near the mean, to
    /// 1e-6 relative (the O(h²) truncation and rounding are both ≲ 1e-8 here).
    @Test(arguments: 0..<4)
    func gradientMatchesFiniteDifferences(_ index: Int) {
        let target = Self.targets[index]
        var rng = RandomGenerator(seed: 10 + UInt64(index))
        let h = 1e-5
        for _ in 0..<5 {
            let x = (0..<target.dimension).map { target.mean[$0] + target.covariance[$0][$0].squareRoot() * standardNormal(&rng) }
            let g = target.gradient(x)
            for i in 0..<target.dimension {
                var plus = x, minus = x
                plus[i] += h
                minus[i] -= h
                let numeric = (target.logDensity(plus) - target.logDensity(minus)) / (2 * h)
                #expect(abs(g[i] - numeric) <= 1e-6 * max(1, abs(numeric)),
                        "\(type(of: target)) ∂/∂x\(i) at \(x): analytic \(g[i]), numeric \(numeric)")
            }
        }
    }

    @Test(arguments: 0..<4)
    func exactDrawsAreRecovered(_ index: Int) {
        let target = Self.targets[index]
        expectRecovers(Self.draws(target, seed: 100 + UInt64(index)), target,
                       meanTolerance: Self.meanTolerance, covarianceTolerance: Self.covarianceTolerance)
    }

    /// Negative control: x → μ + √2 (x − μ) doubles the covariance; the harness must say no.
    @Test(arguments: 0..<4)
    func doubledCovarianceIsNotRecovered(_ index: Int) {
        let target = Self.targets[index]
        let wide = Self.draws(target, seed: 200 + UInt64(index)).map { x in
            (0..<x.count).map { target.mean[$0] + 2.0.squareRoot() * (x[$0] - target.mean[$0]) }
        }
        let check = checkRecovery(wide, target, meanTolerance: Self.meanTolerance, covarianceTolerance: Self.covarianceTolerance)
        #expect(!check.covarianceRecovered && !check.recovered, "doubled covariance passed: \(check)")
        #expect(check.covarianceError > 0.8, "\(check)")
    }

    /// Negative control: every coordinate shifted by 0.5 of its standard deviation.
    @Test(arguments: 0..<4)
    func shiftedMeanIsNotRecovered(_ index: Int) {
        let target = Self.targets[index]
        let shifted = Self.draws(target, seed: 300 + UInt64(index)).map { x in
            (0..<x.count).map { x[$0] + 0.5 * target.covariance[$0][$0].squareRoot() }
        }
        let check = checkRecovery(shifted, target, meanTolerance: Self.meanTolerance, covarianceTolerance: Self.covarianceTolerance)
        #expect(!check.meanRecovered && !check.recovered, "shifted mean passed: \(check)")
        #expect(check.covarianceRecovered, "a shift must not change the covariance: \(check)")
    }

    /// The banana's analytic moments (mean 0, covariance diag(a², 1 + 2a⁴b²)) against a large
    /// Monte-Carlo sample of its generative process, for a second (a, b).
    @Test func bananaMomentsMatchALargeMonteCarloSample() {
        let banana = Banana(a: 1.5, b: 0.5)
        #expect(banana.covariance[1][1] == 1 + 2 * pow(1.5, 4) * 0.25)
        var rng = RandomGenerator(seed: 7)
        let check = checkRecovery(banana.exactSamples(200_000, rng: &rng), banana, meanTolerance: 0.015, covarianceTolerance: 0.02)
        #expect(check.recovered, "\(check)")
    }

    /// The closed-form evidence (PRML 3.86) equals log N(t; 0, β⁻¹I + α⁻¹ΦΦᵀ), the marginal of
    /// t computed directly; and log p(t|w) + log p(w) − log N(w; m, S) is that same constant.
    @Test func linearRegressionEvidenceMatchesTheGaussianMarginal() throws {
        let target = BayesianLinearRegressionTarget(features: 3, count: 20, alpha: 2, beta: 4, seed: 3)
        let n = target.targets.count
        var marginal = DenseMatrix(rows: n, columns: n)
        for i in 0..<n {
            for j in 0..<n {
                marginal[i, j] = zip(target.design[i], target.design[j]).reduce(0) { $0 + $1.0 * $1.1 } / target.alpha
            }
        }
        marginal.addDiagonal([Double](repeating: 1 / target.beta, count: n))
        let direct = try gaussianLogDensity(target.targets, mean: [Double](repeating: 0, count: n), covariance: marginal)
        #expect(abs(target.logEvidence - direct) <= 1e-10 * abs(direct), "evidence \(target.logEvidence) vs marginal \(direct)")

        let posterior = DenseMatrix(nested: target.covariance)
        var rng = RandomGenerator(seed: 4)
        for w in target.exactSamples(3, rng: &rng) + [target.mean] {
            let ratio = target.logDensity(w) - (try gaussianLogDensity(w, mean: target.mean, covariance: posterior))
            #expect(abs(ratio - target.logEvidence) <= 1e-9 * abs(direct), "at \(w): \(ratio) vs \(target.logEvidence)")
        }
    }

    @Test func gaussianKLIsZeroForEqualGaussians() throws {
        let g = CorrelatedGaussian(dimension: 4, conditionNumber: 50, seed: 5)
        #expect(abs(try gaussianKL(g.mean, g.covariance, g.mean, g.covariance)) <= 1e-12)
    }

    /// KL(N(μ₀, s₀²) ‖ N(μ₁, s₁²)) = log(s₁/s₀) + (s₀² + (μ₀−μ₁)²)/(2s₁²) − ½; a diagonal 2-D
    /// pair is the sum of its coordinates' 1-D values.
    @Test func gaussianKLMatchesTheOneDimensionalClosedForm() throws {
        func closedForm(_ m0: Double, _ s0: Double, _ m1: Double, _ s1: Double) -> Double {
            log(s1 / s0) + (s0 * s0 + (m0 - m1) * (m0 - m1)) / (2 * s1 * s1) - 0.5
        }
        let oneD = try gaussianKL([0.3], [[0.25]], [-1], [[4]])
        #expect(abs(oneD - closedForm(0.3, 0.5, -1, 2)) <= 1e-12)
        let twoD = try gaussianKL([0.3, 1], [[0.25, 0], [0, 9]], [-1, 0], [[4, 0], [0, 1]])
        #expect(abs(twoD - closedForm(0.3, 0.5, -1, 2) - closedForm(1, 3, 0, 1)) <= 1e-12)
        #expect(try gaussianKL([0], [[1]], [0.5], [[1]]) > 0.1)
    }

    /// ESS of an AR(1) chain xₜ = ρxₜ₋₁ + √(1−ρ²)εₜ is n(1−ρ)/(1+ρ); of i.i.d. draws, n.
    /// Geyer's estimator is within 15% of both at n = 40,000.
    @Test func effectiveSampleSizeOfIndependentAndAutocorrelatedChains() {
        var rng = RandomGenerator(seed: 8)
        let n = 40_000, rho = 0.8
        let iid = (0..<n).map { _ in standardNormal(&rng) }
        var chain = [standardNormal(&rng)]
        for _ in 1..<n { chain.append(rho * chain.last! + (1 - rho * rho).squareRoot() * standardNormal(&rng)) }
        let expected = Double(n) * (1 - rho) / (1 + rho)
        #expect(abs(effectiveSampleSize(iid) / Double(n) - 1) <= 0.15, "i.i.d. ESS \(effectiveSampleSize(iid)) of \(n)")
        #expect(abs(effectiveSampleSize(chain) / expected - 1) <= 0.15, "AR(1) ESS \(effectiveSampleSize(chain)) vs \(expected)")
        let se = monteCarloStandardError(chain)
        #expect(abs(se / (1 / expected).squareRoot() - 1) <= 0.15, "AR(1) MCSE \(se)")
    }
}

/// log N(x; μ, Σ) through LAPACK's Cholesky.
func gaussianLogDensity(_ x: [Double], mean: [Double], covariance: DenseMatrix) throws -> Double {
    let l = try covariance.choleskyFactor()
    let z = try l.solveLowerTriangular(DenseMatrix(column: zip(x, mean).map(-))).values
    return -0.5 * (z.reduce(0) { $0 + $1 * $1 } + l.choleskyLogDeterminant + Double(x.count) * log(2 * Double.pi))
}
