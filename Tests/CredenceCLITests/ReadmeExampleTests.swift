import Credence
import Foundation
import Testing

/// The README's library example, kept compiling and running (on 512 images, 1 epoch).
@Suite struct ReadmeExampleTests {
    /// The README's library example, as written there, type-checks against the built modules
    /// in Swift 6 language mode — what a new package (`swift-tools-version:6.0`) depending on
    /// Credence compiles — so the README cannot drift from the API (the copies below run it).
    @Test func libraryExampleCompilesInSwift6Mode() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let section = try #require(readme.range(of: "## The library in a short example"), "the README lost its library example")
        let blocks = readme[section.upperBound...].components(separatedBy: "```swift\n").dropFirst().prefix(2)
            .map { $0.components(separatedBy: "```")[0] }
        #expect(blocks.count == 2 && blocks.allSatisfy { $0.contains("try") })
        let build = try #require(CLI.binary, "the credence executable is not built").deletingLastPathComponent()
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = dir.appendingPathComponent("main.swift")
        try blocks.joined(separator: "\n").write(to: source, atomically: true, encoding: .utf8)
        // The C modules' maps: the system libraries' in Sources, the C targets' where SwiftPM wrote them.
        let fm = FileManager.default
        let maps = try fm.contentsOfDirectory(atPath: root.appendingPathComponent("Sources").path).map { "Sources/\($0)/module.modulemap" }
            .map { root.appendingPathComponent($0).path }
            + fm.contentsOfDirectory(atPath: build.path).filter { $0.hasSuffix(".build") }.map { build.appendingPathComponent("\($0)/module.modulemap").path }
        let typecheck = try CLI.runTool("/usr/bin/env", ["swiftc", "-typecheck", "-swift-version", "6", "-I", build.appendingPathComponent("Modules").path]
            + maps.filter { fm.fileExists(atPath: $0) }.flatMap { ["-Xcc", "-fmodule-map-file=\($0)"] } + [source.path])
        #expect(typecheck.status == 0, "the README's library example does not compile in Swift 6 mode:\n\(typecheck.output)")
    }

    @Test(.enabled(if: fashionMNISTAvailable, "needs the dataset-fashion-mnist package"))
    func libraryExampleRuns() throws {
        var rng = RandomGenerator(seed: 0)
        let (train, test) = try loadDataset(.fashionMNIST, options: DataOptions(trainLimit: 512))
        let model = try Sequential(.mlp(inputShape: [1, 28, 28], hidden: [512, 512], outputs: 10, dropout: 0.1))
        var θ = model.initialParameters(rng: &rng)

        var trainer = Trainer(model: model,
                              optimizer: .adam(learningRate: .constant(1e-3), parameterCount: model.parameterCount),
                              configuration: TrainingConfiguration(epochs: 1, batchSize: 128, seed: 0))
        var losses: [Double] = []
        try trainer.fit(parameters: &θ, data: train) { progress in losses.append(progress.loss) }
        #expect(!losses.isEmpty)

        let subset = try test.inputs.rows(0..<100)
        let logits = try model.predictBatched(subset, parameters: θ)
        let mc = try model.monteCarloProbabilities(subset, parameters: θ, samples: 32, rng: &rng)
        #expect(logits.shape == [100, 10] && mc.shape == [32, 100, 10])
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("readme-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Checkpoint(spec: model.spec, parameters: θ).save(to: dir.appendingPathComponent("mlp.safetensors").path)

        let tape = Tape()
        let x = tape.variable(try test.inputs.rows(0..<8)), p = tape.variable(θ)
        var context = ForwardContext(mode: .eval)
        let loss = try Loss.softmaxCrossEntropy(logits: try model(x, parameters: p, context: &context),
                                                labels: Array(test.labels[0..<8]))
        let grads = tape.gradients(of: loss)
        #expect(grads[x].shape == [8, 1, 28, 28] && grads[p].shape == [669_706])

        // The ResNet-20 lines (one step on 128 images instead of 15 epochs).
        let resnet = try ModelSpec.resnet20(inputShape: [1, 28, 28], outputs: 10).makeModel()
        var φ = resnet.initialParameters(rng: &rng)
        var sgd = Trainer(model: resnet, optimizer: .make(.sgd, learningRate: .cosine(initial: 0.1, totalSteps: 1, minimum: 0),
                                                          momentum: 0.9, weightDecay: 5e-4, parameterCount: resnet.parameterCount),
                          configuration: TrainingConfiguration(epochs: 1, batchSize: 128, seed: 0,
                                                               objective: AugmentedObjective(base: Objective.crossEntropy(labelSmoothing: 0),
                                                                                             augmentation: .cropFlip, padding: 2)))
        let small = try loadDataset(.fashionMNIST, options: DataOptions(trainLimit: 128)).train
        try sgd.fit(parameters: &φ, data: small)
        let resnetPath = dir.appendingPathComponent("resnet20.safetensors").path
        try Checkpoint(spec: resnet.spec, parameters: φ, buffers: sgd.model.bufferValues).save(to: resnetPath)
        #expect(try Checkpoint.load(from: resnetPath).buffers["bn1.num_batches_tracked"] == Tensor(1))
        // STF-BNN from it (one epoch of 128 images instead of three of the training set).
        let stf = MeanFieldVI(datasetSize: small.count, bayesianLayers: .first, learningRate: .constant(1e-3),
                              initialization: .moped(delta: 0.1), fixPointWeights: true, method: "stf-bnn")
        let (stfPosterior, _) = try fitPosterior(stf, model: sgd.model, parameters: φ, task: .classification, data: small,
                                                 epochs: 1, batchSize: 128, seed: 1)
        let stfProbabilities = try stfPosterior.predictive(try test.inputs.rows(0..<4), samples: 2, rng: &rng).meanProbabilities
        #expect(stfProbabilities.count == 40 && stfPosterior.standardDeviations.count == 16 * 9)
    }

    /// The README's registry example (on two moons, in a scratch directory).
    @Test func registryExampleRuns() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("readme-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("multiswag.safetensors").path
        var rng = RandomGenerator(seed: 0)
        var options = TrainingOptions()
        options.dataset = .twoMoons; options.epochs = 20
        let multiSWAG = try MethodRegistry.make("ensemble", inputs: [("members", .number(3, text: "3")), ("member", .string("swag"))])
        let result = try trainPosterior(options, method: multiSWAG, out: path)
        #expect(try #require(result.evaluation.metrics.classification).negativeLogLikelihood < 0.3 && result.runs.count == 3)

        let posterior = try loadPosterior(from: path)
        let (_, moons) = try loadDataset(.twoMoons, options: DataOptions())
        let count = posterior.sampleCount(requested: 30)
        #expect(count == 30 && posterior.method == "ensemble" && (posterior as? MixturePosterior)?.componentMethod == "swag")
        let network = try posterior.sample(0, of: count, rng: &rng)
        let tape2 = Tape(), xs = tape2.variable(try moons.inputs.rows(0..<8))
        let sampleGradient = tape2.gradients(of: try network(xs).sum())[xs]
        #expect(sampleGradient.shape == [8, 2])

        let (moonsTrain, _) = try loadDataset(.twoMoons, options: DataOptions())
        let mlp = try Sequential(.mlp(inputShape: [2], hidden: [64, 64], outputs: 2))
        let vi = MeanFieldVI(datasetSize: moonsTrain.count, estimator: .flipout, temperature: 0.1,
                             learningRate: .constant(0.01))
        let (bnn, _) = try fitPosterior(vi, model: mlp, parameters: mlp.initialParameters(rng: &rng), task: .classification,
                                        data: moonsTrain, epochs: 20, batchSize: 64, seed: 0)
        let predictive = try bnn.predictive(moons.inputs, samples: 32, rng: &rng)
        #expect(try predictive.sampleCount == 32 && accuracy(predictive, labels: moons.labels) > 0.85)

        // (warm-up 40, 20 iterations, 2 chains here: the README's 200/200/4 take a minute in a debug build)
        let small = try Sequential(.mlp(inputShape: [2], hidden: [16], outputs: 2))
        let logPosterior = try LogPosterior(model: small, objective: .crossEntropy(labelSmoothing: 0),
                                            prior: GaussianPrior(precision: 1), datasetSize: moonsTrain.count)
        let start = small.initialParameters(rng: &rng).values.map(Double.init)
        let nuts = HamiltonianSampler(settings: HMCSettings(integrator: .nuts(maxTreeDepth: 5), warmup: 40, iterations: 20),
                                      chains: 2, seed: 0)
        let chains = try nuts.run(target: NetworkLogDensity(posterior: logPosterior, data: moonsTrain),
                                  starts: Array(repeating: start, count: 2))
        let hmc = try EnsemblePosterior(model: small, members: chains.flatMap(\.draws), task: .classification, method: "nuts",
                                        chainCount: 2, samplerStatistics: chains.map(\.statistics))
        let agreement = try PredictiveAgreement(predictive, reference: hmc.predictive(moons.inputs, samples: 0, rng: &rng))
        #expect(hmc.chains.count == 2 && hmc.chains[0].count == 20 && agreement.topOneAgreement > 0.5)
    }
}
