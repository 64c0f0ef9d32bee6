import CredenceData
import CredenceInference
import CredenceNN
import CredenceTensor

/// A MAP network MLP 2-32-32-2 fitted on two moons (512 training and 200 test points), the
/// attack tests' trained model.
struct TwoMoonsMAP {
    let chain: Sequential
    let posterior: PointPosterior
    let test: InMemoryDataset
    /// The generator after initialisation, for the test's own draws.
    var rng: RandomGenerator
    /// Two moons' standardised coordinates.
    static let range: ClosedRange<Float> = -3...3

    init(dataSeed: UInt64 = 1, initSeed: UInt64 = 2, fitSeed: UInt64 = 3, epochs: Int = 40) throws {
        let (train, test) = try loadDataset(.twoMoons, options: DataOptions(seed: dataSeed, syntheticTrainCount: 512, syntheticTestCount: 200))
        chain = try Sequential(.mlp(inputShape: [2], hidden: [32, 32], outputs: 2))
        rng = RandomGenerator(seed: initSeed)
        let fit = try fitPosterior(MAPTraining(learningRate: .constant(0.01)), model: chain, parameters: chain.initialParameters(rng: &rng),
                                   task: .classification, data: train, epochs: epochs, batchSize: 64, seed: fitSeed)
        posterior = try PointPosterior(model: chain, parameters: try fit.posterior.sample(0, of: 1, rng: &rng).parameters,
                                       task: .classification)
        self.test = test
    }
}
