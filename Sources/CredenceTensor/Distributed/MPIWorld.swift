import CCredenceSupport
import CMPI
import Foundation

/// The processes of an MPI job this process belongs to — Open MPI, loaded at run time.
///
/// MPI is optional: Credence builds without it and a command started without a launcher
/// never touches it. When `mpirun`/`mpiexec` (Open MPI) or `srun` (Slurm with PMIx) starts a
/// command, the launcher's environment says so (`OMPI_COMM_WORLD_SIZE`, `PMIX_RANK`), and
/// `MPIWorld.joined()` opens Open MPI's `libmpi.so.40` with `dlopen` (or the file in
/// `CREDENCE_MPI_LIBRARY`), initializes it once and returns the job's rank and size. Loading
/// at run time, rather than a second build product linked against MPI, keeps one binary
/// that runs on a laptop and under `mpirun` alike, and lets a cluster's own Open MPI
/// (same ABI, built for its network) replace Debian's with no rebuild.
///
/// Point-to-point messages carry bytes (the benchmark's protocol encodes JSON); collectives
/// sum `Float`/`Double` buffers in place (data-parallel gradients). Every call is made from
/// one thread at a time (`MPI_THREAD_SERIALIZED`); the instance serializes its own calls.
///
/// ```swift
/// if let world = try MPIWorld.joined(), world.size > 1 {
///     try world.allreduceSum(&gradient)   // every rank now holds the sum
/// }
/// ```
public final class MPIWorld: @unchecked Sendable {
    public let rank: Int
    public let size: Int
    /// `MPI_Get_library_version`, e.g. "Open MPI v4.1.4, package: Debian OpenMPI, ...".
    public let libraryVersion: String
    /// The library file opened.
    public let libraryPath: String
    private let lock = NSLock()
    private var finalized = false

    /// `MPI_ANY_TAG` and `MPI_ANY_SOURCE`, for `poll` and `wait`.
    public static let anyTag: Int32 = -1
    public static let anySource: Int = -1

    private init(rank: Int, size: Int, libraryVersion: String, libraryPath: String) {
        self.rank = rank
        self.size = size
        self.libraryVersion = libraryVersion
        self.libraryPath = libraryPath
    }

    /// How the launcher that started this process describes it (nil: no MPI launcher).
    public struct Launch: Sendable, Equatable {
        /// The environment variable that gave it away.
        public var variable: String
        /// Ranks in the job, and ranks on this machine, when the launcher says.
        public var worldSize: Int?
        public var localSize: Int?
    }

    /// The MPI launcher this process was started by, from its environment.
    public static func launch(environment: [String: String] = ProcessInfo.processInfo.environment) -> Launch? {
        let local = environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap(Int.init)
            ?? environment["MPI_LOCALNRANKS"].flatMap(Int.init)
            ?? environment["SLURM_NTASKS_PER_NODE"].flatMap(Int.init)
        for variable in ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"] where environment[variable] != nil {
            let size = environment["OMPI_COMM_WORLD_SIZE"].flatMap(Int.init) ?? environment["PMI_SIZE"].flatMap(Int.init)
                ?? environment["SLURM_NTASKS"].flatMap(Int.init)
            return Launch(variable: variable, worldSize: size, localSize: local)
        }
        return nil
    }

    nonisolated(unsafe) private static var shared: Result<MPIWorld?, Error>?
    private static let sharedLock = NSLock()

    /// The job this process was launched into, initialized on first use (nil when no MPI
    /// launcher started the process: then nothing is loaded).
    ///
    /// - Throws: `MPIError.libraryUnavailable` when a launcher started the process but no
    ///   usable Open MPI library can be opened; `MPIError.call` when `MPI_Init_thread` fails.
    public static func joined() throws -> MPIWorld? {
        sharedLock.lock()
        defer { sharedLock.unlock() }
        if let shared { return try shared.get() }
        let result = Result<MPIWorld?, Error> { () throws -> MPIWorld? in
            guard launch() != nil else { return nil }
            let library = try loadLibrary()
            var rank: Int32 = 0, size: Int32 = 0, provided: Int32 = 0
            try check(credence_mpi_init(&rank, &size, &provided), "MPI_Init_thread")
            guard provided >= 2 else {
                throw MPIError.call(name: "MPI_Init_thread", code: 0,
                                    message: "the library gives thread level \(provided); Credence needs MPI_THREAD_SERIALIZED (2)")
            }
            return MPIWorld(rank: Int(rank), size: Int(size), libraryVersion: library.version, libraryPath: library.path)
        }
        shared = result
        return try result.get()
    }

    /// Finalizes MPI if this process joined a job (the CLI calls it after a command
    /// succeeded; a rank that exits with an error skips it, so the launcher ends the job).
    public static func finalizeIfJoined() {
        sharedLock.lock()
        let world = (try? shared?.get()) ?? nil
        sharedLock.unlock()
        world?.finalize()
    }

    /// Opens the Open MPI library without initializing it (for `credence doctor` outside a
    /// launcher): its file and version.
    public static func loadLibrary() throws -> (path: String, version: String) {
        let path = ProcessInfo.processInfo.environment["CREDENCE_MPI_LIBRARY"]
        var error = [CChar](repeating: 0, count: 1024)
        guard credence_mpi_load(path, &error, error.count) == 0 else {
            throw MPIError.libraryUnavailable(reason: String(cString: error), requested: path)
        }
        var version = [CChar](repeating: 0, count: 512)
        try check(credence_mpi_library_version(&version, version.count), "MPI_Get_library_version")
        let text = String(cString: version).trimmingCharacters(in: .whitespacesAndNewlines)
        return (String(cString: credence_mpi_library_path()), text.components(separatedBy: "\n").first ?? text)
    }

    /// Sends `bytes` to `destination` with `tag` (blocking until the buffer may be reused).
    public func send(_ bytes: Data, to destination: Int, tag: Int32) throws {
        try serialized {
            try bytes.withUnsafeBytes { raw in
                try Self.check(credence_mpi_send(raw.baseAddress, raw.count, Int32(destination), tag), "MPI_Send")
            }
        }
    }

    /// A send under way (`startSend`): its buffer lives as long as this does.
    public final class PendingSend: @unchecked Sendable {
        fileprivate let buffer: UnsafeMutableRawBufferPointer
        fileprivate var request: UnsafeMutableRawPointer?
        public let destination: Int
        public fileprivate(set) var isComplete = false

        fileprivate init(_ bytes: Data, destination: Int) {
            buffer = .allocate(byteCount: Swift.max(bytes.count, 1), alignment: 16)
            bytes.copyBytes(to: buffer)
            self.destination = destination
        }

        deinit { buffer.deallocate() }
    }

    /// Starts sending `bytes` to `destination` without waiting (`MPI_Isend`): a send to a
    /// rank that died may never complete, and a coordinator must not wait on one. Keep the
    /// returned value until `completed` says so (or for good, if its rank is given up).
    public func startSend(_ bytes: Data, to destination: Int, tag: Int32) throws -> PendingSend {
        let send = PendingSend(bytes, destination: destination)
        try serialized {
            try Self.check(credence_mpi_start_send(send.buffer.baseAddress, bytes.count, Int32(destination), tag, &send.request), "MPI_Isend")
        }
        return send
    }

    /// Whether `send` has completed (`MPI_Test`).
    public func completed(_ send: PendingSend) throws -> Bool {
        guard !send.isComplete else { return true }
        try serialized {
            var done: Int32 = 0
            try Self.check(credence_mpi_test(&send.request, &done), "MPI_Test")
            send.isComplete = done != 0
        }
        return send.isComplete
    }

    /// A message waiting to be received.
    public struct Envelope: Sendable, Equatable {
        public var source: Int
        public var tag: Int32
        public var bytes: Int
    }

    /// The next message waiting from `source` with `tag` (any when -1), or nil at once if
    /// none is (`MPI_Iprobe`).
    public func poll(from source: Int = anySource, tag: Int32 = anyTag) throws -> Envelope? {
        try serialized {
            var found: Int32 = 0
            var status = credence_mpi_status_t()
            try Self.check(credence_mpi_probe(Int32(source), tag, 0, &found, &status), "MPI_Iprobe")
            return found != 0 ? Envelope(source: Int(status.source), tag: status.tag, bytes: status.bytes) : nil
        }
    }

    /// Waits for a message from `source` with `tag` (any when -1) by polling every
    /// `interval` seconds: unlike `MPI_Probe`, a rank that waits long (a worker with no
    /// more runs) does not spin a core the others need.
    public func wait(from source: Int = anySource, tag: Int32 = anyTag, interval: Double = 0.005) throws -> Envelope {
        while true {
            if let envelope = try poll(from: source, tag: tag) { return envelope }
            Thread.sleep(forTimeInterval: interval)
        }
    }

    /// Receives the message `envelope` announced.
    public func receive(_ envelope: Envelope) throws -> Data {
        try serialized {
            var data = Data(count: envelope.bytes)
            var status = credence_mpi_status_t()
            try data.withUnsafeMutableBytes { raw in
                try Self.check(credence_mpi_receive(raw.baseAddress, raw.count, Int32(envelope.source), envelope.tag, &status),
                               "MPI_Recv")
            }
            return data
        }
    }

    /// Every rank's `values` summed, in place, on every rank (`MPI_Allreduce`, `MPI_SUM`).
    public func allreduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws {
        try serialized {
            try Self.check(credence_mpi_allreduce_sum_float(values.baseAddress, values.count), "MPI_Allreduce")
        }
    }

    public func allreduceSum(_ values: UnsafeMutableBufferPointer<Double>) throws {
        try serialized {
            try Self.check(credence_mpi_allreduce_sum_double(values.baseAddress, values.count), "MPI_Allreduce")
        }
    }

    public func allreduceSum(_ values: inout [Float]) throws {
        try values.withUnsafeMutableBufferPointer { try allreduceSum($0) }
    }

    public func allreduceSum(_ values: inout [Double]) throws {
        try values.withUnsafeMutableBufferPointer { try allreduceSum($0) }
    }

    /// `root`'s bytes on every rank (the others pass any buffer; it is replaced).
    public func broadcast(_ bytes: Data, from root: Int) throws -> Data {
        var count: [Int64] = [rank == root ? Int64(bytes.count) : 0]
        try serialized {
            try count.withUnsafeMutableBytes { raw in
                try Self.check(credence_mpi_broadcast(raw.baseAddress, raw.count, Int32(root)), "MPI_Bcast")
            }
        }
        var data = rank == root ? bytes : Data(count: Int(count[0]))
        try serialized {
            try data.withUnsafeMutableBytes { raw in
                try Self.check(credence_mpi_broadcast(raw.baseAddress, raw.count, Int32(root)), "MPI_Bcast")
            }
        }
        return data
    }

    /// A barrier whose waiting ranks poll every `interval` seconds (rather than `MPI_Barrier`,
    /// which spins a core while it waits, taking it from the ranks still working on that machine).
    public func barrier(polling interval: Double) throws {
        let tag = MPITag.barrier.rawValue
        if rank == 0 {
            for _ in 1..<size { _ = try receive(try wait(tag: tag, interval: interval)) }
            for other in 1..<size { try send(Data(), to: other, tag: tag) }
        } else {
            try send(Data(), to: 0, tag: tag)
            _ = try receive(try wait(from: 0, tag: tag, interval: interval))
        }
    }

    /// Jobs `0..<count` dealt out over the ranks, job j to rank j mod size, every rank calling
    /// this alike: each rank runs its own jobs and sends each one's bytes to rank 0 as it
    /// finishes; rank 0 hands every job's bytes to `received` (in no fixed order) until all
    /// `count` have come. `received` is called on rank 0 only, on the calling thread.
    ///
    /// Rank 0 runs its own jobs on a thread of its own (with the caller's floating-point
    /// mode, so a job's numbers do not depend on where it runs) while the calling thread takes
    /// the others' messages as they arrive: a worker's send of a large result waits until rank
    /// 0 receives it, and it must not wait for rank 0's next job to end.
    public func dealOut(_ count: Int, tag: Int32, _ work: (_ job: Int) throws -> Data,
                        received: (_ job: Int, _ bytes: Data) throws -> Void) throws {
        let mine = Array(stride(from: rank, to: count, by: size))
        guard rank == 0 else {
            for job in mine {
                var message = withUnsafeBytes(of: Int64(job).littleEndian) { Data($0) }
                message.append(try work(job))
                try send(message, to: 0, tag: tag)
            }
            return
        }
        var done = 0
        func take(_ envelope: Envelope) throws {
            let message = try receive(envelope)
            guard message.count >= 8 else { throw MPIError.unexpectedMessage(from: envelope.source, message: "a job's result without its index") }
            let job = Int(Int64(littleEndian: message.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: Int64.self) }))
            guard job >= 0, job < count, job % size == envelope.source else {
                throw MPIError.unexpectedMessage(from: envelope.source, message: "the result of job \(job), which is not one of its \(count) jobs")
            }
            try received(job, Data(message.dropFirst(8)))
            done += 1
        }
        let own = OwnJobs()
        let mode = credence_enter_flush_to_zero()   // the caller's mode, read by setting and restoring it
        credence_restore_floating_point_mode(mode)
        try withoutActuallyEscaping(work) { work in
            own.work = work
            let thread = Thread {
                credence_restore_floating_point_mode(mode)
                for job in mine where !own.cancelled {
                    own.finish(job, Result { try own.work!(job) })
                }
                own.end()
            }
            thread.name = "credence-rank0-jobs"
            thread.stackSize = 16 << 20  // as the bench's worker thread: graph models recurse in their pullbacks
            thread.start()
            defer {  // the closure must not outlive this call (the Thread object may)
                own.cancelAndWait()
                own.work = nil
            }
            while done < count {
                var progressed = false
                for (job, outcome) in own.takeFinished() {
                    try received(job, try outcome.get())
                    done += 1
                    progressed = true
                }
                while let envelope = try poll(tag: tag) {
                    try take(envelope)
                    progressed = true
                }
                if !progressed { own.waitForNews(seconds: 0.005) }
            }
        }
    }

    /// Ranks this one gave up as dead (`giveUp`).
    public private(set) var lostRanks: Set<Int> = []

    /// Records that `rank` died (a coordinator stopped hearing from it). `MPI_Finalize` is a
    /// collective that Open MPI 4.1 cannot always complete with a dead rank — it may wait for
    /// it forever — so a world that lost a rank leaves without it.
    public func giveUp(_ rank: Int) {
        lock.lock()
        lostRanks.insert(rank)
        lock.unlock()
    }

    /// `MPI_Finalize` (once; later calls do nothing). Every rank calls it before exiting —
    /// but for a world that lost ranks (see `giveUp`).
    public func finalize() {
        lock.lock()
        defer { lock.unlock() }
        guard !finalized else { return }
        finalized = true
        guard lostRanks.isEmpty else { return }
        _ = credence_mpi_finalize()
    }

    /// Ends every rank of the job (`MPI_Abort`), for an error one rank cannot recover from.
    public func abort(code: Int32) -> Never {
        _ = credence_mpi_abort(code)
        exit(code)
    }

    private func serialized<T>(_ body: () throws -> T) throws -> T {
        lock.lock()
        defer { lock.unlock() }
        guard !finalized else { throw MPIError.call(name: "MPI", code: 0, message: "the MPI world was already finalized") }
        return try body()
    }

    private static func check(_ code: Int32, _ name: String) throws {
        guard code != 0 else { return }
        var text = [CChar](repeating: 0, count: 512)
        credence_mpi_error_string(code, &text, text.count)
        throw MPIError.call(name: name, code: code, message: String(cString: text))
    }
}

/// Errors of the MPI layer.
public enum MPIError: Error, CustomStringConvertible, Equatable {
    /// A launcher started the process but Open MPI's library cannot be opened or is not Open MPI.
    case libraryUnavailable(reason: String, requested: String?)
    /// An MPI call failed.
    case call(name: String, code: Int32, message: String)
    /// A message another rank sent does not fit the protocol (different Credence versions?).
    case unexpectedMessage(from: Int, message: String)

    public var description: String {
        switch self {
        case let .libraryUnavailable(reason, requested):
            return "this process was started by an MPI launcher, but "
                + (requested.map { "CREDENCE_MPI_LIBRARY=\($0)" } ?? "Open MPI's libmpi.so.40")
                + " cannot be used: \(reason). Install Open MPI (Debian: apt-get install openmpi-bin), or point "
                + "CREDENCE_MPI_LIBRARY at the cluster's Open MPI libmpi.so"
        case let .call(name, code, message):
            return "\(name) failed (\(code)): \(message)"
        case let .unexpectedMessage(rank, message):
            return "rank \(rank) sent a message this rank cannot read (\(message)); are all ranks running the same credence?"
        }
    }
}

/// Rank 0's own jobs of `MPIWorld.dealOut`, finished on their thread and taken on the caller's.
private final class OwnJobs: @unchecked Sendable {
    /// The caller's job, held only while `dealOut` runs.
    var work: ((Int) throws -> Data)?
    private let condition = NSCondition()
    private var finished: [(Int, Result<Data, Error>)] = []
    private var ended = false
    private var stopping = false

    var cancelled: Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopping
    }

    func finish(_ job: Int, _ outcome: Result<Data, Error>) {
        condition.lock()
        finished.append((job, outcome))
        if case .failure = outcome { stopping = true }
        condition.signal()
        condition.unlock()
    }

    func takeFinished() -> [(Int, Result<Data, Error>)] {
        condition.lock()
        defer { finished = []; condition.unlock() }
        return finished
    }

    /// Waits `seconds`, or less when a job finishes meanwhile.
    func waitForNews(seconds: Double) {
        condition.lock()
        if finished.isEmpty { _ = condition.wait(until: Date().addingTimeInterval(seconds)) }
        condition.unlock()
    }

    func end() {
        condition.lock()
        ended = true
        condition.broadcast()
        condition.unlock()
    }

    /// Stops after the job in progress and waits for the thread to end.
    func cancelAndWait() {
        condition.lock()
        stopping = true
        while !ended { condition.wait() }
        condition.unlock()
    }
}
