@testable import CredenceInference
import CredenceData
import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation
import Testing

/// A Laplace posterior written to a file and read back (`loadPosterior`) predicts exactly
/// as the original: same settings, same curvature, same samples for the same seed.
@Suite struct LaplaceArchiveTests {
    static func fitted(_ subset: WeightSubset, _ structure: HessianStructure, _ predictive: PredictiveKind,
                       task: Predictive.Task = .classification) throws -> LaplacePosterior {
        let outputs = task == .classification ? 3 : 2
        let model = try Sequential(.mlp(inputShape: [2], hidden: [6], outputs: outputs, activation: .tanh))
        var rng = RandomGenerator(seed: 8)
        let theta = Tensor.randomNormal(shape: [model.parameterCount], standardDeviation: 0.7, rng: &rng)
        let x = Tensor.randomNormal(shape: [40, 2], rng: &rng)
        let labels = (0..<40).map { Int32($0 % 3) }
        let targets = Tensor.randomNormal(shape: [40, 1], rng: &rng)
        let laplace = try Laplace(subset: subset, structure: structure, predictive: predictive, priorStructure: .layerwise,
                                  rank: 4, subnetworkIndices: subset == .subnetwork ? [0, 5, 20, 31] : nil)
        return try laplace.fit(model: model, parameters: theta, task: task, inputs: x,
                               labels: task == .classification ? labels : [], targets: task == .regression ? targets : nil)
    }

    @Test(arguments: [
        (WeightSubset.lastLayer, HessianStructure.kronecker, PredictiveKind.glm),
        (.all, .diagonal, .monteCarlo),
        (.lastLayer, .full, .glm),
        (.subnetwork, .lowRank, .monteCarlo),
        (.firstLayer, .full, .monteCarlo),
    ])
    func roundTrip(_ subset: WeightSubset, _ structure: HessianStructure, _ predictive: PredictiveKind) throws {
        for task in [Predictive.Task.classification, .regression] {
            let original = try Self.fitted(subset, structure, predictive, task: task)
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("laplace-\(UUID().uuidString).safetensors").path
            defer { try? FileManager.default.removeItem(atPath: path) }
            try original.archive().save(to: path)
            let restored = try #require(try loadPosterior(from: path) as? LaplacePosterior)
            #expect(restored.method == "laplace" && restored.task == task)
            #expect(restored.subset == original.subset && restored.likelihood == original.likelihood)
            #expect(restored.precision.structure == structure && restored.predictiveKind == predictive)
            #expect(restored.priorPrecision == original.priorPrecision)
            #expect(restored.logMarginalLikelihood == original.logMarginalLikelihood)
            // Float curvature in the file: log det to 1e-6 relative.
            #expect(abs(restored.precision.logDeterminant - original.precision.logDeterminant)
                    <= 1e-6 * abs(original.precision.logDeterminant))
            let x = Tensor(shape: [3, 2], values: [0.1, 0.2, -1, 2, 3, -0.5])
            var r1 = RandomGenerator(seed: 2), r2 = RandomGenerator(seed: 2)
            let p1 = try original.predictive(x, samples: 5, rng: &r1), p2 = try restored.predictive(x, samples: 5, rng: &r2)
            let a = task == .classification ? p1.meanProbabilities : p1.predictiveMean
            let b = task == .classification ? p2.meanProbabilities : p2.predictiveMean
            expectLaplaceClose(b, a, absolute: 1e-5, relative: 1e-4, "\(subset)/\(structure)/\(task) predictive after reload")
        }
    }

    @Test func layerwisePriorHasOneValuePerParameterTensor() throws {
        let posterior = try Self.fitted(.all, .kronecker, .glm)
        #expect(posterior.priorPrecision.values.count == 4)  // 0.weight, 0.bias, 2.weight, 2.bias
        // The tuned prior maximises the evidence: nudging any group's δ lowers it.
        let best = try posterior.logMarginalLikelihood(prior: posterior.priorPrecision)
        #expect(abs(best - posterior.logMarginalLikelihood!) < 1e-8 * abs(best))
        for g in 0..<4 {
            for factor in [0.9, 1.1] {
                var values = posterior.priorPrecision.values
                values[g] *= factor
                #expect(try posterior.logMarginalLikelihood(prior: PriorPrecision(values: values)) < best)
            }
        }
    }
}
