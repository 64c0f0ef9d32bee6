import CredenceData
import CredenceInference
import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation
import Testing

/// Shared harness for "uncertainty grows away from the data": two moons, a small MLP,
/// and probe points far from the data (radius 10 around the data's centre).
enum TwoMoonsHarness {
    static let data: (train: InMemoryDataset, test: InMemoryDataset) = {
        try! loadDataset(.twoMoons, options: DataOptions(seed: 1, syntheticTrainCount: 512, syntheticTestCount: 256))
    }()

    static func model(dropout: Float = 0) -> Sequential {
        try! Sequential(.mlp(inputShape: [2], hidden: [32, 32], outputs: 2, dropout: dropout))
    }

    /// 64 points on a circle of radius `radius` around (0.5, 0.25).
    static func farPoints(radius: Float = 10, count: Int = 64) -> Tensor {
        var values: [Float] = []
        for i in 0..<count {
            let a = 2 * Float.pi * Float(i) / Float(count)
            values += [0.5 + radius * Foundation.cos(a), 0.25 + radius * Foundation.sin(a)]
        }
        return Tensor(shape: [count, 2], values: values)
    }

    static func meanEntropy(_ p: Predictive) -> Double { p.totalEntropy.reduce(0, +) / Double(p.exampleCount) }

    /// The SGLD chain the distillation tests teach with: from a 60-epoch MAP of `model()`, steps
    /// of 0.05/N on the Gaussian-prior log-posterior, 80 steps of burn-in, every iterate kept.
    static func teachingChain() throws -> (model: Sequential, map: Tensor, chain: SGLD) {
        let model = model()
        let map = try trainMAP(model, epochs: 60)
        let target = try LogPosterior(model: model, objective: .crossEntropy(labelSmoothing: 0), prior: GaussianPrior(precision: 1),
                                      datasetSize: data.train.count)
        return (model, map, SGLD(target: target, stepSize: 0.05 / Double(data.train.count), burnInSteps: 8 * 10, thinning: 1))
    }

    /// MAP parameters after `epochs` of Adam (seeded).
    static func trainMAP(_ model: Sequential, epochs: Int = 60, seed: UInt64 = 0, weightDecay: Float = 0) throws -> Tensor {
        var rng = RandomGenerator(seed: seed)
        let theta = model.initialParameters(rng: &rng)
        let fit = try fitPosterior(MAPTraining(learningRate: .constant(0.01), weightDecay: weightDecay), model: model,
                                   parameters: theta, task: .classification, data: data.train,
                                   epochs: epochs, batchSize: 64, seed: seed)
        return (fit.posterior.base as! PointPosterior).parameters
    }

    /// The posterior against the MAP `map` of `model`: it classifies the test set as well (within
    /// 2 points), is more uncertain at radius 10 than the nearly certain ReLU MAP (more than 20×
    /// its mean entropy), and its samples disagree there (positive mutual information).
    static func expectAccurateAndUncertainAwayFromTheData(_ posterior: any Posterior, map: Tensor, model: any NetworkModel,
                                                          samples: Int, label: String,
                                                          sourceLocation: SourceLocation = #_sourceLocation) throws {
        var rng = RandomGenerator(seed: 0)
        let point = try PointPosterior(model: model, parameters: map, task: .classification)
        let accuracy = try CredenceMetrics.accuracy(try posterior.predictive(data.test.inputs, samples: samples, rng: &rng), labels: data.test.labels)
        let mapAccuracy = try CredenceMetrics.accuracy(try point.predictive(data.test.inputs, samples: 1, rng: &rng), labels: data.test.labels)
        #expect(accuracy >= mapAccuracy - 0.02, "\(label) \(accuracy) vs MAP \(mapAccuracy)", sourceLocation: sourceLocation)
        let far = farPoints()
        let farPredictive = try posterior.predictive(far, samples: samples, rng: &rng)
        let farEntropy = meanEntropy(farPredictive), farMAP = meanEntropy(try point.predictive(far, samples: 1, rng: &rng))
        #expect(farEntropy > 20 * farMAP, "entropy far from the data: \(label) \(farEntropy), MAP \(farMAP) nats", sourceLocation: sourceLocation)
        #expect(farPredictive.mutualInformation.reduce(0, +) > 0, "\(label): the samples disagree far away", sourceLocation: sourceLocation)
    }
}
