@testable import CredenceInference
import CredenceNN
import CredenceTensor
import Foundation
import Testing

/// SWAG's collection phase survives a kill: its state (SGD iterate, optimizer, moments in
/// full precision) is saved after every epoch and a resumed run ends bit for bit where the
/// uninterrupted one does.
@Suite struct SWAGResumeTests {
    static let model = TwoMoonsHarness.model(dropout: 0.1)
    static let map = try! TwoMoonsHarness.trainMAP(model, epochs: 20)

    func collect(epochs: Int, checkpoint: PhaseCheckpoint?, seed: UInt64 = 5, rank: Int = 4,
                 onProgress: (TrainingProgress) -> Void = { _ in }) throws -> SWAGPosterior {
        // Two collections per epoch and a rank below the collections, so the deviation ring wraps.
        let swag = SWAGCollection(learningRate: .constant(0.02), collectEvery: 4, rank: rank)
        let fit = try fitPosterior(swag, model: Self.model, parameters: Self.map, task: .classification,
                                   data: TwoMoonsHarness.data.train, epochs: epochs, batchSize: 64, seed: seed,
                                   checkpoint: checkpoint, onProgress: onProgress)
        return fit.posterior.base as! SWAGPosterior
    }

    func bits(_ posterior: SWAGPosterior) -> [[UInt32]] {
        [posterior.mean, posterior.variance, posterior.deviations!].map { $0.values.map(\.bitPattern) }
    }

    @Test func oneEpochThenResumingToThreeEqualsThreeUninterrupted() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("credence-swag-resume-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("collection.safetensors").path
        let uninterrupted = try collect(epochs: 3, checkpoint: nil)

        _ = try collect(epochs: 1, checkpoint: PhaseCheckpoint(path: path, resume: false))
        let saved = try SafeTensorsFile(contentsOf: path)
        #expect(saved.metadata["credence.phase_epoch"] == "1")
        #expect(saved.storedDTypes["swag.mean"] == .f64 && saved.storedDTypes["swag.second_moment"] == .f64)
        var epochsRun = Set<Int>()
        let resumed = try collect(epochs: 3, checkpoint: PhaseCheckpoint(path: path, resume: true),
                                  onProgress: { epochsRun.insert($0.epoch) })
        #expect(epochsRun == [2, 3], "only the missing epochs run")
        #expect(resumed.collections == uninterrupted.collections && resumed.collections == 6)
        #expect(bits(resumed) == bits(uninterrupted), "bit for bit")

        // A finished state gives its posterior without a step; without `resume` it is replaced.
        epochsRun = []
        let again = try collect(epochs: 3, checkpoint: PhaseCheckpoint(path: path, resume: true),
                                onProgress: { epochsRun.insert($0.epoch) })
        #expect(epochsRun.isEmpty && bits(again) == bits(uninterrupted))
        _ = try collect(epochs: 2, checkpoint: PhaseCheckpoint(path: path, resume: false))
        #expect(try SafeTensorsFile(contentsOf: path).metadata["credence.phase_epoch"] == "2")
    }

    @Test func aStateFromAnotherRunIsRefusedByName() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("credence-swag-resume-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("collection.safetensors").path
        _ = try collect(epochs: 2, checkpoint: PhaseCheckpoint(path: path, resume: false))
        for (seed, rank) in [(6 as UInt64, 4), (5, 3)] {
            do {
                _ = try collect(epochs: 3, checkpoint: PhaseCheckpoint(path: path, resume: true), seed: seed, rank: rank)
                Issue.record("seed \(seed), rank \(rank): resumed a state written by another run")
            } catch let error as ResumeError {
                #expect("\(error)".contains(path) && "\(error)".contains("another run"), "\(error)")
            }
        }
        // Fewer epochs than the state holds: refused, not silently truncated.
        #expect(throws: ResumeError.self) { try collect(epochs: 1, checkpoint: PhaseCheckpoint(path: path, resume: true)) }
        // A damaged file is a typed error too.
        var file = try SafeTensorsFile(contentsOf: path)
        file["swag.mean"] = Tensor([1, 2])
        try file.write(to: path)
        #expect(throws: ResumeError.self) { try collect(epochs: 3, checkpoint: PhaseCheckpoint(path: path, resume: true)) }
    }

    /// With an identity (a bench run's key and phase), the file names that instead of the
    /// method's description — so a build whose types gained a stored property still resumes
    /// it — and another identity is refused.
    @Test func anIdentityStandsForTheMethodsDescription() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("credence-swag-resume-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("collection.safetensors").path
        _ = try collect(epochs: 1, checkpoint: PhaseCheckpoint(path: path, resume: false, run: "run 1a2b", phase: "swag", member: 0))
        let fingerprint = try #require(try SafeTensorsFile(contentsOf: path).metadata[PhaseCheckpoint.fingerprintKey])
        #expect(fingerprint.hasPrefix("run 1a2b phase swag member 0 batch 64 seed 5") && !fingerprint.contains("SWAGCollection"), "\(fingerprint)")
        let resumed = try collect(epochs: 3, checkpoint: PhaseCheckpoint(path: path, resume: true, identity: "run 1a2b phase swag member 0"))
        #expect(bits(resumed) == bits(try collect(epochs: 3, checkpoint: nil)), "bit for bit")
        #expect(throws: ResumeError.self) {
            try collect(epochs: 3, checkpoint: PhaseCheckpoint(path: path, resume: true, identity: "run 9f9f phase swag member 0"))
        }
        #expect(throws: ResumeError.self) { try collect(epochs: 3, checkpoint: PhaseCheckpoint(path: path, resume: true)) }
    }
}
