import ArgumentParser
import Credence
import Foundation

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Run a benchmark suite (data sets × models × methods × seeds) into a SQLite results database.",
        discussion: """
        SUITE is a suite file (JSON, or YAML with a .yaml/.yml extension) or a built-in suite: \
        quick (the default: synthetic data, 5 methods, 3 seeds; well under a minute in a \
        release build), fashion-mnist (the full comparison, 16 methods under every shift and OOD set), \
        fashion-mnist-resnet20 (its ResNet-20 group) and gold-standard (HMC beside the \
        approximations). `--list` describes them.

        Every finished run is written to the database (default credence-results/bench.sqlite) \
        in one transaction, keyed by a hash of its configuration; runs already there are \
        skipped, so a suite killed at any moment and started again loses no finished run and \
        stores none twice. Unfinished training resumes from checkpoints kept next to the \
        database (DB.runs/). At the end the whole database is rendered as an HTML report \
        (default credence-results/report/index.html: a `report` folder next to the database), \
        as `credence report credence-results/bench.sqlite --out credence-results/report` does.
        """)

    @Argument(help: "Suite file (.json, .yaml) or built-in suite name (quick, fashion-mnist, fashion-mnist-resnet20, gold-standard).")
    var suite: String = "quick"
    @Option(help: "Results database (SQLite; created if missing). Checkpoints go to DB.runs/ next to it.")
    var db: String = "credence-results/bench.sqlite"
    @Option(help: "Folder for training checkpoints (default: DB.runs next to the database). Under mpirun every rank must reach it: a shared file system across machines.")
    var runsDir: String?
    @Flag(help: "Under mpirun: rank 0 only hands out runs and writes the database, training nothing itself (for large jobs).")
    var coordinatorOnly = false
    @Option(help: "Under mpirun: seconds without word from a worker rank (it reports every few seconds) before its run goes to another rank. Needs `mpirun --mca orte_enable_recovery 1`, or Open MPI ends the job when a rank dies.")
    var workerTimeout: Double = 60
    @Flag(help: .hidden) var noWork = false  // every run returns an empty record at once: measures the coordinator (scripts/mpi-benchmark.sh)
    @Option(help: "Folder for the HTML report of the database (default: `report` next to the database, e.g. credence-results/report).")
    var report: String?
    @Flag(help: "Do not write the HTML report.")
    var noReport = false
    @Option(help: "Directory holding the data sets' files (default: each data set's standard location).")
    var dataDir: String?
    @Flag(help: "List the built-in suites and exit.")
    var list = false
    @Flag(help: "Check and expand the suite, list its runs (and which are already stored), and exit without training.")
    var dryRun = false
    @Option(help: "Remove the stored run with this key from --db and exit (repeatable); a later bench of its suite runs it again, resuming from its checkpoints. For a run whose record cannot be read.")
    var forget: [String] = []
    @Option(help: "Output format: a summary table, or one JSON object on stdout.")
    var format: OutputFormat = .text

    func run() throws {
        let world = try reportingErrors { try MPIWorld.joined() }
        if let world, world.rank != 0 {
            // A worker rank: runs what rank 0 hands out; rank 0 alone reads the suite and database and prints.
            if list || dryRun { return }
            let environment = RunEnvironment(cacheDirectory: runsDirectory, dataDirectory: dataDir)
            return try reportingErrors {
                try serveBenchRuns(world: world, environment: environment, heartbeat: min(5, workerTimeout / 4), execute: executor)
            }
        }
        if list { return try listSuites() }
        if !forget.isEmpty {
            let store = try reportingErrors { try ResultStore(path: db) }
            try reportingErrors { try BenchRunner(store: store, cacheDirectory: runsDirectory, dataDirectory: dataDir).forget(forget) }
            return print("removed \(forget.count) run\(forget.count == 1 ? "" : "s") from \(db): \(forget.joined(separator: ", "))")
        }
        let loaded = try reportingErrors { try Suite.load(suite) }
        let store = try reportingErrors { try ResultStore(path: db) }
        if dryRun { return try showPlan(loaded, store: store) }

        let view = BenchProgressView()
        let runner = BenchRunner(store: store, cacheDirectory: runsDirectory, dataDirectory: dataDir)
        let outcome = try reportingErrors {
            if let world {
                Terminal.error("MPI: \(world.size) ranks (\(world.libraryVersion)); rank 0 coordinates"
                               + (coordinatorOnly ? "" : " and runs") + "; checkpoints in \(runner.environment.cacheDirectory)")
                return try runner.run(loaded, world: world, coordinatorRuns: !coordinatorOnly, workerTimeout: workerTimeout,
                                      execute: executor, onEvent: view.handle)
            }
            return try runner.run(loaded, onEvent: view.handle)
        }
        let rows = summarize(outcome.records)
        let reportPath = noReport ? nil : try reportingErrors { () throws -> String in
            let records = try store.records()
            let directory = report ?? URL(fileURLWithPath: db).deletingLastPathComponent().appendingPathComponent("report").path
            return try writeReport(records, to: directory, gallery: shiftGallery(for: records, dataDirectory: dataDir))
        }
        if format == .json {
            try printJSON(BenchSummaryOutput(suite: outcome.suite, source: loaded.source, database: outcome.database,
                                             total: outcome.total, skipped: outcome.skipped, completed: outcome.completed,
                                             failures: outcome.failures, seconds: outcome.seconds, report: reportPath, rows: rows))
        } else {
            print("suite \(outcome.suite): \(outcome.total) runs — \(outcome.skipped) already stored, \(outcome.completed) run now"
                  + (outcome.failures.isEmpty ? "" : ", \(outcome.failures.count) failed")
                  + " (\(Terminal.duration(outcome.seconds))) → \(outcome.database)")
            printTable(rows)
            for failure in outcome.failures {
                print("failed: \(failure.label) on \(failure.dataset), seed \(failure.seed): \(failure.message)")
            }
            if let reportPath { print("report: \(reportPath)") }
        }
        if !outcome.failures.isEmpty { throw ExitCode.failure }
    }

    /// Where checkpoints go: `--runs-dir`, else DB.runs (every rank computes the same path).
    var runsDirectory: String { runsDir ?? db + ".runs" }
    /// What every rank does with a run: train and evaluate it, or nothing (`--no-work`).
    var executor: RunExecutor { noWork ? BenchRunner.noWork : runTimed }

    func validate() throws {
        if coordinatorOnly, MPIWorld.launch() == nil {
            throw ValidationError("--coordinator-only needs an MPI launch (mpirun -np N credence bench ...)")
        }
        if !forget.isEmpty, MPIWorld.launch() != nil {
            throw ValidationError("--forget edits the database: run it as one process, not under mpirun")
        }
        if noWork, MPIWorld.launch() == nil {
            throw ValidationError("--no-work measures a distributed bench's coordinator: run it under mpirun")
        }
        guard workerTimeout.isFinite, workerTimeout >= 1 else {
            throw ValidationError("--worker-timeout must be at least 1 second, got \(workerTimeout)")
        }
    }

    func listSuites() throws {
        if format == .json {
            return try printJSON(BuiltInSuite.all.map { ["name": $0.name, "description": $0.summary] })
        }
        for builtIn in BuiltInSuite.all {
            let runs = (try? Suite.load(builtIn.name).configurations.count) ?? 0
            print("\(builtIn.name) (\(runs) runs): \(builtIn.summary)")
        }
    }

    func showPlan(_ suite: Suite, store: ResultStore) throws {
        let stored = try reportingErrors { try store.keys() }
        if format == .json {
            struct Planned: Encodable { var key: String; var label: String; var stored: Bool; var configuration: RunConfiguration }
            return try printJSON(suite.configurations.map {
                Planned(key: $0.key, label: $0.label, stored: stored.contains($0.key), configuration: $0)
            })
        }
        let pending = suite.configurations.filter { !stored.contains($0.key) }.count
        print("suite \(suite.name) (\(suite.source)): \(suite.configurations.count) runs, \(pending) to run")
        for c in suite.configurations {
            print("\(c.key)  \(stored.contains(c.key) ? "stored " : "pending")  \(c.dataset.rawValue)  seed \(c.seed)  \(c.label)")
        }
    }

    func printTable(_ rows: [BenchSummaryRow]) {
        guard !rows.isEmpty else { return }
        func f(_ v: Double?, _ format: String = "%.4f") -> String { v.map { String(format: format, $0) } ?? "–" }
        let header = ["dataset", "model", "method", "runs", "acc", "ECE", "RMSE", "NLL", "OOD AUROC", "shift acc", "fit s", "pred s/1k", "peak MB"]
        let body = rows.map { r in
            [r.dataset, r.model, r.method, String(r.runs), f(r.accuracy), f(r.expectedCalibrationError), f(r.rootMeanSquaredError),
             f(r.negativeLogLikelihood), f(r.oodAUROC), f(r.shiftedAccuracy), f(r.fitSeconds, "%.1f"),
             f(r.predictionSecondsPer1000, "%.3f"), f(r.peakResidentMegabytes, "%.0f")]
        }
        let widths = header.indices.map { i in ([header[i]] + body.map { $0[i] }).map(\.count).max()! }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in
                i < 3 ? cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[i] - cell.count) + cell
            }.joined(separator: "  ")
        }
        print(line(header))
        for cells in body { print(line(cells)) }
    }
}

/// The `--format json` object of `credence bench`.
struct BenchSummaryOutput: Encodable {
    var suite: String
    var source: String
    var database: String
    var total: Int
    var skipped: Int
    var completed: Int
    var failures: [BenchFailure]
    var seconds: Double
    /// The HTML report written (nil with --no-report).
    var report: String?
    var rows: [BenchSummaryRow]
}

/// Draws the suite's progress on stderr: on a terminal one redrawn line (overall bar with
/// runs done / total and ETA, the current run, its training progress); otherwise plain
/// lines at run starts and ends, stages, and epoch ends at most every few seconds.
final class BenchProgressView {
    var total = 0, skipped = 0
    var current: RunProgress?
    var stage = ""
    var lastLine = Date.distantPast

    func handle(_ event: BenchEvent) {
        switch event {
        case let .planned(total, skipped, pending):
            self.total = total
            self.skipped = skipped
            Terminal.error("\(total) runs: \(skipped) already stored, \(pending) to run")
        case let .runStarted(progress):
            // Stages and training progress come from this process's run (rank 0's under MPI).
            if progress.rank ?? 0 == 0 {
                current = progress
                stage = ""
            }
            if !Terminal.isInteractive || progress.rank ?? 0 != 0 { clear(); say("\(prefix(progress)) started") } else { redraw("") }
        case let .stage(text):
            stage = text
            if Terminal.isInteractive {
                redraw("")
            } else if !text.hasPrefix("evaluating shift") || Date().timeIntervalSince(lastLine) > 10 {
                say("\(current.map(prefix) ?? "") \(text)")
            }
        case let .training(p):
            let fraction = Double(p.step) / Double(max(p.stepsPerEpoch, 1))
            let status = String(format: "epoch %d/%d %3.0f%%  loss %.4f  ETA %@", p.epoch, p.epochs, fraction * 100, p.loss,
                                Terminal.duration(p.remaining))
            if Terminal.isInteractive {
                redraw(status)
            } else if p.isEpochEnd && (p.epoch == p.epochs || Date().timeIntervalSince(lastLine) > 5) {
                say("\(current.map(prefix) ?? "") \(stage) \(status)")
            }
        case let .runFinished(progress, record, seconds):
            var figures: [String] = []
            if let c = record.metrics.classification { figures.append(String(format: "acc %.4f, NLL %.4f, ECE %.4f", c.accuracy, c.negativeLogLikelihood, c.expectedCalibrationError)) }
            if let r = record.metrics.regression { figures.append(String(format: "RMSE %.4f, NLL %.4f", r.rootMeanSquaredError, r.negativeLogLikelihood)) }
            clear()
            say("\(prefix(progress)) done in \(Terminal.duration(seconds)): " + figures.joined(separator: "; "))
        case let .runFailed(progress, message):
            clear()
            say("\(prefix(progress)) FAILED: \(message)")
        case let .remoteStage(progress, text):
            clear()
            say("\(prefix(progress)) \(text)")
        case let .workerLost(rank, silent, requeued):
            clear()
            say("rank \(rank) not heard from for \(Terminal.duration(silent)): given up"
                + (requeued.map { "; \($0.label) · \($0.dataset.rawValue) · seed \($0.seed) goes back to the queue" } ?? ""))
        }
    }

    /// "[3/12] ensemble (members 3) · two-moons · seed 0" (and "· rank 2" under MPI).
    func prefix(_ p: RunProgress) -> String {
        "[\(skipped + p.index)/\(total)] \(p.configuration.label) · \(p.configuration.dataset.rawValue) · seed \(p.configuration.seed)"
            + (p.rank.map { " · rank \($0)" } ?? "")
    }

    func say(_ line: String) {
        Terminal.error(line)
        lastLine = Date()
    }

    func clear() {
        if Terminal.isInteractive { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
    }

    func redraw(_ status: String) {
        guard let p = current else { return }
        let done = skipped + p.index - 1, width = 16
        let filled = total > 0 ? Int(Double(done) / Double(total) * Double(width)) : 0
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        let eta = p.remaining.map { "ETA \(Terminal.duration($0))" } ?? "ETA --:--"
        var line = "\(done)/\(total) \(bar) \(eta) │ \(p.configuration.label) · \(p.configuration.dataset.rawValue) · seed \(p.configuration.seed)"
        if !stage.isEmpty { line += " │ \(stage)" }
        if !status.isEmpty { line += " │ \(status)" }
        // One terminal row, or the carriage return would redraw only its last part.
        let columns = Self.terminalColumns - 1
        if line.count > columns { line = String(line.prefix(Swift.max(columns - 1, 0))) + "…" }
        FileHandle.standardError.write(Data(("\r\u{1B}[2K" + line).utf8))
    }

    static var terminalColumns: Int {
        var size = winsize()
        guard ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return 120 }
        return Int(size.ws_col)
    }
}
