import CredenceTensor
import Foundation

/// What one step of an `EpochLoop` reports.
public struct StepReport: Sendable {
    /// The batch's mean loss.
    public var loss: Double
    /// Correct predictions in the batch (classification; nil when not counted).
    public var correct: Int?

    public init(loss: Double, correct: Int? = nil) {
        self.loss = loss
        self.correct = correct
    }
}

/// The one mini-batch loop every trained method runs — MAP training (`Trainer.fit`), the
/// collection phase of SWAG, and every method built on `fitPosterior` — so shuffling,
/// seeding, progress, divergence and resuming behave the same everywhere.
///
/// **Randomness.** Epoch `e` (1-based) draws its shuffling permutation and its steps'
/// randomness (dropout masks, injected noise) from the `e`-th child of
/// `RandomGenerator(seed: seed)` split into `epochs` streams. Children do not depend on how
/// many are split off, so a run stopped after epoch `k` continues as the uninterrupted one —
/// also with more epochs — when started with `startEpoch: k` and the state it had after epoch
/// `k`. What that state is (parameters, optimizer, collected moments) belongs to the caller;
/// it saves it in `onEpochEnd`.
///
/// **Divergence.** A step that meets a non-finite loss throws before changing anything
/// (`requireFinite`); the loop reports the epoch and step it happened at.
///
/// ```swift
/// let loop = EpochLoop(epochs: 5, batchSize: 128, seed: 0)
/// try loop.run(data: train, step: { batch, rng in
///     let (loss, _, gradient) = try trainer.lossAndGradient(parameters: θ, batch: batch, rng: &rng)
///     try EpochLoop.requireFinite(loss)
///     optimizer.update(&θ, gradient: gradient)
///     return StepReport(loss: loss)
/// }, onEpochEnd: { epoch, loss in print(epoch, loss) })
/// ```
public struct EpochLoop: Sendable {
    public var epochs: Int
    /// Examples per step (the last step of an epoch takes the rest); capped at the data size.
    public var batchSize: Int
    public var seed: UInt64
    /// Visit the examples in a fresh random order each epoch (false: in order, e.g. to
    /// accumulate curvature reproducibly).
    public var shuffle: Bool
    /// Progress callbacks at most this often (seconds), and at each epoch end.
    public var progressInterval: Double

    public init(epochs: Int, batchSize: Int, seed: UInt64, shuffle: Bool = true, progressInterval: Double = 0.5) {
        self.epochs = epochs
        self.batchSize = batchSize
        self.seed = seed
        self.shuffle = shuffle
        self.progressInterval = progressInterval
    }

    /// Throws the divergence error for a non-finite loss; call it before a step changes anything.
    public static func requireFinite(_ loss: Double) throws {
        guard loss.isFinite else { throw TrainingError.nonFiniteLoss(epoch: 0, step: 0, value: loss) }
    }

    /// Steps per epoch over `count` examples.
    public func stepsPerEpoch(count: Int) -> Int {
        let size = Swift.min(batchSize, count)
        return size > 0 ? (count + size - 1) / size : 0
    }

    /// Runs epochs `startEpoch + 1 … epochs`.
    ///
    /// - Parameters:
    ///   - step: one step on a batch with the epoch's random stream; returns the batch's loss.
    ///   - onProgress: at most every `progressInterval` seconds and at each epoch end.
    ///   - onEpochEnd: after each epoch, with its number (1-based) and mean loss — save the
    ///     state there to make the run resumable.
    /// - Returns: the mean loss of each epoch run in this call.
    @discardableResult
    public func run(data: some BatchSource, startEpoch: Int = 0,
                    step: (TrainingBatch, inout RandomGenerator) throws -> StepReport,
                    onProgress: (TrainingProgress) -> Void = { _ in },
                    onEpochEnd: (_ epoch: Int, _ loss: Double) throws -> Void = { _, _ in }) throws -> [Double] {
        guard epochs >= 0 else { throw TrainingError.invalidConfiguration("epochs must be ≥ 0, got \(epochs)") }
        guard batchSize >= 1 else { throw TrainingError.invalidConfiguration("batch size must be ≥ 1, got \(batchSize)") }
        guard startEpoch >= 0 else { throw TrainingError.invalidConfiguration("the start epoch must be ≥ 0, got \(startEpoch)") }
        guard data.count > 0 else { throw TrainingError.emptyDataset }
        Parallel.flushSubnormalsToZero()
        let size = Swift.min(batchSize, data.count)
        let steps = stepsPerEpoch(count: data.count)
        var root = RandomGenerator(seed: seed)
        let epochRNGs = root.split(into: Swift.max(epochs, 1))
        let start = Date()
        var lastReport = start
        var samplesDone = 0
        let totalSamples = data.count * Swift.max(epochs - startEpoch, 0)
        var history: [Double] = []
        for epoch in Swift.min(startEpoch + 1, epochs + 1)..<(epochs + 1) {
            var rng = epochRNGs[epoch - 1]
            let order = shuffle ? rng.permutation(data.count) : Array(0..<data.count)
            var lossSum = 0.0, correct = 0, seen = 0, counted = true
            for s in 1...steps {
                let indices = Array(order[((s - 1) * size)..<Swift.min(s * size, data.count)])
                let report: StepReport
                do {
                    var batch = try data.trainingBatch(indices)
                    batch.epochsDone = Double(epoch - 1) + Double(s - 1) / Double(steps)
                    report = try step(batch, &rng)
                } catch TrainingError.nonFiniteLoss(_, _, let value) {
                    throw TrainingError.nonFiniteLoss(epoch: epoch, step: s, value: value)
                }
                lossSum += report.loss * Double(indices.count)
                if let c = report.correct { correct += c } else { counted = false }
                seen += indices.count
                samplesDone += indices.count
                let now = Date()
                if now.timeIntervalSince(lastReport) >= progressInterval || s == steps {
                    lastReport = now
                    let elapsed = now.timeIntervalSince(start)
                    let rate = Double(samplesDone) / Swift.max(elapsed, 1e-9)
                    onProgress(TrainingProgress(
                        epoch: epoch, epochs: epochs, step: s, stepsPerEpoch: steps, loss: lossSum / Double(seen),
                        accuracy: counted ? Double(correct) / Double(seen) : nil,
                        samplesPerSecond: rate, elapsed: elapsed,
                        remaining: Double(totalSamples - samplesDone) / Swift.max(rate, 1e-9), isEpochEnd: s == steps))
                }
            }
            history.append(lossSum / Double(seen))
            try onEpochEnd(epoch, lossSum / Double(seen))
        }
        return history
    }
}
