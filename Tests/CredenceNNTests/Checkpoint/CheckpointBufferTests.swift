import Foundation
import Testing
@testable import CredenceNN
import CredenceTensor

/// Buffers (batch normalization's running statistics) in checkpoints: Credence's round trip,
/// the errors, and PyTorch state dicts with BatchNorm1d/2d (scripts/make_pytorch_fixture.py)
/// giving PyTorch's logits in eval and train mode and its running-statistics update.
@Suite struct CheckpointBufferTests {
    /// nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3)).
    static let bn1dSpec = ModelSpec(inputShape: [6], layers: [
        .dense(inputs: 6, outputs: 8, bias: true), .batchNorm1d(features: 8), .activation(.relu),
        .dense(inputs: 8, outputs: 3, bias: true),
    ])
    /// nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(64, 3)).
    static let bn2dSpec = ModelSpec(inputShape: [2, 4, 4], layers: [
        .conv2d(inChannels: 2, outChannels: 4, kernel: 3, stride: 1, padding: 1, bias: true), .batchNorm2d(channels: 4),
        .activation(.relu), .flatten, .dense(inputs: 64, outputs: 3, bias: true),
    ])

    static let buffers: [String: Tensor] = [
        "1.running_mean": Tensor([0.5, -1, 2, 0, 0.25, 3, -2, 1]), "1.running_var": Tensor(shape: [8], repeating: 1.5),
        "1.num_batches_tracked": Tensor(42),
    ]

    @Test func buffersRoundTripUnderPyTorchsNames() throws {
        let scratch = try CheckpointScratchDirectory()
        defer { scratch.cleanup() }
        var rng = RandomGenerator(seed: 1)
        let theta = try Sequential(Self.bn1dSpec).initialParameters(rng: &rng)
        let checkpoint = Checkpoint(spec: Self.bn1dSpec, parameters: theta, buffers: Self.buffers, metadata: ["epoch": "3"])
        try checkpoint.save(to: scratch.file("bn.safetensors"))
        let file = try SafeTensorsFile(contentsOf: scratch.file("bn.safetensors"))
        #expect(file.names == ["0.weight", "0.bias", "1.weight", "1.bias", "3.weight", "3.bias",
                               "1.running_mean", "1.running_var", "1.num_batches_tracked"])
        #expect(file["1.num_batches_tracked"]!.shape == [])
        let loaded = try Checkpoint.load(from: scratch.file("bn.safetensors"))
        #expect(loaded == checkpoint)
        #expect(try loaded.model().bufferValues == Self.buffers)
        #expect(try Checkpoint.load(from: scratch.file("bn.safetensors"), spec: Self.bn1dSpec) == checkpoint)
    }

    @Test func missingOrStrayBuffersAreErrors() throws {
        let scratch = try CheckpointScratchDirectory()
        defer { scratch.cleanup() }
        var rng = RandomGenerator(seed: 2)
        let theta = try Sequential(Self.bn1dSpec).initialParameters(rng: &rng)
        // Saving a batch-norm model without its statistics would silently reset them: refused.
        #expect(throws: CheckpointError.self) {
            try Checkpoint(spec: Self.bn1dSpec, parameters: theta).save(to: scratch.file("a.safetensors"))
        }
        #expect(throws: CheckpointError.self) {
            try Checkpoint(spec: .mlp(inputShape: [6], hidden: [8], outputs: 3), parameters: Tensor(shape: [83], repeating: 0),
                           buffers: Self.buffers).save(to: scratch.file("b.safetensors"))
        }
        // A file lacking running_var does not load; one lacking only the counter (PyTorch < 0.4.1) does, at 0.
        var file = SafeTensorsFile()
        let layout = try Sequential(Self.bn1dSpec).layout
        for entry in layout.entries { file[entry.name] = try theta.segment(offset: entry.offset, shape: entry.shape) }
        file["1.running_mean"] = Self.buffers["1.running_mean"]
        try file.write(to: scratch.file("c.safetensors"))
        #expect(throws: CheckpointError.self) { try Checkpoint.load(from: scratch.file("c.safetensors"), spec: Self.bn1dSpec) }
        file["1.running_var"] = Self.buffers["1.running_var"]
        try file.write(to: scratch.file("d.safetensors"))
        let old = try Checkpoint.load(from: scratch.file("d.safetensors"), spec: Self.bn1dSpec)
        #expect(old.buffers["1.num_batches_tracked"] == Tensor(0))
        file["1.running_var"] = Tensor(shape: [4], repeating: 1)
        try file.write(to: scratch.file("e.safetensors"))
        #expect(throws: CheckpointError.self) { try Checkpoint.load(from: scratch.file("e.safetensors"), spec: Self.bn1dSpec) }
    }

    @Test(arguments: ["bn1d", "bn2d"])
    func pytorchBatchNormGivesPyTorchsLogitsInBothModes(_ fixture: String) throws {
        let spec = fixture == "bn1d" ? Self.bn1dSpec : Self.bn2dSpec
        let checkpoint = try Checkpoint.load(from: CheckpointFixtures.path("pytorch_\(fixture).safetensors"), spec: spec)
        #expect(checkpoint.buffers["1.num_batches_tracked"] == Tensor(3))  // stored as int64 by PyTorch
        let model = try checkpoint.model()
        let io = try SafeTensorsFile(contentsOf: CheckpointFixtures.path("pytorch_\(fixture)_io.safetensors"))
        let inputs = try #require(io["inputs"])
        let eval = try model.predict(inputs, parameters: checkpoint.parameters, mode: .eval)
        #expect(maxAbsoluteDifference(eval, try #require(io["logits_eval"])) < 1e-5, "eval logits \(eval)")
        var context = ForwardContext(mode: .train)
        let train = try model(Variable(constant: inputs), parameters: Variable(constant: checkpoint.parameters),
                              context: &context).value
        #expect(maxAbsoluteDifference(train, try #require(io["logits_train"])) < 1e-5, "train logits \(train)")
        let after = try model.updatingBuffers(with: context.batchStatistics).bufferValues
        #expect(maxAbsoluteDifference(after["1.running_mean"]!, try #require(io["running_mean_after"])) < 1e-6)
        #expect(maxAbsoluteDifference(after["1.running_var"]!, try #require(io["running_var_after"])) < 1e-5)
        #expect(after["1.num_batches_tracked"] == Tensor(4))
    }
}
