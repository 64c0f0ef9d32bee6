@testable import CredenceInference
import CredenceData
import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation
import Testing

/// Sparse variational dropout's KL fit and pruning.
@Suite struct VariationalDropoutTests {
    /// Molchanov et al.'s fit of −KL(q ‖ log-uniform) = ½ log α − E_{ε~N(1, α)} log|ε| + C
    /// (their eq. 14) agrees with the integral, computed here by quadrature (ε = 1 + √α z on
    /// z ∈ [−12, 12], 200,000 midpoints), up to one constant over log α ∈ [−6, 6]: the spread of
    /// (fit − integral) stays under 0.02 nats (measured 0.013; the constant is −0.635 ≈ −k₁).
    @Test func itsKLMatchesThePublishedFitToTheIntegral() {
        func expectedLogMagnitude(_ logAlpha: Double) -> Double {
            let root = Foundation.exp(logAlpha / 2), n = 200_000, width = 24.0 / Double(n)
            var total = 0.0
            for k in 0..<n {
                let z = -12 + (Double(k) + 0.5) * width
                total += Foundation.log(Swift.abs(1 + root * z)) * Foundation.exp(-z * z / 2)
            }
            return total * width / (2 * Double.pi).squareRoot()
        }
        var differences: [Double] = []
        for logAlpha in stride(from: -6.0, through: 6.0, by: 0.5) {
            // One weight with μ = 1 and σ² = α.
            var rng = RandomGenerator(seed: 0)
            let kl = [Float(1)].withUnsafeBufferPointer { mu in
                [Float(Foundation.exp(logAlpha / 2))].withUnsafeBufferPointer { sigma in
                    VariationalPrior.logUniform.klDivergence(mean: mu, standardDeviations: sigma, rng: &rng)
                }
            }
            differences.append(-kl - (0.5 * logAlpha - expectedLogMagnitude(logAlpha)))
        }
        let spread = differences.max()! - differences.min()!
        #expect(spread < 0.02, "fit − integral varies by \(spread) nats over log α ∈ [−6, 6]")
    }

    /// Its gradients against central differences in μ and σ (inside the clipping range), and
    /// none beyond log α = 10.
    @Test func itsGradientsMatchFiniteDifferences() {
        let mean: [Float] = [0.5, -0.2, 1.5, 0.05], sigma: [Float] = [0.1, 0.3, 0.05, 0.2]
        func kl(_ mu: [Float], _ s: [Float], _ gm: inout [Float], _ gs: inout [Float]) -> Double {
            var rng = RandomGenerator(seed: 0)
            return mu.withUnsafeBufferPointer { m in
                s.withUnsafeBufferPointer { sd in
                    gm.withUnsafeMutableBufferPointer { a in
                        gs.withUnsafeMutableBufferPointer { b in
                            VariationalPrior.logUniform.klDivergence(mean: m, standardDeviations: sd, meanGradient: a, sigmaGradient: b, rng: &rng)
                        }
                    }
                }
            }
        }
        var gm = [Float](repeating: 0, count: 4), gs = gm, scratchA = gm, scratchB = gm
        _ = kl(mean, sigma, &gm, &gs)
        let h: Float = 1e-3
        for i in 0..<4 {
            for (values, analytic, isMean) in [(mean, gm[i], true), (sigma, gs[i], false)] {
                var plus = values, minus = values
                plus[i] += h; minus[i] -= h
                let numeric = isMean ? (kl(plus, sigma, &scratchA, &scratchB) - kl(minus, sigma, &scratchA, &scratchB)) / Double(2 * h)
                                     : (kl(mean, plus, &scratchA, &scratchB) - kl(mean, minus, &scratchA, &scratchB)) / Double(2 * h)
                #expect(abs(Double(analytic) - numeric) < 2e-3 + 2e-2 * abs(numeric), "\(isMean ? "μ" : "σ")[\(i)]: \(analytic) vs \(numeric)")
            }
        }
        var far = [Float](repeating: 0, count: 1), farSigma = far
        _ = kl([1e-4], [1], &far, &farSigma)   // log α ≈ 18: clipped
        #expect(far == [0] && farSigma == [0])
    }

    /// Pruning ranks a mean-field posterior's weights by |μ|/σ (biases never), a network's by
    /// |w|, zeroes exactly the requested share, and refuses other posteriors by name.
    @Test func pruningZeroesTheLowestRankedWeights() throws {
        let model = TwoMoonsHarness.model()
        var rng = RandomGenerator(seed: 3)
        let mean = model.initialParameters(rng: &rng)
        let layout = try MeanFieldLayout(.all, model: model)
        let sigma = Tensor.randomUniform(shape: [layout.count], lower: 0.01, upper: 1, rng: &rng)
        let posterior = try MeanFieldPosterior(model: model, task: .classification, mean: mean, standardDeviations: sigma,
                                               bayesianLayers: .all, method: "variational-dropout")
        let pruning = try WeightPruning(posterior)
        let weights = model.layout.entries.filter { $0.name.hasSuffix(".weight") }.reduce(0) { $0 + $1.count }
        #expect(pruning.score == .signalToNoise && pruning.ranking.count == weights)
        let half = pruning.pruned(fraction: 0.5)
        #expect(half.prunedCount == weights / 2 && half.parameters.values.filter { $0 == 0 }.count >= weights / 2)
        var snr: [Int: Float] = [:]
        for block in layout.blocks where block.entry.name.hasSuffix(".weight") {
            for (k, i) in zip(block.sigmaRange, block.entry.range) { snr[i] = abs(mean.values[i]) / sigma.values[k] }
        }
        let pruned = Set(pruning.ranking.prefix(half.prunedCount)), kept = Set(pruning.ranking.dropFirst(half.prunedCount))
        #expect(pruned.map { snr[$0]! }.max()! <= kept.map { snr[$0]! }.min()!)
        for entry in model.layout.entries where entry.name.hasSuffix(".bias") {
            #expect(Array(half.parameters.values[entry.range]) == Array(mean.values[entry.range]), "biases are never pruned")
        }
        let point = try WeightPruning(PointPosterior(model: model, parameters: mean, task: .classification))
        #expect(point.score == .magnitude && point.pruned(fraction: 1).parameters.values.filter { $0 == 0 }.count == weights)
        let ensemble = try EnsemblePosterior(model: model, members: [mean, mean], task: .classification)
        #expect(throws: InferenceError.self) { try WeightPruning(ensemble) }
    }

    /// Fisher pruning's scores are the diagonal of the Fisher information, Σₙ Σ_cc' J_ci (diag p − ppᵀ)_cc' J_c'i,
    /// here computed independently from per-example Jacobians on the tape (MLP 2-8-3, 24 examples).
    @Test func fisherScoresAreTheFisherInformationDiagonal() throws {
        let model = try Sequential(.mlp(inputShape: [2], hidden: [8], outputs: 3))
        var rng = RandomGenerator(seed: 5)
        let theta = model.initialParameters(rng: &rng)
        let x = Tensor.randomNormal(shape: [24, 2], rng: &rng)
        let labels = (0..<24).map { Int32($0 % 3) }
        let data = try InMemoryDataset(name: "fisher", inputs: x, labels: labels, classCount: 3)
        let pruning = try WeightPruning(PointPosterior(model: model, parameters: theta, task: .classification), fisherOn: data, batchSize: 8)
        #expect(pruning.score == .fisher)
        var expected = [Double](repeating: 0, count: model.parameterCount)
        for n in 0..<24 {
            let xn = try x.rows(n..<(n + 1))
            let logits = try model.predict(xn, parameters: theta).values.map(Double.init)
            let top = logits.max()!, e = logits.map { exp($0 - top) }, z = e.reduce(0, +), p = e.map { $0 / z }
            let jacobian: [[Double]] = try (0..<3).map { c in
                let tape = Tape(), t = tape.variable(theta)
                var context = ForwardContext(mode: .eval)
                let out = try model(Variable(constant: xn), parameters: t, context: &context)
                var seed = Tensor.zeros([1, 3]); seed.withUnsafeMutableBufferPointer { $0[c] = 1 }
                return tape.gradients(of: out, seed: seed)[t].values.map(Double.init)
            }
            for i in 0..<model.parameterCount {
                for c in 0..<3 { for d in 0..<3 { expected[i] += jacobian[c][i] * ((c == d ? p[c] : 0) - p[c] * p[d]) * jacobian[d][i] } }
            }
        }
        for (i, score) in zip(pruning.ranking, pruning.scores) {
            #expect(abs(Double(score) - expected[i]) <= 1e-4 * max(1, expected[i]), "weight \(i): \(score) vs \(expected[i])")
        }
    }
}
