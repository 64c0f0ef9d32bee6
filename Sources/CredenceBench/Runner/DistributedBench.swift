import CredenceTensor
import Foundation

/// What the ranks of a distributed `bench` say to each other: point-to-point messages of
/// JSON (`ResultStore.encoder`, so non-finite metrics survive), all on one tag.
///
/// A worker says `ready` once, then gets `assign` (one run's configuration), answers
/// `finished` (the record, or why it failed), and waits again; `stop` ends it, and it
/// answers `leaving` just before `MPI_Finalize`. All the while it says `alive` every
/// `heartbeat` seconds, so the coordinator can tell a worker that died from one that is busy,
/// and what its run is doing (`stage`) every few seconds. (Package-visible for its fuzz target.)
package enum BenchMessage: Codable {
    case ready
    case alive
    case stage(String)
    case assign(RunConfiguration)
    case finished(key: String, record: RunRecord?, failure: String?)
    case stop
    case leaving

    static let tag = MPITag.benchMessages.rawValue

    func send(to rank: Int, in world: MPIWorld) throws {
        try world.send(try ResultStore.encoder.encode(self), to: rank, tag: Self.tag)
    }

    /// Starts sending without waiting (the coordinator's sends: its worker may be dead).
    func startSend(to rank: Int, in world: MPIWorld) throws -> MPIWorld.PendingSend {
        try world.startSend(try ResultStore.encoder.encode(self), to: rank, tag: Self.tag)
    }

    static func receive(_ envelope: MPIWorld.Envelope, in world: MPIWorld) throws -> BenchMessage {
        let data = try world.receive(envelope)
        do {
            return try ResultStore.decoder.decode(BenchMessage.self, from: data)
        } catch {
            throw MPIError.unexpectedMessage(from: envelope.source, message: readableDecodingError(error))
        }
    }
}

extension BenchRunner {
    /// Runs a suite over the ranks of an MPI job, from rank 0 (the coordinator). Rank 0
    /// alone opens the database and writes it — one transaction per finished run, as
    /// `run(_:onEvent:)` does — and hands out runs one at a time as ranks become free
    /// (`scheduled`: longest first where earlier runs tell durations). Rank 0 trains too,
    /// on a thread of its own, unless `coordinatorRuns` is false. Every other rank calls
    /// `serveBenchRuns`. Checkpoints go to `environment.cacheDirectory`, which every rank
    /// must reach (a shared file system across machines), so a run started again after a
    /// kill resumes where it stopped, on whichever rank gets it.
    ///
    /// A worker not heard from for `workerTimeout` seconds (it says `alive` every few
    /// seconds while it trains) is given up: its run goes back to the front of the queue, to
    /// resume from its checkpoints on another rank, and it gets nothing more. Open MPI ends
    /// the whole job when a rank dies unless `mpirun` runs with
    /// `--mca orte_enable_recovery 1`; either way nothing already written is lost.
    ///
    /// Results equal a single-process run's with the same threads per process: each run
    /// is deterministic given its configuration, wherever it runs.
    ///
    /// `execute` turns a configuration into its record on every rank (`runTimed`: train and
    /// evaluate; `BenchRunner.noWork` measures the coordinator alone).
    public func run(_ suite: Suite, world: MPIWorld, coordinatorRuns: Bool = true, workerTimeout: Double = 60,
                    execute: @escaping RunExecutor = runTimed, onEvent: (BenchEvent) -> Void = { _ in }) throws -> BenchOutcome {
        precondition(world.rank == 0, "the coordinator is rank 0")
        let start = Date()
        let (lock, pending) = try begin(suite, onEvent: onEvent)
        defer { lock.release() }
        var queue = scheduled(pending, after: try store.records())
        let pendingCount = queue.count

        struct InFlight { var configuration: RunConfiguration; var index: Int; var start: Date }
        var inFlight: [Int: InFlight] = [:]
        var idle: [Int] = []                 // remote ranks waiting for a run
        var ready = Set<Int>()               // remote ranks heard from
        var lost: Set<Int> { world.lostRanks }  // remote ranks given up
        var lastHeard = [Date](repeating: Date(), count: world.size)
        var sending: [MPIWorld.PendingSend] = []  // to ranks alive or given up (whose sends never complete)
        var handedOut = 0, completed = 0, finishedRuns = 0
        var finishedSeconds = 0.0
        var failures: [BenchFailure] = []
        let local = coordinatorRuns || world.size == 1 ? LocalBenchWorker(environment: environment, execute: execute) : nil

        func progress(_ run: InFlight, rank: Int) -> RunProgress {
            let mean = finishedRuns > 0 ? finishedSeconds / Double(finishedRuns) : nil
            let workers = Double(world.size - (local == nil ? 1 : 0))
            return RunProgress(index: run.index, count: pendingCount, configuration: run.configuration,
                               elapsed: Date().timeIntervalSince(start),
                               remaining: mean.map { $0 * Double(queue.count + inFlight.count) / workers }, rank: rank)
        }
        func handOut(to rank: Int) throws -> Bool {
            guard !queue.isEmpty else { return false }
            let configuration = queue.removeFirst()
            handedOut += 1
            let run = InFlight(configuration: configuration, index: handedOut, start: Date())
            inFlight[rank] = run
            if rank == 0 {
                local!.start(configuration)
            } else {
                sending.append(try BenchMessage.assign(configuration).startSend(to: rank, in: world))
            }
            onEvent(.runStarted(progress(run, rank: rank)))
            return true
        }
        /// Whether a send is still under way to a rank not given up. A send to a lost rank may
        /// never complete and MPI may still read its buffer: it is kept for the process's life.
        func isOutstanding(_ send: MPIWorld.PendingSend) throws -> Bool {
            if lost.contains(send.destination) {
                _ = Unmanaged.passRetained(send)
                return false
            }
            return try !world.completed(send)
        }
        /// Gives `rank` up as dead; the run it held, if any, goes back to the front of the queue.
        func giveUp(_ rank: Int) {
            world.giveUp(rank)
            idle.removeAll { $0 == rank }
            let run = inFlight.removeValue(forKey: rank)
            if let run {
                queue.insert(run.configuration, at: 0)
                handedOut -= 1  // it counts again when handed out anew
            }
            onEvent(.workerLost(rank: rank, silentSeconds: Date().timeIntervalSince(lastHeard[rank]), requeued: run?.configuration))
        }
        func finish(rank: Int, record: RunRecord?, failure: String?) throws {
            guard let run = inFlight.removeValue(forKey: rank) else {
                throw MPIError.unexpectedMessage(from: rank, message: "a finished run it was not given")
            }
            let seconds = Date().timeIntervalSince(run.start)
            if let record {
                guard record.key == run.configuration.key else {
                    throw MPIError.unexpectedMessage(from: rank, message: "the record of run \(record.key) for run \(run.configuration.key)")
                }
                try store.insert(record)  // a store that cannot be written stops the suite
                completed += 1
                finishedSeconds += seconds
                finishedRuns += 1
                onEvent(.runFinished(progress(run, rank: rank), record: record, seconds: seconds))
            } else {
                let message = failure ?? "no record"
                failures.append(BenchFailure(run.configuration, message: message))
                onEvent(.runFailed(progress(run, rank: rank), message: message))
            }
        }

        // Runs are handed out until none is left; then every rank that asked for one is told to stop.
        while !queue.isEmpty || !inFlight.isEmpty || ready.union(lost).count < world.size - 1 {
            var progressed = false
            if let local {
                if inFlight[0] == nil, try handOut(to: 0) { progressed = true }
                for message in local.drain() {
                    progressed = true
                    switch message {
                    case let .event(event): onEvent(event)
                    case let .finished(record, failure): try finish(rank: 0, record: record, failure: failure)
                    }
                }
            }
            while let envelope = try world.poll(tag: BenchMessage.tag) {
                progressed = true
                let message = try BenchMessage.receive(envelope, in: world)
                guard !lost.contains(envelope.source) else { continue }  // given up: its run is someone else's now
                lastHeard[envelope.source] = Date()
                switch message {
                case .alive:
                    break
                case let .stage(text):
                    if let run = inFlight[envelope.source] { onEvent(.remoteStage(progress(run, rank: envelope.source), text)) }
                case .ready:
                    ready.insert(envelope.source)
                    idle.append(envelope.source)
                case let .finished(_, record, failure):
                    try finish(rank: envelope.source, record: record, failure: failure)
                    idle.append(envelope.source)
                case .leaving:
                    throw MPIError.unexpectedMessage(from: envelope.source, message: "leaving before it was told to stop")
                case .assign, .stop:
                    throw MPIError.unexpectedMessage(from: envelope.source, message: "a coordinator's message")
                }
            }
            for rank in 1..<world.size where !lost.contains(rank) && Date().timeIntervalSince(lastHeard[rank]) > workerTimeout {
                giveUp(rank)
                progressed = true
            }
            while let rank = idle.first, try handOut(to: rank) {
                idle.removeFirst()
                progressed = true
            }
            sending = try sending.filter(isOutstanding)
            if !progressed { Thread.sleep(forTimeInterval: 0.005) }
        }
        for rank in 1..<world.size where !lost.contains(rank) { sending.append(try BenchMessage.stop.startSend(to: rank, in: world)) }
        // MPI_Finalize waits for every rank: a worker that died after its last run would hang
        // it, so each must say it is leaving (within the timeout) or be given up too.
        var leaving = Set<Int>()
        let deadline = Date().addingTimeInterval(workerTimeout)
        while leaving.union(lost).count < world.size - 1 {
            if let envelope = try world.poll(tag: BenchMessage.tag) {
                if case .leaving = try BenchMessage.receive(envelope, in: world) { leaving.insert(envelope.source) }
            } else if Date() > deadline {
                for rank in 1..<world.size where !leaving.contains(rank) && !lost.contains(rank) { giveUp(rank) }
            } else {
                Thread.sleep(forTimeInterval: 0.005)
            }
        }
        while try sending.contains(where: isOutstanding) { Thread.sleep(forTimeInterval: 0.005) }  // received: completes
        local?.stop()
        return try outcome(suite, pending: pendingCount, completed: completed, failures: failures, since: start)
    }
}

/// Serves a distributed `bench` on a rank other than 0: asks the coordinator for runs,
/// runs each (`runBenchmark`, checkpoints in `environment.cacheDirectory`) and sends back
/// its record or failure, until told to stop; a thread says `alive` every `heartbeat`
/// seconds meanwhile, and each run's first stage, then its stages and epoch ends at most every
/// `reportInterval` seconds, go to rank 0. Waiting polls gently, so an idle rank does not take a core from
/// the ranks still working.
public func serveBenchRuns(world: MPIWorld, environment: RunEnvironment, heartbeat: Double = 5, reportInterval: Double = 5,
                           execute: RunExecutor = runTimed, onEvent: (BenchEvent) -> Void = { _ in }) throws {
    precondition(world.rank != 0, "rank 0 coordinates")
    let pulse = Heartbeat(world: world, interval: heartbeat)
    defer { pulse.stop() }
    var lastReport = Date.distantPast
    let reporting = { (event: BenchEvent) in
        onEvent(event)
        let text: String
        switch event {
        case let .stage(stage): text = stage
        case let .training(p) where p.isEpochEnd: text = String(format: "epoch %d/%d, loss %.4f", p.epoch, p.epochs, p.loss)
        default: return
        }
        guard Date().timeIntervalSince(lastReport) >= reportInterval else { return }
        lastReport = Date()
        try? BenchMessage.stage(text).send(to: 0, in: world)  // progress only: a failed send must not fail the run
    }
    try BenchMessage.ready.send(to: 0, in: world)
    while true {
        let envelope = try world.wait(from: 0, tag: BenchMessage.tag, interval: 0.01)
        switch try BenchMessage.receive(envelope, in: world) {
        case let .assign(configuration):
            lastReport = .distantPast  // each run's first stage is reported
            let reply: BenchMessage
            do {
                let record = try withoutActuallyEscaping(reporting) { try execute(configuration, environment, $0) }
                reply = .finished(key: configuration.key, record: record, failure: nil)
            } catch {
                reply = .finished(key: configuration.key, record: nil, failure: String(describing: error))
            }
            try reply.send(to: 0, in: world)
        case .stop:
            pulse.stop()
            try BenchMessage.leaving.send(to: 0, in: world)
            return
        case .ready, .alive, .stage, .finished, .leaving:
            throw MPIError.unexpectedMessage(from: 0, message: "a worker's message")
        }
    }
}

/// A thread that sends `alive` to rank 0 every `interval` seconds until stopped.
final class Heartbeat: @unchecked Sendable {
    private let condition = NSCondition()
    private var stopped = false

    init(world: MPIWorld, interval: Double) {
        let thread = Thread { [self] in
            condition.lock()
            defer { condition.unlock() }
            while !stopped {
                if !condition.wait(until: Date().addingTimeInterval(interval)), !stopped {
                    condition.unlock()
                    try? BenchMessage.alive.send(to: 0, in: world)
                    condition.lock()
                }
            }
        }
        thread.name = "credence-bench-heartbeat"
        thread.start()
    }

    func stop() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }
}

/// How a rank turns a run's configuration into its record.
public typealias RunExecutor = (RunConfiguration, RunEnvironment, (BenchEvent) -> Void) throws -> RunRecord

extension BenchRunner {
    /// A run that does no work: an empty record at once. With it a distributed bench
    /// measures what its coordinator alone can hand out and write per second.
    public static let noWork: RunExecutor = { configuration, _, _ in
        var record = RunRecord(configuration: configuration, metrics: EvaluationMetrics())
        record.seconds = 0
        return record
    }
}

/// `runBenchmark` with the record's finish time and wall time filled in.
public func runTimed(_ configuration: RunConfiguration, environment: RunEnvironment, onEvent: (BenchEvent) -> Void) throws -> RunRecord {
    let start = Date()
    var record = try runBenchmark(configuration, environment: environment, onEvent: onEvent)
    record.finishedAt = Date()
    record.seconds = record.finishedAt.timeIntervalSince(start)
    return record
}

/// The order a distributed suite hands its pending runs out in. A run whose duration the
/// stored runs tell (the mean wall time of stored runs with the same configuration but
/// another seed) goes longest first, so the grid does not end waiting on one long run that
/// started last; runs with no estimate go before them, in suite order (they may be long too).
func scheduled(_ pending: [RunConfiguration], after stored: [RunRecord]) -> [RunConfiguration] {
    func seedless(_ c: RunConfiguration) -> String {
        var c = c
        c.seed = 0
        return c.key
    }
    var durations: [String: [Double]] = [:]
    for record in stored {
        if let seconds = record.seconds ?? record.metrics.scalability?.fitSeconds {
            durations[seedless(record.configuration), default: []].append(seconds)
        }
    }
    let estimated = pending.enumerated().map { i, c -> (index: Int, seconds: Double?, configuration: RunConfiguration) in
        let known = durations[seedless(c)]
        return (i, known.map { $0.reduce(0, +) / Double($0.count) }, c)
    }
    return estimated.sorted { a, b in
        switch (a.seconds, b.seconds) {
        case (nil, nil): return a.index < b.index
        case (nil, _): return true
        case (_, nil): return false
        case let (x?, y?): return x != y ? x > y : a.index < b.index
        }
    }.map(\.configuration)
}

/// Rank 0's own worker: one thread that runs what the coordinator starts and leaves its
/// events and result in a mailbox the coordinator drains (only the coordinator's thread
/// makes MPI calls or writes the database).
final class LocalBenchWorker: @unchecked Sendable {
    enum Message {
        case event(BenchEvent)
        case finished(RunRecord?, failure: String?)
    }

    private let environment: RunEnvironment
    private let execute: RunExecutor
    private let condition = NSCondition()
    private var job: RunConfiguration?
    private var stopping = false
    private var mailbox: [Message] = []
    private var thread: Thread?

    init(environment: RunEnvironment, execute: @escaping RunExecutor) {
        self.environment = environment
        self.execute = execute
        let thread = Thread { [unowned self] in self.serve() }
        thread.stackSize = 16 << 20  // more than a secondary thread's default: graph models recurse in their pullbacks
        thread.name = "credence-bench-local-worker"
        self.thread = thread
        thread.start()
    }

    func start(_ configuration: RunConfiguration) {
        condition.lock()
        job = configuration
        condition.signal()
        condition.unlock()
    }

    func drain() -> [Message] {
        condition.lock()
        defer { condition.unlock() }
        let messages = mailbox
        mailbox.removeAll()
        return messages
    }

    func stop() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
    }

    private func post(_ message: Message) {
        condition.lock()
        mailbox.append(message)
        condition.unlock()
    }

    private func serve() {
        while true {
            condition.lock()
            while job == nil && !stopping { condition.wait() }
            guard let configuration = job else {
                condition.unlock()
                return
            }
            job = nil
            condition.unlock()
            do {
                let record = try execute(configuration, environment) { self.post(.event($0)) }
                post(.finished(record, failure: nil))
            } catch {
                post(.finished(nil, failure: String(describing: error)))
            }
        }
    }
}
