import CredenceTensor
import Foundation

/// A model's architecture, its flat parameter vector and free-form metadata, stored as
/// one safetensors file that PyTorch reads and writes too.
///
/// **Naming and layout convention.** Credence layer `i` is module `i` of a PyTorch
/// `nn.Sequential`; its parameters are the tensors "i.weight" and "i.bias" — exactly
/// the state-dict names. Layers without parameters (Flatten, activations, Dropout,
/// pooling) still occupy an index. Shapes are PyTorch's: Linear weight `[out, in]`,
/// Conv2d weight `[out, in, kh, kw]`, biases `[out]`. So the state dict of
/// `nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 10))`
/// loads directly into `.mlp(inputShape: [1, 28, 28], hidden: [512], outputs: 10)`,
/// whose parameters are "1.weight", "1.bias", "3.weight", "3.bias".
///
/// A Credence-written file holds one F32 tensor per `ParameterLayout` entry plus
/// `__metadata__` with the caller's `metadata` and `"credence.model_spec"` (the
/// `ModelSpec` as JSON), so `load(from:)` rebuilds the model without being told its
/// architecture. Files without that key (e.g. `safetensors.torch.save_file(
/// model.state_dict(), path)`) load with `load(from:spec:)`, matched by name.
///
/// **Buffers.** State that is not a parameter — batch normalization's running statistics —
/// is stored as tensors under PyTorch's buffer names ("1.running_mean", "1.running_var",
/// "1.num_batches_tracked"; the counter as F32, which `load_state_dict` casts back to int64).
/// A checkpoint of a model with buffers must hold all of them; a PyTorch file without
/// "num_batches_tracked" (older PyTorch) loads with the counter at 0, as PyTorch loads it.
///
/// **Training state.** To let an interrupted run resume exactly, a checkpoint may also hold
/// the optimizer's state (`optimizerState`) in the same file — one file, replaced
/// atomically, so parameters and optimizer state can never disagree after a crash. Its
/// vectors are tensors named `"optimizer.<transform index>.<state name>"` (e.g.
/// `"optimizer.0.m"`, `"optimizer.0.v"` for Adam), which cannot clash with parameter names,
/// and the step count and transform chain are the metadata `"credence.optimizer_state"`
/// (JSON `{"step": 120, "transforms": ["ScaleByAdam", "ScaleByLearningRate"]}`). Both
/// loaders accept files with and without it; tensors under the `optimizer.` prefix count as
/// optimizer state only when that metadata is present, so any tensor that is neither a
/// parameter nor recorded optimizer state is still rejected as unexpected. In PyTorch,
/// `model.load_state_dict(load_file(path), strict=False)` skips the `optimizer.*` tensors.
///
/// ```swift
/// try Checkpoint(spec: model.spec, parameters: θ, metadata: ["epoch": "10"]).save(to: "map.safetensors")
/// let checkpoint = try Checkpoint.load(from: "map.safetensors")
/// let logits = try checkpoint.model().predict(x, parameters: checkpoint.parameters)
/// ```
public struct Checkpoint: Equatable, Sendable {
    /// The metadata key holding the JSON-encoded `ModelSpec`; reserved.
    public static let modelSpecKey = "credence.model_spec"
    /// The metadata key holding the optimizer's step count and transform chain (JSON); reserved.
    public static let optimizerStateKey = "credence.optimizer_state"

    public var spec: ModelSpec
    /// The flat parameter vector (rank 1), laid out as `spec.makeModel().layout`.
    public var parameters: Tensor
    /// The model's buffers by name (`NetworkModel.bufferValues`); empty for models without any.
    public var buffers: [String: Tensor]
    /// Free-form strings: data set, epoch, seed, test accuracy, Credence version, ...
    public var metadata: [String: String]
    /// The optimizer's state when the checkpoint was written during training (nil for a
    /// bare model); `Optimizer.importState` restores it.
    public var optimizerState: OptimizerState?

    public init(spec: ModelSpec, parameters: Tensor, buffers: [String: Tensor] = [:], metadata: [String: String] = [:],
                optimizerState: OptimizerState? = nil) {
        self.spec = spec
        self.parameters = parameters
        self.buffers = buffers
        self.metadata = metadata
        self.optimizerState = optimizerState
    }

    /// The model this checkpoint's parameters belong to, holding the checkpoint's buffers.
    public func model() throws -> any NetworkModel { try spec.makeModel().replacingBuffers(buffers) }

    /// Writes the checkpoint atomically (temporary file, fsync, rename): an interrupted
    /// save leaves any previous file at `path` intact.
    public func save(to path: String) throws {
        for key in [Self.modelSpecKey, Self.optimizerStateKey] where metadata[key] != nil {
            throw CheckpointError.reservedMetadataKey(path: path, key: key)
        }
        let model: any NetworkModel
        do {
            model = try spec.makeModel().replacingBuffers(buffers)
        } catch let ModelError.bufferMismatch(reason) {
            throw CheckpointError.bufferMismatch(path: path, reason: reason)
        }
        let layout = model.layout
        guard parameters.rank == 1, parameters.count == layout.count else {
            throw CheckpointError.parameterCount(path: path, got: parameters.shape, expected: layout.count)
        }
        var file = SafeTensorsFile(metadata: metadata)
        file.metadata[Self.modelSpecKey] = try Self.encode(spec)
        for entry in layout.entries {
            file[entry.name] = try parameters.segment(offset: entry.offset, shape: entry.shape)  // a view, no copy
        }
        for buffer in model.buffers { file[buffer.name] = buffer.value }
        try optimizerState?.store(in: &file, path: path)
        try file.write(to: path)
    }

    /// Loads a checkpoint that records its model (`"credence.model_spec"`), as `save` writes.
    /// Throws `CheckpointError.missingModelSpec` for files that do not — use `load(from:spec:)`.
    public static func load(from path: String) throws -> Checkpoint {
        let file = try SafeTensorsFile(contentsOf: path)
        guard let json = file.metadata[modelSpecKey] else { throw CheckpointError.missingModelSpec(path: path) }
        let spec = try decodeSpec(json, path: path)
        let model: any NetworkModel
        do {
            model = try spec.makeModel()
        } catch {
            throw CheckpointError.invalidModelSpec(path: path, reason: "\(error)")
        }
        return try assemble(file, model: model, path: path)
    }

    /// Loads the parameters for `spec`, matching tensors by state-dict name and shape.
    ///
    /// For files without a stored spec (saved by PyTorch) this is the only way in. When
    /// the file does record a spec it must equal `spec` (`CheckpointError.specMismatch`
    /// otherwise) unless `requireSameSpec` is false — e.g. to load MAP weights into the
    /// same network with a different dropout rate for MC dropout.
    /// Every parameter and buffer of the model must be present with its shape, and the file may
    /// hold no other tensors than optimizer state recorded as `save` writes it.
    public static func load(from path: String, spec: ModelSpec, requireSameSpec: Bool = true) throws -> Checkpoint {
        let model = try spec.makeModel()
        let file = try SafeTensorsFile(contentsOf: path)
        if requireSameSpec, let json = file.metadata[modelSpecKey] {
            let stored = try decodeSpec(json, path: path)
            guard stored == spec else { throw CheckpointError.specMismatch(path: path, expected: spec, found: stored) }
        }
        return try assemble(file, model: model, path: path)
    }

    /// Checks names and shapes against the layout and the model's buffers, copies the parameter
    /// tensors into one flat vector, collects the buffers and the optimizer state the metadata
    /// records.
    static func assemble(_ file: SafeTensorsFile, model: any NetworkModel, path: String) throws -> Checkpoint {
        let layout = model.layout
        let optimizerState = try OptimizerState.stored(in: file, path: path)
        let modelBuffers = model.buffers
        var expected = Set(layout.entries.map(\.name)).union(modelBuffers.map(\.name))
        if let state = optimizerState { expected.formUnion(state.tensors.keys) }
        // PyTorch before 0.4.1 saved no batch counter; its own loader starts it at 0.
        let missing = (layout.entries.map(\.name) + modelBuffers.map(\.name).filter { !$0.hasSuffix(".num_batches_tracked") })
            .filter { file[$0] == nil }
        let unexpected = file.names.filter { !expected.contains($0) }
        if !missing.isEmpty { throw CheckpointError.missingTensors(path: path, names: missing, unexpected: unexpected) }
        if !unexpected.isEmpty { throw CheckpointError.unexpectedTensors(path: path, names: unexpected) }
        let shapes = layout.entries.map { ($0.name, $0.shape) } + modelBuffers.map { ($0.name, $0.shape) }
        for (name, shape) in shapes where file[name] != nil && file[name]!.shape != shape {
            throw CheckpointError.tensorShapeMismatch(path: path, tensor: name, expected: shape, found: file[name]!.shape)
        }
        var buffers: [String: Tensor] = [:]
        for buffer in modelBuffers { buffers[buffer.name] = file[buffer.name] ?? buffer.value }
        var flat = Tensor(uninitializedShape: [layout.count])
        flat.withUnsafeMutableBufferPointer { destination in
            for entry in layout.entries {
                file[entry.name]!.withUnsafeBufferPointer { source in
                    (destination.baseAddress! + entry.offset).update(from: source.baseAddress!, count: entry.count)
                }
            }
        }
        var metadata = file.metadata
        metadata[modelSpecKey] = nil
        metadata[optimizerStateKey] = nil
        return Checkpoint(spec: model.spec, parameters: flat, buffers: buffers, metadata: metadata, optimizerState: optimizerState)
    }

    static func encode(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func decodeSpec(_ json: String, path: String) throws -> ModelSpec {
        do {
            return try JSONDecoder().decode(ModelSpec.self, from: Data(json.utf8))
        } catch {
            throw CheckpointError.invalidModelSpec(path: path, reason: "cannot decode it: \(readableDecodingError(error))")
        }
    }
}

extension OptimizerState {
    /// Adds the state to `file` as a checkpoint holds it: its vectors as tensors, the step
    /// count and transform chain as the metadata `Checkpoint.optimizerStateKey`.
    public func store(in file: inout SafeTensorsFile, path: String) throws {
        for name in orderedNames {
            guard let parsed = Self.parseTensorName(name), parsed.transform < transforms.count else {
                throw CheckpointError.invalidOptimizerState(
                    path: path, reason: "tensor name '\(name)' is not \"optimizer.<transform index>.<state name>\" with an index below \(transforms.count)")
            }
            file[name] = tensors[name]
        }
        file.metadata[Checkpoint.optimizerStateKey] = try Checkpoint.encode(Record(step: step, transforms: transforms))
    }

    /// The state `file` records under `Checkpoint.optimizerStateKey`: every tensor named
    /// `"optimizer.<index>.<name>"` with an index into the recorded chain. Nil without that key
    /// (then such tensors are as unexpected as any other stray tensor).
    public static func stored(in file: SafeTensorsFile, path: String) throws -> OptimizerState? {
        guard let json = file.metadata[Checkpoint.optimizerStateKey] else { return nil }
        let record: Record
        do {
            record = try JSONDecoder().decode(Record.self, from: Data(json.utf8))
        } catch {
            throw CheckpointError.invalidOptimizerState(path: path, reason: "its \"\(Checkpoint.optimizerStateKey)\" metadata cannot be decoded: \(readableDecodingError(error))")
        }
        guard record.step >= 0 else {
            throw CheckpointError.invalidOptimizerState(path: path, reason: "the step count is \(record.step)")
        }
        var tensors: [String: Tensor] = [:]
        for name in file.names where name.hasPrefix(tensorPrefix) {
            guard let parsed = parseTensorName(name), parsed.transform < record.transforms.count else {
                throw CheckpointError.invalidOptimizerState(
                    path: path, reason: "tensor '\(name)' does not belong to any of the \(record.transforms.count) recorded transforms")
            }
            tensors[name] = file[name]!
        }
        return OptimizerState(step: record.step, transforms: record.transforms, tensors: tensors)
    }

    /// The JSON of `Checkpoint.optimizerStateKey`.
    struct Record: Codable {
        var step: Int
        var transforms: [String]
    }
}
