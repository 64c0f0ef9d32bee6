import Testing
@testable import CredenceNN
import CredenceTensor

/// Batch normalization as a layer: PyTorch's names and initial values, the three modes, the
/// running-statistics update, and the buffers a `Sequential` holds and a `Trainer` updates.
@Suite struct BatchNormTests {
    let spec = ModelSpec(inputShape: [3], layers: [.dense(inputs: 3, outputs: 4, bias: true), .batchNorm1d(features: 4),
                                                  .activation(.relu), .dense(inputs: 4, outputs: 2, bias: true)])

    func batch(_ n: Int, seed: UInt64) -> Tensor {
        var rng = RandomGenerator(seed: seed)
        return Tensor.randomNormal(shape: [n, 3], standardDeviation: 2, rng: &rng)
    }

    @Test func namesShapesAndInitialValuesAreNNBatchNorm1d() throws {
        let model = try Sequential(spec)
        #expect(model.layout.entries.map(\.name) == ["0.weight", "0.bias", "1.weight", "1.bias", "3.weight", "3.bias"])
        #expect(model.buffers.map(\.name) == ["1.running_mean", "1.running_var", "1.num_batches_tracked"])
        #expect(model.buffers.map(\.shape) == [[4], [4], []])
        #expect(model.buffers.map(\.value) == [Tensor(shape: [4], repeating: 0), Tensor(shape: [4], repeating: 1), Tensor(0)])
        var rng = RandomGenerator(seed: 1)
        let theta = model.initialParameters(rng: &rng)
        let gamma = try theta.segment(offset: model.layout.entry(named: "1.weight")!.offset, shape: [4])
        let beta = try theta.segment(offset: model.layout.entry(named: "1.bias")!.offset, shape: [4])
        #expect(gamma.values == [1, 1, 1, 1] && beta.values == [0, 0, 0, 0])
        // Models without batch normalization have no buffers.
        #expect(try Sequential(.mlp(inputShape: [3], hidden: [4], outputs: 2)).buffers.isEmpty)
    }

    @Test func trainModeNormalisesWithTheBatchAndReportsItsStatistics() throws {
        let model = try Sequential(ModelSpec(inputShape: [3], layers: [.dense(inputs: 3, outputs: 4, bias: true),
                                                                       .batchNorm1d(features: 4)]))
        var rng = RandomGenerator(seed: 2)
        let theta = model.initialParameters(rng: &rng)
        let x = batch(16, seed: 3)
        var context = ForwardContext(mode: .train)
        let y = try model(Variable(constant: x), parameters: Variable(constant: theta), context: &context).value
        let hidden = try model(Variable(constant: x), parameters: Variable(constant: theta), context: &context, layers: 0..<1).value
        for c in 0..<4 {
            let column = (0..<16).map { Double(y[$0, c]) }
            let mean = column.reduce(0, +) / 16
            let variance = column.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 16
            #expect(abs(mean) < 1e-5 && abs(variance - 1) < 1e-3, "channel \(c): mean \(mean), variance \(variance)")
        }
        let passes = try #require(context.batchStatistics["1"])
        #expect(passes.count == 1 && passes[0].count == 16)
        // One update: running = 0.9·initial + 0.1·batch, with the unbiased variance; the counter counts.
        let updated = try model.updatingBuffers(with: context.batchStatistics).bufferValues
        for c in 0..<4 {
            let h = (0..<16).map { Double(hidden[$0, c]) }
            let mean = h.reduce(0, +) / 16
            let unbiased = h.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 15
            #expect(abs(Double(updated["1.running_mean"]![c]) - 0.1 * mean) < 1e-5)
            #expect(abs(Double(updated["1.running_var"]![c]) - (0.9 + 0.1 * unbiased)) < 1e-4)
        }
        #expect(updated["1.num_batches_tracked"]!.scalar == 1)
        // The forward pass itself leaves the model's buffers alone.
        #expect(model.bufferValues["1.num_batches_tracked"]!.scalar == 0)
    }

    @Test func evalAndMCSampleUseTheRunningStatistics() throws {
        let model = try Sequential(ModelSpec(inputShape: [2, 3, 3], layers: [.batchNorm2d(channels: 2)]))
        let theta = Tensor([2, -1, 0.5, 3])  // γ, β
        let mean = Tensor([0.5, -1]), variance = Tensor([4, 0.25])
        let withStatistics = try model.withBuffers(["0.running_mean": mean, "0.running_var": variance,
                                                    "0.num_batches_tracked": Tensor(7)])
        var rng = RandomGenerator(seed: 4)
        let x = Tensor.randomNormal(shape: [2, 2, 3, 3], rng: &rng)
        for mode in [ForwardMode.eval, .mcSample] {
            var context = ForwardContext(mode: mode)
            let y = try withStatistics(Variable(constant: x), parameters: Variable(constant: theta), context: &context).value
            #expect(context.batchStatistics.isEmpty)
            for n in 0..<2 {
                for c in 0..<2 {
                    for i in 0..<3 {
                        let expected = theta[c] * (x[n, c, i, 1] - mean[c]) / (variance[c] + 1e-5).squareRoot() + theta[2 + c]
                        #expect(abs(y[n, c, i, 1] - expected) < 1e-5)
                    }
                }
            }
        }
        // A fresh model's eval pass is γ·x/√(1 + ε) + β.
        let fresh = try model.predict(x, parameters: theta)
        #expect(abs(fresh[1, 1, 2, 2] - (-1 * x[1, 1, 2, 2] / (1 + 1e-5).squareRoot() + 3)) < 1e-5)
    }

    @Test func buffersAreReplacedOnlyWhole() throws {
        let model = try Sequential(spec)
        var values = model.bufferValues
        values["1.running_mean"] = Tensor([1, 2, 3, 4])
        #expect(try model.withBuffers(values).bufferValues["1.running_mean"] == Tensor([1, 2, 3, 4]))
        var missing = values; missing["1.num_batches_tracked"] = nil
        #expect(throws: ModelError.self) { try model.withBuffers(missing) }
        var extra = values; extra["2.running_mean"] = Tensor([0])
        #expect(throws: ModelError.self) { try model.withBuffers(extra) }
        var wrongShape = values; wrongShape["1.running_var"] = Tensor([1, 1])
        #expect(throws: ModelError.self) { try model.withBuffers(wrongShape) }
        #expect(throws: ModelError.self) { try Sequential(.mlp(inputShape: [3], hidden: [4], outputs: 2)).replacingBuffers(values) }
    }

    @Test func trainModeNeedsMoreThanOneValuePerChannel() throws {
        let model = try Sequential(spec)
        var rng = RandomGenerator(seed: 5)
        let theta = model.initialParameters(rng: &rng)
        #expect(throws: ModelError.self) { try model.predict(batch(1, seed: 6), parameters: theta, mode: .train) }
        _ = try model.predict(batch(1, seed: 6), parameters: theta, mode: .eval)
        #expect(throws: ModelError.self) { try Sequential(ModelSpec(inputShape: [3], layers: [.batchNorm2d(channels: 3)])) }
    }

    @Test func mergedStatisticsOfTwoHalvesAreTheWholeBatchs() throws {
        let x = Tensor.testBatch([40, 3, 2, 2], seed: 7)
        let one = Variable(constant: Tensor(shape: [3], repeating: 1)), zero = Variable(constant: Tensor(shape: [3], repeating: 0))
        let whole = try Variable(constant: x).batchNormalized(weight: one, bias: zero, epsilon: 1e-5).statistics
        let a = try Variable(constant: x.rows(0..<15)).batchNormalized(weight: one, bias: zero, epsilon: 1e-5).statistics
        let b = try Variable(constant: x.rows(15..<40)).batchNormalized(weight: one, bias: zero, epsilon: 1e-5).statistics
        let merged = a.merged(with: b)
        #expect(merged.count == whole.count)
        for c in 0..<3 {
            #expect(abs(merged.mean[c] - whole.mean[c]) < 1e-5)
            #expect(abs(merged.variance[c] - whole.variance[c]) < 1e-5)
        }
    }

    /// The Trainer's running statistics come from the whole batch, whatever the shards.
    @Test func trainerKeepsRunningStatisticsOfWholeBatches() throws {
        let model = try Sequential(spec)
        var rng = RandomGenerator(seed: 8)
        var theta = model.initialParameters(rng: &rng)
        let x = batch(64, seed: 9)
        let labels = (0..<64).map { Int32($0 % 2) }
        let trainer = Trainer(model: model, optimizer: .sgd(learningRate: .constant(0.1), parameterCount: model.parameterCount),
                              configuration: TrainingConfiguration(epochs: 1, batchSize: 64))
        var stepRNG = RandomGenerator(seed: 10)
        let step = try trainer.shardedStep(parameters: theta, batch: TrainingBatch(inputs: x, labels: labels), rng: &stepRNG)
        var context = ForwardContext(mode: .train)
        _ = try model(Variable(constant: x), parameters: Variable(constant: theta), context: &context)
        let whole = try #require(context.batchStatistics["1"]?.first), merged = try #require(step.batchStatistics["1"]?.first)
        #expect(merged.count == 64)
        for c in 0..<4 {
            #expect(abs(merged.mean[c] - whole.mean[c]) < 1e-5)
            #expect(abs(merged.variance[c] - whole.variance[c]) < 1e-4)
        }

        // fit: the counter counts steps, the epoch-end state carries the buffers, runs repeat bit for bit.
        func run() throws -> (Trainer, [String: Tensor], Tensor) {
            var t = Trainer(model: model, optimizer: .adam(learningRate: .constant(0.01), parameterCount: model.parameterCount),
                            configuration: TrainingConfiguration(epochs: 2, batchSize: 48, seed: 3))
            var p = theta
            var epochBuffers: [String: Tensor] = [:]
            try t.fit(parameters: &p, data: ArraySource(inputs: batch(200, seed: 11), labels: (0..<200).map { Int32($0 % 2) }),
                      onEpochEnd: { (state: EpochEndState) in epochBuffers = state.buffers })
            return (t, epochBuffers, p)
        }
        let (first, buffers, parameters) = try run()
        let (second, _, _) = try run()
        #expect(buffers == first.model.bufferValues)
        #expect(buffers["1.num_batches_tracked"]!.scalar == 10)  // 5 steps per epoch × 2
        #expect(buffers["1.running_mean"] != Tensor(shape: [4], repeating: 0))
        #expect(second.model.bufferValues.mapValues { $0.values.map(\.bitPattern) }
                == buffers.mapValues { $0.values.map(\.bitPattern) })
        #expect(parameters.isFinite)
        theta = parameters
    }

    /// What `train()` does on resume: parameters, optimizer state and buffers from the epoch-k
    /// checkpoint continue bit for bit as the uninterrupted run, running statistics included.
    @Test func resumingThroughACheckpointKeepsTheRunningStatistics() throws {
        let scratch = try CheckpointScratchDirectory()
        defer { scratch.cleanup() }
        let data = ArraySource(inputs: batch(150, seed: 12), labels: (0..<150).map { Int32($0 % 2) })
        let model = try Sequential(spec)
        func trainer(epochs: Int) -> Trainer {
            Trainer(model: model, optimizer: .adam(learningRate: .constant(0.01), parameterCount: model.parameterCount),
                    configuration: TrainingConfiguration(epochs: epochs, batchSize: 40, seed: 4))
        }
        var rng = RandomGenerator(seed: 13)
        let initial = model.initialParameters(rng: &rng)
        var full = trainer(epochs: 3), thetaFull = initial
        try full.fit(parameters: &thetaFull, data: data, onEpochEnd: { (state: EpochEndState) in
            guard state.epoch == 1 else { return }
            try Checkpoint(spec: self.spec, parameters: state.parameters, buffers: state.buffers,
                           optimizerState: state.optimizer.exportState()).save(to: scratch.file("epoch1.safetensors"))
        })
        let saved = try Checkpoint.load(from: scratch.file("epoch1.safetensors"))
        #expect(saved.buffers["1.num_batches_tracked"] == Tensor(4))
        var resumed = trainer(epochs: 3)
        try resumed.optimizer.importState(try #require(saved.optimizerState))
        resumed.model = try model.replacingBuffers(saved.buffers)
        var theta = saved.parameters
        try resumed.fit(parameters: &theta, data: data, startEpoch: 1)
        #expect(theta.values.map(\.bitPattern) == thetaFull.values.map(\.bitPattern))
        #expect(resumed.model.bufferValues.mapValues { $0.values.map(\.bitPattern) }
                == full.model.bufferValues.mapValues { $0.values.map(\.bitPattern) })
        #expect(full.model.bufferValues["1.num_batches_tracked"] == Tensor(12))
    }
}

extension Tensor {
    static func testBatch(_ shape: [Int], seed: UInt64) -> Tensor {
        var rng = RandomGenerator(seed: seed)
        return Tensor.randomNormal(shape: shape, standardDeviation: 1.5, rng: &rng) + 0.7
    }
}
