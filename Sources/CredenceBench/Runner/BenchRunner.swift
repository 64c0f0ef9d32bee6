import CredenceData
import CredenceInference
import CredenceNN
import Foundation

/// What the runner reports while it works (the CLI draws the progress bar from these).
public enum BenchEvent {
    /// Before anything runs: runs in the suite, already in the database, still to run.
    case planned(total: Int, skipped: Int, pending: Int)
    case runStarted(RunProgress)
    /// What the current run is doing ("training member 2/5", "evaluating shift 12/81: ...").
    case stage(String)
    /// Training progress of the current run's network(s).
    case training(TrainingProgress)
    case runFinished(RunProgress, record: RunRecord, seconds: Double)
    /// The run failed; it is not stored and the suite goes on.
    case runFailed(RunProgress, message: String)
    /// What a worker rank's run is doing, in a distributed bench (its stages and epochs, at
    /// most every few seconds).
    case remoteStage(RunProgress, String)
    /// A distributed bench gave up a worker rank not heard from for `silentSeconds`; the
    /// run it held (if any) went back to the front of the queue.
    case workerLost(rank: Int, silentSeconds: Double, requeued: RunConfiguration?)
}

/// Where the suite stands when a run starts or ends.
public struct RunProgress: Sendable {
    /// 1-based position among the runs still to do, and their number.
    public var index: Int
    public var count: Int
    public var configuration: RunConfiguration
    /// Seconds since the suite started (this session).
    public var elapsed: Double
    /// Estimated seconds to finish the remaining runs (nil before the first run ends):
    /// the mean duration of this session's runs times the runs left (over the ranks working).
    public var remaining: Double?
    /// The MPI rank running it (nil: a single-process `bench`).
    public var rank: Int? = nil
}

/// A run that failed (it is not in the database; re-running the suite retries it).
public struct BenchFailure: Codable, Sendable {
    public var key: String
    public var label: String
    public var dataset: String
    public var seed: UInt64
    public var message: String

    init(_ configuration: RunConfiguration, message: String) {
        (key, label, dataset) = (configuration.key, configuration.label, configuration.datasetLabel)
        (seed, self.message) = (configuration.seed, message)
    }
}

/// What `BenchRunner.run` did.
public struct BenchOutcome: Sendable {
    public var suite: String
    public var database: String
    /// Runs in the suite; found already stored; finished now; failed now.
    public var total: Int
    public var skipped: Int
    public var completed: Int
    public var failures: [BenchFailure]
    /// The suite's stored runs (earlier and new), in suite order.
    public var records: [RunRecord]
    public var seconds: Double
}

/// Runs a suite into a results database: skips runs already stored, runs the rest one
/// by one (each resumable from its checkpoints in `DB.runs/`), and stores each finished
/// run in one transaction. Only one runner may write to a database at a time (a lock
/// file in the cache directory, released by the OS even on SIGKILL).
///
/// ```swift
/// let store = try ResultStore(path: "credence-results/bench.sqlite")
/// let outcome = try BenchRunner(store: store).run(try Suite.load("quick")) { event in ... }
/// print(summarize(outcome.records))
/// ```
public final class BenchRunner {
    public let store: ResultStore
    public let environment: RunEnvironment

    /// `cacheDirectory` defaults to the database path + ".runs".
    public init(store: ResultStore, cacheDirectory: String? = nil, dataDirectory: String? = nil) {
        self.store = store
        environment = RunEnvironment(cacheDirectory: cacheDirectory ?? store.path + ".runs", dataDirectory: dataDirectory)
    }

    public func run(_ suite: Suite, onEvent: (BenchEvent) -> Void = { _ in }) throws -> BenchOutcome {
        let start = Date()
        let (lock, pending) = try begin(suite, onEvent: onEvent)
        defer { lock.release() }

        var failures: [BenchFailure] = []
        var completed = 0
        var finishedSeconds = 0.0, finishedRuns = 0
        for (i, configuration) in pending.enumerated() {
            func progress() -> RunProgress {
                let mean = finishedRuns > 0 ? finishedSeconds / Double(finishedRuns) : nil
                return RunProgress(index: i + 1, count: pending.count, configuration: configuration,
                                   elapsed: Date().timeIntervalSince(start), remaining: mean.map { $0 * Double(pending.count - i) })
            }
            onEvent(.runStarted(progress()))
            let runStart = Date()
            let record: RunRecord
            do {
                record = try runTimed(configuration, environment: environment, onEvent: onEvent)
            } catch {
                let message = String(describing: error)
                failures.append(BenchFailure(configuration, message: message))
                onEvent(.runFailed(progress(), message: message))
                continue
            }
            try store.insert(record)  // a store that cannot be written stops the suite
            let seconds = Date().timeIntervalSince(runStart)
            completed += 1
            finishedSeconds += seconds
            finishedRuns += 1
            onEvent(.runFinished(progress(), record: record, seconds: seconds))
        }
        return try outcome(suite, pending: pending.count, completed: completed, failures: failures, since: start)
    }

    /// Removes the stored runs with `keys` from the database, under its lock (refused while a
    /// bench writes it); every key must be stored, or nothing is removed.
    public func forget(_ keys: [String]) throws {
        let lock = try lockDatabase()
        defer { lock.release() }
        let stored = try store.keys()
        let unknown = keys.filter { !stored.contains($0) }
        guard unknown.isEmpty else { throw BenchError.unknownRuns(database: store.path, keys: unknown) }
        try store.remove(keys)
    }

    /// The start of a suite, single-process or distributed: takes the database's lock (held
    /// by the caller until it is done), finds the runs not stored yet, checks their data and
    /// announces the plan.
    func begin(_ suite: Suite, onEvent: (BenchEvent) -> Void) throws -> (lock: DirectoryLock, pending: [RunConfiguration]) {
        let lock = try lockDatabase()
        let stored = try store.keys()
        let pending = suite.configurations.filter { !stored.contains($0.key) }
        try preflight(pending)
        onEvent(.planned(total: suite.configurations.count, skipped: suite.configurations.count - pending.count, pending: pending.count))
        return (lock, pending)
    }

    /// The database's lock (`DIR/lock` in the checkpoint folder), or `BenchError.locked` at
    /// once when another runner holds it.
    private func lockDatabase() throws -> DirectoryLock {
        try FileManager.default.createDirectory(atPath: environment.cacheDirectory, withIntermediateDirectories: true)
        return try DirectoryLock(directory: environment.cacheDirectory, database: store.path)
    }

    /// What a suite's run did: its stored runs (earlier and new) in suite order, and the counts.
    func outcome(_ suite: Suite, pending: Int, completed: Int, failures: [BenchFailure], since start: Date) throws -> BenchOutcome {
        let keys = Set(suite.configurations.map(\.key))
        let byKey = Dictionary(try store.records().filter { keys.contains($0.key) }.map { ($0.key, $0) }) { a, _ in a }
        return BenchOutcome(suite: suite.name, database: store.path, total: suite.configurations.count,
                            skipped: suite.configurations.count - pending, completed: completed, failures: failures,
                            records: suite.configurations.compactMap { byKey[$0.key] }, seconds: Date().timeIntervalSince(start))
    }

    /// Loads each data set and OOD set the pending runs need once, so a missing file stops
    /// the suite before any training rather than failing every run that needs it.
    func preflight(_ pending: [RunConfiguration]) throws {
        var datasets: [String: (options: TrainingOptions, runs: Int)] = [:]
        var oodSets: [String: (dataset: String, source: OODSource, runs: Int)] = [:]
        for c in pending {
            let options = try c.trainingOptions(dataDirectory: environment.dataDirectory)
            datasets[c.datasetLabel] = (options, (datasets[c.datasetLabel]?.runs ?? 0) + 1)
            for set in c.oodSets where c.evaluations.contains(.ood) {
                let id = "\(c.datasetLabel)/\(set)"
                oodSets[id] = (c.datasetLabel, set, (oodSets[id]?.runs ?? 0) + 1)
            }
        }
        var tests: [String: InMemoryDataset] = [:]
        for (label, (options, runs)) in datasets.sorted(by: { $0.key < $1.key }) {
            do {
                tests[label] = try loadDataset(options.dataset, options: options.dataOptions).test
            } catch {
                throw BenchError.dataUnavailable(what: "data set \(label)", runs: runs, message: "\(error)")
            }
        }
        for (_, (label, source, runs)) in oodSets.sorted(by: { $0.key < $1.key }) {
            do {
                let options = datasets[label]!.options
                _ = try loadOODInputs(source, dataset: options.dataset, test: tests[label]!, options: options.dataOptions, count: 1)
            } catch {
                throw BenchError.dataUnavailable(what: "OOD set \(source) for \(label)", runs: runs, message: "\(error)")
            }
        }
    }
}

/// An exclusive `flock` on a file (the OS releases it even on SIGKILL): `DIR/lock` for one
/// runner per database, and a shared network's `training.lock` so ranks of a distributed
/// bench that need the same network train it once.
final class DirectoryLock {
    private var descriptor: Int32

    /// Takes `DIR/lock` or fails at once: another runner writes this database.
    init(directory: String, database: String) throws {
        let path = URL(fileURLWithPath: directory).appendingPathComponent("lock").path
        descriptor = try Self.openFile(path)
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            descriptor = -1
            throw BenchError.locked(database: database, lockFile: path)
        }
    }

    /// Takes the lock on `path`, waiting while another process holds it.
    init(waitingFor path: String) throws {
        descriptor = try Self.openFile(path)
        while flock(descriptor, LOCK_EX) != 0 {
            guard errno == EINTR else {
                let message = String(cString: strerror(errno))
                close(descriptor)
                throw ResultStoreError.cannotOpen(path: path, message: "cannot lock it: \(message)")
            }
        }
    }

    private static func openFile(_ path: String) throws -> Int32 {
        let descriptor = open(path, O_RDWR | O_CREAT, 0o644)
        guard descriptor >= 0 else {
            throw ResultStoreError.cannotOpen(path: path, message: String(cString: strerror(errno)))
        }
        return descriptor
    }

    func release() {
        guard descriptor >= 0 else { return }
        flock(descriptor, LOCK_UN)
        close(descriptor)
        descriptor = -1
    }

    deinit { release() }
}
