import CredenceNN
import CredenceTensor

/// The state of an `InferenceMethod` between epochs as named tensors and scalars, so a
/// killed run resumes bit for bit (`fitPosterior(…, checkpoint:)`). Running sums kept in
/// `Double` are stored as F64 tensors (`SafeTensorsFile.setDoubles`), scalars as metadata.
public protocol PersistentState {
    /// Adds every value the next epoch depends on to `file`.
    func save(into file: inout SafeTensorsFile) throws
    /// Restores what `save(into:)` wrote over a state built by `initialState`; throws an
    /// error naming `path` when the file does not fit it.
    mutating func restore(from file: SafeTensorsFile, path: String) throws
}

/// Where a method keeps the resumable state of its own phase (SWAG's collection), and
/// whether a file already there is continued (`resume`) or replaced.
public struct PhaseCheckpoint: Sendable, Equatable {
    public var path: String
    public var resume: Bool
    /// What the phase belongs to, in words that stay the same from one version of Credence to
    /// the next (a bench run's key, or `train --method`'s settings and training options, and the
    /// phase's name), so a newer build continues an older build's phase; nil: the method's own
    /// description, which changes whenever a type inside it gains or renames a stored property.
    public var identity: String?

    public init(path: String, resume: Bool, identity: String? = nil) {
        self.path = path
        self.resume = resume
        self.identity = identity
    }

    /// The checkpoint of `phase` of ensemble member `member` of the run `run` (stable words
    /// naming the run, e.g. a bench run's key): identity "RUN phase PHASE member M"; without a
    /// run, the method's own description.
    public init(path: String, resume: Bool, run: String?, phase: String, member: Int) {
        self.init(path: path, resume: resume, identity: run.map { "\($0) phase \(phase) member \(member)" })
    }

    /// Metadata keys of a phase checkpoint: which run wrote it, epochs done, seconds spent.
    static let fingerprintKey = "credence.phase_run"
    static let epochKey = "credence.phase_epoch"
    static let secondsKey = "credence.phase_seconds"
}

/// A model's running statistics in a phase checkpoint, as "buffer.<name>" tensors (the
/// posterior archives' names): what a state whose network has batch normalization saves.
extension SafeTensorsFile {
    /// Adds `model`'s buffers.
    mutating func storeBuffers(of model: any NetworkModel) {
        for buffer in model.buffers { self[PosteriorArchive.bufferPrefix + buffer.name] = buffer.value }
    }

    /// `model` with the buffers `storeBuffers(of:)` wrote — each required, with its shape, or
    /// an error naming `path`; `model` itself when it has none.
    func restoringBuffers(of model: any NetworkModel, path: String) throws -> any NetworkModel {
        guard !model.buffers.isEmpty else { return model }
        return try model.replacingBuffers(Dictionary(uniqueKeysWithValues: try model.buffers.map {
            ($0.name, try required(PosteriorArchive.bufferPrefix + $0.name, shape: $0.shape, path: path))
        }))
    }
}

/// Reading parts of a phase checkpoint with errors that name the file.
extension SafeTensorsFile {
    /// The tensor `name` with `shape`, or an error naming `path`.
    public func required(_ name: String, shape: [Int], path: String) throws -> Tensor {
        guard let t = self[name] else {
            throw ResumeError.inconsistentState(path: path, reason: "it lacks the tensor '\(name)'")
        }
        guard t.shape == shape else {
            throw ResumeError.inconsistentState(path: path, reason: "its tensor '\(name)' has shape \(t.shape), this run needs \(shape)")
        }
        return t
    }

    /// The F64 tensor `name` with `count` values, or an error naming `path`.
    public func requiredDoubles(_ name: String, count: Int, path: String) throws -> [Double] {
        guard let d = doubles(name) else {
            throw ResumeError.inconsistentState(path: path, reason: "it lacks the double-precision tensor '\(name)'")
        }
        guard d.count == count else {
            throw ResumeError.inconsistentState(path: path, reason: "its tensor '\(name)' has \(d.count) values, this run needs \(count)")
        }
        return d
    }

    /// The integer metadata `key`, or an error naming `path`.
    public func requiredInteger(_ key: String, path: String) throws -> Int {
        guard let v = metadata[key].flatMap(Int.init) else {
            throw ResumeError.inconsistentState(path: path, reason: "it lacks the integer \"\(key)\"")
        }
        return v
    }
}

extension Optimizer {
    /// Restores the state `file` holds into this optimizer, with errors naming `path`.
    mutating func restore(from file: SafeTensorsFile, path: String) throws {
        guard let state = try OptimizerState.stored(in: file, path: path) else {
            throw ResumeError.inconsistentState(path: path, reason: "it holds no optimizer state")
        }
        do {
            try importState(state)
        } catch let error as OptimizerStateError {
            throw ResumeError.optimizerState(path: path, error)
        }
    }
}
