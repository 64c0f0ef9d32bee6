@testable import CredenceInference
import CredenceNN
import CredenceTensor
import Foundation
import Testing

/// The SWAG sampler draws from the covariance it claims: s·Σ_diag, or
/// s·(½Σ_diag + DDᵀ/(2(K−1))). The classic bug — the variance where the standard deviation
/// belongs, or the ½ factors dropped — must fail the same check (negative controls).
@Suite struct SWAGSamplingTests {
    /// A 10-parameter model (Dense 4 → 2), small enough for a dense covariance.
    static let model = try! Sequential(ModelSpec(inputShape: [4], layers: [.dense(inputs: 4, outputs: 2, bias: true)]))

    /// A posterior with per-parameter variances spread over 0.01 … 4 (so std and variance
    /// differ by up to a factor 10 either way) and K = 5 random deviation rows.
    static func posterior(_ covariance: SWAGCovariance, scale: Double = 0.5) throws -> SWAGPosterior {
        var rng = RandomGenerator(seed: 11)
        let p = model.parameterCount
        let mean = Tensor.randomNormal(shape: [p], rng: &rng)
        let variance = Tensor((0..<p).map { Float(0.01 * Foundation.pow(400, Double($0) / Double(p - 1))) })
        let deviations = covariance == .diagonal ? nil : Tensor.randomNormal(shape: [5, p], standardDeviation: 0.8, rng: &rng)
        return try SWAGPosterior(model: model, task: .classification, mean: mean, variance: variance,
                                 deviations: deviations, scale: scale, collections: 40, rank: 5)
    }

    /// How far the sample covariance of `n` draws is from `expected` (row-major P × P).
    ///
    /// Around the known mean μ, each Ĉᵢⱼ = (1/n) Σ (θᵢ − μᵢ)(θⱼ − μⱼ) of Gaussian draws is
    /// unbiased with variance (CᵢᵢCⱼⱼ + Cᵢⱼ²)/n, so
    /// - `maxZ`, the largest standardized error |Ĉᵢⱼ − Cᵢⱼ| / √((CᵢᵢCⱼⱼ + Cᵢⱼ²)/n) over the 55
    ///   distinct entries, is below 5 unless a ≈ 3e-7 × 55 ≈ 2e-5 event happened;
    /// - summing the variances, E‖Ĉ − C‖²_F = (tr(C)² + ‖C‖²_F)/n, so the relative Frobenius
    ///   error has RMS `rmsRelative` = √((tr(C)² + ‖C‖²_F)/n)/‖C‖_F ≤ √((P + 1)/n) (≈ 0.0074 for
    ///   P = 10, n = 200,000); we allow 4× that.
    static func check(draws n: Int, mean: Tensor, expected c: [Double], seed: UInt64,
                      draw: (inout RandomGenerator) throws -> Tensor) throws
        -> (maxZ: Double, relative: Double, rmsRelative: Double) {
        let p = mean.count, mu = mean.values.map(Double.init)
        var sum = [Double](repeating: 0, count: p * p), d = [Double](repeating: 0, count: p)
        var rng = RandomGenerator(seed: seed)
        for _ in 0..<n {
            let theta = try draw(&rng)
            theta.withUnsafeBufferPointer { t in for i in 0..<p { d[i] = Double(t[i]) - mu[i] } }
            for i in 0..<p { for j in i..<p { sum[i * p + j] += d[i] * d[j] } }
        }
        var maxZ = 0.0, errorSquared = 0.0, normSquared = 0.0, trace = 0.0
        for i in 0..<p {
            trace += c[i * p + i]
            for j in 0..<p {
                let estimate = sum[Swift.min(i, j) * p + Swift.max(i, j)] / Double(n), truth = c[i * p + j]
                errorSquared += (estimate - truth) * (estimate - truth)
                normSquared += truth * truth
                let sd = ((c[i * p + i] * c[j * p + j] + truth * truth) / Double(n)).squareRoot()
                maxZ = Swift.max(maxZ, abs(estimate - truth) / sd)
            }
        }
        return (maxZ, (errorSquared / normSquared).squareRoot(), ((trace * trace + normSquared) / Double(n) / normSquared).squareRoot())
    }

    static let draws = 200_000

    @Test(arguments: SWAGCovariance.allCases)
    func sampleCovarianceMatchesTheStoredCovariance(_ kind: SWAGCovariance) throws {
        let posterior = try Self.posterior(kind)
        let c = try posterior.covarianceMatrix()
        let result = try Self.check(draws: Self.draws, mean: posterior.mean, expected: c, seed: 1) { try posterior.sampleParameters(rng: &$0) }
        #expect(result.rmsRelative < 0.0075, "√((P+1)/n) bound")
        #expect(result.maxZ < 5, "largest standardized entry error \(result.maxZ)")
        #expect(result.relative < 4 * result.rmsRelative, "relative Frobenius error \(result.relative), RMS \(result.rmsRelative)")
    }

    @Test func storedCovarianceIsTheDocumentedFormula() throws {
        // Spot-check covarianceMatrix() itself against the formula, entry by entry.
        let posterior = try Self.posterior(.lowRankPlusDiagonal, scale: 0.3)
        let c = try posterior.covarianceMatrix()
        let p = posterior.mean.count, d = posterior.deviations!, v = posterior.variance.values
        for (i, j) in [(0, 0), (3, 7), (9, 9), (8, 2)] {
            var lowRank = 0.0
            for k in 0..<5 { lowRank += Double(d[k, i]) * Double(d[k, j]) }
            let expected = 0.3 * ((i == j ? 0.5 * Double(v[i]) : 0) + lowRank / (2 * 4))
            #expect(abs(c[i * p + j] - expected) <= 1e-12 * Swift.max(1, abs(expected)))
        }
        let diagonal = try Self.posterior(.diagonal, scale: 0.3)
        let cd = try diagonal.covarianceMatrix()
        #expect(cd[3 * p + 3] == 0.3 * Double(diagonal.variance.values[3]))
        #expect(cd[3 * p + 4] == 0)
    }

    /// Negative controls: the same check must reject the classic mistakes.
    @Test func wrongSamplersFailTheSameCheck() throws {
        for kind in SWAGCovariance.allCases {
            let posterior = try Self.posterior(kind)
            let c = try posterior.covarianceMatrix()
            let p = posterior.mean.count, s = posterior.scale
            let k = posterior.deviations?.shape[0] ?? 0
            let halves = kind == .lowRankPlusDiagonal
            let mean = posterior.mean.values, variance = posterior.variance.values
            let rows = posterior.deviations?.values ?? []
            // Variance where the standard deviation belongs.
            let varianceInsteadOfStd = try Self.check(draws: Self.draws, mean: posterior.mean, expected: c, seed: 1) { rng in
                var theta = mean
                for i in 0..<p { theta[i] += Float((s * (halves ? 0.5 : 1)).squareRoot()) * variance[i] * rng.normalFloat() }
                if halves {
                    let z = (0..<k).map { _ in rng.normalFloat() }
                    for r in 0..<k { for i in 0..<p { theta[i] += Float((s / (2 * Double(k - 1))).squareRoot()) * z[r] * rows[r * p + i] } }
                }
                return Tensor(theta)
            }
            #expect(varianceInsteadOfStd.maxZ > 50, "\(kind): variance-for-std sampler passed (max z \(varianceInsteadOfStd.maxZ))")
            #expect(varianceInsteadOfStd.relative > 4 * varianceInsteadOfStd.rmsRelative)
            guard halves else { continue }
            // The reference code's sampler without the paper's ½ factors (twice the covariance).
            let withoutHalves = try Self.check(draws: Self.draws, mean: posterior.mean, expected: c, seed: 1) { rng in
                var theta = mean
                for i in 0..<p { theta[i] += Float(s.squareRoot()) * variance[i].squareRoot() * rng.normalFloat() }
                let z = (0..<k).map { _ in rng.normalFloat() }
                for r in 0..<k { for i in 0..<p { theta[i] += Float((s / Double(k - 1)).squareRoot()) * z[r] * rows[r * p + i] } }
                return Tensor(theta)
            }
            #expect(withoutHalves.maxZ > 50, "sampler without the ½ factors passed (max z \(withoutHalves.maxZ))")
            #expect(withoutHalves.relative > 4 * withoutHalves.rmsRelative)
        }
    }

    @Test func samplingIsSeededAndStoredCountIsKPlusTwoTimesP() throws {
        let posterior = try Self.posterior(.lowRankPlusDiagonal)
        var a = RandomGenerator(seed: 5), b = RandomGenerator(seed: 5)
        #expect(try posterior.sampleParameters(rng: &a) == (try posterior.sampleParameters(rng: &b)))
        #expect(posterior.storedFloatCount == (5 + 2) * 10)
        #expect(try Self.posterior(.diagonal).storedFloatCount == 2 * 10)
    }
}
