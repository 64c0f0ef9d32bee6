import CredenceData
import CredenceInference
import CredenceNN
@testable import CredenceRobustness
import CredenceTensor
import Foundation
import Testing

/// Probabilistic safety: sound against sampled networks and attacks, exact for ensembles.
@Suite struct ProbabilisticSafetyTests {
    /// A network trained on two moons and a mean-field posterior of σ = 0.02 around it, with test points.
    static func setting() throws -> (posterior: MeanFieldPosterior, test: InMemoryDataset) {
        var options = TrainingOptions()
        options.dataset = .twoMoons; options.epochs = 30; options.hidden = [16, 16]; options.learningRate = 3e-3
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("credence-ps-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("net.safetensors").path
        _ = try train(options, checkpointPath: path)
        let network = try loadPointPosterior(from: PosteriorArchive.load(from: path), path: path)
        let chain = try #require(network.model.layerChain)
        let count = try MeanFieldLayout(.all, model: chain).count
        let posterior = try MeanFieldPosterior(model: chain, task: .classification, mean: network.parameters,
                                               standardDeviations: Tensor(shape: [count], repeating: 0.02), bayesianLayers: .all, method: "vi")
        return (posterior, try loadRunData(options).test)
    }

    /// For 5 test points at ε = 0.05: every network with weights in the certified box μ ± γσ
    /// classifies every point of the input box alike (200 random weight vectors of the box ×
    /// 50 random inputs, corners of the weight box included), and the bound never exceeds the
    /// fraction of 150 networks drawn from the posterior that PGD (10 steps, 2 restarts)
    /// cannot break, beyond three binomial standard errors — nor does it with boxes grown around
    /// 20 samples added (never below the mean box's).
    @Test func theGaussianBoundIsSound() throws {
        let (posterior, test) = try Self.setting()
        let epsilon: Float = 0.05
        var rng = RandomGenerator(seed: 3)
        let model = posterior.model
        var checked = 0
        for i in 0..<5 {
            let x = try test.inputs.row(i), y = test.labels[i]
            let weights = try #require(DiagonalGaussianWeights(posterior))
            let bound = try ProbabilisticSafety.gaussianLowerBound(weights, input: x, label: y, epsilon: epsilon, inputRange: nil)
            #expect(bound.probability >= 0 && bound.probability <= 1)
            guard let gamma = bound.gamma, gamma > 0 else { continue }
            checked += 1
            // Weights and inputs inside the boxes.
            for w in 0..<200 {
                let theta = Tensor(shape: posterior.mean.shape, values: posterior.mean.values.map { m in
                    m + Float(gamma) * 0.02 * (w < 20 ? (rng.bernoulli(0.5) ? 1 : -1) : 2 * rng.uniformFloat() - 1)
                })
                let inputs = Tensor(shape: [50, 2], values: (0..<100).map { k in x.values[k % 2] + epsilon * (2 * rng.uniformFloat() - 1) })
                let predicted = try model.predict(inputs, parameters: theta).argmaxLastAxis()
                #expect(predicted.allSatisfy { $0 == Int(y) }, "example \(i): a network of the certified box misclassifies")
            }
            // Against attacked samples of the posterior.
            let draws = 150
            var unbroken = 0
            for _ in 0..<draws {
                let network = try PointPosterior(model: model, parameters: try posterior.sampleParameters(rng: &rng), task: .classification)
                let adversarial = try PGD(epsilon: epsilon, steps: 10, restarts: 2, inputRange: -100...100)
                    .perturb(try x.reshaped([1, 2]), labels: [y], target: AttackTarget(posterior: network), rng: &rng)
                if try model.predict(adversarial, parameters: network.parameters).argmaxLastAxis()[0] == Int(y) { unbroken += 1 }
            }
            let fraction = Double(unbroken) / Double(draws)
            let slack = 3 * (max(fraction * (1 - fraction), 1e-4) / Double(draws)).squareRoot()
            #expect(bound.probability <= fraction + slack, "example \(i): bound \(bound.probability) above the attacked fraction \(fraction)")
            let withBoxes = try ProbabilisticSafety.gaussianLowerBound(weights, input: x, label: y, epsilon: epsilon, inputRange: nil,
                                                                       sampledBoxes: 20, rng: &rng)
            #expect(withBoxes.probability >= bound.probability && withBoxes.probability <= fraction + slack,
                    "example \(i): with sampled boxes \(withBoxes.probability), mean box \(bound.probability), attacked \(fraction)")
        }
        #expect(checked >= 3, "too few examples certified at all to test")
    }

    /// An ensemble's bound is the exact fraction of its members IBP verifies; a sampled
    /// posterior's is the Clopper–Pearson bound below the fraction verified.
    @Test func sampledBoundsCountVerifiedNetworks() throws {
        let (posterior, test) = try Self.setting()
        var rng = RandomGenerator(seed: 5)
        let members = try (0..<4).map { _ in try posterior.sampleParameters(rng: &rng) }
        let ensemble = try EnsemblePosterior(model: posterior.model, members: members, task: .classification)
        let x = try test.inputs.row(0), y = test.labels[0]
        let ibp = try IntervalBoundPropagation(model: posterior.model, inputRange: nil)
        let expected = try members.filter { try ibp.verified(try x.reshaped([1, 2]), labels: [y], epsilon: 0.05, parameters: $0)[0] }.count
        let exact = try ProbabilisticSafety.sampledLowerBound(ensemble, input: x, label: y, epsilon: 0.05, inputRange: nil,
                                                               samples: 100, alpha: 0.001, rng: &rng)
        #expect(exact.samples == 4 && exact.verifiedSamples == expected && exact.probability == Double(expected) / 4)
        let sampled = try ProbabilisticSafety.sampledLowerBound(posterior, input: x, label: y, epsilon: 0.05, inputRange: nil,
                                                                 samples: 200, alpha: 0.001, rng: &rng)
        let fraction = Double(sampled.verifiedSamples!) / 200
        #expect(sampled.samples == 200 && sampled.probability < fraction
                && sampled.probability == clopperPearsonLowerBound(successes: sampled.verifiedSamples!, trials: 200, alpha: 0.001))
    }

    /// A linear two-class model at x = 1 whose four weights are N(μ, 0.3²) with the mean network
    /// on the wrong side: the margin (w₁ − w₀) + (b₁ − b₀) is N(−0.3, 0.6²), so P(safe) is exactly
    /// Φ(−0.5) = 0.3085. The box at the mean certifies nothing; Wicker et al.'s boxes grown around
    /// 200 samples certify part of the safe mass (0.050–0.069 when written: cubes under a tilted
    /// hyperplane) and never more than it (three seeds).
    @Test func sampledBoxesBoundAnOffCentreSafeSet() throws {
        let model = try Sequential(.mlp(inputShape: [1], hidden: [], outputs: 2))
        let posterior = try MeanFieldPosterior(model: model, task: .classification, mean: Tensor([0.3, 0, 0, 0]),
                                               standardDeviations: Tensor(shape: [4], repeating: 0.3), bayesianLayers: .all, method: "vi")
        let exact = 0.5 * erfc(0.5 / 2.0.squareRoot())
        let weights = try #require(DiagonalGaussianWeights(posterior))
        let meanBox = try ProbabilisticSafety.gaussianLowerBound(weights, input: Tensor([1]), label: 1, epsilon: 0, inputRange: nil)
        #expect(meanBox.probability == 0 && meanBox.gamma == 0)
        for seed in UInt64(0)..<3 {
            var rng = RandomGenerator(seed: seed)
            let bound = try ProbabilisticSafety.gaussianLowerBound(weights, input: Tensor([1]), label: 1, epsilon: 0, inputRange: nil,
                                                                   sampledBoxes: 200, rng: &rng)
            #expect(bound.samples == 200 && (bound.sampledBoxes ?? 0) >= 1)
            #expect(bound.probability <= exact, "seed \(seed): \(bound.probability) above the exact \(exact)")
            #expect(bound.probability >= 0.04, "seed \(seed): only \(bound.probability) of \(exact) certified")
        }
        // Standardized interval masses: the mean box's closed form, and the tails far out.
        #expect(abs(ProbabilisticSafety.logStandardNormalMass(from: -1, to: 1) - log(1 - erfc(1 / 2.0.squareRoot()))) < 1e-14)
        #expect(abs(ProbabilisticSafety.logStandardNormalMass(from: 8, to: 9) - log(0.5 * (erfc(8 / 2.0.squareRoot()) - erfc(9 / 2.0.squareRoot())))) < 1e-12)
        #expect(ProbabilisticSafety.logStandardNormalMass(from: -9, to: -8) == ProbabilisticSafety.logStandardNormalMass(from: 8, to: 9))
    }

    /// A last-layer Laplace approximation with a diagonal precision is a Gaussian over the weights
    /// with independent coordinates: σ = 1/√P on the last layer, 0 elsewhere, its draws spread as
    /// the Laplace's own (per-weight standard deviation within 10 % from 4,000 draws); a
    /// Kronecker-factored one is not, and gets the sampled bound.
    @Test func aDiagonalLaplaceIsADiagonalGaussian() throws {
        let model = try Sequential(.mlp(inputShape: [3], hidden: [5], outputs: 3))
        var rng = RandomGenerator(seed: 7)
        let theta = Tensor.randomNormal(shape: [model.parameterCount], standardDeviation: 0.8, rng: &rng)
        let x = Tensor.randomNormal(shape: [40, 3], rng: &rng)
        let y = (0..<40).map { Int32($0 % 3) }
        func laplace(_ structure: HessianStructure) throws -> LaplacePosterior {
            let method = try Laplace(subset: .lastLayer, structure: structure, priorPrecision: 1, priorOptimization: .none)
            var state = try method.initialState(model: model, parameters: theta, task: .classification, rng: &rng)
            _ = try method.update(&state, batch: TrainingBatch(inputs: x, labels: y, targets: nil), rng: &rng)
            return try method.posterior(from: state)
        }
        let diagonal = try laplace(.diagonal)
        let weights = try #require(DiagonalGaussianWeights(diagonal))
        let last = Set(diagonal.subset.flatIndices)
        #expect(weights.mean == theta && last.count == 18)
        #expect(weights.standardDeviations.values.enumerated().allSatisfy { last.contains($0.offset) == ($0.element > 0) })
        let draws = 4000
        var ours = [Double](repeating: 0, count: model.parameterCount), theirs = ours
        for _ in 0..<draws {
            let a = weights.sample(rng: &rng).values, b = try diagonal.sampleParameters(rng: &rng).values
            for i in ours.indices {
                ours[i] += Double(a[i] - theta.values[i]) * Double(a[i] - theta.values[i])
                theirs[i] += Double(b[i] - theta.values[i]) * Double(b[i] - theta.values[i])
            }
        }
        for i in last {
            let (s, t) = ((ours[i] / Double(draws)).squareRoot(), (theirs[i] / Double(draws)).squareRoot())
            #expect(abs(s / t - 1) < 0.1, "weight \(i): \(s) against the Laplace's \(t)")
        }
        #expect(DiagonalGaussianWeights(try laplace(.kronecker)) == nil)
    }
}
