import CredenceNN
import CredenceTensor
import Foundation

/// Where a resumed `train` run picks up, reported before any training.
public struct ResumePoint: Equatable, Sendable {
    /// The checkpoint resumed from.
    public var path: String
    /// Epochs the checkpoint holds (0 when there was no checkpoint yet).
    public var epoch: Int
    /// Epochs the run trains in total.
    public var epochs: Int
    /// Whether a checkpoint existed at `path`.
    public var found: Bool
    /// The checkpoint already holds every epoch: the run is reported without training.
    public var isComplete: Bool { found && epoch >= epochs }

    public init(path: String, epoch: Int, epochs: Int, found: Bool) {
        self.path = path
        self.epoch = epoch
        self.epochs = epochs
        self.found = found
    }
}

/// One training option whose value in a checkpoint differs from the requested one.
public struct OptionDifference: Equatable, Sendable, CustomStringConvertible {
    /// The `TrainingOptions` property (its JSON key), e.g. `"learningRate"`.
    public var field: String
    /// The values as JSON text; "absent" when the option is not set.
    public var saved: String
    public var requested: String

    public init(field: String, saved: String, requested: String) {
        self.field = field
        self.saved = saved
        self.requested = requested
    }

    public var description: String {
        let flag = TrainingOptions.flagName(field)
        return "\(field) (--\(flag)): \(saved) in the checkpoint, \(requested) now"
    }
}

/// Why a run cannot resume from its checkpoint. Nothing is trained or written when one is thrown.
public enum ResumeError: Error, CustomStringConvertible, Equatable {
    /// The file is a checkpoint but not one `train` wrote (a metadata key is missing).
    case notATrainingRun(path: String, missingKey: String)
    /// The checkpoint was written by a run with other options (`epochs` aside).
    case optionsDiffer(path: String, differences: [OptionDifference])
    /// The number of epochs changed, but the learning-rate schedule is laid out over the
    /// whole run, so the epochs already done would have had other learning rates.
    case scheduleDependsOnEpochs(path: String, schedule: ScheduleKind, saved: Int, requested: Int)
    /// The checkpoint holds more epochs than requested.
    case pastRequestedEpochs(path: String, epoch: Int, requested: Int)
    /// The checkpoint holds no optimizer state (a bare model, or written before Credence
    /// saved it), so training cannot continue exactly.
    case missingOptimizerState(path: String, epoch: Int)
    /// The checkpoint's parts disagree (step count, loss history, epoch).
    case inconsistentState(path: String, reason: String)
    /// The stored optimizer state does not fit this run's optimizer.
    case optimizerState(path: String, OptimizerStateError)
    /// The file does not parse: it was truncated, overwritten or corrupted after it was written.
    case damaged(path: String, CheckpointError)

    public var description: String {
        let fresh = "run without --resume to overwrite it with a new run, or pass another --out"
        switch self {
        case let .notATrainingRun(path, key):
            return "cannot resume from '\(path)': it lacks the metadata \"\(key)\", so it was not written by `credence train`; \(fresh)"
        case let .optionsDiffer(path, differences):
            return "cannot resume from '\(path)': it was trained with other options — "
                + differences.map(\.description).joined(separator: "; ")
                + ". Resume with the checkpoint's options (only --epochs may change), or \(fresh)"
        case let .scheduleDependsOnEpochs(path, schedule, saved, requested):
            return "cannot resume from '\(path)' with --epochs \(requested): it was trained for \(saved) epochs with --schedule \(schedule.rawValue), which spreads its decay over the whole run, so a different length changes the learning rate of the epochs already done. Resume with --epochs \(saved), or \(fresh)"
        case let .pastRequestedEpochs(path, epoch, requested):
            return "cannot resume from '\(path)': it already holds \(epoch) epochs, more than --epochs \(requested); pass --epochs \(epoch) or more, or \(fresh)"
        case let .missingOptimizerState(path, epoch):
            return "cannot resume from '\(path)': it holds the parameters after epoch \(epoch) but no optimizer state (it was saved without it, e.g. by an older Credence), so training cannot continue as the uninterrupted run would; \(fresh)"
        case let .inconsistentState(path, reason):
            return "cannot resume from '\(path)': \(reason); \(fresh)"
        case let .optimizerState(path, error):
            return "cannot resume from '\(path)': \(error.description)"
        case let .damaged(path, error):
            return "cannot resume from '\(path)': it is damaged — \(error.description). Credence replaces its files atomically, so the file was truncated, overwritten or corrupted after it was written; \(fresh)"
        }
    }
}

/// Reads the file at `path` to resume from; a file whose bytes do not parse becomes
/// `ResumeError.damaged`, which says so and what to do.
func readingResumeFile<T>(_ path: String, _ read: () throws -> T) throws -> T {
    do {
        return try read()
    } catch let error as CheckpointError where error.isDamage {
        throw ResumeError.damaged(path: path, error)
    }
}

/// A `train` checkpoint checked against the run about to resume from it.
struct SavedRun {
    var checkpoint: Checkpoint
    /// Epochs done.
    var epoch: Int
    /// Mean training loss of each epoch done (empty when a completed file predates it).
    var lossHistory: [Double]
    /// The stored `credence.training_options` JSON.
    var optionsJSON: String

    static let epochKey = "credence.epoch"
    static let optionsKey = "credence.training_options"
    static let lossHistoryKey = "credence.loss_history"
    /// The identity of a run's objective when it is not the default one.
    static let objectiveKey = "credence.objective"

    /// Loads the checkpoint at `path` and checks that `options` may resume it: same options
    /// but `epochs`, the same model, no more epochs than requested, and — unless it is
    /// already complete — optimizer state whose step count matches the epochs done.
    init(path: String, options: TrainingOptions, spec: ModelSpec, stepsPerEpoch: Int) throws {
        checkpoint = try readingResumeFile(path) { try Checkpoint.load(from: path) }
        let metadata = checkpoint.metadata
        guard let json = metadata[Self.optionsKey] else { throw ResumeError.notATrainingRun(path: path, missingKey: Self.optionsKey) }
        guard let epoch = metadata[Self.epochKey].flatMap(Int.init), epoch >= 0 else {
            throw ResumeError.notATrainingRun(path: path, missingKey: Self.epochKey)
        }
        optionsJSON = json
        self.epoch = epoch
        let (differences, savedEpochs) = try TrainingOptions.differences(saved: json, requested: options, path: path)
        guard differences.isEmpty else { throw ResumeError.optionsDiffer(path: path, differences: differences) }
        guard checkpoint.spec == spec else {
            throw CheckpointError.specMismatch(path: path, expected: spec, found: checkpoint.spec)
        }
        guard epoch <= options.epochs else {
            throw ResumeError.pastRequestedEpochs(path: path, epoch: epoch, requested: options.epochs)
        }
        if let saved = savedEpochs, saved != options.epochs, options.schedule.dependsOnRunLength {
            throw ResumeError.scheduleDependsOnEpochs(path: path, schedule: options.schedule, saved: saved,
                                                      requested: options.epochs)
        }
        if let text = metadata[Self.lossHistoryKey] {
            guard let history = try? JSONDecoder().decode([Double].self, from: Data(text.utf8)), history.count == epoch else {
                throw ResumeError.inconsistentState(
                    path: path, reason: "its loss history \"\(Self.lossHistoryKey)\" does not hold one value for each of its \(epoch) epochs")
            }
            lossHistory = history
        } else {
            lossHistory = []
        }
        guard epoch < options.epochs else { return }  // complete: nothing to continue
        guard let state = checkpoint.optimizerState else { throw ResumeError.missingOptimizerState(path: path, epoch: epoch) }
        guard metadata[Self.lossHistoryKey] != nil else {
            throw ResumeError.inconsistentState(path: path, reason: "it has optimizer state but no loss history \"\(Self.lossHistoryKey)\"")
        }
        guard state.step == epoch * stepsPerEpoch else {
            throw ResumeError.inconsistentState(
                path: path, reason: "its optimizer took \(state.step) steps, but \(epoch) epochs of \(stepsPerEpoch) steps make \(epoch * stepsPerEpoch)")
        }
    }
}

extension ScheduleKind {
    /// Whether the learning rate at a step depends on the run's total length.
    var dependsOnRunLength: Bool {
        switch self {
        case .constant, .cyclical: return false
        case .cosine, .step: return true
        }
    }
}

extension TrainingOptions {
    /// The options (other than `epochs`) whose JSON differs between a stored
    /// `credence.training_options` and `requested`, and the stored `epochs`.
    static func differences(saved json: String, requested: TrainingOptions, path: String) throws
        -> (differences: [OptionDifference], savedEpochs: Int?) {
        guard let saved = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else {
            throw ResumeError.inconsistentState(path: path, reason: "its training options \"\(SavedRun.optionsKey)\" are not a JSON object")
        }
        let current = try JSONSerialization.jsonObject(with: JSONEncoder().encode(requested)) as! [String: Any]
        func text(_ value: Any?) -> String {
            guard let value, !(value is NSNull) else { return "absent" }
            guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys]) else {
                return "\(value)"
            }
            return String(decoding: data, as: UTF8.self)
        }
        var differences: [OptionDifference] = []
        for key in Set(saved.keys).union(current.keys).sorted() where key != "epochs" {
            let a = text(saved[key]), b = text(current[key])
            if a != b { differences.append(OptionDifference(field: key, saved: a, requested: b)) }
        }
        return (differences, saved["epochs"] as? Int)
    }

    /// The `credence train` flag of an option (`learningRate` → `lr`, `batchSize` → `batch-size`).
    static func flagName(_ field: String) -> String {
        switch field {
        case "learningRate": return "lr"
        case "warmupSteps": return "warmup"
        case "dataDirectory": return "data-dir"
        default:
            return field.reduce(into: "") { out, c in
                if c.isUppercase { out += "-" + c.lowercased() } else { out.append(c) }
            }
        }
    }
}
