@testable import CredenceInference
import CredenceNN
import CredenceTensor
import Foundation
import Testing

/// log π(x) = −½|x|² in `dimension` coordinates: only its size matters here.
private struct StandardNormalTarget: HamiltonianTarget {
    let dimension: Int
    func logDensity(at x: [Double]) throws -> (value: Double, gradient: [Double]) {
        (-0.5 * x.reduce(0) { $0 + $1 * $1 }, x.map { -$0 })
    }
}

@Suite("HMC/NUTS with a dense metric")
struct DenseMetricTests {
    /// Schäfer & Strimmer's λ* written out from its definition — w_kij = y_ki·y_kj on the
    /// standardised draws, Var̂(r_ij) = n/(n−1)³·Σ_k (w_kij − w̄_ij)², λ* = Σ_{i≠j} Var̂(r_ij) / Σ_{i≠j} r_ij² —
    /// one term at a time, against the estimate's two matrix products.
    @Test func shrinkageIntensityMatchesItsDefinition() throws {
        var rng = RandomGenerator(seed: 3)
        let draws = (0..<9).map { _ in (0..<4).map { _ in standardNormal(&rng) } }.map { x in [x[0], x[0] + 0.3 * x[1], x[2], x[3] - x[2]] }
        let n = Double(draws.count), d = 4
        let mean = (0..<d).map { i in draws.reduce(0) { $0 + $1[i] } / n }
        let sd = (0..<d).map { i in (draws.reduce(0) { $0 + pow($1[i] - mean[i], 2) } / (n - 1)).squareRoot() }
        let y = draws.map { x in (0..<d).map { (x[$0] - mean[$0]) / sd[$0] } }
        var spread = 0.0, size = 0.0
        for i in 0..<d {
            for j in 0..<d where j != i {
                let w = y.map { $0[i] * $0[j] }
                let wBar = w.reduce(0, +) / n
                spread += n / pow(n - 1, 3) * w.reduce(0) { $0 + pow($1 - wBar, 2) }
                size += pow(n / (n - 1) * wBar, 2)
            }
        }
        let variances = [2.0, 1, 0.5, 3]
        let (covariance, shrinkage) = try shrunkCovariance(draws: draws, variances: variances)
        #expect(abs(shrinkage - spread / size) < 1e-12 && shrinkage > 0 && shrinkage < 1, "\(shrinkage) vs \(spread / size)")
        // Off the diagonal: the shrunk correlation times the regularised standard deviations.
        let r01 = y.reduce(0) { $0 + $1[0] * $1[1] } / (n - 1)
        #expect(abs(covariance[0, 1] - (1 - shrinkage) * r01 * (2.0 * 1).squareRoot()) < 1e-12)
        #expect(covariance.diagonal == variances)
    }

    /// Many draws of a strongly correlated Gaussian shrink little and give its covariance;
    /// few draws of independent coordinates in more dimensions than draws shrink nearly all
    /// the way to the diagonal (and still factor).
    @Test func shrinkageFollowsTheEvidence() throws {
        let gaussian = CorrelatedGaussian(dimension: 6, conditionNumber: 1000, seed: 11)
        var rng = RandomGenerator(seed: 4)
        let many = gaussian.exactSamples(4000, rng: &rng)
        let variances = (0..<6).map { gaussian.covariance[$0][$0] }
        let (covariance, shrinkage) = try shrunkCovariance(draws: many, variances: variances)
        #expect(shrinkage < 0.01, "\(shrinkage)")
        for i in 0..<6 {
            for j in 0..<6 {
                let scale = (variances[i] * variances[j]).squareRoot()
                #expect(abs(covariance[i, j] - gaussian.covariance[i][j]) < 0.05 * scale, "Σ[\(i),\(j)]")
            }
        }
        let few = (0..<30).map { _ in (0..<80).map { _ in standardNormal(&rng) } }
        let (sparse, lambda) = try shrunkCovariance(draws: few, variances: [Double](repeating: 1, count: 80))
        #expect(lambda > 0.8, "\(lambda)")
        _ = try sparse.choleskyFactor()
    }

    /// Draws of a Markov chain carry fewer independent draws than their count: an AR(1) chain
    /// (ρ = 0.9, τ = (1 + ρ)/(1 − ρ) = 19) over 30 independent coordinates. Its sample
    /// correlations are noise ~20× wider than independent draws' — shrinkage that ignores the
    /// autocorrelation keeps that noise; with τ̂ it goes (nearly) to the true, diagonal answer.
    @Test func autocorrelatedDrawsShrinkByTheirAutocorrelationTime() throws {
        var rng = RandomGenerator(seed: 21)
        let d = 30, n = 300, rho = 0.9
        var x = (0..<d).map { _ in standardNormal(&rng) }
        let draws = (0..<n).map { _ in
            x = x.map { rho * $0 + (1 - rho * rho).squareRoot() * standardNormal(&rng) }
            return x
        }
        let tau = meanAutocorrelationTime(draws: draws)
        #expect(tau > 12 && tau < 28, "τ̂ \(tau), expected ≈ 19")
        let ones = [Double](repeating: 1, count: d)
        let (naive, naiveShrinkage) = try shrunkCovariance(draws: draws, variances: ones)
        let (corrected, shrinkage) = try shrunkCovariance(draws: draws, variances: ones, autocorrelationTime: tau)
        func offDiagonalError(_ m: DenseMatrix) -> Double {
            var sum = 0.0
            for i in 0..<d { for j in 0..<d where j != i { sum += m[i, j] * m[i, j] } }
            return sum.squareRoot()
        }
        #expect(naiveShrinkage < 0.2 && shrinkage > 0.8, "λ* \(naiveShrinkage) without τ̂, \(shrinkage) with")
        #expect(offDiagonalError(corrected) < 0.25 * offDiagonalError(naive), "\(offDiagonalError(corrected)) vs \(offDiagonalError(naive))")
        // Independent draws: τ̂ stays at its floor of 1 or near it, and so does λ*.
        let independent = (0..<n).map { _ in (0..<d).map { _ in standardNormal(&rng) } }
        #expect(meanAutocorrelationTime(draws: independent) < 1.3)
    }

    /// On a rotated Gaussian with condition number 10⁴ the diagonal metric cannot undo the
    /// rotation and NUTS needs deep trees; the dense one whitens it: shallow trees, same answer.
    @Test func denseMetricWhitensACorrelatedGaussian() throws {
        let gaussian = CorrelatedGaussian(dimension: 10, conditionNumber: 10_000, seed: 7)
        let dense = try sampleKnown(gaussian, HMCSettings(integrator: .nuts(maxTreeDepth: 10), warmup: 600, iterations: 500, metric: .dense))
        let diagonal = try sampleKnown(gaussian, HMCSettings(integrator: .nuts(maxTreeDepth: 10), warmup: 600, iterations: 100), chains: 2)
        expectRecovers(doubleDraws(dense), gaussian, meanTolerance: 0.1, covarianceTolerance: 0.12)
        // A whitened 10-dimensional Gaussian: trees of depth 3–4, as Stan's on a standard normal.
        let depth = { (chains: [HMCChain]) in chains.map(\.statistics.meanTreeDepth).reduce(0, +) / Double(chains.count) }
        let steps = { (chains: [HMCChain]) in chains.map(\.statistics.meanLeapfrogSteps).reduce(0, +) / Double(chains.count) }
        #expect(depth(dense) < 4.5 && steps(diagonal) > 4 * steps(dense),
                "mean tree depth: dense \(depth(dense)), diagonal \(depth(diagonal)); leapfrog steps \(steps(dense)), \(steps(diagonal))")
        #expect(dense.allSatisfy { chain in if case .dense = chain.inverseMetric { return true } else { return false } })
        // Each chain reports the λ* of its metric (600 draws in 10 dimensions: little shrinkage).
        #expect(dense.allSatisfy { ($0.statistics.denseMetricShrinkage ?? 1) < 0.5 } && diagonal.allSatisfy { $0.statistics.denseMetricShrinkage == nil },
                "\(dense.map(\.statistics.denseMetricShrinkage))")
    }

    /// Stopped inside a window (its draws saved), after a window's end (the dense Σ and its
    /// factor saved) and while sampling, a restored chain continues bit for bit.
    @Test func denseChainResumesExactly() throws {
        let target = KnownHamiltonianTarget(base: CorrelatedGaussian(dimension: 3, conditionNumber: 50, seed: 2))
        let settings = HMCSettings(integrator: .nuts(maxTreeDepth: 6), warmup: 150, iterations: 30, metric: .dense)
        let start = [0.1, 0.2, -0.1]
        var whole = try HMCChain(settings: settings, target: target, start: start, seed: 9, index: 0)
        while !whole.isFinished { try whole.advance(target: target) }
        for stop in [30, 101, 140, 160] {
            var first = try HMCChain(settings: settings, target: target, start: start, seed: 9, index: 0)
            for _ in 0..<stop { try first.advance(target: target) }
            var file = SafeTensorsFile(metadata: [:])
            first.save(into: &file)
            var resumed = try HMCChain(settings: settings, target: target, start: start, seed: 9, index: 0)
            try resumed.restore(from: file, path: "chain.safetensors")
            #expect(resumed.inverseMetric == first.inverseMetric && resumed.windowDraws == first.windowDraws, "stopped after \(stop)")
            while !resumed.isFinished { try resumed.advance(target: target) }
            #expect(resumed.draws == whole.draws, "stopped after \(stop)")
            #expect(resumed.statistics == whole.statistics)
        }
    }

    @Test func aDenseMetricOverTooManyParametersIsRefusedWithWhatToUse() throws {
        let settings = HMCSettings(integrator: .nuts(maxTreeDepth: 4), warmup: 10, iterations: 10, metric: .dense)
        let d = HMCSettings.denseMetricLimit + 1
        #expect {
            try HMCChain(settings: settings, target: StandardNormalTarget(dimension: d), start: [Double](repeating: 0, count: d), seed: 1, index: 0)
        } throws: { error in
            "\(error)".contains("metric=dense") && "\(error)".contains("metric=diagonal") && "\(error)".contains("\(d)")
        }
        _ = try HMCChain(settings: settings, target: StandardNormalTarget(dimension: 8), start: [Double](repeating: 0, count: 8), seed: 1, index: 0)
    }
}
