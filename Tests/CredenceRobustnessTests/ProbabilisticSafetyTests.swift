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
        let count = try MeanFieldLayout(.all, chain: chain).count
        let posterior = try MeanFieldPosterior(model: chain, task: .classification, mean: network.parameters,
                                               standardDeviations: Tensor(shape: [count], repeating: 0.02), bayesianLayers: .all, method: "vi")
        return (posterior, try loadRunData(options).test)
    }

    /// For 5 test points at ε = 0.05: every network with weights in the certified box μ ± γσ
    /// classifies every point of the input box alike (200 random weight vectors of the box ×
    /// 50 random inputs, corners of the weight box included), and the bound never exceeds the
    /// fraction of 150 networks drawn from the posterior that PGD (10 steps, 2 restarts)
    /// cannot break, beyond three binomial standard errors.
    @Test func theGaussianBoundIsSound() throws {
        let (posterior, test) = try Self.setting()
        let epsilon: Float = 0.05
        var rng = RandomGenerator(seed: 3)
        let model = posterior.model
        var checked = 0
        for i in 0..<5 {
            let x = try test.inputs.row(i), y = test.labels[i]
            let bound = try ProbabilisticSafety.gaussianLowerBound(posterior, input: x, label: y, epsilon: epsilon, inputRange: nil)
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
}
