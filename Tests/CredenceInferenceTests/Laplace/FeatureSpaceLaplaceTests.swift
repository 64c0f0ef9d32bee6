import Foundation
import Testing
@testable import CredenceData
@testable import CredenceInference
import CredenceMetrics
@testable import CredenceNN
import CredenceTensor

/// Last-layer Laplace on a graph of blocks runs on the classifier's features; on a graph that
/// computes the same function as a chain it must give the chain's posterior.
@Suite struct FeatureSpaceLaplaceTests {
    /// Flatten–dense–tanh–dense as a graph (names "hidden", "classifier") and as a chain.
    static let graph = ModelSpec(inputShape: [1, 2, 3], blocks: [
        .layer("flatten", .flatten), .layer("hidden", .dense(inputs: 6, outputs: 5, bias: true)), .layer("act", .activation(.tanh)),
        .layer("classifier", .dense(inputs: 5, outputs: 3, bias: true)),
    ])
    static let chain = ModelSpec(inputShape: [1, 2, 3], layers: [
        .flatten, .dense(inputs: 6, outputs: 5, bias: true), .activation(.tanh), .dense(inputs: 5, outputs: 3, bias: true),
    ])

    @Test(arguments: [HessianStructure.kronecker, .full])
    func graphLastLayerEqualsTheChainsOnTheSameFunction(_ structure: HessianStructure) throws {
        var rng = RandomGenerator(seed: 1)
        let chainModel = try Sequential(Self.chain)
        let theta = chainModel.initialParameters(rng: &rng)  // same flat layout: hidden then classifier
        let inputs = Tensor.randomNormal(shape: [80, 1, 2, 3], rng: &rng)
        let labels = try chainModel.predict(inputs, parameters: theta).argmaxLastAxis().map { Int32($0) }
        let data = try InMemoryDataset(name: "toy", inputs: inputs, labels: labels, classCount: 3)
        let laplace = try Laplace(subset: .lastLayer, structure: structure, predictive: .glm)
        let direct = try fitPosterior(laplace, model: chainModel, parameters: theta, task: .classification, data: data,
                                      epochs: 1, batchSize: 1000, seed: 0, shuffle: false).posterior
        let graphModel = try Self.graph.makeModel()
        let viaFeatures = try laplace.fitOnClassifierFeatures(PointPosterior(model: graphModel, parameters: theta, task: .classification),
                                                              data: data, seed: 0)
        let x = Tensor.randomNormal(shape: [7, 1, 2, 3], rng: &rng)
        var a = RandomGenerator(seed: 2), b = RandomGenerator(seed: 2)
        let p = try direct.predictive(x, samples: 8, rng: &a).meanProbabilities
        let q = try viaFeatures.predictive(x, samples: 8, rng: &b).meanProbabilities
        #expect(Self.largestDifference(p, q) < 1e-5, "\(p) vs \(q)")
        // A sample is the whole network with only the classifier's weights drawn.
        var c = RandomGenerator(seed: 3)
        let sample = try viaFeatures.sample(0, of: 4, rng: &c)
        let classifier = graphModel.layout.range(ofLayers: 3..<4)
        let changed = zip(sample.parameters.values, theta.values).enumerated().filter { $0.element.0 != $0.element.1 }.map(\.offset)
        #expect(!changed.isEmpty && changed.allSatisfy { classifier.contains($0) })
        // Archived and restored through the registry, it predicts the same.
        let restored = try LaplaceMethod.restore(try viaFeatures.archive())
        #expect(restored is FeatureSpacePosterior)
        var d = RandomGenerator(seed: 2)
        #expect(Self.largestDifference(try restored.predictive(x, samples: 8, rng: &d).meanProbabilities, q) < 1e-6)
    }

    static func largestDifference(_ a: [Double], _ b: [Double]) -> Double {
        a.count == b.count ? zip(a, b).map { abs($0 - $1) }.max() ?? 0 : .infinity
    }

    @Test func otherSubsetsOnAGraphAreRefusedByName() throws {
        let model = try ModelSpec.resnet(inputShape: [1, 6, 6], blocksPerStage: 1, widths: [2, 2, 2], outputs: 3).makeModel()
        let full = try Laplace(subset: .all, structure: .diagonal, predictive: .monteCarlo)
        #expect(throws: LaplaceError.self) { try full.validate(model: model) }
        #expect(throws: LaplaceError.self) {
            try ClassifierFeatures(network: try Sequential(Self.chain), parameters: Tensor(shape: [53], repeating: 0))
        }
    }
}
