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
/// ```swift
/// try Checkpoint(spec: model.spec, parameters: θ, metadata: ["epoch": "10"]).save(to: "map.safetensors")
/// let checkpoint = try Checkpoint.load(from: "map.safetensors")
/// let logits = try checkpoint.model().predict(x, parameters: checkpoint.parameters)
/// ```
public struct Checkpoint: Equatable, Sendable {
    /// The metadata key holding the JSON-encoded `ModelSpec`; reserved.
    public static let modelSpecKey = "credence.model_spec"

    public var spec: ModelSpec
    /// The flat parameter vector (rank 1), laid out as `Sequential(spec).layout`.
    public var parameters: Tensor
    /// Free-form strings: data set, epoch, seed, test accuracy, Credence version, ...
    public var metadata: [String: String]

    public init(spec: ModelSpec, parameters: Tensor, metadata: [String: String] = [:]) {
        self.spec = spec
        self.parameters = parameters
        self.metadata = metadata
    }

    /// The model this checkpoint's parameters belong to.
    public func model() throws -> Sequential { try Sequential(spec) }

    /// Writes the checkpoint atomically (temporary file, fsync, rename): an interrupted
    /// save leaves any previous file at `path` intact.
    public func save(to path: String) throws {
        guard metadata[Self.modelSpecKey] == nil else {
            throw CheckpointError.reservedMetadataKey(path: path, key: Self.modelSpecKey)
        }
        let layout = try model().layout
        guard parameters.rank == 1, parameters.count == layout.count else {
            throw CheckpointError.parameterCount(path: path, got: parameters.shape, expected: layout.count)
        }
        var file = SafeTensorsFile(metadata: metadata)
        file.metadata[Self.modelSpecKey] = try Self.encode(spec)
        for entry in layout.entries {
            file[entry.name] = try parameters.segment(offset: entry.offset, shape: entry.shape)  // a view, no copy
        }
        try file.write(to: path)
    }

    /// Loads a checkpoint that records its model (`"credence.model_spec"`), as `save` writes.
    /// Throws `CheckpointError.missingModelSpec` for files that do not — use `load(from:spec:)`.
    public static func load(from path: String) throws -> Checkpoint {
        let file = try SafeTensorsFile(contentsOf: path)
        guard let json = file.metadata[modelSpecKey] else { throw CheckpointError.missingModelSpec(path: path) }
        let spec = try decodeSpec(json, path: path)
        let model: Sequential
        do {
            model = try Sequential(spec)
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
    /// Every parameter of the model must be present with its shape, and the file may
    /// hold no other tensors.
    public static func load(from path: String, spec: ModelSpec, requireSameSpec: Bool = true) throws -> Checkpoint {
        let model = try Sequential(spec)
        let file = try SafeTensorsFile(contentsOf: path)
        if requireSameSpec, let json = file.metadata[modelSpecKey] {
            let stored = try decodeSpec(json, path: path)
            guard stored == spec else { throw CheckpointError.specMismatch(path: path, expected: spec, found: stored) }
        }
        return try assemble(file, model: model, path: path)
    }

    /// Checks names and shapes against the layout and copies the tensors into one flat vector.
    static func assemble(_ file: SafeTensorsFile, model: Sequential, path: String) throws -> Checkpoint {
        let layout = model.layout
        let expected = Set(layout.entries.map(\.name))
        let missing = layout.entries.map(\.name).filter { file[$0] == nil }
        let unexpected = file.names.filter { !expected.contains($0) }
        if !missing.isEmpty { throw CheckpointError.missingTensors(path: path, names: missing, unexpected: unexpected) }
        if !unexpected.isEmpty { throw CheckpointError.unexpectedTensors(path: path, names: unexpected) }
        for entry in layout.entries where file[entry.name]!.shape != entry.shape {
            throw CheckpointError.tensorShapeMismatch(path: path, tensor: entry.name, expected: entry.shape,
                                                      found: file[entry.name]!.shape)
        }
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
        return Checkpoint(spec: model.spec, parameters: flat, metadata: metadata)
    }

    static func encode(_ spec: ModelSpec) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(spec), as: UTF8.self)
    }

    static func decodeSpec(_ json: String, path: String) throws -> ModelSpec {
        do {
            return try JSONDecoder().decode(ModelSpec.self, from: Data(json.utf8))
        } catch {
            throw CheckpointError.invalidModelSpec(path: path, reason: "cannot decode it (\(error))")
        }
    }
}
