import Credence
import Foundation
import Testing

/// `credence bench` under Open MPI's `mpirun` (installed by scripts/setup.sh): the
/// distributed database equals a single-process run's; a worker SIGKILLed mid-suite is
/// given up and its run finished by another rank; a coordinator SIGKILLed loses nothing
/// written and a restart completes the suite; `doctor` reports the job.
@Suite(.serialized) struct DistributedBenchCLITests {
    /// The kill test's four two-moons runs for two seeds: eight runs (MAP and Laplace share
    /// each seed's network).
    static let suite = BenchCLITests.killSuite.replacingOccurrences(of: "\"epochs\": 40", with: "\"seeds\": [0, 1], \"epochs\": 40")

    static var mpirun: String? {
        ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// `mpirun -np ranks credence arguments` (as root too, more ranks than cores allowed);
    /// `recovery` keeps the job alive when a rank dies.
    static func mpiProcess(ranks: Int, _ arguments: [String], recovery: Bool = false, output: Pipe? = nil) throws -> Process {
        let mpirun = try #require(Self.mpirun, "Open MPI's mpirun is missing: run scripts/setup.sh (it installs openmpi-bin)")
        let binary = try #require(CLI.binary, "the credence executable is not built; run `swift build --build-tests` first")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: mpirun)
        process.arguments = ["--allow-run-as-root", "--oversubscribe"] + (recovery ? ["--mca", "orte_enable_recovery", "1"] : [])
            + ["-np", String(ranks), binary.path] + arguments
        // One thread per rank, as the single-process reference runs with.
        process.environment = ProcessInfo.processInfo.environment.merging(["CREDENCE_THREADS": "1"]) { $1 }
        process.standardOutput = output ?? FileHandle.nullDevice
        process.standardError = output ?? FileHandle.nullDevice
        try process.run()
        return process
    }

    static func runMPI(ranks: Int, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let pipe = Pipe()
        let process = try mpiProcess(ranks: ranks, arguments, output: pipe)
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// The pid of `rank` of the job writing `database` (from the ranks' environments).
    static func pid(ofRank rank: Int, database: String) -> pid_t? {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in entries {
            guard let pid = pid_t(entry),
                  let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
                  String(decoding: cmdline, as: UTF8.self).contains(database),
                  let environ = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { continue }
            let variables = String(decoding: environ, as: UTF8.self).split(separator: "\0")
            if variables.contains("OMPI_COMM_WORLD_RANK=\(rank)") { return pid }
        }
        return nil
    }

    /// Waits until `database` holds at least `runs` runs (≤ 300 s), the job still going.
    static func waitForRuns(_ runs: Int, in database: String, while process: Process) throws {
        let deadline = Date().addingTimeInterval(300)
        while process.isRunning, Date() < deadline {
            if FileManager.default.fileExists(atPath: database),
               let count = try? ResultStore(path: database, readOnly: true).count(), count >= runs { return }
            usleep(50_000)
        }
    }

    /// Waits for `process` (mpirun) to end; after `seconds` kills it and its ranks and returns
    /// false, so a hung job fails the test instead of hanging the suite.
    static func waitForExit(_ process: Process, seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        guard process.isRunning else { return true }
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            // /proc/PID/stat: "PID (name) state PPID ..."
            guard let pid = pid_t(entry), let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, pid_t(fields[1]) == process.processIdentifier { kill(pid, SIGKILL) }
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        return false
    }

    /// The suite written to `dir`, and the rows a single process with one thread stores for it.
    static func suiteAndReference(in dir: URL) throws -> (suite: String, expected: [String: String]) {
        let suite = try BenchCLITests.writeSuite(Self.suite, in: dir)
        let path = dir.appendingPathComponent("reference.sqlite").path
        let single = try CLI.run(["bench", suite, "--db", path, "--no-report"], environment: ["CREDENCE_THREADS": "1"])
        #expect(single.status == 0, "\(single.stderr)")
        return (suite, try BenchCLITests.metrics(path))
    }

    @Test func twoRanksWriteTheSingleProcessDatabase() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (suite, expected) = try Self.suiteAndReference(in: dir)
        #expect(expected.count == 8)

        let db = dir.appendingPathComponent("mpi.sqlite").path
        let run = try Self.runMPI(ranks: 2, ["bench", suite, "--db", db, "--no-report"])
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains("MPI: 2 ranks"), "\(run.output)")
        #expect(run.output.contains("· rank 1 done") && run.output.contains("· rank 0 done"), "both ranks ran: \(run.output)")
        let remoteStages = run.output.split(separator: "\n").filter {
            $0.contains("· rank 1 ") && !$0.contains(" started") && !$0.contains(" done in ")
        }
        #expect(!remoteStages.isEmpty, "rank 1's stages reach rank 0's progress lines: \(run.output)")
        #expect(try BenchCLITests.metrics(db) == expected)

        // A second distributed start finds everything stored.
        let again = try Self.runMPI(ranks: 2, ["bench", suite, "--db", db, "--no-report", "--format", "json"])
        #expect(again.status == 0 && again.output.contains("\"completed\":0"), "\(again.output)")

        // With --coordinator-only, rank 0 trains nothing and ranks 1 and 2 run everything.
        let coordinated = dir.appendingPathComponent("coordinated.sqlite").path
        let three = try Self.runMPI(ranks: 3, ["bench", suite, "--db", coordinated, "--no-report", "--coordinator-only"])
        #expect(three.status == 0, "\(three.output)")
        #expect(!three.output.contains("· rank 0 ") && three.output.contains("· rank 2 done"), "\(three.output)")
        #expect(try BenchCLITests.metrics(coordinated) == expected)
    }

    @Test func aKilledWorkerIsGivenUpAndItsRunFinishedElsewhere() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (suite, expected) = try Self.suiteAndReference(in: dir)

        let db = dir.appendingPathComponent("mpi.sqlite").path
        let pipe = Pipe()
        let job = try Self.mpiProcess(ranks: 2, ["bench", suite, "--db", db, "--no-report", "--worker-timeout", "3"],
                                      recovery: true, output: pipe)
        nonisolated(unsafe) var output = Data()
        let reader = DispatchGroup()
        reader.enter()
        DispatchQueue.global().async { output = pipe.fileHandleForReading.readDataToEndOfFile(); reader.leave() }
        try Self.waitForRuns(2, in: db, while: job)
        let worker = try #require(Self.pid(ofRank: 1, database: db), "rank 1 not found")
        kill(worker, SIGKILL)
        #expect(Self.waitForExit(job, seconds: 240), "the job did not end after its worker was killed")
        reader.wait()
        let text = String(decoding: output, as: UTF8.self)
        #expect(job.terminationStatus == 0, "\(text)")
        #expect(text.contains("rank 1 not heard from"), "\(text)")
        #expect(try BenchCLITests.metrics(db) == expected)
    }

    @Test func aKilledCoordinatorLosesNothingWrittenAndARestartCompletes() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (suite, expected) = try Self.suiteAndReference(in: dir)

        let db = dir.appendingPathComponent("mpi.sqlite").path
        let job = try Self.mpiProcess(ranks: 2, ["bench", suite, "--db", db, "--no-report"])
        try Self.waitForRuns(3, in: db, while: job)
        let coordinator = try #require(Self.pid(ofRank: 0, database: db), "rank 0 not found")
        kill(coordinator, SIGKILL)
        #expect(Self.waitForExit(job, seconds: 240), "the job did not end after its coordinator was killed")
        #expect(job.terminationStatus != 0, "mpirun ends the job when its coordinator dies")
        let written = try BenchCLITests.metrics(db)
        #expect(written.count >= 3 && written.count < 8)
        for (key, row) in written { #expect(expected[key] == row, "run \(key) was written wrong") }

        let restart = try Self.runMPI(ranks: 2, ["bench", suite, "--db", db, "--no-report"])
        #expect(restart.status == 0, "\(restart.output)")
        #expect(try BenchCLITests.metrics(db) == expected)
    }

    @Test func doctorReportsTheJob() throws {
        let run = try Self.runMPI(ranks: 2, ["doctor", "--format", "json"])
        #expect(run.status == 0, "\(run.output)")
        // Rank 0 alone prints.
        let object = try #require(try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any], "\(run.output)")
        let mpi = try #require(object["mpi"] as? [String: Any])
        #expect(mpi["worldSize"] as? Int == 2)
        #expect((mpi["version"] as? String)?.contains("Open MPI") == true, "\(mpi)")

        let alone = try CLI.run(["doctor", "--format", "json"], removing: ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"])
        let single = try #require(try CLI.json(alone)["mpi"] as? [String: Any])
        #expect(single["worldSize"] as? Int == 1 && single["launched"] as? Bool == false)
        #expect((single["version"] as? String)?.contains("Open MPI") == true, "found without being launched: \(single)")
    }

    @Test func aLaunchWithoutAUsableLibraryOrOfACommandThatCannotShareIsAClearError() throws {
        let run = try CLI.run(["bench", "quick", "--dry-run"],
                              environment: ["OMPI_COMM_WORLD_SIZE": "2", "CREDENCE_MPI_LIBRARY": "/nonexistent/libmpi.so"])
        #expect(run.status == 1)
        #expect(run.stderr.contains("started by an MPI launcher") && run.stderr.contains("CREDENCE_MPI_LIBRARY=/nonexistent/libmpi.so"),
                "\(run.stderr)")
        // A command that does not share its work out is refused under a launcher.
        let report = try CLI.run(["report", "/nonexistent.sqlite"], environment: ["OMPI_COMM_WORLD_SIZE": "2"])
        #expect(report.status != 0 && report.stderr.contains("`credence report` does not run under mpirun"), "\(report.stderr)")
    }
}
