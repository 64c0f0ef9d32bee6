import CredenceTensor
import Foundation

/// Errors that stop training.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    /// The loss became NaN or ±Inf. Training stops before applying that step; checkpoints
    /// written at earlier epoch ends are untouched.
    case nonFiniteLoss(epoch: Int, step: Int, value: Double)
    case invalidConfiguration(String)
    case emptyDataset

    public var description: String {
        switch self {
        case let .nonFiniteLoss(epoch, step, value):
            return "training diverged: loss is \(value) at epoch \(epoch), step \(step). Lower the learning rate (--lr) or clip gradients (--clip-norm); the last good checkpoint is kept."
        case let .invalidConfiguration(message):
            return "invalid training configuration: \(message)"
        case .emptyDataset:
            return "the training set is empty"
        }
    }
}

/// Settings of one training run.
public struct TrainingConfiguration: Sendable {
    public var epochs: Int
    public var batchSize: Int
    public var seed: UInt64
    public var objective: any TrainingObjective
    /// Progress callbacks at most this often (seconds).
    public var progressInterval: Double

    public init(epochs: Int, batchSize: Int = 128, seed: UInt64 = 0,
                objective: any TrainingObjective = Objective.crossEntropy(labelSmoothing: 0), progressInterval: Double = 0.5) {
        self.epochs = epochs
        self.batchSize = batchSize
        self.seed = seed
        self.objective = objective
        self.progressInterval = progressInterval
    }

    func validate() throws {
        guard epochs >= 0 else { throw TrainingError.invalidConfiguration("epochs must be ≥ 0, got \(epochs)") }
        guard batchSize >= 1 else { throw TrainingError.invalidConfiguration("batch size must be ≥ 1, got \(batchSize)") }
    }
}

/// A snapshot reported while training.
public struct TrainingProgress: Sendable {
    public var epoch: Int            // 1-based
    public var epochs: Int
    public var step: Int             // within the epoch, 1-based
    public var stepsPerEpoch: Int
    /// Running mean loss over this epoch so far.
    public var loss: Double
    /// Running training accuracy this epoch (classification; nil otherwise).
    public var accuracy: Double?
    public var samplesPerSecond: Double
    public var elapsed: Double
    /// Estimated seconds to the end of training.
    public var remaining: Double
    public var isEpochEnd: Bool

    public init(epoch: Int, epochs: Int, step: Int, stepsPerEpoch: Int, loss: Double, accuracy: Double?, samplesPerSecond: Double,
                elapsed: Double, remaining: Double, isEpochEnd: Bool) {
        (self.epoch, self.epochs, self.step, self.stepsPerEpoch, self.loss, self.accuracy) = (epoch, epochs, step, stepsPerEpoch, loss, accuracy)
        (self.samplesPerSecond, self.elapsed, self.remaining, self.isEpochEnd) = (samplesPerSecond, elapsed, remaining, isEpochEnd)
    }
}

/// The state of a run after one of its epochs: what a checkpoint must hold to resume it.
public struct EpochEndState {
    /// Epochs done (1-based number of the epoch just finished).
    public var epoch: Int
    /// This epoch's mean training loss.
    public var loss: Double
    public var parameters: Tensor
    /// The model's buffers (batch normalization's running statistics) after this epoch, by
    /// name; empty for models without buffers.
    public var buffers: [String: Tensor]
    /// The trainer's optimizer. Its state buffers are shared with the trainer's and change
    /// with the next step: call `exportState()` inside the callback to keep a copy.
    public var optimizer: Optimizer
}

/// Mini-batch training of a network on a flat parameter vector.
///
/// Each batch is split into one shard per worker thread; each worker records its own
/// tape with single-threaded GEMMs, and the shard gradients are summed (measured here
/// to beat OpenBLAS's own threading at training sizes).
///
/// **Batch normalization under sharding.** Each shard is normalised with its *own* batch
/// statistics, as PyTorch's `DataParallel` without `SyncBatchNorm` does (with two workers a
/// batch of 128 is normalised as two batches of 64; one shard below 32 examples). The running
/// statistics, though, are updated once per step from the *whole* batch: the shards' means
/// and variances are merged in shard order (`BatchNormStatistics.merged`, exact up to
/// rounding) and folded into `model`'s buffers after the optimizer step — deterministic, and
/// the same running statistics as one unsharded step. A step whose loss is not finite
/// changes neither the parameters nor the buffers.
///
/// **Data parallel over MPI ranks.** With `dataParallel` set, every rank of the job runs
/// the same `fit` on the same data (each loads it; the batches come from the same seed),
/// and each batch is split into ranks × threads shards laid out exactly as one process with
/// that many threads would split it — same shards, same random streams — of which each rank
/// computes its own; the shard gradients (and losses) are summed with `MPI_Allreduce`, and
/// every rank applies the same optimizer step. So 2 ranks × 1 thread train the very network
/// 1 process × 2 threads trains, bit for bit (a sum of two floats does not depend on its
/// order); with more shards, only the order of the gradient sum differs. Every rank must run
/// the same number of threads (`CREDENCE_THREADS`). Batch normalization: each shard is
/// normalised with its own statistics, as with threads, and every shard's statistics are
/// gathered on every rank and merged in shard order, so the running statistics too are one
/// process's.
public struct Trainer {
    /// The network; its buffers (running statistics) are updated by `fit`. Set it to a model
    /// with restored buffers to resume a run.
    public var model: any NetworkModel
    public var optimizer: Optimizer
    public let configuration: TrainingConfiguration
    /// The MPI job to train data-parallel in (nil: this process alone).
    public var dataParallel: MPIWorld?

    /// Last step's gradient parts, cleared by the optimizer, for this step's tapes to write
    /// into (`update(_:gradientParts:)`); shared by this trainer's copies.
    public let zeroedGradients = ZeroedGradients()

    public init(model: any NetworkModel, optimizer: Optimizer, configuration: TrainingConfiguration) {
        self.model = model
        self.optimizer = optimizer
        self.configuration = configuration
    }

    /// Mean loss, number of correct predictions, and the gradient for one batch.
    public func lossAndGradient(parameters: Tensor, batch: TrainingBatch, rng: inout RandomGenerator,
                                mode: ForwardMode = .train) throws -> (loss: Double, correct: Int, gradient: Tensor) {
        let (loss, correct, parts) = try lossAndGradientParts(parameters: parameters, batch: batch, rng: &rng, mode: mode)
        var gradient = parts[0]
        for g in parts.dropFirst() { gradient.addInPlace(g) }
        return (loss, correct, gradient)
    }

    /// Like `lossAndGradient`, but the gradient comes as one part per worker shard (their
    /// sum is the batch gradient); `Optimizer.update(_:gradientParts:)` sums them in place.
    public func lossAndGradientParts(parameters: Tensor, batch: TrainingBatch, rng: inout RandomGenerator,
                                     mode: ForwardMode = .train) throws -> (loss: Double, correct: Int, gradientParts: [Tensor]) {
        let step = try shardedStep(parameters: parameters, batch: batch, rng: &rng, mode: mode)
        return (step.loss, step.correct, step.gradientParts)
    }

    /// One step's figures: mean loss, correct predictions, one gradient part per worker shard,
    /// and the batch statistics of layers with running statistics, merged over the shards
    /// (by module name, one entry per `.train` pass; empty for models without any).
    public struct ShardedStep {
        public var loss: Double
        public var correct: Int
        public var gradientParts: [Tensor]
        public var batchStatistics: [String: [BatchNormStatistics]]
    }

    /// Like `lossAndGradientParts`, and also the shards' batch statistics merged in shard order
    /// (what `fit` folds into the model's running statistics after the step).
    public func shardedStep(parameters: Tensor, batch: TrainingBatch, rng: inout RandomGenerator,
                            mode: ForwardMode = .train) throws -> ShardedStep {
        let n = batch.count
        let ranks = dataParallel?.size ?? 1, rank = dataParallel?.rank ?? 0
        // The batch in ranks × threads shards, each with its own stream; this rank computes its own.
        // Inside a parallel region (HMC's chains, one per thread) the shards would run one after
        // the other, each paying every operation's overhead: one shard per rank there.
        let threads = Parallel.isNested ? 1 : Parallel.workerCount
        let shards = Parallel.ranges(n, parts: n >= 32 ? ranks * threads : 1)
        let shardRNGs = rng.split(into: shards.count)
        let perRank = (shards.count + ranks - 1) / ranks
        let mine = Swift.min(rank * perRank, shards.count)..<Swift.min((rank + 1) * perRank, shards.count)
        let objective = configuration.objective
        let zeroed = zeroedGradients.take(mine.count, count: parameters.count)
        var results = try Parallel.map(mine.count) { i -> (Double, Int, Tensor, [String: [BatchNormStatistics]]) in
            let s = mine.lowerBound + i
            let shard = try batch.shard(shards[s])
            let tape = Tape()
            let theta = tape.variable(parameters)
            if i < zeroed.count { tape.writeGradient(of: theta, intoZeroed: zeroed[i]) }
            var context = ForwardContext(mode: mode, rng: shardRNGs[s])
            let (loss, outputs) = try objective.loss(model: model, parameters: theta, batch: shard, context: &context)
            let weight = Float(shard.count) / Float(n)
            let grads = tape.gradients(of: loss, seed: Tensor(weight))
            var correct = 0
            if objective.isClassification {
                for (i, p) in outputs.argmaxLastAxis().enumerated() where p == Int(shard.labels[i]) { correct += 1 }
            }
            return (Double(loss.value.scalar) * Double(weight), correct, grads[theta], context.batchStatistics)
        }
        // Every shard's batch statistics, in shard order (over ranks: gathered from all of them).
        var statisticsByShard = results.map(\.3)
        if let world = dataParallel, ranks > 1 {
            if !model.bufferValues.isEmpty {
                guard (ranks - 1) * perRank < shards.count else {
                    throw TrainingError.invalidConfiguration("a batch of \(n) examples leaves some of the \(ranks) data-parallel ranks without examples, which batch normalization cannot train on; choose a batch size (and a training set size, for the last batch) of at least \(ranks * 32)")
                }
                statisticsByShard = try Self.gather(statisticsByShard, shardCount: shards.count, firstShard: mine.lowerBound, in: world)
            }
            results = [try Self.allreduce(results, gradientShape: parameters.shape, in: world)]
        }
        var loss = 0.0, correct = 0
        var parts: [Tensor] = []
        var statistics: [String: [BatchNormStatistics]] = [:]
        for (l, c, g, _) in results {
            loss += l
            correct += c
            parts.append(g)
        }
        for shardStatistics in statisticsByShard {
            for (module, passes) in shardStatistics {
                guard let merged = statistics[module] else { statistics[module] = passes; continue }
                guard merged.count == passes.count else {
                    throw TrainingError.invalidConfiguration("worker shards ran module \(module) in training mode \(merged.count) and \(passes.count) times in one step")
                }
                statistics[module] = zip(merged, passes).map { $0.merged(with: $1) }
            }
        }
        return ShardedStep(loss: loss, correct: correct, gradientParts: parts, batchStatistics: statistics)
    }

    /// The optimizer's step on `shardedStep`'s gradient parts, which it clears as it reads them
    /// and keeps for the next step's tapes to write into (`ZeroedGradients`): the parts must
    /// not be used afterwards.
    public mutating func update(_ parameters: inout Tensor, gradientParts parts: [Tensor]) {
        optimizer.update(&parameters, gradientParts: parts, clearingThem: true)
        zeroedGradients.keep(parts)
    }

    /// This rank's shard results summed over every rank (a rank may have no shard of a small
    /// batch); the statistics are left to `gather`.
    private static func allreduce(_ results: [(Double, Int, Tensor, [String: [BatchNormStatistics]])], gradientShape: [Int],
                                  in world: MPIWorld) throws -> (Double, Int, Tensor, [String: [BatchNormStatistics]]) {
        var gradient = results.first?.2 ?? Tensor(shape: gradientShape, repeating: 0)
        for part in results.dropFirst() { gradient.addInPlace(part.2) }
        var figures = [results.reduce(0) { $0 + $1.0 }, Double(results.reduce(0) { $0 + $1.1 })]
        try gradient.withUnsafeMutableBufferPointer { try world.allreduceSum($0) }
        try world.allreduceSum(&figures)
        return (figures[0], Int(figures[1]), gradient, [:])
    }

    /// Every shard's batch statistics on every rank, in shard order: each rank writes its own
    /// shards' (`local`, from `firstShard` on) into their slots of one buffer of zeros, laid out
    /// by module name, pass and channel, and the buffer is summed over the ranks — adding zeros
    /// is exact, so every rank merges the very numbers one process would.
    private static func gather(_ local: [[String: [BatchNormStatistics]]], shardCount: Int, firstShard: Int,
                               in world: MPIWorld) throws -> [[String: [BatchNormStatistics]]] {
        // Every shard runs the same modules the same number of times: one shard shows the layout.
        let template = local[0]
        let modules = template.keys.sorted()
        let recordSize = modules.reduce(0) { total, module in
            total + template[module]!.reduce(0) { $0 + 1 + 2 * $1.mean.count }
        }
        var buffer = [Double](repeating: 0, count: shardCount * recordSize)
        for (i, statistics) in local.enumerated() {
            var offset = (firstShard + i) * recordSize
            for module in modules {
                guard let passes = statistics[module], passes.count == template[module]!.count else {
                    throw TrainingError.invalidConfiguration("worker shards ran module \(module) in training mode a different number of times in one step")
                }
                for pass in passes {
                    buffer[offset] = Double(pass.count)
                    for (c, (m, v)) in zip(pass.mean.values, pass.variance.values).enumerated() {
                        buffer[offset + 1 + c] = Double(m)
                        buffer[offset + 1 + pass.mean.count + c] = Double(v)
                    }
                    offset += 1 + 2 * pass.mean.count
                }
            }
        }
        try world.allreduceSum(&buffer)
        return (0..<shardCount).map { shard in
            var offset = shard * recordSize
            var statistics: [String: [BatchNormStatistics]] = [:]
            for module in modules {
                statistics[module] = template[module]!.map { pass in
                    let channels = pass.mean.count
                    defer { offset += 1 + 2 * channels }
                    return BatchNormStatistics(
                        count: Int(buffer[offset]),
                        mean: Tensor(shape: pass.mean.shape, values: buffer[(offset + 1)..<(offset + 1 + channels)].map { Float($0) }),
                        variance: Tensor(shape: pass.variance.shape,
                                         values: buffer[(offset + 1 + channels)..<(offset + 1 + 2 * channels)].map { Float($0) }))
                }
            }
            return statistics
        }
    }

    /// Trains for `configuration.epochs` epochs, handing the full training state (parameters,
    /// buffers and optimizer) to `onEpochEnd` after each epoch so a checkpoint can hold all that
    /// a resumed run needs.
    ///
    /// **Resuming.** The epochs run in `EpochLoop` (its randomness rule): a run that stopped
    /// after epoch `k` continues as the uninterrupted one — also with more epochs — when
    /// called with `startEpoch: k`, the parameters after epoch `k` and an `optimizer` whose
    /// state (step count included) was restored with `Optimizer.importState`.
    ///
    /// - Parameters:
    ///   - parameters: updated in place; a non-finite loss stops training before that step
    ///     is applied.
    ///   - startEpoch: epochs already done (to resume from a checkpoint).
    ///   - onProgress: called at most every `progressInterval` seconds and at each epoch end
    ///     (a trailing closure is this one).
    ///   - onEpochEnd: called after each epoch with the epoch's number (1-based), its loss, the
    ///     parameters, buffers and the optimizer, e.g. to write a checkpoint.
    /// - Returns: the mean training loss of each epoch trained in this call.
    @discardableResult
    public mutating func fit(parameters: inout Tensor, data: some BatchSource, startEpoch: Int = 0,
                             onProgress: (TrainingProgress) -> Void = { _ in },
                             onEpochEnd: (EpochEndState) throws -> Void = { _ in }) throws -> [Double] {
        try configuration.validate()
        if let world = dataParallel, world.size > 1 {
            var threads = [Double(Parallel.workerCount)]
            try world.allreduceSum(&threads)
            guard threads[0] == Double(Parallel.workerCount * world.size) else {
                throw TrainingError.invalidConfiguration("data-parallel ranks run different thread counts (\(Parallel.workerCount) here, \(Int(threads[0])) over \(world.size) ranks); set CREDENCE_THREADS to the same number on every rank")
            }
        }
        let objective = configuration.objective
        let loop = EpochLoop(epochs: configuration.epochs, batchSize: configuration.batchSize, seed: configuration.seed,
                             progressInterval: configuration.progressInterval)
        return try loop.run(data: data, startEpoch: startEpoch, step: { batch, rng in
            let step = try shardedStep(parameters: parameters, batch: batch, rng: &rng)
            // Checking the loss keeps this O(1). A non-finite gradient under a finite loss
            // makes the parameters non-finite and the next step's loss NaN, which stops here.
            try EpochLoop.requireFinite(step.loss)
            update(&parameters, gradientParts: step.gradientParts)
            if !step.batchStatistics.isEmpty { model = try model.updatingBuffers(with: step.batchStatistics) }
            return StepReport(loss: step.loss, correct: objective.isClassification ? step.correct : nil)
        }, onProgress: onProgress, onEpochEnd: { epoch, loss in
            try onEpochEnd(EpochEndState(epoch: epoch, loss: loss, parameters: parameters, buffers: model.bufferValues,
                                         optimizer: optimizer))
        })
    }
}
