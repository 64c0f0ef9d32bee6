import CredenceData
import CredenceInference
import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation

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

    /// MAP parameters after `epochs` of Adam (seeded).
    static func trainMAP(_ model: Sequential, epochs: Int = 60, seed: UInt64 = 0, weightDecay: Float = 0) throws -> Tensor {
        var rng = RandomGenerator(seed: seed)
        let theta = model.initialParameters(rng: &rng)
        let fit = try fitPosterior(MAPTraining(learningRate: .constant(0.01), weightDecay: weightDecay), model: model,
                                   parameters: theta, task: .classification, data: data.train,
                                   epochs: epochs, batchSize: 64, seed: seed)
        return (fit.posterior.base as! PointPosterior).parameters
    }
}
