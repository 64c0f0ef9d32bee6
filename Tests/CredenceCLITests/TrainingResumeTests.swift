import Credence
import Foundation
import Testing

/// Library-level resume: `train(_:checkpointPath:resume:)` after epoch k ends bit for bit where
/// the uninterrupted run does, and refuses checkpoints it cannot continue exactly.
@Suite struct TrainingResumeTests {
    func options(epochs: Int, _ configure: (inout TrainingOptions) -> Void = { _ in }) -> TrainingOptions {
        var o = TrainingOptions()
        o.dataset = .twoMoons
        o.epochs = epochs
        o.seed = 4
        o.dropout = 0.2  // dropout noise must continue from the right stream too
        configure(&o)
        return o
    }

    /// Sgd with momentum and a warm-up that ends inside epoch 2 (8 steps per epoch): the
    /// learning-rate schedule must continue from the saved step count.
    static let sgdWithWarmup: (inout TrainingOptions) -> Void = {
        $0.optimizer = .sgd; $0.learningRate = 0.05; $0.warmupSteps = 11; $0.schedule = .cyclical
        $0.weightDecay = 1e-3; $0.clipNorm = 3
    }

    @Test(arguments: [false, true])
    func resumingAfterOneEpochEqualsThreeUninterruptedEpochs(sgd: Bool) throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let configure = sgd ? Self.sgdWithWarmup : { _ in }
        let full = dir.appendingPathComponent("full.safetensors").path
        let split = dir.appendingPathComponent("split.safetensors").path
        let uninterrupted = try train(options(epochs: 3, configure), checkpointPath: full)
        let first = try train(options(epochs: 1, configure), checkpointPath: split)
        #expect(first.lossHistory == [uninterrupted.lossHistory[0]])
        var points: [ResumePoint] = []
        let resumed = try train(options(epochs: 3, configure), checkpointPath: split, resume: true,
                                onResume: { points.append($0) })
        #expect(points == [ResumePoint(path: split, epoch: 1, epochs: 3, found: true)])
        #expect(resumed.resumedFromEpoch == 1 && uninterrupted.resumedFromEpoch == nil)
        #expect(resumed.lossHistory == uninterrupted.lossHistory, "the tail is trained, the head read from the checkpoint")
        #expect(resumed.test.accuracy == uninterrupted.test.accuracy)
        #expect(resumed.test.negativeLogLikelihood == uninterrupted.test.negativeLogLikelihood)
        let a = try Checkpoint.load(from: full), b = try Checkpoint.load(from: split)
        #expect(differingElements(parameterBits(a), parameterBits(b)) == 0, "bit for bit")
        #expect(a.optimizerState?.step == b.optimizerState?.step)
        let stateA = a.optimizerState?.tensors ?? [:], stateB = b.optimizerState?.tensors ?? [:]
        #expect(stateA.keys.sorted() == stateB.keys.sorted() && !stateA.isEmpty)
        for (name, value) in stateA {
            #expect(differingElements(value.values.map(\.bitPattern), stateB[name]?.values.map(\.bitPattern) ?? []) == 0, "\(name)")
        }
        #expect(a.metadata == b.metadata)
        #expect(try Data(contentsOf: URL(fileURLWithPath: full)) == Data(contentsOf: URL(fileURLWithPath: split)),
                "the same run writes the same bytes")
    }

    @Test func differentOptionsAreATypedErrorNamingTheFields() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("run.safetensors").path
        try train(options(epochs: 1), checkpointPath: path)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        let changed = options(epochs: 3) { $0.learningRate = 0.01; $0.dropout = 0; $0.hidden = [32] }
        let error = #expect(throws: ResumeError.self) { try train(changed, checkpointPath: path, resume: true) }
        guard case let .optionsDiffer(errorPath, differences)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(errorPath == path)
        #expect(differences.map(\.field) == ["dropout", "hidden", "learningRate"], "epochs may differ")
        #expect(differences[2] == OptionDifference(field: "learningRate", saved: "0.001", requested: "0.01"))
        #expect(differences[1].saved == "absent" && differences[1].requested == "[32]")
        let message = error!.description
        #expect(message.contains("--lr") && message.contains("--dropout") && message.contains(path))
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before, "nothing is written")
    }

    @Test func scheduleLaidOutOverTheRunRefusesANewLengthButResumesTheSameOne() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("cosine.safetensors").path
        try train(options(epochs: 1) { $0.schedule = .cosine }, checkpointPath: path)
        #expect(throws: ResumeError.scheduleDependsOnEpochs(path: path, schedule: .cosine, saved: 1, requested: 3)) {
            try train(options(epochs: 3) { $0.schedule = .cosine }, checkpointPath: path, resume: true)
        }
        // Same length: the run is complete and reported without training.
        let done = try train(options(epochs: 1) { $0.schedule = .cosine }, checkpointPath: path, resume: true)
        #expect(done.resumedFromEpoch == 1 && done.trainingSeconds == 0)
    }

    @Test func aCompletedRunIsReportedWithoutTraining() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("run.safetensors").path
        let original = try train(options(epochs: 2), checkpointPath: path)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        var progress = 0
        let again = try train(options(epochs: 2), checkpointPath: path, resume: true, onProgress: { _ in progress += 1 })
        #expect(progress == 0 && again.trainingSeconds == 0 && again.resumedFromEpoch == 2)
        #expect(again.lossHistory == original.lossHistory)
        #expect(again.test.accuracy == original.test.accuracy)
        #expect(again.test.negativeLogLikelihood == original.test.negativeLogLikelihood)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == bytes, "the file is left as it was")
        #expect(throws: ResumeError.pastRequestedEpochs(path: path, epoch: 2, requested: 1)) {
            try train(options(epochs: 1), checkpointPath: path, resume: true)
        }
    }

    @Test func withoutAFileResumeStartsAFreshRunAndWithoutResumeAFileIsOverwritten() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("run.safetensors").path
        var points: [ResumePoint] = []
        let fresh = try train(options(epochs: 2), checkpointPath: path, resume: true, onResume: { points.append($0) })
        #expect(points == [ResumePoint(path: path, epoch: 0, epochs: 2, found: false)])
        #expect(fresh.resumedFromEpoch == nil && fresh.lossHistory.count == 2)
        let overwritten = try train(options(epochs: 1) { $0.learningRate = 0.01 }, checkpointPath: path)
        #expect(overwritten.lossHistory.count == 1)
        #expect(try Checkpoint.load(from: path).metadata["credence.epoch"] == "1")
    }

    @Test func aCheckpointWithoutOptimizerStateCannotContinueButStillEvaluates() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("run.safetensors").path
        let result = try train(options(epochs: 1), checkpointPath: path)
        var bare = try Checkpoint.load(from: path)
        #expect(bare.optimizerState?.step == 8)
        #expect(try evaluateCheckpoint(at: path, dataset: nil).accuracy == result.test.accuracy)
        bare.optimizerState = nil
        try bare.save(to: path)
        #expect(try evaluateCheckpoint(at: path, dataset: nil).accuracy == result.test.accuracy)
        #expect(throws: ResumeError.missingOptimizerState(path: path, epoch: 1)) {
            try train(options(epochs: 3), checkpointPath: path, resume: true)
        }
        // A model checkpoint that `train` did not write is refused by name.
        try Checkpoint(spec: bare.spec, parameters: bare.parameters).save(to: path)
        let error = #expect(throws: ResumeError.self) { try train(options(epochs: 3), checkpointPath: path, resume: true) }
        #expect(error == .notATrainingRun(path: path, missingKey: "credence.training_options"))
    }

    @Test func resumeWithoutACheckpointPathIsRejected() {
        #expect(throws: TrainingError.self) { try train(options(epochs: 1), resume: true) }
    }
}

func parameterBits(_ checkpoint: Checkpoint) -> [UInt32] { checkpoint.parameters.values.map(\.bitPattern) }

/// How many elements differ (the length difference counts too): a short failure message
/// instead of two printed parameter vectors.
func differingElements(_ a: [UInt32], _ b: [UInt32]) -> Int {
    zip(a, b).filter { $0 != $1 }.count + abs(a.count - b.count)
}
