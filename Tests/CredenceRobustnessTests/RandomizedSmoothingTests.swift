import CredenceData
import CredenceInference
import CredenceMetrics
import CredenceNN
@testable import CredenceRobustness
import CredenceTensor
import Foundation
import Testing

/// Randomized smoothing's statistics against published values, and CERTIFY and PREDICT on a
/// linear classifier, whose smoothed probabilities are known in closed form.
@Suite struct RandomizedSmoothingTests {
    /// Clopper–Pearson bounds, normal quantiles and binomial-test p-values equal scipy 1.17's
    /// (`beta.ppf(α, k, n − k + 1)`, `norm.ppf`, `binomtest(k, n, 0.5).pvalue`) — and the
    /// textbook 95% interval for 5 of 10, [0.1871, 0.8129].
    @Test func confidenceBoundsMatchScipy() {
        let lower: [(Int, Int, Double, Double)] = [
            (5, 10, 0.025, 0.18708602844739855), (99_990, 100_000, 0.001, 0.9997586773435911),
            (100_000, 100_000, 0.001, 0.9999309248330094), (60, 100, 0.001, 0.4409842652212994),
            (51_000, 100_000, 0.001, 0.5051093492440559), (1, 1, 0.05, 0.05), (3, 1000, 0.001, 0.0001907059817085266)]
        for (k, n, alpha, expected) in lower {
            let bound = clopperPearsonLowerBound(successes: k, trials: n, alpha: alpha)
            #expect(abs(bound - expected) < 1e-10 * max(1, expected / 1e-4), "\(k)/\(n) at \(alpha): \(bound) vs \(expected)")
        }
        #expect(abs(clopperPearsonUpperBound(successes: 5, trials: 10, alpha: 0.025) - 0.8129139715526015) < 1e-10)
        #expect(clopperPearsonLowerBound(successes: 0, trials: 10, alpha: 0.01) == 0)
        for (p, z) in [(0.6, 0.2533471031357997), (0.9, 1.2815515655446004), (0.999, 3.090232306167813), (0.99999, 4.264890793923841)] {
            #expect(abs(standardNormalQuantile(p) - z) < 1e-9)
        }
        for (k, n, expected) in [(60, 100, 0.05688793364098089), (7, 10, 0.34375), (550, 1000, 0.0017305360849763027),
                                 (50, 100, 1.0), (0, 5, 0.0625), (40, 100, 0.05688793364098089)] {
            let p = binomialTestPValue(successes: k, trials: n)
            #expect(abs(p - expected) < 1e-10, "\(k)/\(n): \(p) vs \(expected)")
        }
    }

    static let inputs = 4
    static let model = try! Sequential(.mlp(inputShape: [inputs], hidden: [], outputs: 2))

    /// A linear two-class network and its w = w₁ − w₀, b = b₁ − b₀ (read off its logits).
    static func linear(seed: UInt64) throws -> (posterior: PointPosterior, w: [Double], b: Double) {
        var rng = RandomGenerator(seed: seed)
        let theta = Tensor.randomNormal(shape: [model.parameterCount], standardDeviation: 1, rng: &rng)
        let zero = try model.predict(Tensor(shape: [1, inputs], repeating: 0), parameters: theta).values
        let w = try (0..<inputs).map { j -> Double in
            var e = [Float](repeating: 0, count: inputs); e[j] = 1
            let z = try model.predict(Tensor(shape: [1, inputs], values: e), parameters: theta).values
            return Double((z[1] - zero[1]) - (z[0] - zero[0]))
        }
        return (try PointPosterior(model: model, parameters: theta, task: .classification), w, Double(zero[1] - zero[0]))
    }

    /// Under N(0, σ²I) noise a linear classifier's probability of class 1 at x is
    /// Φ((w·x + b)/(σ‖w‖)), so the exact certified radius is the distance |w·x + b|/‖w‖ to its
    /// boundary. CERTIFY's radius, from the count it drew, lies where the counts of ±4.5
    /// binomial standard deviations put it, never beyond the distance, and the class is the
    /// side of the boundary; PREDICT agrees away from the boundary and abstains on it. Both ways
    /// of drawing the noise: after the 4 → 2 layer (the default here) and in input space.
    @Test(arguments: [false, true]) func certifyRecoversTheLinearClassifiersRadius(noiseInInputSpace: Bool) throws {
        let (posterior, w, b) = try Self.linear(seed: 3)
        let sigma: Float = 0.5, n = 20_000, alpha = 0.001
        var rng = RandomGenerator(seed: 4)
        var smoothing = try RandomizedSmoothing(posterior: posterior, sigma: sigma, batchSize: 700, rng: &rng)
        smoothing.noiseInInputSpace = noiseInInputSpace
        #expect(smoothing.drawsNoiseAfterFirstLayer == !noiseInInputSpace)
        let norm = w.reduce(0) { $0 + $1 * $1 }.squareRoot()
        var certifiedSome = false
        for trial in 0..<12 {
            // Points at distances 0.05…1.2 σ‖·‖ on either side of the boundary.
            let direction = w.map { $0 / norm }
            var x = (0..<Self.inputs).map { _ in Double(rng.normalFloat()) }
            let along = zip(x, direction).reduce(0) { $0 + $1.0 * $1.1 } + b / norm
            let distance = (0.05 + 0.1 * Double(trial)) * Double(sigma) * (trial % 2 == 0 ? 1 : -1)
            x = zip(x, direction).map { $0 - (along - distance) * $1 }
            let signed = (zip(x, w).reduce(0) { $0 + $1.0 * $1.1 } + b) / norm
            #expect(abs(signed - distance) < 1e-9)
            let input = Tensor(shape: [Self.inputs], values: x.map(Float.init))
            let certificate = try smoothing.certify(input, n0: 100, n: n, alpha: alpha, rng: &rng)
            let p = 0.5 * erfc(-abs(signed) / Double(sigma) / 2.0.squareRoot())  // Φ(distance/σ)
            let spread = 4.5 * (Double(n) * p * (1 - p)).squareRoot()
            func radius(_ count: Double) -> Double {
                let k = Int(count.rounded()).clamped(to: 0...n)
                let bound = clopperPearsonLowerBound(successes: k, trials: n, alpha: alpha)
                return bound < 0.5 ? 0 : Double(sigma) * standardNormalQuantile(bound)
            }
            let (low, high) = (radius(Double(n) * p - spread), radius(Double(n) * p + spread))
            #expect(certificate.radius >= low - 1e-9 && certificate.radius <= high + 1e-9,
                    "distance \(signed): radius \(certificate.radius) outside [\(low), \(high)]")
            #expect(certificate.radius < abs(signed), "radius \(certificate.radius) beyond the exact \(abs(signed))")
            if certificate.radius > 0 {
                certifiedSome = true
                #expect(certificate.prediction == (signed > 0 ? 1 : 0))
            }
            if abs(signed) > 0.5 * Double(sigma) {
                #expect(try smoothing.predict(input, n: 2000, alpha: alpha, rng: &rng) == (signed > 0 ? 1 : 0))
            }
        }
        #expect(certifiedSome)
        // On the boundary the two classes are equally likely: PREDICT abstains (wrongly answers with probability ≤ α).
        let x = w.map { -b * $0 / (norm * norm) }
        #expect(try smoothing.predict(Tensor(shape: [Self.inputs], values: x.map(Float.init)), n: 5000, alpha: alpha, rng: &rng) == nil)
    }

    /// The same seed gives the same certificate; inputs of the wrong size are refused.
    @Test func certificatesAreDeterministicAndInputsChecked() throws {
        let (posterior, _, _) = try Self.linear(seed: 5)
        func certify(_ seed: UInt64) throws -> RandomizedSmoothing.Certificate {
            var rng = RandomGenerator(seed: seed)
            let smoothing = try RandomizedSmoothing(posterior: posterior, sigma: 0.25, rng: &rng)
            return try smoothing.certify(Tensor(shape: [Self.inputs], values: [0.3, -0.2, 0.1, 0.9]), n0: 50, n: 3000, rng: &rng)
        }
        #expect(try certify(1) == certify(1))
        var rng = RandomGenerator(seed: 0)
        let smoothing = try RandomizedSmoothing(posterior: posterior, sigma: 0.25, rng: &rng)
        #expect(throws: InferenceError.self) { try smoothing.certify(Tensor(shape: [3], repeating: 0), rng: &rng) }
        #expect(throws: InferenceError.self) { try smoothing.certify(Tensor(shape: [Self.inputs], repeating: 0), alpha: 1, rng: &rng) }
        #expect(throws: InferenceError.self) { try RandomizedSmoothing(posterior: posterior, sigma: 0, rng: &rng) }
    }
}

/// Noise drawn after a narrowing first dense layer (`FirstLayerNoise`) against noise drawn in
/// input space and sent through it.
@Suite struct FirstLayerNoiseTests {
    static let model = try! Sequential(.mlp(inputShape: [1, 6, 6], hidden: [8], outputs: 3))

    static func network(seed: UInt64) -> Tensor {
        var rng = RandomGenerator(seed: seed)
        return Tensor.randomNormal(shape: [model.parameterCount], standardDeviation: 0.4, rng: &rng)
    }

    /// The first layer's outputs drawn as Wx + b + σLz have mean Wx + b and covariance σ²WWᵀ
    /// (each entry within 5 standard errors of its estimate from 40,000 draws).
    @Test func firstLayerOutputsHaveTheInputNoisesDistribution() throws {
        let theta = Self.network(seed: 1)
        let sample = PosteriorSample(model: Self.model, parameters: theta)
        let noise = try #require(FirstLayerNoise(networks: [sample]))
        #expect(noise.layer == 1)
        var rng = RandomGenerator(seed: 2)
        let input = Tensor.randomUniform(shape: [1, 6, 6], rng: &rng)
        let center = try noise.center(of: input, parameters: theta)
        let sigma: Float = 0.3, draws = 40_000
        let hidden = noise.noisyOutputs(center: center, count: draws, sigma: sigma, rng: &rng).values
        let w = try theta.segment(offset: 0, shape: [8, 36]).values.map(Double.init)
        let x = input.values.map(Double.init), b = try theta.segment(offset: 8 * 36, shape: [8]).values.map(Double.init)
        let s2 = Double(sigma * sigma)
        func covariance(_ i: Int, _ j: Int) -> Double { s2 * (0..<36).reduce(0) { $0 + w[i * 36 + $1] * w[j * 36 + $1] } }
        for i in 0..<8 {
            let expected = b[i] + (0..<36).reduce(0) { $0 + w[i * 36 + $1] * x[$1] }
            #expect(abs(Double(center.values[i]) - expected) < 1e-4)
            let mean = (0..<draws).reduce(0.0) { $0 + Double(hidden[$1 * 8 + i]) } / Double(draws)
            #expect(abs(mean - expected) < 5 * (covariance(i, i) / Double(draws)).squareRoot(), "mean of unit \(i)")
            for j in 0...i {
                let meanJ = b[j] + (0..<36).reduce(0) { $0 + w[j * 36 + $1] * x[$1] }
                let estimate = (0..<draws).reduce(0.0) {
                    $0 + (Double(hidden[$1 * 8 + i]) - expected) * (Double(hidden[$1 * 8 + j]) - meanJ)
                } / Double(draws)
                let error = ((covariance(i, i) * covariance(j, j) + covariance(i, j) * covariance(i, j)) / Double(draws)).squareRoot()
                #expect(abs(estimate - covariance(i, j)) < 5 * error, "covariance (\(i), \(j)): \(estimate) vs \(covariance(i, j))")
            }
        }
    }

    /// The smoothed classifier's class counts from both paths agree as two independent
    /// multinomial draws do (every class within 5 standard deviations of the difference), for
    /// a point network and for MC dropout (its masks share the first layer); the direct path
    /// stays for an ensemble whose members differ there, a widening layer, a dead unit (no
    /// Cholesky factor of WWᵀ) and a CNN.
    @Test func bothPathsGiveTheSameCountsAndTheFactorIsUsedOnlyWhereItHolds() throws {
        let theta = Self.network(seed: 3)
        let dropout = try Sequential(.mlp(inputShape: [1, 6, 6], hidden: [8], outputs: 3, dropout: 0.3))
        let posteriors: [any Posterior] = [try PointPosterior(model: Self.model, parameters: theta, task: .classification),
                                           try MCDropoutPosterior(model: dropout, parameters: theta, task: .classification)]
        var rng = RandomGenerator(seed: 4)
        for posterior in posteriors {
            for trial in 0..<3 {
                let input = Tensor.randomUniform(shape: [1, 6, 6], rng: &rng)
                var counts: [[Int]] = []
                for inputSpace in [false, true] {
                    var smoothing = try RandomizedSmoothing(posterior: posterior, sigma: 0.5, posteriorSamples: 2, batchSize: 900, rng: &rng)
                    smoothing.noiseInInputSpace = inputSpace
                    #expect(smoothing.drawsNoiseAfterFirstLayer == !inputSpace)
                    counts.append(try smoothing.classCounts(input, samples: 20_000, rng: &rng))
                }
                for c in 0..<3 {
                    let p = Double(counts[0][c] + counts[1][c]) / 40_000
                    let spread = 5 * (2 * 20_000 * p * (1 - p)).squareRoot() + 1
                    #expect(Double(abs(counts[0][c] - counts[1][c])) <= spread, "\(posterior.method), input \(trial), class \(c): \(counts)")
                }
            }
        }
        func draws(_ posterior: any Posterior, samples: Int = 1) throws -> Bool {
            var rng = RandomGenerator(seed: 0)
            return try RandomizedSmoothing(posterior: posterior, sigma: 0.5, posteriorSamples: samples, rng: &rng).drawsNoiseAfterFirstLayer
        }
        let ensemble = try EnsemblePosterior(model: Self.model, members: [theta, Self.network(seed: 5)], task: .classification)
        #expect(try !draws(ensemble, samples: 2))
        #expect(try draws(EnsemblePosterior(model: Self.model, members: [theta, theta], task: .classification), samples: 2))
        let widening = try Sequential(.mlp(inputShape: [4], hidden: [8], outputs: 3))
        #expect(try !draws(PointPosterior(model: widening, parameters: Tensor(shape: [widening.parameterCount], repeating: 0.1), task: .classification)))
        var dead = theta.values
        for j in 0..<36 { dead[2 * 36 + j] = 0 }
        #expect(try !draws(PointPosterior(model: Self.model, parameters: Tensor(shape: theta.shape, values: dead), task: .classification)))
        let cnn = try Sequential(.smallCNN(inputShape: [1, 8, 8], outputs: 3))
        #expect(try !draws(PointPosterior(model: cnn, parameters: Tensor(shape: [cnn.parameterCount], repeating: 0.01), task: .classification)))
    }
}

extension Comparable {
    func clamped(to range: ClosedRange<Self>) -> Self { min(max(self, range.lowerBound), range.upperBound) }
}
