/// Errors raised while reading or writing safetensors files and checkpoints. Every
/// message names the file, the tensor when one is at fault, what is wrong and what to do.
public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    // MARK: file system

    /// The file could not be opened, inspected or mapped (missing, a directory, no permission).
    case cannotRead(path: String, reason: String)
    /// The file could not be written; the destination, if it existed, is unchanged.
    case cannotWrite(path: String, reason: String)

    // MARK: safetensors format

    /// Fewer than the 8 bytes that hold the header length.
    case fileTooShort(path: String, size: Int)
    /// The 8-byte header length points past the end of the file.
    case headerLengthExceedsFile(path: String, headerLength: UInt64, fileSize: Int)
    /// The header is not valid UTF-8 JSON.
    case headerNotJSON(path: String, reason: String)
    /// The header is JSON but not an object of tensor entries.
    case headerNotObject(path: String, found: String)
    /// A tensor entry lacks `dtype`, `shape` or `data_offsets`, or has one of the wrong type.
    case malformedEntry(path: String, tensor: String, reason: String)
    /// `__metadata__` is not an object of string → string.
    case malformedMetadata(path: String, reason: String)
    /// A dtype Credence does not read (anything but F32, F64, F16, BF16, I64, I32, I16, I8, U8, BOOL).
    case unsupportedDType(path: String, tensor: String, dtype: String)
    /// `data_offsets` is not a pair `[begin, end]` with 0 ≤ begin ≤ end.
    case invalidOffsets(path: String, tensor: String, begin: Int, end: Int)
    /// The byte span `end − begin` differs from shape × dtype size.
    case sizeMismatch(path: String, tensor: String, dtype: String, shape: [Int], expectedBytes: Int, spanBytes: Int)
    /// The tensor's bytes lie (partly) beyond the end of the file: truncated file or corrupt header.
    case dataOutOfRange(path: String, tensor: String, begin: Int, end: Int, dataSize: Int)
    /// Two tensors claim some of the same bytes.
    case overlappingTensors(path: String, first: String, second: String)
    /// A tensor name that cannot be written (empty or the reserved `__metadata__`).
    case invalidTensorName(path: String, name: String)

    // MARK: checkpoint ↔ model

    /// `Checkpoint.load(from:)` on a file that does not say which model it holds.
    case missingModelSpec(path: String)
    /// The stored model specification cannot be decoded or does not describe a working model.
    case invalidModelSpec(path: String, reason: String)
    /// The file's stored model specification differs from the one the caller expects.
    case specMismatch(path: String, expected: ModelSpec, found: ModelSpec)
    /// Parameters the model needs are absent; `unexpected` lists tensors the model has no place for.
    case missingTensors(path: String, names: [String], unexpected: [String])
    /// Tensors in the file that the model has no parameter for.
    case unexpectedTensors(path: String, names: [String])
    /// A parameter tensor of the wrong shape.
    case tensorShapeMismatch(path: String, tensor: String, expected: [Int], found: [Int])
    /// Saving a parameter vector whose length does not fit the spec's layout.
    case parameterCount(path: String, got: [Int], expected: Int)
    /// Caller metadata using a key Credence reserves.
    case reservedMetadataKey(path: String, key: String)
    /// Saving buffer values (running statistics) that do not fit the spec's buffers.
    case bufferMismatch(path: String, reason: String)
    /// The optimizer state in the file (or about to be written) is malformed.
    case invalidOptimizerState(path: String, reason: String)

    public var description: String {
        switch self {
        case let .cannotRead(path, reason):
            return "cannot read '\(path)': \(reason)"
        case let .cannotWrite(path, reason):
            return "cannot write '\(path)': \(reason); any existing file at that path is unchanged"
        case let .fileTooShort(path, size):
            return "'\(path)' is not a safetensors file: it has \(size) bytes, fewer than the 8-byte header length; the file is empty or truncated — re-save or re-download it"
        case let .headerLengthExceedsFile(path, length, size):
            return "'\(path)' is not a safetensors file or is truncated: its first 8 bytes announce a \(length)-byte header but the file has only \(size) bytes (a PyTorch .pt/.pth/.bin file must first be converted with safetensors.torch.save_file(model.state_dict(), path))"
        case let .headerNotJSON(path, reason):
            return "'\(path)': the safetensors header is not valid JSON (\(reason)); the file is corrupt or not a safetensors file — re-save it"
        case let .headerNotObject(path, found):
            return "'\(path)': the safetensors header must be a JSON object mapping tensor names to entries, found \(found); re-save the file"
        case let .malformedEntry(path, tensor, reason):
            return "'\(path)': tensor '\(tensor)': \(reason); each entry needs \"dtype\" (string), \"shape\" (array of non-negative integers) and \"data_offsets\" ([begin, end]) — the header is corrupt, re-save the file"
        case let .malformedMetadata(path, reason):
            return "'\(path)': __metadata__ \(reason); safetensors metadata must map strings to strings — re-save the file"
        case let .unsupportedDType(path, tensor, dtype):
            return "'\(path)': tensor '\(tensor)' has dtype \(dtype), which Credence cannot load (supported: F32, F64, F16, BF16, I64, I32, I16, I8, U8, BOOL — converted to Float32); convert it in PyTorch with tensor.float() before saving"
        case let .invalidOffsets(path, tensor, begin, end):
            return "'\(path)': tensor '\(tensor)' has data_offsets [\(begin), \(end)]; they must satisfy 0 ≤ begin ≤ end — the header is corrupt, re-save the file"
        case let .sizeMismatch(path, tensor, dtype, shape, expected, span):
            return "'\(path)': tensor '\(tensor)' (\(dtype), shape \(shape)) needs \(expected) bytes but its data_offsets span \(span) bytes — the header is corrupt, re-save the file"
        case let .dataOutOfRange(path, tensor, begin, end, size):
            return "'\(path)': tensor '\(tensor)' occupies bytes \(begin)..<\(end) of the data section, but the file holds only \(size) data bytes — the file is truncated (interrupted copy or download?) or its header is corrupt; re-save or re-download it"
        case let .overlappingTensors(path, first, second):
            return "'\(path)': tensors '\(first)' and '\(second)' claim overlapping bytes — the header is corrupt, re-save the file"
        case let .invalidTensorName(path, name):
            return "cannot write '\(path)': tensor name '\(name)' is not allowed (names must be non-empty and not \"__metadata__\"); rename the tensor"
        case let .missingModelSpec(path):
            return "'\(path)' does not record which model it holds (no \"\(Checkpoint.modelSpecKey)\" metadata; e.g. it was saved by PyTorch) — load it with Checkpoint.load(from:spec:) and the ModelSpec that mirrors the network"
        case let .invalidModelSpec(path, reason):
            return "'\(path)': the stored model specification (\"\(Checkpoint.modelSpecKey)\") is unusable: \(reason); the file may come from a different Credence version — load it with Checkpoint.load(from:spec:)"
        case let .specMismatch(path, expected, found):
            return "checkpoint does not match the model: '\(path)' holds a different architecture — \(Self.difference(expected: expected, found: found)); load it with the spec it was saved with, or pass requireSameSpec: false to load the weights by name and shape only"
        case let .missingTensors(path, names, unexpected):
            var text = "checkpoint does not match the model: '\(path)' lacks \(Self.list(names)) that the model needs"
            if !unexpected.isEmpty {
                text += ", and holds \(Self.list(unexpected)) that it has no place for"
            }
            return text + ". Credence names a chain's parameters \"<layer index>.weight\"/\"<layer index>.bias\" like nn.Sequential's state dict, and layers without parameters (Flatten, activations, Dropout, pooling) still take an index — make the spec's layers mirror the nn.Sequential modules one to one; a graph's (ResNet, DenseNet) are named by their block paths (\"layer1.0.conv1.weight\"), as the PyTorch module tree names them"
        case let .unexpectedTensors(path, names):
            return "checkpoint does not match the model: '\(path)' holds \(Self.list(names)) that the model has no parameter for; check that the spec mirrors the network (same layers, bias on/off)"
        case let .tensorShapeMismatch(path, tensor, expected, found):
            return "checkpoint does not match the model: '\(path)': tensor '\(tensor)' has shape \(found) but the model expects \(expected) (Linear weights are [out, in], Conv2d weights [out, in, kh, kw]); check the spec's layer sizes"
        case let .parameterCount(path, got, expected):
            return "cannot write '\(path)': the parameter vector has shape \(got) but the model's layout needs [\(expected)]; pass the flat vector of the model built from this spec (spec.makeModel().layout)"
        case let .bufferMismatch(path, reason):
            return "cannot write '\(path)': \(reason); pass the model's own buffers (`model.bufferValues`, e.g. a Trainer's after training)"
        case let .reservedMetadataKey(path, key):
            return "cannot write '\(path)': metadata key \"\(key)\" is reserved by Credence; rename it"
        case let .invalidOptimizerState(path, reason):
            return "'\(path)': the optimizer state (\"optimizer.<index>.<name>\" tensors with \"\(Checkpoint.optimizerStateKey)\" metadata) is malformed: \(reason); save the state Optimizer.exportState() returns, or re-save the checkpoint without optimizer state"
        }
    }

    static func list(_ names: [String]) -> String {
        let shown = names.prefix(8).map { "'\($0)'" }.joined(separator: ", ")
        let noun = names.count == 1 ? "tensor" : "tensors"
        return names.count > 8 ? "\(names.count) \(noun) (\(shown), ...)" : "\(noun) \(shown)"
    }

    /// The first difference between two specs, in words.
    static func difference(expected: ModelSpec, found: ModelSpec) -> String {
        if expected.inputShape != found.inputShape {
            return "input shape \(found.inputShape) in the file, \(expected.inputShape) expected"
        }
        if (expected.blocks == nil) != (found.blocks == nil) {
            return found.blocks == nil ? "a chain of layers in the file, a graph of blocks expected" : "a graph of blocks in the file, a chain of layers expected"
        }
        if let e = expected.blocks, let f = found.blocks {
            if let i = zip(e, f).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset {
                return "block '\(f[i].name)' differs from the expected '\(e[i].name)'"
            }
            return "\(f.count) blocks in the file, \(e.count) expected"
        }
        for (i, (e, f)) in zip(expected.layers, found.layers).enumerated() where e != f {
            return "layer \(i) is \(f) in the file, \(e) expected"
        }
        return "\(found.layers.count) layers in the file, \(expected.layers.count) expected"
    }
}

extension CheckpointError {
    /// Whether the file's bytes are at fault (too short, a header or entry that does not parse,
    /// data past the end): a file truncated, overwritten or corrupted — not a sound file that
    /// holds something else.
    public var isDamage: Bool {
        switch self {
        case .fileTooShort, .headerLengthExceedsFile, .headerNotJSON, .headerNotObject, .malformedEntry, .malformedMetadata,
             .invalidOffsets, .sizeMismatch, .dataOutOfRange, .overlappingTensors:
            return true
        default:
            return false
        }
    }
}
