@testable import CredenceMetrics
import CredenceTensor
import Foundation
import Testing

@Suite struct AgreementTests {
    /// Three inputs, hand-computed: the top classes agree on the first and third; the total
    /// variations are ½(0.1 + 0.1) = 0.1, ½(0.6 + 0.6) = 0.6 and 0 (same distribution).
    @Test func topOneAgreementAndTotalVariationByHand() throws {
        let p = try Predictive(probabilities: Tensor(shape: [3, 2], values: [0.7, 0.3, 0.2, 0.8, 0.5, 0.5].map { Float($0) }))
        let q = try Predictive(probabilities: Tensor(shape: [3, 2], values: [0.8, 0.2, 0.8, 0.2, 0.5, 0.5].map { Float($0) }))
        let a = try PredictiveAgreement(p, reference: q)
        #expect(a.examples == 3)
        #expect(abs(a.topOneAgreement - 2.0 / 3) < 1e-12)
        #expect(abs(a.meanTotalVariation - 0.7 / 3) < 1e-6)
        let same = try PredictiveAgreement(q, reference: q)
        #expect(same.topOneAgreement == 1 && same.meanTotalVariation == 0)
        let other = try Predictive(probabilities: Tensor(shape: [2, 2], values: [0.5, 0.5, 0.5, 0.5]))
        #expect(throws: MetricsError.self) { try PredictiveAgreement(other, reference: q) }
        let regression = try Predictive(means: Tensor(shape: [3, 1], values: [0, 1, 2]), variances: Tensor(shape: [3, 1], values: [1, 1, 1]))
        #expect(throws: MetricsError.self) { try PredictiveAgreement(regression, reference: q) }
    }
}

@Suite struct RegressionAgreementTests {
    /// One example whose predictive is the mixture of `components` (mean, variance), S of them.
    func mixture(_ components: [(Float, Float)]) throws -> Predictive {
        try Predictive(means: Tensor(shape: [components.count, 1, 1], values: components.map(\.0)),
                       variances: Tensor(shape: [components.count, 1, 1], values: components.map(\.1)))
    }

    /// Φ⁻¹ and φ by other routes than the code under test: the library's bisection quantile and
    /// the density formula.
    func phi(_ z: Double) -> Double { z.isInfinite ? 0 : Foundation.exp(-0.5 * z * z) / (2 * Double.pi).squareRoot() }

    /// A Gaussian's slice means in closed form: mₖ = μ + σK(φ(zₖ) − φ(zₖ₊₁)), zₖ = Φ⁻¹(k/K).
    @Test func aGaussiansCellMeansAreItsSliceMeans() throws {
        let cells = 8, (mu, sigma) = (2.0, 3.0)
        let means = try mixture([(Float(mu), Float(sigma * sigma))]).quantileCellMeans(cells: cells)
        let edges = [-Double.infinity] + (1..<cells).map { standardNormalQuantile(Double($0) / Double(cells)) } + [Double.infinity]
        for k in 0..<cells {
            let expected = mu + sigma * Double(cells) * (phi(edges[k]) - phi(edges[k + 1]))
            #expect(close(means[k], expected, 1e-9 * Swift.max(1, Swift.abs(expected))), "slice \(k): \(means[k]) vs \(expected)")
        }
        #expect(close(means.reduce(0, +) / Double(cells), mu, 1e-10))
    }

    /// Two Gaussians with one variance differ by a shift (W₁ = |Δμ|), two with one mean by a
    /// scale (W₁ = |Δσ|·E|Z| = |Δσ|·√(2/π)): both exact for any number of slices.
    @Test func wassersteinBetweenGaussiansIsExact() throws {
        let reference = try mixture([(0, 1)])
        let shifted = try RegressionAgreement(try mixture([(0.5, 1)]), reference: reference, cells: 16)
        #expect(close(shifted.meanWassersteinDistance, 0.5, 1e-9))
        let wider = try RegressionAgreement(try mixture([(0, 1.5625)]), reference: reference)
        #expect(close(wider.meanWassersteinDistance, 0.25 * (2 / Double.pi).squareRoot(), 1e-9))
        #expect(try RegressionAgreement(reference, reference: reference).meanWassersteinDistance == 0)
    }

    /// A two-component mixture against a Gaussian (the same mean, 0.25): W₁ = ∫|F − G| dx by a
    /// trapezoid rule on a fine grid — another formula and no quantiles — is 0.365907 (scipy's
    /// quad: 0.3659074619); the 64 slices give it to 2·10⁻⁴ relative, never above it, and 512 to 10⁻⁵.
    @Test func wassersteinOfAMixtureMatchesTheIntegralOfTheCDFsDifference() throws {
        let p = try mixture([(-1, 0.25), (1.5, 1)]), q = try mixture([(0.25, 1.5625)])
        func cdf(_ x: Double, _ components: [(Double, Double)]) -> Double {
            components.reduce(0) { $0 + 0.5 * Foundation.erfc(-(x - $1.0) / ($1.1 * 2.0.squareRoot())) } / Double(components.count)
        }
        let step = 1e-4
        var integral = 0.0, previous = Swift.abs(cdf(-15, [(-1, 0.5), (1.5, 1)]) - cdf(-15, [(0.25, 1.25)]))
        for i in 1...300_000 {
            let x = -15 + Double(i) * step
            let value = Swift.abs(cdf(x, [(-1, 0.5), (1.5, 1)]) - cdf(x, [(0.25, 1.25)]))
            integral += 0.5 * (previous + value) * step
            previous = value
        }
        #expect(close(integral, 0.3659074619, 1e-8))
        let coarse = try RegressionAgreement(p, reference: q).meanWassersteinDistance
        #expect(coarse <= integral + 1e-9 && (integral - coarse) / integral < 2e-4, "64 slices: \(coarse) against \(integral)")
        let fine = try RegressionAgreement(p, reference: q, cells: 512).meanWassersteinDistance
        #expect(Swift.abs(fine - integral) / integral < 1e-5, "512 slices: \(fine) against \(integral)")
    }

    /// Against the competition's own estimator — W₁ of two sets of predictive draws, the mean
    /// |difference| of the sorted draws — on two 12-component mixtures: 200,000 draws each give
    /// 0.7985 against the slices' 0.7979; the bound 0.004 leaves room for the draws' own noise.
    @Test func wassersteinAgreesWithSortedDraws() throws {
        var rng = RandomGenerator(seed: 11)
        func components(_ shift: Double) -> [(Float, Float)] {
            (0..<12).map { _ in (Float(shift + 2 * rng.uniformDouble() - 1), Float(0.1 + rng.uniformDouble())) }
        }
        let a = components(0), b = components(0.3)
        func draws(_ mixture: [(Float, Float)]) -> [Double] {
            (0..<200_000).map { i in
                let (mu, variance) = mixture[i % mixture.count]
                return Double(mu) + Double(variance).squareRoot() * Double(rng.normalFloat())
            }.sorted()
        }
        let (x, y) = (draws(a), draws(b))
        let sampled = zip(x, y).reduce(0) { $0 + Swift.abs($1.0 - $1.1) } / Double(x.count)
        let sliced = try RegressionAgreement(try mixture(a), reference: try mixture(b)).meanWassersteinDistance
        #expect(Swift.abs(sliced - sampled) < 0.004, "slices \(sliced), draws \(sampled)")
    }

    /// Zero variances are point masses: two atoms at 0 and 1 fill half the slices each, and lie
    /// ½ from one atom at ½.
    @Test func pointMassesAreAtoms() throws {
        let atoms = try mixture([(0, 0), (1, 0)])
        let means = try atoms.quantileCellMeans(cells: 4)
        #expect(zip(means, [0, 0, 1, 1]).allSatisfy { close($0, $1, 1e-7) }, "\(means)")
        #expect(close(try RegressionAgreement(atoms, reference: try mixture([(0.5, 0)])).meanWassersteinDistance, 0.5, 1e-7))
    }

    /// Examples and outputs are kept apart and averaged; shapes and tasks that do not fit are errors.
    @Test func examplesAndOutputsAreAveragedAndMisfitsRejected() throws {
        // Two samples, two examples, two outputs: example 1's second output is shifted by 2.
        let p = try Predictive(means: Tensor(shape: [2, 2, 2], values: [0, 0, 0, 2, 0, 0, 0, 2]), variances: Tensor(shape: [2, 2, 2], repeating: 1))
        let q = try Predictive(means: Tensor(shape: [1, 2, 2], repeating: 0), variances: Tensor(shape: [1, 2, 2], repeating: 1))
        let a = try RegressionAgreement(p, reference: q, cells: 8)
        #expect(a.examples == 2 && close(a.meanWassersteinDistance, 2.0 / 4, 1e-9))
        let cellMeans = try p.quantileCellMeans(cells: 8)
        #expect(cellMeans.count == 2 * 2 * 8)
        #expect(try RegressionAgreement(cellMeans: cellMeans, reference: try q.quantileCellMeans(cells: 8), cells: 8, outputs: 2) == a)
        let classifier = try Predictive(probabilities: Tensor(shape: [2, 2], values: [0.5, 0.5, 0.5, 0.5]))
        #expect(throws: MetricsError.self) { try RegressionAgreement(classifier, reference: q) }
        #expect(throws: MetricsError.self) { try RegressionAgreement(try mixture([(0, 1)]), reference: q) }
        #expect(throws: MetricsError.self) { try q.quantileCellMeans(cells: 0) }
        #expect(throws: MetricsError.self) { try RegressionAgreement(cellMeans: [0, 1, 2], reference: [0, 1], cells: 2, outputs: 1) }
    }
}
