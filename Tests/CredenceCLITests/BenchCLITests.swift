import Credence
import Foundation
import Testing

/// `credence bench` end to end: output, bad suites, and the kill test — SIGKILL at random
/// moments, restart until done, and the database equals the uninterrupted run's.
@Suite(.serialized) struct BenchCLITests {
    /// Four quick two-moons runs; MAP and Laplace share a network.
    static let killSuite = """
        {
          "name": "kill-test",
          "datasets": ["two-moons"],
          "models": [{"kind": "mlp", "hidden": [32, 32]}],
          "methods": [
            {"name": "map"},
            {"name": "mc-dropout", "dropout": 0.1, "samples": 16},
            {"name": "ensemble", "members": 2},
            {"name": "laplace"}
          ],
          "epochs": 40, "batchSize": 50, "learningRate": 0.005,
          "evaluations": ["in-distribution", "ood"], "ood": ["far"]
        }
        """

    static func writeSuite(_ text: String, in dir: URL, name: String = "suite.json") throws -> String {
        let path = dir.appendingPathComponent(name).path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// The stored records keyed by run, without what differs between two executions
    /// (finish time, wall time, measured times and memory).
    static func metrics(_ database: String) throws -> [String: String] {
        let store = try ResultStore(path: database, readOnly: true)
        var result: [String: String] = [:]
        for record in try store.records() {
            var r = record
            r.finishedAt = Date(timeIntervalSinceReferenceDate: 0)
            r.seconds = nil
            r.metrics.scalability?.fitSeconds = 0
            r.metrics.scalability?.predictionSecondsPer1000 = 0
            r.metrics.scalability?.peakResidentBytes = 0
            #expect(result[r.key] == nil, "run \(r.key) stored twice")
            result[r.key] = String(decoding: try ResultStore.encoder.encode(r), as: UTF8.self)
        }
        #expect(try store.count() == result.count)
        return result
    }

    @Test func killedAtRandomMomentsAndRestartedEndsWithTheUninterruptedDatabase() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let suite = try Self.writeSuite(Self.killSuite, in: dir)
        let reference = dir.appendingPathComponent("reference.sqlite").path
        let killed = dir.appendingPathComponent("killed.sqlite").path

        let start = Date()
        let uninterrupted = try CLI.run(["bench", suite, "--db", reference, "--no-report", "--format", "json"])
        #expect(uninterrupted.status == 0, "\(uninterrupted.stderr)")
        let fullSeconds = Date().timeIntervalSince(start)
        let summary = try CLI.json(uninterrupted)
        #expect(summary["total"] as? Int == 4 && summary["completed"] as? Int == 4)
        #expect((summary["rows"] as? [[String: Any]])?.count == 4)

        // Kill at seeded random moments, each 0.1 s + 3–25 % of a full run's duration after a
        // start (so kills land in training, evaluation and inserts alike), until a start
        // finishes by itself; after 10 kills the last start is left to finish.
        // `scripts/kill-test.sh` repeats this with other seeds (CREDENCE_KILL_TEST_SEED).
        let seed = ProcessInfo.processInfo.environment["CREDENCE_KILL_TEST_SEED"].flatMap(UInt64.init) ?? 20_251_122
        var generator = SeededGenerator(seed: seed)
        var kills = 0, storedBeforeKill: [Int] = [], delays: [Double] = []
        while true {
            let process = try CLI.start(["bench", suite, "--db", killed, "--no-report"])
            guard kills < 10 else { process.waitUntilExit(); #expect(process.terminationStatus == 0); break }
            let delay = Double.random(in: 0.03...0.25, using: &generator) * fullSeconds + 0.1
            delays.append(delay)
            let deadline = Date().addingTimeInterval(delay)
            while process.isRunning && Date() < deadline { usleep(2_000) }
            if !process.isRunning {
                process.waitUntilExit()
                #expect(process.terminationStatus == 0)
                break
            }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            if process.terminationReason == .exit {  // it finished between the check and the kill
                #expect(process.terminationStatus == 0)
                break
            }
            kills += 1
            // Every kill leaves a readable database with only complete rows.
            if FileManager.default.fileExists(atPath: killed) {
                storedBeforeKill.append(try Self.metrics(killed).count)
            }
        }
        #expect(kills >= 3, "the kill test killed the suite only \(kills) time(s) (delays \(delays), a full run \(fullSeconds) s)")
        print("kill test (seed \(seed)): \(kills) kills at \(delays.map { String(format: "%.2f", $0) }.joined(separator: ", ")) s; rows stored at each kill \(storedBeforeKill)")
        #expect(storedBeforeKill == storedBeforeKill.sorted(), "a finished run was lost: \(storedBeforeKill)")

        let expected = try Self.metrics(reference), got = try Self.metrics(killed)
        #expect(got.keys.sorted() == expected.keys.sorted())
        for key in expected.keys.sorted() {
            #expect(got[key] == expected[key], "run \(key) differs after \(kills) kills")
        }
        // And a restart now has nothing to do.
        let again = try CLI.run(["bench", suite, "--db", killed, "--no-report", "--format", "json"])
        #expect(again.status == 0)
        let json = try CLI.json(again)
        #expect(json["skipped"] as? Int == 4 && json["completed"] as? Int == 0)
    }

    @Test func aKillInsideTheCommitLeavesNoPartialRow() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let suite = try Self.writeSuite("""
            {"datasets": ["two-moons"], "models": [{"kind": "mlp", "hidden": [8]}],
             "methods": [{"name": "map"}, {"name": "laplace"}], "epochs": 2}
            """, in: dir)
        let db = dir.appendingPathComponent("b.sqlite").path
        // The store sleeps between writing the row and COMMIT: kill it there.
        let process = try CLI.start(["bench", suite, "--db", db, "--no-report"], environment: ["CREDENCE_STORE_PAUSE_BEFORE_COMMIT": "30"])
        let journal = db + "-journal"
        let deadline = Date().addingTimeInterval(60)
        var paused = false
        while process.isRunning && Date() < deadline && !paused {
            // Creating the tables also journals, for milliseconds; the paused insert's journal stays.
            if FileManager.default.fileExists(atPath: journal) {
                usleep(300_000)
                paused = FileManager.default.fileExists(atPath: journal)
            } else {
                usleep(2_000)
            }
        }
        #expect(paused, "the insert transaction never started")
        func size(_ path: String) -> Int { ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0 }
        let sizeAtKill = size(db)
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal)
        #expect(FileManager.default.fileExists(atPath: journal), "a hot journal is left behind")

        // A reader opening it first (`credence report`) gets the interrupted transaction rolled
        // back: no row, intact file. (A read-only connection alone cannot roll a hot journal back.)
        let reader = try ResultStore(path: db, readOnly: true)
        #expect(try reader.count() == 0)
        #expect(!FileManager.default.fileExists(atPath: journal), "the hot journal was rolled back")
        #expect(size(db) < sizeAtKill, "the half-written row's pages had reached the file and were rolled back")
        let store = try ResultStore(path: db)
        #expect(try store.count() == 0)
        let finished = try CLI.run(["bench", suite, "--db", db, "--no-report", "--format", "json"])
        #expect(finished.status == 0, "\(finished.stderr)")
        #expect(try store.count() == 2)
    }

    @Test func printsATableAndListsSuites() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let suite = try Self.writeSuite("""
            {"name": "smoke", "datasets": ["two-moons"], "models": [{"kind": "mlp", "hidden": [8]}],
             "methods": [{"name": "map"}, {"name": "mc-dropout", "dropout": 0.2, "samples": 4}], "epochs": 2}
            """, in: dir)
        let db = dir.appendingPathComponent("out/b.sqlite").path
        let text = try CLI.run(["bench", suite, "--db", db])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("suite smoke: 2 runs — 0 already stored, 2 run now"))
        #expect(text.stdout.contains("method") && text.stdout.contains("mc-dropout (dropout 0.2)") && text.stdout.contains("mlp 8"))
        let report = dir.appendingPathComponent("out/report/index.html").path
        #expect(text.stdout.contains("report: \(report)") && FileManager.default.fileExists(atPath: report))
        #expect(try String(contentsOfFile: report, encoding: .utf8).contains("mc-dropout"))
        #expect(text.stderr.contains("[1/2] map · two-moons · seed 0") && text.stderr.contains("[2/2]"))

        let plan = try CLI.run(["bench", suite, "--db", db, "--dry-run"])
        #expect(plan.status == 0 && plan.stdout.contains("2 runs, 0 to run") && plan.stdout.contains("stored "))

        let list = try CLI.run(["bench", "--list"])
        #expect(list.status == 0 && list.stdout.contains("quick (60 runs)") && list.stdout.contains("fashion-mnist (32 runs)")
                && list.stdout.contains("gold-standard (60 runs)"))
        let help = try CLI.run(["bench", "--help"])
        #expect(help.stdout.contains("credence-results/bench.sqlite") && help.stdout.contains("credence-results/report"))
    }

    /// `--forget KEY` removes a stored run (the next bench runs it again); an unknown key is
    /// refused and nothing is removed.
    @Test func forgetRemovesAStoredRunThatThenRunsAgain() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let suite = try Self.writeSuite("""
            {"name": "smoke", "datasets": ["two-moons"], "models": [{"kind": "mlp", "hidden": [8]}],
             "methods": [{"name": "map"}], "seeds": [0, 1], "epochs": 2}
            """, in: dir)
        let db = dir.appendingPathComponent("b.sqlite").path
        #expect(try CLI.run(["bench", suite, "--db", db, "--no-report"]).status == 0)
        let store = try ResultStore(path: db, readOnly: true)
        let key = try #require(try store.keys().sorted().first)
        let unknown = try CLI.run(["bench", "--db", db, "--forget", key, "--forget", "feedfacefeedface"])
        #expect(unknown.status != 0 && unknown.stderr.contains("no run with key feedfacefeedface"), "\(unknown.stderr)")
        #expect(try store.count() == 2, "nothing removed")
        let forget = try CLI.run(["bench", "--db", db, "--forget", key])
        #expect(forget.status == 0 && forget.stdout.contains("removed 1 run"), "\(forget.stderr)")
        #expect(try store.count() == 1)
        let again = try CLI.run(["bench", suite, "--db", db, "--no-report"])
        #expect(again.status == 0 && again.stdout.contains("1 already stored, 1 run now"), "\(again.stdout)")
        #expect(try store.contains(key))
    }

    @Test func badSuitesAndDatabasesFailBeforeTrainingWithOneLine() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let suite = try Self.writeSuite("""
            {
              "datasets": ["two-moons"],
              "methods": [{"name": "map"}, {"name": "lapalce"}]
            }
            """, in: dir)
        let db = dir.appendingPathComponent("b.sqlite").path
        let bad = try CLI.run(["bench", suite, "--db", db])
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("error: \(suite) line 3: methods[1].name: unknown method 'lapalce'"), "\(bad.stderr)")
        #expect(!bad.stderr.contains("epoch") && !FileManager.default.fileExists(atPath: db), "nothing ran, no database")

        let unknown = try CLI.run(["bench", "quik", "--db", db])
        #expect(unknown.status == 1 && unknown.stderr.contains("no built-in suite") && unknown.stderr.contains("quick"))

        let notes = dir.appendingPathComponent("notes.txt").path
        try Data(String(repeating: "not a database\n", count: 100).utf8).write(to: URL(fileURLWithPath: notes))
        let notADatabase = try CLI.run(["bench", "--db", notes])
        #expect(notADatabase.status == 1 && notADatabase.stderr.contains("'\(notes)' is not an SQLite database"))
        #expect(!notADatabase.stderr.contains("Fatal error"))
    }
}

/// SplitMix64: reproducible kill moments.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
