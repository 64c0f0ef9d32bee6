import Foundation
import Testing
@testable import CredenceNN
import CredenceTensor

/// Graph models (residual and dense blocks): PyTorch's state-dict names and logits
/// (scripts/make_pytorch_fixture.py), gradients against finite differences, clear errors for
/// blocks that do not fit, checkpoints and Monte-Carlo passes.
@Suite struct BlockNetworkTests {
    /// The fixtures' small ResNet (one basic block per stage, widths 4-8-16) and DenseNet-BC
    /// (growth 4, two blocks of two layers), 5 classes.
    static let smallResNet = try! ModelSpec.resnet(inputShape: [1, 12, 12], blocksPerStage: 1, widths: [4, 8, 16], outputs: 5)
    static let smallDenseNet = try! ModelSpec.densenet(inputShape: [1, 8, 8], growthRate: 4, layersPerBlock: [2, 2], outputs: 5)

    @Test func architecturesCarryPyTorchsStateDictNamesAndShapes() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: CheckpointFixtures.path("pytorch_architectures.json")))
        let reference = try JSONDecoder().decode([String: [String: [[AnyCodableEntry]]]].self, from: data)
        for (name, spec) in [("lenet5", try ModelSpec.lenet5()), ("resnet20", try ModelSpec.resnet20()),
                             ("densenet", try ModelSpec.densenet())] {
            let model = try spec.makeModel()
            let torch = try #require(reference[name])
            let parameters = torch["parameters"]!.map { "\($0[0].name!) \($0[1].shape!)" }
            let buffers = torch["buffers"]!.map { "\($0[0].name!) \($0[1].shape!)" }
            #expect(model.layout.entries.map { "\($0.name) \($0.shape)" } == parameters, "\(name) parameters")
            #expect(model.buffers.map { "\($0.name) \($0.shape)" } == buffers, "\(name) buffers")
            #expect(model.outputShape == [10])
        }
        #expect(try ModelSpec.resnet20().makeModel().parameterCount == 272_186)
        #expect(try ModelSpec.densenet().makeModel().parameterCount == 175_690)
        #expect(try ModelSpec.lenet5().makeModel().parameterCount == 61_706)
    }

    @Test(arguments: ["resnet", "densenet"])
    func pytorchGraphModelsGivePyTorchsLogitsAndStatistics(_ fixture: String) throws {
        let spec = fixture == "resnet" ? Self.smallResNet : Self.smallDenseNet
        let checkpoint = try Checkpoint.load(from: CheckpointFixtures.path("pytorch_\(fixture).safetensors"), spec: spec)
        let model = try checkpoint.model()
        #expect(model is BlockNetwork)
        let io = try SafeTensorsFile(contentsOf: CheckpointFixtures.path("pytorch_\(fixture)_io.safetensors"))
        let inputs = try #require(io["inputs"])
        let eval = try model.predict(inputs, parameters: checkpoint.parameters, mode: .eval)
        #expect(maxAbsoluteDifference(eval, try #require(io["logits_eval"])) < 1e-4, "eval logits \(eval)")
        var context = ForwardContext(mode: .train)
        let train = try model(Variable(constant: inputs), parameters: Variable(constant: checkpoint.parameters), context: &context).value
        #expect(maxAbsoluteDifference(train, try #require(io["logits_train"])) < 1e-4, "train logits \(train)")
        let after = try model.updatingBuffers(with: context.batchStatistics).bufferValues
        #expect(after.count == checkpoint.buffers.count)
        for (name, value) in after {
            let expected = try #require(io["after.\(name)"], "\(name)")
            #expect(maxAbsoluteDifference(value, expected) < 1e-4 * (1 + expected.values.map(abs).max()!), "\(name)")
        }
    }

    /// A residual block with a projection shortcut, one with the identity, a dense connection
    /// and batch normalization in training mode: ∇θ and ∇x against central differences.
    @Test func graphGradientMatchesFiniteDifferences() throws {
        let spec = ModelSpec(inputShape: [2, 4, 4], blocks: [
            NamedBlock("project", ModelSpec.basicBlock(inChannels: 2, outChannels: 3, stride: 2)),
            NamedBlock("same", .residual(body: [.layer("conv", .conv2d(inChannels: 3, outChannels: 3, kernel: 3, stride: 1, padding: 1, bias: true)),
                                                 .layer("act", .activation(.tanh))], shortcut: nil, activation: .tanh)),
            NamedBlock("dense", .concatenate(body: [.layer("norm", .batchNorm2d(channels: 3)),
                                                    .layer("conv", .conv2d(inChannels: 3, outChannels: 2, kernel: 1, stride: 1, padding: 0, bias: false))])),
            .layer("pool", .globalAveragePool),
            .layer("linear", .dense(inputs: 5, outputs: 3, bias: true)),
        ])
        let model = try BlockNetwork(spec)
        var rng = RandomGenerator(seed: 4)
        let theta = try model.initialParameters(rng: &rng) + Tensor.randomNormal(shape: [model.parameterCount], rng: &rng) * 0.2
        let x = Tensor.randomNormal(shape: [3, 2, 4, 4], rng: &rng)
        var context = ForwardContext(mode: .train)
        _ = try model(Variable(constant: x), parameters: Variable(constant: theta), context: &context)
        #expect(Set(context.batchStatistics.keys) == ["project.bn1", "project.bn2", "project.shortcut.1", "dense.norm"])
        try expectModelGradientsMatchFiniteDifferences(model, parameters: theta, inputs: x, labels: [0, 2, 1], mode: .train,
                                                       absolute: 3e-3, relative: 3e-2)
    }

    @Test func blocksThatDoNotFitAreRejectedWithTheirPath() throws {
        let conv = LayerSpec.conv2d(inChannels: 2, outChannels: 4, kernel: 3, stride: 1, padding: 1, bias: false)
        func message(_ blocks: [NamedBlock]) -> String {
            do {
                _ = try BlockNetwork(ModelSpec(inputShape: [2, 6, 6], blocks: blocks))
                return "built"
            } catch { return "\(error)" }
        }
        #expect(message([NamedBlock("layer1", .residual(body: [.layer("conv", conv)], shortcut: nil, activation: nil))])
                    .contains("residual block 'layer1': the body gives [4, 6, 6] but the shortcut [2, 6, 6]; use a projection shortcut"))
        #expect(message([NamedBlock("d", .concatenate(body: [.layer("pool", .maxPool2d(kernel: 2, stride: 2))]))])
                    .contains("dense connection 'd'"))
        #expect(message([.layer("a", conv), .layer("a", .activation(.relu))]).contains("child names must be distinct"))
        #expect(message([.layer("a.b", conv)]).contains("without dots"))
        #expect(message([.layer("x", .dense(inputs: 3, outputs: 2, bias: true))]).contains("'x'"))
        #expect(throws: ModelError.self) { try Sequential(Self.smallResNet) }
        #expect(throws: ModelError.self) { try ModelSpec.resnet(inputShape: [28, 28]) }
    }

    @Test func graphCheckpointsRoundTripWithTheirSpecAndBuffers() throws {
        let scratch = try CheckpointScratchDirectory()
        defer { scratch.cleanup() }
        let model = try Self.smallResNet.makeModel()
        var rng = RandomGenerator(seed: 5)
        let theta = model.initialParameters(rng: &rng)
        var context = ForwardContext(mode: .train)
        _ = try model(Variable(constant: Tensor.randomNormal(shape: [4, 1, 12, 12], rng: &rng)), parameters: Variable(constant: theta),
                      context: &context)
        let trained = try model.updatingBuffers(with: context.batchStatistics)
        #expect(trained.bufferValues["layer2.0.shortcut.1.num_batches_tracked"] == Tensor(1))
        let checkpoint = Checkpoint(spec: Self.smallResNet, parameters: theta, buffers: trained.bufferValues)
        try checkpoint.save(to: scratch.file("resnet.safetensors"))
        let loaded = try Checkpoint.load(from: scratch.file("resnet.safetensors"))
        #expect(loaded == checkpoint)
        let x = Tensor.randomNormal(shape: [2, 1, 12, 12], rng: &rng)
        #expect(try loaded.model().predict(x, parameters: loaded.parameters) == trained.predict(x, parameters: theta))
        // A chain's spec against the graph's file: the difference is named.
        #expect(throws: CheckpointError.self) {
            try Checkpoint.load(from: scratch.file("resnet.safetensors"), spec: .smallCNN(inputShape: [1, 12, 12]))
        }
    }

    @Test func monteCarloPassesRunTheDeterministicBlocksOnce() throws {
        let spec = try ModelSpec.resnet(inputShape: [1, 8, 8], blocksPerStage: 1, widths: [2, 4, 4], outputs: 3, dropout: 0.5)
        let model = try spec.makeModel()
        var rng = RandomGenerator(seed: 6)
        let theta = model.initialParameters(rng: &rng)
        let x = Tensor.randomNormal(shape: [5, 1, 8, 8], rng: &rng)
        var a = RandomGenerator(seed: 7), b = RandomGenerator(seed: 7)
        let p = try model.monteCarloProbabilities(x, parameters: theta, samples: 6, rng: &a)
        #expect(p.shape == [6, 5, 3])
        #expect(try model.monteCarloProbabilities(x, parameters: theta, samples: 6, rng: &b) == p)  // same seed, same draws
        #expect(try p.slice(axis: 0, 0..<1) != p.slice(axis: 0, 1..<2))  // dropout differs between samples
        // Each sample is a softmax, and the dropout-free model gives S copies of its eval pass.
        let eval = try ModelSpec.resnet(inputShape: [1, 8, 8], blocksPerStage: 1, widths: [2, 4, 4], outputs: 3).makeModel()
        let q = try eval.monteCarloProbabilities(x, parameters: theta, samples: 2, rng: &a)
        let expected = try eval.predict(x, parameters: theta).softmaxLastAxis()
        #expect(try q.slice(axis: 0, 1..<2).reshaped([5, 3]) == expected)
    }
}

/// One element of the reference JSON: a name or a shape.
struct AnyCodableEntry: Decodable {
    var name: String?
    var shape: [Int]?
    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let s = try? c.decode(String.self) { name = s } else { shape = try c.decode([Int].self) }
    }
}
