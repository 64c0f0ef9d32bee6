@testable import CredenceInference
import CredenceNN
import CredenceTensor
import Foundation
import Testing

/// Kept samples beyond the memory budget go to a file and come back memory-mapped: the same
/// samples, bit for bit, whether spilled or not, killed or not — and the chain's checkpoint
/// holds only the samples still in memory.
@Suite struct SampleSpillTests {
    static let model = TwoMoonsHarness.model()
    static let map = try! TwoMoonsHarness.trainMAP(model, epochs: 5)

    static func temporaryDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("credence-spill-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    /// 8 steps per epoch, every 2nd after 4 of burn-in kept: 2 samples in the first epoch, 4 in each next.
    func chain(spill: SampleSpill?, epochs: Int, checkpoint: PhaseCheckpoint? = nil) throws -> EnsemblePosterior {
        let train = TwoMoonsHarness.data.train
        let target = try LogPosterior(model: Self.model, objective: .crossEntropy(labelSmoothing: 0), prior: GaussianPrior(precision: 1),
                                      datasetSize: train.count)
        var sgld = SGLD(target: target, stepSize: 0.05 / Double(train.count), burnInSteps: 4, thinning: 2)
        sgld.spill = spill
        return try fitPosterior(sgld, model: Self.model, parameters: Self.map, task: .classification, data: train,
                                epochs: epochs, batchSize: 64, seed: 3, checkpoint: checkpoint).posterior
    }

    func bits(_ posterior: EnsemblePosterior) -> [[UInt32]] { posterior.members.map { $0.values.map(\.bitPattern) } }

    @Test func spilledSamplesAreTheSamplesAndSurviveAKill() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let inMemory = try chain(spill: nil, epochs: 3)
        #expect(inMemory.members.count == 10)

        // A budget of three samples: the fourth on goes to the file.
        let budget = 3 * Self.model.parameterCount * 4
        let spill = SampleSpill(path: directory.appendingPathComponent("a.samples").path, memoryBudget: budget)
        let spilled = try chain(spill: spill, epochs: 3)
        #expect(bits(spilled) == bits(inMemory))
        let size = try FileManager.default.attributesOfItem(atPath: spill.path)[.size] as! Int
        #expect(size >= 7 * Self.model.parameterCount * 4, "seven samples in the file")

        // Killed after epoch 2 (its checkpoint is what a kill leaves), resumed to 3: the same chain.
        let path = directory.appendingPathComponent("b.chain.safetensors").path
        let resumedSpill = SampleSpill(path: directory.appendingPathComponent("b.samples").path, memoryBudget: budget)
        _ = try chain(spill: resumedSpill, epochs: 2, checkpoint: PhaseCheckpoint(path: path, resume: false))
        let saved = try SafeTensorsFile(contentsOf: path)
        #expect(saved.metadata["chain.samples"] == "6" && saved.metadata["chain.spilledFrom"] == "3")
        #expect(saved["sample.2"] != nil && saved["sample.3"] == nil, "the checkpoint holds only the samples in memory")
        let resumed = try chain(spill: resumedSpill, epochs: 3, checkpoint: PhaseCheckpoint(path: path, resume: true))
        #expect(bits(resumed) == bits(inMemory))

        // The posterior file written from mapped samples reads back the same.
        let out = directory.appendingPathComponent("posterior.safetensors").path
        try resumed.archive().save(to: out)
        #expect(bits(try #require(try loadPosterior(from: out) as? EnsemblePosterior)) == bits(inMemory))
    }

    @Test func aTruncatedSampleFileIsRefusedOnResume() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("c.chain.safetensors").path
        let spill = SampleSpill(path: directory.appendingPathComponent("c.samples").path, memoryBudget: 0)
        _ = try chain(spill: spill, epochs: 2, checkpoint: PhaseCheckpoint(path: path, resume: false))
        #expect(truncate(spill.path, 100) == 0)
        #expect(throws: CheckpointError.self) {
            try chain(spill: spill, epochs: 3, checkpoint: PhaseCheckpoint(path: path, resume: true))
        }
    }

    /// Slots are written in place, mapped privately (a mutated tensor leaves the file alone) and
    /// kept across a reopen; a file shorter than the slots asked for is refused.
    @Test func slotFilesWriteMapAndReopen() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("slots").path
        let file = try TensorSlotFile(path: path, elementCount: 3, keeping: 0)
        try file.write(Tensor([1, 2, 3]), slot: 0)
        try file.write(Tensor([4, 5, 6]), slot: 1)
        var mapped = try file.tensor(slot: 1)
        #expect(mapped.values == [4, 5, 6])
        mapped.withUnsafeMutableBufferPointer { $0[0] = 40 }
        #expect(try mapped.values == [40, 5, 6] && file.tensor(slot: 1).values == [4, 5, 6])
        try file.synchronize()
        let reopened = try TensorSlotFile(path: path, elementCount: 3, keeping: 1)
        #expect((try reopened.tensor(slot: 0)).values == [1, 2, 3])
        #expect(throws: CheckpointError.self) { try TensorSlotFile(path: path, elementCount: 3, keeping: 2) }
    }
}
