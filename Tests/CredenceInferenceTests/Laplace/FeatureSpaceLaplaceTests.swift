import Foundation
import Testing
@testable import CredenceData
@testable import CredenceInference
import CredenceMetrics
@testable import CredenceNN
import CredenceTensor

/// Laplace on a graph of blocks: the last layer on the classifier's features, other subsets by
/// per-example rows through the whole graph; on a graph that computes the same function as a
/// chain it must give the chain's posterior.
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

    /// A convolutional chain and the graph of the same layers: the first-layer and subnetwork
    /// subsets (rows through the whole graph against the chain's prefix and per-example rows)
    /// give the same posterior, with both predictives.
    @Test(arguments: [WeightSubset.firstLayer, .subnetwork], [PredictiveKind.glm, .monteCarlo])
    func graphSubsetsEqualTheChainsOnTheSameFunction(_ subset: WeightSubset, _ predictive: PredictiveKind) throws {
        let layers: [LayerSpec] = [
            .conv2d(inChannels: 1, outChannels: 2, kernel: 3, stride: 1, padding: 1, bias: true), .activation(.tanh), .flatten,
            .dense(inputs: 2 * 4 * 4, outputs: 3, bias: true),
        ]
        let chain = try Sequential(ModelSpec(inputShape: [1, 4, 4], layers: layers))
        let graph = try BlockNetwork(ModelSpec(inputShape: [1, 4, 4], blocks: layers.enumerated().map { .layer("\($0.offset)", $0.element) }))
        var rng = RandomGenerator(seed: 5)
        let theta = chain.initialParameters(rng: &rng)
        let inputs = Tensor.randomNormal(shape: [40, 1, 4, 4], rng: &rng)
        let labels = try chain.predict(inputs, parameters: theta).argmaxLastAxis().map { Int32($0) }
        let data = try InMemoryDataset(name: "toy", inputs: inputs, labels: labels, classCount: 3)
        let laplace = try Laplace(subset: subset, structure: .full, predictive: predictive, priorPrecision: 2, priorOptimization: .none,
                                  subnetworkIndices: subset == .subnetwork ? [0, 5, 17, 19, 30, 77, 100] : nil)
        func fit(_ model: any NetworkModel) throws -> LaplacePosterior {
            try laplace.validate(model: model)
            return try fitPosterior(laplace, model: model, parameters: theta, task: .classification, data: data,
                                    epochs: 1, batchSize: 1000, seed: 0, shuffle: false).posterior
        }
        let a = try fit(chain), b = try fit(graph)
        let pa = try a.precision.denseMatrix().values, pb = try b.precision.denseMatrix().values
        #expect(Self.largestDifference(pa, pb) < 1e-6 * (pa.map(abs).max() ?? 1))
        let x = Tensor.randomNormal(shape: [6, 1, 4, 4], rng: &rng)
        var r1 = RandomGenerator(seed: 2), r2 = RandomGenerator(seed: 2)
        #expect(Self.largestDifference(try a.predictive(x, samples: 8, rng: &r1).meanProbabilities,
                                       try b.predictive(x, samples: 8, rng: &r2).meanProbabilities) < 1e-5)
        let restored = try LaplaceMethod.restore(try b.archive())
        var r3 = RandomGenerator(seed: 2), r4 = RandomGenerator(seed: 2)
        #expect(Self.largestDifference(try restored.predictive(x, samples: 8, rng: &r3).meanProbabilities,
                                       try b.predictive(x, samples: 8, rng: &r4).meanProbabilities) < 1e-6)
    }

    /// On a residual network with batch normalization, a subnetwork's curvature is the
    /// generalized Gauss–Newton Σₙ Jₙᵀ(diag pₙ − pₙpₙᵀ)Jₙ with the Jacobians taken by central
    /// differences of the logits (eval mode) — within 1 %.
    @Test func aResidualSubnetworksCurvatureIsTheGaussNewtonMatrix() throws {
        let model = try ModelSpec.resnet(inputShape: [1, 6, 6], blocksPerStage: 1, widths: [2, 2, 2], outputs: 3).makeModel()
        var rng = RandomGenerator(seed: 6)
        let theta = try model.initialParameters(rng: &rng) + Tensor.randomNormal(shape: [model.parameterCount], rng: &rng) * 0.1
        let inputs = Tensor.randomNormal(shape: [12, 1, 6, 6], rng: &rng)
        let data = try InMemoryDataset(name: "toy", inputs: inputs, labels: (0..<12).map { Int32($0 % 3) }, classCount: 3)
        let chosen = [0, 9, model.layout.entries[4].offset + 1, model.parameterCount - 5, model.parameterCount - 1]
        let laplace = try Laplace(subset: .subnetwork, structure: .full, predictive: .glm, priorPrecision: 1, priorOptimization: .none,
                                  subnetworkIndices: chosen)
        try laplace.validate(model: model)
        let posterior = try fitPosterior(laplace, model: model, parameters: theta, task: .classification, data: data,
                                         epochs: 1, batchSize: 1000, seed: 0, shuffle: false).posterior
        let curvature = try #require(posterior.precision as? FullPrecision).curvature
        let n = chosen.count, k = 3
        var expected = [Double](repeating: 0, count: n * n)
        let logits = try model.predict(inputs, parameters: theta).values
        for e in 0..<12 {
            var jacobian = [[Double]](repeating: [Double](repeating: 0, count: n), count: k)
            for (c, i) in chosen.enumerated() {
                var up = theta, down = theta
                up.withUnsafeMutableBufferPointer { $0[i] += 1e-2 }
                down.withUnsafeMutableBufferPointer { $0[i] -= 1e-2 }
                let fu = try model.predict(try inputs.rows(e..<(e + 1)), parameters: up).values
                let fd = try model.predict(try inputs.rows(e..<(e + 1)), parameters: down).values
                for o in 0..<k { jacobian[o][c] = (Double(fu[o]) - Double(fd[o])) / 2e-2 }
            }
            let z = (0..<k).map { Double(logits[e * k + $0]) }, m = z.max()!
            let total = z.reduce(0) { $0 + exp($1 - m) }
            let p = z.map { exp($0 - m) / total }
            for a in 0..<n {
                for b in 0..<n {
                    var sum = 0.0
                    for o in 0..<k { for q in 0..<k { sum += jacobian[o][a] * ((o == q ? p[o] : 0) - p[o] * p[q]) * jacobian[q][b] } }
                    expected[a * n + b] += sum
                }
            }
        }
        let scale = expected.map(abs).max()!
        #expect(Self.largestDifference(curvature.values, expected) < 0.01 * scale, "\(curvature.values) vs \(expected)")
    }

    /// What a graph cannot take is refused before any work, naming the layer: Kronecker factors
    /// beyond the classifier's features, every weight of a ResNet-20 by rows, a subnetwork
    /// chosen by a diagonal Laplace over every weight.
    @Test func subsetsAGraphCannotTakeAreRefusedByName() throws {
        let resnet = try ModelSpec.resnet20().makeModel()
        #expect { try Laplace(subset: .all, structure: .diagonal, predictive: .monteCarlo).validate(model: resnet) } throws: {
            "\($0)".contains("conv1 (Conv2D)") && "\($0)".contains("subnetwork")
        }
        #expect { try Laplace(subset: .firstLayer, structure: .kronecker, predictive: .glm).validate(model: resnet) } throws: {
            "\($0)".contains("Kronecker")
        }
        try Laplace(subset: .firstLayer, structure: .full, predictive: .glm).validate(model: resnet)
        var options = TrainingOptions()
        options.dataset = .shapes
        options.model = .resnet20
        try MethodRegistry.make("laplace", recorded: ["subset": "subnetwork", "hessian": "full", "subnetworkSelection": "largest-magnitude"])
            .validate(MethodContext(options: options))
        #expect(throws: LaplaceError.self) {
            try MethodRegistry.make("laplace", recorded: ["subset": "subnetwork", "hessian": "full", "subnetworkSelection": "largest-variance"])
                .validate(MethodContext(options: options))
        }
        let convolutionLast = try Sequential(ModelSpec(inputShape: [1, 4, 4], layers: [
            .conv2d(inChannels: 1, outChannels: 2, kernel: 3, stride: 1, padding: 1, bias: true)]))
        #expect(throws: InferenceError.self) {
            try ClassifierFeatures(network: convolutionLast, parameters: Tensor(shape: [convolutionLast.parameterCount], repeating: 0))
        }
    }
}
