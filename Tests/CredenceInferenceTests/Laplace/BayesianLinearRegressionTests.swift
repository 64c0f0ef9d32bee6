@testable import CredenceInference
import CredenceData
import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation
import Testing

/// Bayesian linear regression with a known noise σ² and prior N(0, α⁻¹I): the Laplace
/// approximation is exact, so the full Laplace posterior (around a MAP found by the
/// library's own training loop) must equal the closed-form posterior N(m, A⁻¹),
/// A = αI + βΦᵀΦ, m = βA⁻¹Φᵀt (β = 1/σ²), and the marginal-likelihood prior the evidence
/// maximiser (Bishop 2006 §3.5; MacKay 1992).
@Suite struct BayesianLinearRegressionTests {
    static let sigma = 0.5
    static let count = 40

    /// Φ = [x | 1] (N × 4, row-major) and targets t = Φ(1, −2, 0.5, 0.3) + σε.
    static let data: (phi: [Double], t: [Double], dataset: InMemoryDataset) = {
        var rng = RandomGenerator(seed: 21)
        var phi: [Double] = [], t: [Double] = [], x: [Float] = [], y: [Float] = []
        let w = [1.0, -2, 0.5, 0.3]
        for _ in 0..<count {
            let row = (0..<3).map { _ in rng.normalFloat() }
            x += row
            let features = row.map(Double.init) + [1]
            phi += features
            let target = Float(zip(features, w).reduce(0) { $0 + $1.0 * $1.1 } + sigma * Double(rng.normalFloat()))
            y.append(target)
            t.append(Double(target))
        }
        let dataset = try! InMemoryDataset(name: "linear", inputs: Tensor(shape: [count, 3], values: x),
                                           targets: Tensor(shape: [count, 1], values: y))
        return (phi, t, dataset)
    }()

    static let model = try! Sequential(ModelSpec(inputShape: [3], layers: [.dense(inputs: 3, outputs: 1, bias: true)]))

    /// (A, A⁻¹, m, log evidence) in closed form.
    static func exact(alpha: Double) -> (precision: [Double], covariance: [Double], mean: [Double], logEvidence: Double) {
        let (phi, t, _) = data
        let beta = 1 / (sigma * sigma), m = 4, n = count
        var a = [Double](repeating: 0, count: 16), b = [Double](repeating: 0, count: 4)
        for r in 0..<n {
            for i in 0..<m {
                b[i] += beta * phi[r * m + i] * t[r]
                for j in 0..<m { a[i * m + j] += beta * phi[r * m + i] * phi[r * m + j] }
            }
        }
        for i in 0..<m { a[i * m + i] += alpha }
        let (logDet, inverse) = LaplaceReference.inverse(a, m)
        let mean = LaplaceReference.multiply(inverse, b, m, m, 1)
        var squares = 0.0
        for r in 0..<n {
            var f = 0.0
            for i in 0..<m { f += phi[r * m + i] * mean[i] }
            squares += (t[r] - f) * (t[r] - f)
        }
        let energy = beta / 2 * squares + alpha / 2 * mean.reduce(0) { $0 + $1 * $1 }
        let evidence = Double(m) / 2 * log(alpha) + Double(n) / 2 * log(beta) - energy - logDet / 2 - Double(n) / 2 * log(2 * Double.pi)
        return (a, inverse, mean, evidence)
    }

    /// MacKay's fixed point α ← γ/mᵀm with γ = Σ λᵢ/(α + λᵢ), λ the eigenvalues of βΦᵀΦ.
    static func mackayAlpha() throws -> Double {
        let (phi, _, _) = data
        let beta = 1 / (sigma * sigma)
        var gram = DenseMatrix(rows: 4, columns: 4)
        for r in 0..<count { for i in 0..<4 { for j in 0..<4 { gram[i, j] += beta * phi[r * 4 + i] * phi[r * 4 + j] } } }
        let lambda = try gram.symmetricEigendecomposition(vectors: false).values
        var alpha = 1.0
        for _ in 0..<500 {
            let m = exact(alpha: alpha).mean
            let gamma = lambda.reduce(0) { $0 + $1 / (alpha + $1) }
            let next = gamma / m.reduce(0) { $0 + $1 * $1 }
            if abs(next - alpha) < 1e-13 * alpha { return next }
            alpha = next
        }
        return alpha
    }

    /// The MAP under prior precision α from the training loop: full-batch SGD with momentum
    /// on the mean squared error with coupled weight decay 2ασ²/N (= the negative log
    /// posterior × 2σ²/N).
    static func trainedMAP(alpha: Double) throws -> Tensor {
        var training = MAPTraining(optimizer: .sgd, learningRate: .constant(0.05), weightDecay: Float(2 * alpha * sigma * sigma / Double(count)))
        training.objective = Objective.meanSquaredError
        let fit = try fitPosterior(training, model: model, parameters: Tensor(shape: [4], repeating: 0), task: .regression,
                                   data: data.dataset, epochs: 1500, batchSize: count, seed: 0, shuffle: false)
        return (fit.posterior.base as! PointPosterior).parameters
    }

    static func laplace(alpha: Double, tune: Bool) throws -> Laplace {
        try Laplace(subset: .all, structure: .full, predictive: .glm, priorPrecision: alpha,
                    priorOptimization: tune ? .marginalLikelihood : .none, regression: .homoscedastic, noiseStandardDeviation: sigma)
    }

    /// Mean and covariance to 1e-4 relative (the MAP comes from Float SGD; the curvature is
    /// accumulated in Float and factorized in Double).
    @Test func fullLaplaceIsTheExactPosterior() throws {
        let alpha = 2.0
        let theta = try Self.trainedMAP(alpha: alpha)
        let posterior = try Self.laplace(alpha: alpha, tune: false)
            .fit(model: Self.model, parameters: theta, task: .regression, inputs: Self.data.dataset.inputs,
                 targets: Self.data.dataset.targets, batchSize: 16)
        let exact = Self.exact(alpha: alpha)
        expectLaplaceClose(posterior.subsetMean, exact.mean, relative: 1e-4, "posterior mean")
        let covariance = LaplaceReference.inverse(try posterior.precision.denseMatrix().values, 4).inverse
        expectLaplaceClose(covariance, exact.covariance, absolute: 1e-4 * exact.covariance.map(abs).max()!, relative: 1e-4,
                           "posterior covariance")
        // The GLM predictive variance at x is φᵀA⁻¹φ + σ² (exact for a linear model).
        var rng = RandomGenerator(seed: 0)
        let xs = Tensor(shape: [2, 3], values: [0.5, -1, 2, 3, 0, -2])
        let p = try posterior.predictive(xs, samples: 1, rng: &rng)
        for e in 0..<2 {
            let phi = (0..<3).map { Double(xs[e, $0]) } + [1]
            let quadratic = LaplaceReference.multiply(LaplaceReference.multiply(phi, exact.covariance, 1, 4, 4), phi, 1, 4, 1)[0]
            let mean = zip(phi, exact.mean).reduce(0) { $0 + $1.0 * $1.1 }
            #expect(abs(p.predictiveMean[e] - mean) <= 1e-4 * max(1, abs(mean)))
            let variance = p.aleatoricVariance[e] + p.epistemicVariance[e]
            #expect(abs(variance - (quadratic + Self.sigma * Self.sigma)) <= 1e-4 * variance, "predictive variance \(variance)")
        }
    }

    /// MacKay's fixed point is the maximiser of the closed-form evidence (checked by a
    /// brute-force scan), and the Laplace marginal-likelihood search, started at δ = 10⁻², finds
    /// it around the MAP for that prior: δ to 1e-5 relative (δ* = γ/‖θ̂‖² doubles the MAP's
    /// relative error; measured 1.4e-7), log evidence to 1e-7 relative.
    @Test func marginalLikelihoodPriorIsTheEvidenceMaximiser() throws {
        let alpha = try Self.mackayAlpha()
        // Brute force: the evidence on a fine log grid ±5% around α peaks at α.
        let grid = (-500...500).map { alpha * exp(Double($0) * 1e-4) }
        let best = grid.max { Self.exact(alpha: $0).logEvidence < Self.exact(alpha: $1).logEvidence }!
        #expect(abs(best - alpha) <= 1.5e-4 * alpha, "brute-force maximiser \(best) vs MacKay \(alpha)")

        let theta = try Self.trainedMAP(alpha: alpha)
        let posterior = try Self.laplace(alpha: 1e-2, tune: true)
            .fit(model: Self.model, parameters: theta, task: .regression, inputs: Self.data.dataset.inputs,
                 targets: Self.data.dataset.targets)
        let tuned = posterior.priorPrecision.values[0]
        #expect(abs(tuned - alpha) <= 1e-5 * alpha, "marginal-likelihood prior \(tuned) vs closed form \(alpha)")
        let evidence = Self.exact(alpha: alpha).logEvidence
        let laplaceEvidence = try #require(posterior.logMarginalLikelihood)
        #expect(abs(laplaceEvidence - evidence) <= 1e-7 * abs(evidence), "log evidence \(laplaceEvidence) vs \(evidence)")
    }
}
