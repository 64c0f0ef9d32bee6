@testable import CredenceNN
import CredenceTensor
import Foundation
import Testing

@Suite("checkpoints: optimizer state in the same file")
struct CheckpointOptimizerStateTests {
    let spec = CheckpointFixtures.mlpSpec  // 259 parameters: 1.weight, 1.bias, 3.weight, 3.bias

    /// A checkpoint after a few Adam steps (with clipping, so the state sits at transform 1).
    func trainedCheckpoint() throws -> (Checkpoint, Optimizer) {
        let model = try Sequential(spec)
        var rng = RandomGenerator(seed: 3)
        var theta = model.initialParameters(rng: &rng)
        var optimizer = Optimizer.adam(learningRate: .constant(0.01), clipNorm: 1, parameterCount: model.parameterCount)
        for _ in 0..<3 { optimizer.update(&theta, gradient: Tensor.randomNormal(shape: [model.parameterCount], rng: &rng)) }
        return (Checkpoint(spec: spec, parameters: theta, metadata: ["credence.epoch": "1"],
                           optimizerState: optimizer.exportState()), optimizer)
    }

    @Test func roundTripsWithBothLoadersAndUsesNamesThatCannotClash() throws {
        let scratch = try CheckpointScratchDirectory()
        defer { scratch.cleanup() }
        let path = scratch.file("run.safetensors")
        let (checkpoint, optimizer) = try trainedCheckpoint()
        try checkpoint.save(to: path)
        let file = try SafeTensorsFile(contentsOf: path)
        #expect(file.names == ["1.weight", "1.bias", "3.weight", "3.bias", "optimizer.1.m", "optimizer.1.v"])
        #expect(file.metadata[Checkpoint.optimizerStateKey] == #"{"step":3,"transforms":["ClipByGlobalNorm","ScaleByAdam","ScaleByLearningRate"]}"#)
        let loaded = try Checkpoint.load(from: path)
        #expect(loaded == checkpoint)
        #expect(loaded.metadata == ["credence.epoch": "1"], "the reserved keys are not handed back as metadata")
        let state = try #require(loaded.optimizerState)
        for name in state.orderedNames {
            #expect(state.tensors[name]!.values.map(\.bitPattern) == optimizer.exportState().tensors[name]!.values.map(\.bitPattern))
        }
        #expect(try Checkpoint.load(from: path, spec: spec) == checkpoint)
        // The state restores into a fresh optimizer of the same construction.
        var fresh = Optimizer.adam(learningRate: .constant(0.01), clipNorm: 1, parameterCount: 259)
        try fresh.importState(state)
        #expect(fresh.exportState() == optimizer.exportState())
    }

    @Test func aCheckpointWithoutStateStillLoadsAsBefore() throws {
        let scratch = try CheckpointScratchDirectory()
        defer { scratch.cleanup() }
        let path = scratch.file("model.safetensors")
        var (checkpoint, _) = try trainedCheckpoint()
        checkpoint.optimizerState = nil
        try checkpoint.save(to: path)
        #expect(try SafeTensorsFile(contentsOf: path).names.count == 4)
        #expect(try Checkpoint.load(from: path).optimizerState == nil)
        #expect(try Checkpoint.load(from: path, spec: spec) == checkpoint)
    }

    @Test func optimizerNamedTensorsWithoutTheMetadataAreUnexpected() throws {
        let scratch = try CheckpointScratchDirectory()
        defer { scratch.cleanup() }
        let path = scratch.file("sd.safetensors")
        var file = SafeTensorsFile()
        for (name, shape) in [("1.weight", [16, 12]), ("1.bias", [16]), ("3.weight", [3, 16]), ("3.bias", [3]), ("optimizer.0.m", [259])] {
            file[name] = Tensor(shape: shape, repeating: 0.5)
        }
        try file.write(to: path)
        let error = #expect(throws: CheckpointError.self) { try Checkpoint.load(from: path, spec: spec) }
        #expect(error == .unexpectedTensors(path: path, names: ["optimizer.0.m"]))
    }

    @Test func strayParameterTensorsAreStillRejectedNextToOptimizerState() throws {
        let scratch = try CheckpointScratchDirectory()
        defer { scratch.cleanup() }
        let path = scratch.file("run.safetensors")
        try trainedCheckpoint().0.save(to: path)
        var file = try SafeTensorsFile(contentsOf: path)
        file["5.weight"] = Tensor([1, 2])
        try file.write(to: path)
        let error = #expect(throws: CheckpointError.self) { try Checkpoint.load(from: path) }
        #expect(error == .unexpectedTensors(path: path, names: ["5.weight"]))
    }

    @Test func malformedStateIsATypedError() throws {
        let scratch = try CheckpointScratchDirectory()
        defer { scratch.cleanup() }
        let path = scratch.file("run.safetensors")
        try trainedCheckpoint().0.save(to: path)
        let good = try SafeTensorsFile(contentsOf: path)

        var badIndex = good
        badIndex["optimizer.7.m"] = Tensor(shape: [259], repeating: 0)
        try badIndex.write(to: path)
        let index = #expect(throws: CheckpointError.self) { try Checkpoint.load(from: path) }
        guard case .invalidOptimizerState(path, let reason)? = index else { Issue.record("got \(String(describing: index))"); return }
        #expect(reason.contains("optimizer.7.m"))

        var badJSON = good
        badJSON.metadata[Checkpoint.optimizerStateKey] = "{\"step\": \"many\"}"
        try badJSON.write(to: path)
        let json = #expect(throws: CheckpointError.self) { try Checkpoint.load(from: path) }
        guard case .invalidOptimizerState? = json else { Issue.record("got \(String(describing: json))"); return }
        #expect(json?.description.contains(Checkpoint.optimizerStateKey) == true)
    }

    @Test func savingRejectsTheReservedKeyAndBadStateNames() throws {
        let scratch = try CheckpointScratchDirectory()
        defer { scratch.cleanup() }
        let path = scratch.file("x.safetensors")
        var (checkpoint, _) = try trainedCheckpoint()
        checkpoint.metadata[Checkpoint.optimizerStateKey] = "{}"
        #expect(throws: CheckpointError.reservedMetadataKey(path: path, key: Checkpoint.optimizerStateKey)) { try checkpoint.save(to: path) }
        checkpoint.metadata[Checkpoint.optimizerStateKey] = nil
        checkpoint.optimizerState!.tensors["momentum"] = Tensor([1])
        let error = #expect(throws: CheckpointError.self) { try checkpoint.save(to: path) }
        guard case .invalidOptimizerState(path, _)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(try scratch.listing().isEmpty)
    }
}
