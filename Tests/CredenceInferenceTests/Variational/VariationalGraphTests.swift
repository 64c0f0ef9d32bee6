@testable import CredenceInference
import CredenceMetrics
@testable import CredenceNN
import CredenceTensor
import Foundation
import Testing

/// Variational inference on graphs of blocks (ResNet, DenseNet): the graph's wiring and batch
/// normalization are the base model's, the Bayesian layers its dense and convolutional ones.
@Suite struct VariationalGraphTests {
    /// A projection residual block (convolutions and batch norms), an identity residual block,
    /// a dense connection with batch normalization, pooling and a linear classifier; tanh for
    /// ReLU, so that central differences see a smooth function.
    static let residualGraph = ModelSpec(inputShape: [2, 4, 4], blocks: [
        NamedBlock("project", .residual(body: [
            .layer("conv1", .conv2d(inChannels: 2, outChannels: 3, kernel: 3, stride: 2, padding: 1, bias: false)),
            .layer("bn1", .batchNorm2d(channels: 3)),
            .layer("act", .activation(.tanh)),
            .layer("conv2", .conv2d(inChannels: 3, outChannels: 3, kernel: 3, stride: 1, padding: 1, bias: false)),
            .layer("bn2", .batchNorm2d(channels: 3)),
        ], shortcut: NamedBlock("shortcut", .sequence([
            .layer("0", .conv2d(inChannels: 2, outChannels: 3, kernel: 1, stride: 2, padding: 0, bias: false)),
            .layer("1", .batchNorm2d(channels: 3)),
        ])), activation: .tanh)),
        NamedBlock("same", .residual(body: [.layer("conv", .conv2d(inChannels: 3, outChannels: 3, kernel: 3, stride: 1, padding: 1, bias: true)),
                                             .layer("act", .activation(.tanh))], shortcut: nil, activation: .tanh)),
        NamedBlock("dense", .concatenate(body: [.layer("norm", .batchNorm2d(channels: 3)),
                                                .layer("conv", .conv2d(inChannels: 3, outChannels: 2, kernel: 1, stride: 1, padding: 0, bias: false))])),
        .layer("pool", .globalAveragePool),
        .layer("linear", .dense(inputs: 5, outputs: 3, bias: true)),
    ])

    /// The same layers as a chain and as a graph that is one sequence of them: VI fits the same
    /// posterior bit for bit — so the graph path inherits the chain's known-answer tests
    /// (conjugate linear regression, two moons).
    @Test(arguments: [WeightNoiseEstimator.localReparameterization, .flipout])
    func aGraphOfOneSequenceFitsTheChainsPosterior(_ estimator: WeightNoiseEstimator) throws {
        let chain = TwoMoonsHarness.model()
        let graph = try BlockNetwork(ModelSpec(inputShape: chain.inputShape,
                                               blocks: chain.spec.layers.enumerated().map { .layer("\($0.offset)", $0.element) }))
        #expect(graph.layout.entries.map(\.name) == chain.layout.entries.map(\.name))
        var rng = RandomGenerator(seed: 3)
        let start = chain.initialParameters(rng: &rng)
        func fit(_ model: any NetworkModel) throws -> MeanFieldPosterior {
            let vi = MeanFieldVI(datasetSize: TwoMoonsHarness.data.train.count, estimator: estimator, learningRate: .constant(0.01))
            return try fitPosterior(vi, model: model, parameters: start, task: .classification, data: TwoMoonsHarness.data.train,
                                    epochs: 2, batchSize: 64, seed: 9).posterior
        }
        let a = try fit(chain), b = try fit(graph)
        #expect(a.mean == b.mean && a.standardDeviations == b.standardDeviations)
        #expect(a.mean != start, "the fit moved μ")
        #expect(b.model is BlockNetwork)
    }

    /// `.all` makes the convolutions and the classifier Bayesian and leaves batch
    /// normalization's scale and shift point weights; `.first` and `.last` are the first
    /// convolution and the classifier.
    @Test func allMeansTheDenseAndConvolutionalLayersOfAGraph() throws {
        let model = try BlockNetwork(Self.residualGraph)
        let all = try MeanFieldLayout(.all, model: model)
        #expect(Set(all.layers.map { model.layerNames[$0] }) == ["project.conv1", "project.conv2", "project.shortcut.0", "same.conv",
                                                                 "dense.conv", "linear"])
        #expect(all.blocks.allSatisfy { !$0.entry.name.contains("bn") && !$0.entry.name.contains("norm") && !$0.entry.name.contains("shortcut.1") })
        #expect(try MeanFieldLayout(.first, model: model).layers.map { model.layerNames[$0] } == ["project.conv1"])
        #expect(try MeanFieldLayout(.last, model: model).layers.map { model.layerNames[$0] } == ["linear"])
    }

    /// The negative log-likelihood of a variational graph in `.train` mode (batch statistics,
    /// one fixed draw per pass), as a function of ψ = (μ, layer noise), against central
    /// differences: every mean, every point weight (batch norm) and every noise coordinate.
    @Test(arguments: [WeightNoiseEstimator.localReparameterization, .flipout, .reparameterization])
    func variationalGraphGradientsMatchFiniteDifferences(_ estimator: WeightNoiseEstimator) throws {
        let base = try BlockNetwork(Self.residualGraph)
        let network = VariationalNetwork(base: base, meanField: try MeanFieldLayout(.all, model: base), estimator: estimator,
                                         coordinates: .layerNoise)
        var rng = RandomGenerator(seed: 5)
        let mean = try base.initialParameters(rng: &rng) + Tensor.randomNormal(shape: [base.parameterCount], rng: &rng) * 0.2
        let noise = Tensor.randomNormal(shape: [network.meanField.count], rng: &rng).map { estimator == .localReparameterization ? 0.05 + 0.05 * abs($0) : 0.1 * $0 }
        let psi = try network.parameters(mean: mean, standardDeviations: noise)
        let x = Tensor.randomNormal(shape: [3, 2, 4, 4], rng: &rng)
        let labels: [Int32] = [0, 2, 1]
        func loss(_ p: Tensor) throws -> Double {
            var context = ForwardContext(mode: .train, rng: RandomGenerator(seed: 6))
            let out = try network(Variable(constant: x), parameters: Variable(constant: p), context: &context)
            return Double(try Loss.softmaxCrossEntropy(logits: out, labels: labels).value.scalar)
        }
        let tape = Tape()
        let pv = tape.variable(psi)
        var context = ForwardContext(mode: .train, rng: RandomGenerator(seed: 6))
        let l = try Loss.softmaxCrossEntropy(logits: try network(Variable(constant: x), parameters: pv, context: &context), labels: labels)
        let gradient = tape.gradients(of: l)[pv].values
        let step: Float = 2e-3
        for i in 0..<psi.count {
            var up = psi, down = psi
            up.withUnsafeMutableBufferPointer { $0[i] += step }
            down.withUnsafeMutableBufferPointer { $0[i] -= step }
            let numeric = (try loss(up) - loss(down)) / Double(2 * step)
            let error = abs(Double(gradient[i]) - numeric) / (3e-3 + 3e-2 * abs(numeric))
            #expect(error < 1, "\(network.layout.entries.first { $0.range.contains(i) }!.name)[\(i)]: \(gradient[i]) vs \(numeric)")
        }
        #expect(Set(context.batchStatistics.keys) == ["project.bn1", "project.bn2", "project.shortcut.1", "dense.norm"])
    }

    /// STF-BNN on a small ResNet: one VI step with the rest fixed moves only the first
    /// convolution's μ and σ, folds the step's batch statistics into the running ones, and the
    /// posterior survives its archive.
    @Test func stfBNNOnAResidualNetworkMovesOnlyTheFirstLayer() throws {
        let spec = try ModelSpec.resnet(inputShape: [1, 12, 12], blocksPerStage: 1, widths: [4, 8, 16], outputs: 5)
        let model = try spec.makeModel()
        var rng = RandomGenerator(seed: 8)
        let theta = model.initialParameters(rng: &rng)
        let x = Tensor.randomNormal(shape: [16, 1, 12, 12], rng: &rng)
        let batch = TrainingBatch(inputs: x, labels: (0..<16).map { Int32($0 % 5) })
        let vi = MeanFieldVI(datasetSize: 16, bayesianLayers: .first, learningRate: .constant(0.01),
                             initialization: .moped(delta: 0.1), fixPointWeights: true, method: "stf-bnn")
        var state = try vi.initialState(model: model, parameters: theta, task: .classification, rng: &rng)
        let before = state.parameters
        _ = try vi.update(&state, batch: batch, rng: &rng)
        let first = try #require(state.network.meanField.blocks.first?.entry)
        #expect(first.name == "conv1.weight" && state.network.meanField.blocks.count == 1)
        let moved = zip(before.values, state.parameters.values).enumerated().filter { $0.element.0 != $0.element.1 }.map(\.offset)
        #expect(!moved.isEmpty && moved.allSatisfy { first.range.contains($0) || $0 >= state.network.meanCount }, "moved \(moved.count) coordinates")
        #expect(state.network.buffers.first { $0.name == "bn1.num_batches_tracked" }?.value.values == [1])

        let posterior = try vi.posterior(from: state)
        let restored = try MeanFieldPosterior(archive: PosteriorArchive(method: posterior.method, model: posterior.model, task: .classification,
                                                                        tensors: [("mean", posterior.mean), ("standard_deviation", posterior.standardDeviations)],
                                                                        settings: ["bayesianLayers": "first"]))
        var a = RandomGenerator(seed: 1), b = RandomGenerator(seed: 1)
        #expect(try posterior.predictive(x, samples: 4, rng: &a).probabilities == restored.predictive(x, samples: 4, rng: &b).probabilities)
    }

    /// The registered VI methods accept ResNet-20 (image shapes); VI's learning rate after
    /// training with a scratch start is refused, since it would be ignored.
    @Test func registeredVIMethodsValidateOnResNet20() throws {
        var options = TrainingOptions()
        options.dataset = .shapes
        options.model = .resnet20
        for name in ["vi", "vi-flipout", "stf-bnn", "variational-dropout"] {
            try MethodRegistry.make(name, recorded: ["viLearningRate": "0.001"].merging(name.hasPrefix("vi") ? ["start": "moped"] : [:]) { $1 })
                .validate(MethodContext(options: options))
        }
        #expect { try MethodRegistry.make("vi", recorded: ["viLearningRate": "0.001"]).validate(MethodContext(options: options)) } throws: {
            "\($0)".contains("start=moped")
        }
    }

    /// A model that is not made of layers is refused by name.
    @Test func aModelWithoutLayersIsRefused() throws {
        struct Opaque: NetworkModel {
            let inner = TwoMoonsHarness.model()
            var spec: ModelSpec { inner.spec }
            var layout: ParameterLayout { inner.layout }
            var inputShape: [Int] { inner.inputShape }
            var outputShape: [Int] { inner.outputShape }
            var buffers: [NamedBuffer] { [] }
            func replacingBuffers(_ values: [String: Tensor]) throws -> any NetworkModel { self }
            func updatingBuffers(with statistics: [String: [BatchNormStatistics]]) throws -> any NetworkModel { self }
            var isStochastic: Bool { false }
            func initialParameters(rng: inout RandomGenerator) -> Tensor { inner.initialParameters(rng: &rng) }
            func callAsFunction(_ x: Variable, parameters: Variable, context: inout ForwardContext) throws -> Variable {
                try inner(x, parameters: parameters, context: &context)
            }
            func monteCarloProbabilities(_ x: Tensor, parameters: Tensor, samples: Int, rng: inout RandomGenerator) throws -> Tensor {
                try inner.monteCarloProbabilities(x, parameters: parameters, samples: samples, rng: &rng)
            }
            var layerChain: Sequential? { nil }
        }
        #expect(throws: InferenceError.incompatibleModel("variational inference needs a model made of layers (a chain or a graph of blocks); Opaque is neither")) {
            try MeanFieldVI(datasetSize: 1).validate(model: Opaque())
        }
    }
}
