import Foundation
import Testing
@testable import CredenceNN
import CredenceTensor

/// An in-memory source for tests (CredenceNN does not import CredenceData).
struct ArraySource: BatchSource {
    var inputs: Tensor
    var labels: [Int32] = []
    var targets: Tensor?
    var count: Int { inputs.shape[0] }
    func trainingBatch(_ indices: [Int]) throws -> TrainingBatch {
        TrainingBatch(inputs: try inputs.selectingRows(indices), labels: indices.map { labels.isEmpty ? 0 : labels[$0] },
                      targets: try targets?.selectingRows(indices))
    }
}

/// XOR-like quadrants: not linearly separable, easy for a small MLP.
func quadrants(_ n: Int, seed: UInt64) -> ArraySource {
    var rng = RandomGenerator(seed: seed)
    let x = Tensor.randomUniform(shape: [n, 2], lower: -1, upper: 1, rng: &rng)
    let labels = (0..<n).map { i -> Int32 in (x[i, 0] > 0) == (x[i, 1] > 0) ? 1 : 0 }
    return ArraySource(inputs: x, labels: labels)
}

@Suite struct TrainerTests {
    func makeTrainer(epochs: Int, lr: Float = 0.01, seed: UInt64 = 1) throws -> (Trainer, Tensor) {
        let model = try Sequential(.mlp(inputShape: [2], hidden: [32, 32], outputs: 2))
        var rng = RandomGenerator(seed: seed)
        let theta = model.initialParameters(rng: &rng)
        let trainer = Trainer(model: model, optimizer: .adam(learningRate: .constant(lr), parameterCount: model.parameterCount),
                              configuration: TrainingConfiguration(epochs: epochs, batchSize: 64, seed: seed))
        return (trainer, theta)
    }

    @Test func learnsQuadrants() throws {
        var (trainer, theta) = try makeTrainer(epochs: 30)
        let data = quadrants(1024, seed: 7)
        var reports: [TrainingProgress] = []
        let history = try trainer.fit(parameters: &theta, data: data, onProgress: { reports.append($0) })
        #expect(history.count == 30)
        #expect(history.last! < 0.25 * history.first!)
        let test = quadrants(512, seed: 8)
        let predicted = try trainer.model.predict(test.inputs, parameters: theta).argmaxLastAxis()
        let accuracy = Double(zip(predicted, test.labels).filter { $0 == Int($1) }.count) / 512
        #expect(accuracy > 0.93)
        #expect(reports.filter(\.isEpochEnd).count == 30)
        #expect(reports.last!.remaining < 1e-6)
    }

    @Test func sameSeedSameParameters() throws {
        let data = quadrants(256, seed: 1)
        var (t1, p1) = try makeTrainer(epochs: 2)
        var (t2, p2) = try makeTrainer(epochs: 2)
        try t1.fit(parameters: &p1, data: data)
        try t2.fit(parameters: &p2, data: data)
        #expect(p1 == p2)
        var (t3, p3) = try makeTrainer(epochs: 2, seed: 2)
        try t3.fit(parameters: &p3, data: data)
        #expect(p1 != p3)
    }

    @Test func shardedGradientEqualsWholeBatchGradient() throws {
        let (trainer, theta) = try makeTrainer(epochs: 1)
        let data = quadrants(100, seed: 3)
        let batch = try data.trainingBatch(Array(0..<100))
        var rng = RandomGenerator(seed: 0)
        let (loss, _, sharded) = try trainer.lossAndGradient(parameters: theta, batch: batch, rng: &rng)
        let tape = Tape()
        let tv = tape.variable(theta)
        var ctx = ForwardContext(mode: .eval)
        let l = try Loss.softmaxCrossEntropy(logits: try trainer.model(Variable(constant: batch.inputs), parameters: tv, context: &ctx),
                                             labels: batch.labels)
        let whole = tape.gradients(of: l)[tv]
        #expect(abs(Double(l.value.scalar) - loss) < 1e-5)
        #expect(zip(sharded.values, whole.values).allSatisfy { abs($0 - $1) < 1e-5 })
    }

    /// Inside a parallel region (HMC's chains, one per thread) the worker shards would run one
    /// after the other, paying every operation's overhead twice: the batch is one shard there.
    @Test func aNestedStepComputesTheBatchAsOneShard() throws {
        let (trainer, theta) = try makeTrainer(epochs: 1)
        let batch = try quadrants(100, seed: 3).trainingBatch(Array(0..<100))
        var rng = RandomGenerator(seed: 0)
        let outside = try trainer.shardedStep(parameters: theta, batch: batch, rng: &rng)
        #expect(outside.gradientParts.count == Swift.min(Parallel.workerCount, 100))
        let inside = try Parallel.map(2) { _ in
            var rng = RandomGenerator(seed: 0)
            return try trainer.shardedStep(parameters: theta, batch: batch, rng: &rng)
        }
        var summed = outside.gradientParts[0]
        for part in outside.gradientParts.dropFirst() { summed.addInPlace(part) }
        for step in inside {
            #expect(step.gradientParts.count == 1)
            #expect(abs(step.loss - outside.loss) < 1e-6)
            #expect(zip(step.gradientParts[0].values, summed.values).allSatisfy { abs($0 - $1) < 1e-5 })
        }
    }

    @Test func divergenceStopsWithATypedErrorAndKeepsLastGoodEpoch() throws {
        var (trainer, theta) = try makeTrainer(epochs: 50, lr: 1e30)
        var saved: [Int] = []
        let start = theta
        let error = try #require(throws: TrainingError.self) {
            try trainer.fit(parameters: &theta, data: quadrants(256, seed: 1), onEpochEnd: { state in saved.append(state.epoch) })
        }
        guard case .nonFiniteLoss = error else { Issue.record("expected nonFiniteLoss, got \(error)"); return }
        #expect(error.description.contains("--lr"))
        #expect(theta.isFinite, "the non-finite step is not applied")
        #expect(theta != start)
    }

    @Test func regressionWithGaussianNLLLearnsNoiseLevel() throws {
        // y = 2x + ε, ε ~ N(0, 0.3²): the predicted variance should approach 0.09.
        var rng = RandomGenerator(seed: 4)
        let n = 2048
        let x = Tensor.randomUniform(shape: [n, 1], lower: -1, upper: 1, rng: &rng)
        let y = Tensor(shape: [n, 1], values: x.values.map { 2 * $0 + 0.3 * rng.normalFloat() })
        let model = try Sequential(.mlp(inputShape: [1], hidden: [32], outputs: 2))
        var theta = model.initialParameters(rng: &rng)
        var trainer = Trainer(model: model, optimizer: .adam(learningRate: .constant(0.01), parameterCount: model.parameterCount),
                              configuration: TrainingConfiguration(epochs: 40, batchSize: 128, objective: Objective.gaussianNegativeLogLikelihood))
        try trainer.fit(parameters: &theta, data: ArraySource(inputs: x, targets: y))
        let head = try Loss.meanAndVariance(Variable(constant: try model.predict(Tensor(shape: [3, 1], values: [-0.5, 0, 0.5]), parameters: theta)))
        #expect(zip(head.mean.value.values, [-1, 0, 1]).allSatisfy { abs($0 - $1) < 0.1 })
        #expect(head.variance.value.values.allSatisfy { $0 > 0.05 && $0 < 0.14 }, "\(head.variance.value.values)")
    }
}

/// `fit(startEpoch:)` with the parameters and optimizer state after epoch k continues as the
/// uninterrupted run: same shuffling permutations, dropout noise and learning-rate steps.
@Suite struct TrainerResumeTests {
    func makeTrainer(epochs: Int) throws -> (Trainer, Tensor) {
        let model = try Sequential(.mlp(inputShape: [2], hidden: [32, 32], outputs: 2, dropout: 0.2))
        var rng = RandomGenerator(seed: 11)
        let theta = model.initialParameters(rng: &rng)
        // Warm-up spans the first epoch boundary and the cycle is not a divisor of the epoch,
        // so a resumed run that restarted the step count would use other learning rates.
        let schedule = LearningRateSchedule.warmup(steps: 7, then: .cyclicalCosine(initial: 0.02, cycleLength: 5, minimum: 0.001))
        let optimizer = Optimizer.sgd(learningRate: schedule, momentum: 0.9, weightDecay: 1e-3, clipNorm: 2,
                                      parameterCount: model.parameterCount)
        return (Trainer(model: model, optimizer: optimizer,
                        configuration: TrainingConfiguration(epochs: epochs, batchSize: 48, seed: 5)), theta)
    }

    @Test func resumingAfterEachEpochEqualsTheUninterruptedRun() throws {
        let data = quadrants(200, seed: 2)  // 5 steps per epoch, the last one short
        var (full, thetaFull) = try makeTrainer(epochs: 3)
        var states: [Int: (Tensor, OptimizerState)] = [:]
        let historyFull = try full.fit(parameters: &thetaFull, data: data, onEpochEnd: { (state: EpochEndState) in
            states[state.epoch] = (state.parameters, state.optimizer.exportState())
        })
        #expect(states[3]!.1.step == 15)
        for k in 1...2 {
            // A shorter run that stopped after epoch k (as `--epochs k` would) ...
            var (short, thetaShort) = try makeTrainer(epochs: k)
            var saved: OptimizerState?
            try short.fit(parameters: &thetaShort, data: data, onEpochEnd: { (state: EpochEndState) in
                saved = state.optimizer.exportState()
            })
            #expect(thetaShort.values.map(\.bitPattern) == states[k]!.0.values.map(\.bitPattern))
            // ... resumed into a fresh trainer for 3 epochs.
            var (resumed, _) = try makeTrainer(epochs: 3)
            try resumed.optimizer.importState(try #require(saved))
            var theta = thetaShort
            let tail = try resumed.fit(parameters: &theta, data: data, startEpoch: k)
            #expect(theta.values.map(\.bitPattern) == thetaFull.values.map(\.bitPattern), "resumed after epoch \(k)")
            #expect(tail == Array(historyFull[k...]), "loss history tail after epoch \(k)")
            #expect(resumed.optimizer.exportState() == full.optimizer.exportState())
        }
    }

    @Test func startEpochAtTheEndTrainsNothingAndANegativeOneIsRejected() throws {
        var (trainer, theta) = try makeTrainer(epochs: 2)
        let before = theta
        #expect(try trainer.fit(parameters: &theta, data: quadrants(64, seed: 1), startEpoch: 2).isEmpty)
        #expect(theta == before && trainer.optimizer.step == 0)
        #expect(throws: TrainingError.self) { try trainer.fit(parameters: &theta, data: quadrants(64, seed: 1), startEpoch: -1) }
    }
}

/// The optimizer clears each step's gradient parts and the next step's tapes write into them
/// (`ZeroedGradients`): training is the same, bit for bit, as with fresh buffers every step.
@Suite struct ZeroedGradientsTests {
    @Test func recycledGradientBuffersTrainExactlyAsFreshOnes() throws {
        let model = try Sequential(.mlp(inputShape: [2], hidden: [32, 32], outputs: 2))
        var rng = RandomGenerator(seed: 4)
        let start = model.initialParameters(rng: &rng)
        let data = quadrants(256, seed: 5)
        func trainer() -> Trainer {
            Trainer(model: model, optimizer: .adam(learningRate: .constant(0.01), parameterCount: model.parameterCount),
                    configuration: TrainingConfiguration(epochs: 1))
        }
        var (recycling, fresh) = (trainer(), trainer())
        var (a, b) = (start, start)
        for k in 0..<6 {
            let batch = try data.trainingBatch(Array((k * 40)..<(k * 40 + 40)))
            var (ra, rb) = (RandomGenerator(seed: UInt64(k)), RandomGenerator(seed: UInt64(k)))
            let stepA = try recycling.shardedStep(parameters: a, batch: batch, rng: &ra)
            let stepB = try fresh.shardedStep(parameters: b, batch: batch, rng: &rb)
            let sameParts = stepA.gradientParts.map(\.values) == stepB.gradientParts.map(\.values)
            #expect(sameParts, "step \(k)'s gradient parts")
            let parts = stepA.gradientParts
            recycling.update(&a, gradientParts: parts)
            fresh.optimizer.update(&b, gradientParts: stepB.gradientParts)
            #expect(a == b)
            // Cleared by the optimizer and kept for the next step.
            #expect(parts.allSatisfy { $0.values.allSatisfy { $0 == 0 } })
        }
        #expect(recycling.zeroedGradients.take(8, count: start.count).count == Swift.min(Parallel.workerCount, 40))
        #expect(fresh.zeroedGradients.take(8, count: start.count).isEmpty)
    }

    @Test func keptBuffersAreHandedOutOnceAndOfTheirOwnSize() {
        let pool = ZeroedGradients()
        let a = Tensor(shape: [10], repeating: 0), b = Tensor(shape: [10], repeating: 0)
        pool.keep([a, a, b, Tensor(shape: [2, 5], repeating: 0)])   // a twice would be written by two shards at once
        #expect(pool.take(1, count: 7).isEmpty)                      // another size: dropped
        pool.keep([a, b])
        let taken = pool.take(5, count: 10)
        #expect(taken.count == 2)
        #expect(pool.take(5, count: 10).isEmpty)
        for _ in 0..<(ZeroedGradients.limit + 3) { pool.keep([Tensor(shape: [10], repeating: 0)]) }
        #expect(pool.take(100, count: 10).count == ZeroedGradients.limit)
    }
}
