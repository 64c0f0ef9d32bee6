@testable import CredenceInference
import CredenceData
import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation
import Testing

/// "Uncertainty grows away from the data" on two moons (the shared `TwoMoonsHarness`):
/// a ReLU network's MAP is nearly certain far from the data (its logits grow linearly);
/// the Laplace predictive is not (Kristiadi et al. 2020): the GLM variance φᵀΣφ grows
/// quadratically with the radius while the logits grow linearly, and sampled networks
/// disagree on the far-field slopes.
@Suite(.serialized) struct TwoMoonsLaplaceTests {
    static let model = TwoMoonsHarness.model()
    static let map: Tensor = try! TwoMoonsHarness.trainMAP(model, weightDecay: 1e-4)

    /// (subset, structure, predictive): each fitted with a marginal-likelihood prior on the
    /// 512 training points; its mean predictive entropy at radius 10 must be ≥ 2× the MAP's
    /// (measured 7–36×: MAP 0.011 nats, Laplace 0.08–0.39) and its test accuracy within 3
    /// points of the MAP's. All-weights Laplace is paired with the GLM predictive: its
    /// Monte-Carlo predictive underfits (Immer et al. 2021; measured 80% accuracy vs 100%).
    @Test(arguments: [
        (WeightSubset.lastLayer, HessianStructure.kronecker, PredictiveKind.glm),
        (.lastLayer, .full, .glm),
        (.lastLayer, .diagonal, .monteCarlo),
        (.all, .kronecker, .glm),
        (.all, .diagonal, .glm),
        (.subnetwork, .full, .glm),
        (.firstLayer, .kronecker, .glm),
        (.lastLayer, .lowRank, .glm),
    ])
    func laplaceIsMoreUncertainThanMAPFarFromTheData(_ subset: WeightSubset, _ structure: HessianStructure,
                                                     _ predictive: PredictiveKind) throws {
        let (train, test) = TwoMoonsHarness.data
        // The subnetwork: the last layer's weights and the second hidden layer's biases, as an index mask.
        let layout = Self.model.layout
        let indices = subset == .subnetwork ? Array(layout.range(ofLayers: 4..<5)) + Array(layout.entry(named: "2.bias")!.range) : nil
        let laplace = try Laplace(subset: subset, structure: structure, predictive: predictive, rank: 10, subnetworkIndices: indices)
        let (posterior, _) = try fitPosterior(laplace, model: Self.model, parameters: Self.map, task: .classification,
                                              data: train, epochs: 1, batchSize: 128, seed: 0)
        var rng = RandomGenerator(seed: 4)
        let far = TwoMoonsHarness.farPoints(radius: 10)
        let mapFar = try PointPosterior(model: Self.model, parameters: Self.map, task: .classification).predictive(far, samples: 1, rng: &rng)
        let laplaceFar = try posterior.predictive(far, samples: 32, rng: &rng)
        let (hMAP, hLaplace) = (TwoMoonsHarness.meanEntropy(mapFar), TwoMoonsHarness.meanEntropy(laplaceFar))
        #expect(hLaplace >= 2 * hMAP && hLaplace > 0.05,
                "\(subset)/\(structure)/\(predictive): Laplace entropy \(hLaplace) vs MAP \(hMAP) at radius 10 (prior \(posterior.priorPrecision.values))")

        let testBatch = test.all()
        func accuracy(_ p: Predictive) -> Double {
            var correct = 0
            for e in 0..<p.exampleCount {
                let row = p.meanProbabilities[(2 * e)..<(2 * e + 2)]
                if (row[2 * e + 1] > row[2 * e] ? 1 : 0) == Int(testBatch.labels[e]) { correct += 1 }
            }
            return Double(correct) / Double(p.exampleCount)
        }
        let mapAccuracy = accuracy(try PointPosterior(model: Self.model, parameters: Self.map, task: .classification)
            .predictive(testBatch.inputs, samples: 1, rng: &rng))
        let laplaceAccuracy = accuracy(try posterior.predictive(testBatch.inputs, samples: 32, rng: &rng))
        #expect(laplaceAccuracy >= mapAccuracy - 0.03, "accuracy \(laplaceAccuracy) vs MAP \(mapAccuracy)")
    }

    /// The largest-variance subnetwork (Daxberger et al. 2021) is the top-k of a diagonal
    /// Laplace's marginal variances over all weights.
    @Test func largestVarianceSubnetworkIsTopKOfTheDiagonalLaplace() throws {
        let train = TwoMoonsHarness.data.train
        let indices = try Laplace.largestVarianceSubnetwork(count: 40, model: Self.model, parameters: Self.map,
                                                            task: .classification, data: train, priorPrecision: 2)
        let diagonal = try Laplace(subset: .all, structure: .diagonal, priorPrecision: 2, priorOptimization: .none)
        let (posterior, _) = try fitPosterior(diagonal, model: Self.model, parameters: Self.map, task: .classification,
                                              data: train, epochs: 1, batchSize: 512, seed: 0)
        let variances = posterior.precision.marginalVariances
        #expect(indices.count == 40 && indices == indices.sorted())
        let threshold = indices.map { variances[$0] }.min()!
        let others = Set(0..<variances.count).subtracting(indices)
        #expect(others.allSatisfy { variances[$0] <= threshold * (1 + 1e-6) })
    }
}
