@testable import CredenceNN
import CredenceTensor
import Foundation
import Testing

@Suite("checkpoints")
struct CheckpointTests {
    static let metadata = ["dataset": "fashion-mnist", "epoch": "12", "seed": "3",
                           "test_accuracy": "0.9071", "credence_version": "0.1.0"]

    func randomCheckpoint(_ spec: ModelSpec, seed: UInt64 = 0) throws -> Checkpoint {
        var rng = RandomGenerator(seed: seed)
        return Checkpoint(spec: spec, parameters: try Sequential(spec).initialParameters(rng: &rng),
                          metadata: Self.metadata)
    }

    @Test func roundTripGivesIdenticalSpecParametersAndMetadata() throws {
        let scratch = try CheckpointScratchDirectory()
        defer { scratch.cleanup() }
        let spec = ModelSpec.mlp(inputShape: [1, 28, 28], hidden: [64, 32], outputs: 10, activation: .gelu, dropout: 0.1)
        let original = try randomCheckpoint(spec)
        let path = scratch.file("mlp.safetensors")
        try original.save(to: path)
        let loaded = try Checkpoint.load(from: path)
        #expect(loaded == original)
        #expect(loaded.parameters.values.map(\.bitPattern) == original.parameters.values.map(\.bitPattern))
        #expect(try Checkpoint.load(from: path, spec: spec) == original)
    }

    @Test func savedFileUsesStateDictNamesAndPyTorchShapes() throws {
        let scratch = try CheckpointScratchDirectory()
        defer { scratch.cleanup() }
        let path = scratch.file("mlp.safetensors")
        let checkpoint = try randomCheckpoint(CheckpointFixtures.mlpSpec)
        try checkpoint.save(to: path)
        let file = try SafeTensorsFile(contentsOf: path)
        #expect(file.names == ["1.weight", "1.bias", "3.weight", "3.bias"])
        #expect(file["1.weight"]?.shape == [16, 12])
        #expect(file["3.weight"]?.shape == [3, 16])
        let layout = try Sequential(CheckpointFixtures.mlpSpec).layout
        let weight = layout.entry(named: "3.weight")!
        #expect(file["3.weight"] == (try checkpoint.parameters.segment(offset: weight.offset, shape: weight.shape)))
        let storedSpec = try JSONDecoder().decode(ModelSpec.self, from: Data(file.metadata[Checkpoint.modelSpecKey]!.utf8))
        #expect(storedSpec == CheckpointFixtures.mlpSpec)
        #expect(file.metadata["epoch"] == "12")
    }

    @Test func pytorchMLPLoadsByStateDictNameAndPredictsTheSameLogits() throws {
        let checkpoint = try Checkpoint.load(from: CheckpointFixtures.path("pytorch_mlp.safetensors"),
                                             spec: CheckpointFixtures.mlpSpec)
        #expect(checkpoint.metadata.isEmpty)
        let io = try SafeTensorsFile(contentsOf: CheckpointFixtures.path("pytorch_mlp_io.safetensors"))
        let inputs = try #require(io["inputs"]), expected = try #require(io["logits"])
        #expect(inputs.shape == [4, 1, 3, 4])
        let logits = try checkpoint.model().predict(inputs, parameters: checkpoint.parameters)
        #expect(logits.shape == expected.shape)
        #expect(maxAbsoluteDifference(logits, expected) < 1e-5, "logits \(logits) vs PyTorch \(expected)")
    }

    @Test
    func pytorchCNNLoadsByStateDictNameAndPredictsTheSameLogits() throws {
        let checkpoint = try Checkpoint.load(from: CheckpointFixtures.path("pytorch_cnn.safetensors"),
                                             spec: CheckpointFixtures.cnnSpec)
        let io = try SafeTensorsFile(contentsOf: CheckpointFixtures.path("pytorch_cnn_io.safetensors"))
        let inputs = try #require(io["inputs"]), expected = try #require(io["logits"])
        #expect(inputs.shape == [4, 1, 8, 8])
        let logits = try checkpoint.model().predict(inputs, parameters: checkpoint.parameters)
        #expect(logits.shape == expected.shape)
        #expect(maxAbsoluteDifference(logits, expected) < 1e-5, "logits \(logits) vs PyTorch \(expected)")
    }

    /// nn.Sequential(Conv2d(1, 2, 3, padding=1), LayerNorm([2, 4, 4]), ReLU, Flatten, Linear(32, 3)).
    @Test
    func pytorchLayerNormGivesPyTorchsLogits() throws {
        let spec = ModelSpec(inputShape: [1, 4, 4], layers: [
            .conv2d(inChannels: 1, outChannels: 2, kernel: 3, stride: 1, padding: 1, bias: true), .layerNorm(shape: [2, 4, 4]),
            .activation(.relu), .flatten, .dense(inputs: 32, outputs: 3, bias: true),
        ])
        let checkpoint = try Checkpoint.load(from: CheckpointFixtures.path("pytorch_layernorm.safetensors"), spec: spec)
        let io = try SafeTensorsFile(contentsOf: CheckpointFixtures.path("pytorch_layernorm_io.safetensors"))
        let logits = try checkpoint.model().predict(try #require(io["inputs"]), parameters: checkpoint.parameters)
        #expect(maxAbsoluteDifference(logits, try #require(io["logits"])) < 1e-5, "logits \(logits)")
    }

    @Test
    func smallCNNRoundTripsWithConvWeightsInPyTorchLayout() throws {
        let scratch = try CheckpointScratchDirectory()
        defer { scratch.cleanup() }
        let original = try randomCheckpoint(.smallCNN(dropout: 0.25))
        let path = scratch.file("cnn.safetensors")
        try original.save(to: path)
        #expect(try Checkpoint.load(from: path) == original)
        let file = try SafeTensorsFile(contentsOf: path)
        #expect(file["0.weight"]?.shape == [32, 1, 3, 3])
        #expect(file["3.weight"]?.shape == [64, 32, 3, 3])
    }

    @Test func reSavingAPyTorchFileAddsTheSpecSoItLoadsWithoutOne() throws {
        let scratch = try CheckpointScratchDirectory()
        defer { scratch.cleanup() }
        let pytorch = try Checkpoint.load(from: CheckpointFixtures.path("pytorch_mlp.safetensors"),
                                          spec: CheckpointFixtures.mlpSpec)
        let path = scratch.file("converted.safetensors")
        try pytorch.save(to: path)
        #expect(try Checkpoint.load(from: path) == pytorch)
    }
}

@Suite("checkpoints: a file that does not match the model gives a typed error")
struct CheckpointMismatchTests {
    /// Writes `tensors` as a spec-less (PyTorch-style) file.
    func writeStateDict(_ tensors: [(String, [Int])], to path: String) throws {
        var file = SafeTensorsFile()
        for (name, shape) in tensors { file[name] = Tensor(shape: shape, repeating: 0.5) }
        try file.write(to: path)
    }

    let spec = CheckpointFixtures.mlpSpec
    let stateDict: [(String, [Int])] = [("1.weight", [16, 12]), ("1.bias", [16]), ("3.weight", [3, 16]), ("3.bias", [3])]

    @Test func specLessFileLoadsWithTheGivenSpec() throws {
        let scratch = try CheckpointScratchDirectory()
        defer { scratch.cleanup() }
        let path = scratch.file("sd.safetensors")
        try writeStateDict(stateDict, to: path)
        let checkpoint = try Checkpoint.load(from: path, spec: spec)
        #expect(checkpoint.parameters == Tensor(shape: [259], repeating: 0.5))
        let error = #expect(throws: CheckpointError.self) { try Checkpoint.load(from: path) }
        #expect(error == .missingModelSpec(path: path))
    }

    @Test func shapeMismatch() throws {
        let scratch = try CheckpointScratchDirectory()
        defer { scratch.cleanup() }
        let path = scratch.file("sd.safetensors")
        var transposed = stateDict
        transposed[2] = ("3.weight", [16, 3])
        try writeStateDict(transposed, to: path)
        let error = #expect(throws: CheckpointError.self) { try Checkpoint.load(from: path, spec: spec) }
        #expect(error == .tensorShapeMismatch(path: path, tensor: "3.weight", expected: [3, 16], found: [16, 3]))
        #expect(error?.description.contains("checkpoint does not match the model") == true)
    }

    @Test func missingTensor() throws {
        let scratch = try CheckpointScratchDirectory()
        defer { scratch.cleanup() }
        let path = scratch.file("sd.safetensors")
        try writeStateDict(stateDict.filter { $0.0 != "1.bias" }, to: path)
        let error = #expect(throws: CheckpointError.self) { try Checkpoint.load(from: path, spec: spec) }
        #expect(error == .missingTensors(path: path, names: ["1.bias"], unexpected: []))
        #expect(error?.description.contains("'1.bias'") == true)
    }

    @Test func extraTensor() throws {
        let scratch = try CheckpointScratchDirectory()
        defer { scratch.cleanup() }
        let path = scratch.file("sd.safetensors")
        try writeStateDict(stateDict + [("5.weight", [2, 3])], to: path)
        let error = #expect(throws: CheckpointError.self) { try Checkpoint.load(from: path, spec: spec) }
        #expect(error == .unexpectedTensors(path: path, names: ["5.weight"]))
        #expect(error?.description.contains("'5.weight'") == true)
    }

    @Test func sequentialWithoutFlattenIsShiftedByOneAndTheErrorSaysWhy() throws {
        // nn.Sequential(nn.Linear(12,16), nn.ReLU(), nn.Linear(16,3)) names its layers 0 and 2
        let scratch = try CheckpointScratchDirectory()
        defer { scratch.cleanup() }
        let path = scratch.file("sd.safetensors")
        try writeStateDict([("0.weight", [16, 12]), ("0.bias", [16]), ("2.weight", [3, 16]), ("2.bias", [3])], to: path)
        let error = #expect(throws: CheckpointError.self) { try Checkpoint.load(from: path, spec: spec) }
        #expect(error == .missingTensors(path: path, names: ["1.weight", "1.bias", "3.weight", "3.bias"],
                                         unexpected: ["0.weight", "0.bias", "2.weight", "2.bias"]))
        #expect(error?.description.contains("still take an index") == true)
    }

    @Test func storedSpecDiffersFromTheExpectedOne() throws {
        let scratch = try CheckpointScratchDirectory()
        defer { scratch.cleanup() }
        let path = scratch.file("mlp.safetensors")
        let saved = ModelSpec.mlp(inputShape: [1, 3, 4], hidden: [16], outputs: 3, dropout: 0.1)
        var rng = RandomGenerator(seed: 0)
        try Checkpoint(spec: saved, parameters: try Sequential(saved).initialParameters(rng: &rng)).save(to: path)
        let other = ModelSpec.mlp(inputShape: [1, 3, 4], hidden: [16], outputs: 3, dropout: 0.5)
        let error = #expect(throws: CheckpointError.self) { try Checkpoint.load(from: path, spec: other) }
        #expect(error == .specMismatch(path: path, expected: other, found: saved))
        #expect(error?.description.contains("layer 3") == true)
        // same parameter names and shapes: loadable on request
        let relaxed = try Checkpoint.load(from: path, spec: other, requireSameSpec: false)
        #expect(relaxed.spec == other)
        // different widths are still caught by shape
        let wider = ModelSpec.mlp(inputShape: [1, 3, 4], hidden: [32], outputs: 3, dropout: 0.1)
        let shapeError = #expect(throws: CheckpointError.self) { try Checkpoint.load(from: path, spec: wider, requireSameSpec: false) }
        #expect(shapeError == .tensorShapeMismatch(path: path, tensor: "1.weight", expected: [32, 12], found: [16, 12]))
    }

    @Test func undecodableStoredSpec() throws {
        let scratch = try CheckpointScratchDirectory()
        defer { scratch.cleanup() }
        let path = scratch.file("bad-spec.safetensors")
        var file = SafeTensorsFile(metadata: [Checkpoint.modelSpecKey: #"{"layers": "what"}"#])
        file["1.weight"] = Tensor([1])
        try file.write(to: path)
        let error = #expect(throws: CheckpointError.self) { try Checkpoint.load(from: path) }
        guard case .invalidModelSpec(path, _)? = error else { Issue.record("got \(String(describing: error))"); return }
    }

    @Test func savingRejectsWrongParameterCountAndReservedKeys() throws {
        let scratch = try CheckpointScratchDirectory()
        defer { scratch.cleanup() }
        let path = scratch.file("x.safetensors")
        let short = Checkpoint(spec: spec, parameters: Tensor(shape: [258], repeating: 0))
        #expect(throws: CheckpointError.parameterCount(path: path, got: [258], expected: 259)) { try short.save(to: path) }
        let reserved = Checkpoint(spec: spec, parameters: Tensor(shape: [259], repeating: 0),
                                  metadata: [Checkpoint.modelSpecKey: "{}"])
        #expect(throws: CheckpointError.reservedMetadataKey(path: path, key: Checkpoint.modelSpecKey)) { try reserved.save(to: path) }
        #expect(try scratch.listing().isEmpty)
    }
}
