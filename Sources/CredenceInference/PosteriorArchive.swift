import CredenceData
import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation

/// A posterior on disk: a safetensors file holding the posterior's tensors (mean,
/// deviations, member parameters, curvature factors, ...) and metadata naming the method,
/// the model spec, the task and the method's settings. Written atomically; read back
/// with `loadPosterior(from:)`. A plain training checkpoint reads as a MAP posterior.
public struct PosteriorArchive {
    public static let methodKey = "credence.posterior.method"
    public static let taskKey = "credence.posterior.task"
    static let settingPrefix = "credence.posterior.setting."

    public var method: String
    public var spec: ModelSpec
    public var task: Predictive.Task
    /// Named tensors in the order they are written.
    public var tensors: [(name: String, value: Tensor)]
    /// The method's hyperparameters and fitted scalars, as strings.
    public var settings: [String: String]
    /// Provenance written as-is (e.g. `credence.dataset`, `credence.seed` of the run the
    /// posterior was fitted to), so evaluation finds the right test set.
    public var provenance: [String: String] = [:]

    public init(method: String, spec: ModelSpec, task: Predictive.Task,
                tensors: [(name: String, value: Tensor)], settings: [String: String] = [:]) {
        self.method = method
        self.spec = spec
        self.task = task
        self.tensors = tensors
        self.settings = settings
    }

    /// The archive of a posterior over `model`: its spec, and its buffers (batch normalization's
    /// running statistics) as tensors "buffer.<name>" after `tensors`, so `model()` restores them.
    public init(method: String, model: any NetworkModel, task: Predictive.Task,
                tensors: [(name: String, value: Tensor)], settings: [String: String] = [:]) {
        self.init(method: method, spec: model.spec, task: task,
                  tensors: tensors + model.buffers.map { (Self.bufferPrefix + $0.name, $0.value) }, settings: settings)
    }

    static let bufferPrefix = "buffer."

    /// The network of `spec` holding the archive's buffers ("buffer.<name>" tensors).
    public func model(path: String = "posterior") throws -> any NetworkModel {
        let model = try spec.makeModel()
        let buffers = Dictionary(uniqueKeysWithValues: tensors.filter { $0.name.hasPrefix(Self.bufferPrefix) }
            .map { (String($0.name.dropFirst(Self.bufferPrefix.count)), $0.value) })
        if buffers.isEmpty && !model.buffers.isEmpty {
            throw InferenceError.invalidArchive(path: path, message: "the \(method) posterior holds no running statistics for its model's batch normalization (written by an older Credence, which did not save them); fit it again")
        }
        do {
            return try model.replacingBuffers(buffers)
        } catch let error as ModelError {
            throw InferenceError.invalidArchive(path: path, message: "\(error)")
        }
    }

    public func tensor(_ name: String, path: String = "posterior") throws -> Tensor {
        guard let t = tensors.first(where: { $0.name == name })?.value else {
            throw InferenceError.invalidArchive(path: path, message: "the \(method) posterior has no tensor '\(name)'")
        }
        return t
    }

    /// A network's description as a setting's text (JSON, keys sorted: the same archive bytes
    /// every time), for posteriors holding networks besides the one of `spec`.
    public static func settingText(describing spec: ModelSpec) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(spec), as: UTF8.self)
    }

    /// The network description setting `key` holds (`settingText(describing:)`).
    public func modelSpec(setting key: String) throws -> ModelSpec {
        do {
            return try JSONDecoder().decode(ModelSpec.self, from: Data((settings[key] ?? "").utf8))
        } catch {
            throw InferenceError.invalidOption("the posterior's \(key) setting is not a model description (\(readableDecodingError(error))); the file is damaged")
        }
    }

    public func setting<T: LosslessStringConvertible>(_ key: String, as type: T.Type = T.self, path: String = "posterior") throws -> T {
        guard let s = settings[key], let v = T(s) else {
            throw InferenceError.invalidArchive(path: path, message: "the \(method) posterior's setting '\(key)' is missing or malformed")
        }
        return v
    }

    /// Writes the archive atomically (temporary file, fsync, rename); the same archive
    /// always gives the same bytes (JSON keys sorted).
    public func save(to path: String) throws {
        var file = SafeTensorsFile()
        for (name, value) in tensors { file[name] = value }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var metadata = [Self.methodKey: method, Self.taskKey: task.rawValue,
                        Checkpoint.modelSpecKey: String(decoding: try encoder.encode(spec), as: UTF8.self)]
        for (k, v) in settings { metadata[Self.settingPrefix + k] = v }
        for (k, v) in provenance where metadata[k] == nil { metadata[k] = v }
        file.metadata = metadata
        try file.write(to: path)
    }

    /// Reads a posterior file, or a plain checkpoint as a MAP archive.
    public static func load(from path: String) throws -> PosteriorArchive {
        let file = try SafeTensorsFile(contentsOf: path)
        guard let methodName = file.metadata[methodKey] else {
            let checkpoint = try Checkpoint.load(from: path)
            let dataset = checkpoint.metadata["credence.dataset"].flatMap(DatasetName.init(rawValue:))
            let task: Predictive.Task = dataset?.isRegression == true ? .regression : .classification
            var archive = PosteriorArchive(method: MAPMethod.name, model: try checkpoint.model(), task: task,
                                           tensors: [("parameters", checkpoint.parameters)])
            archive.provenance = checkpoint.metadata
            return archive
        }
        guard MethodRegistry.method(named: methodName) != nil else {
            throw InferenceError.invalidArchive(path: path, message: "unknown posterior method '\(methodName)' (known: \(MethodRegistry.names.joined(separator: ", "))); was this file written by a newer Credence?")
        }
        let method = methodName
        guard let specJSON = file.metadata[Checkpoint.modelSpecKey],
              let spec = try? JSONDecoder().decode(ModelSpec.self, from: Data(specJSON.utf8)) else {
            throw InferenceError.invalidArchive(path: path, message: "missing or unreadable model spec")
        }
        let task = Predictive.Task(rawValue: file.metadata[taskKey] ?? "") ?? .classification
        var settings: [String: String] = [:]
        for (k, v) in file.metadata where k.hasPrefix(settingPrefix) { settings[String(k.dropFirst(settingPrefix.count))] = v }
        var archive = PosteriorArchive(method: method, spec: spec, task: task,
                                       tensors: file.names.map { ($0, file[$0]!) }, settings: settings)
        archive.provenance = file.metadata.filter { !$0.key.hasPrefix("credence.posterior.") && $0.key != Checkpoint.modelSpecKey }
        return archive
    }
}

/// Reads any posterior Credence wrote (or a plain checkpoint, as MAP); a posterior saved
/// with a fitted temperature comes back temperature-scaled.
public func loadPosterior(from path: String) throws -> any Posterior {
    try loadPosterior(from: PosteriorArchive.load(from: path), path: path)
}

/// The posterior an archive already read from `path` describes (for callers that also
/// need the archive's provenance, so the file is read once).
public func loadPosterior(from archive: PosteriorArchive, path: String) throws -> any Posterior {
    let base = try restorePosterior(archive, path: path)
    guard let t = archive.settings["temperature"] else { return base }
    guard let temperature = Double(t) else {
        throw InferenceError.invalidArchive(path: path, message: "malformed temperature '\(t)'")
    }
    return try TemperatureScaledPosterior(base: base, temperature: temperature)
}

func restorePosterior(_ archive: PosteriorArchive, path: String) throws -> any Posterior {
    do {
        return try MethodRegistry.lookup(archive.method).restore(archive)
    } catch let InferenceError.invalidArchive(_, message) {
        throw InferenceError.invalidArchive(path: path, message: message)
    }
}
