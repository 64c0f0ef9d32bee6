import Credence
import Foundation
import Testing

/// Writers SIGKILLed in the middle of a write, and files damaged between runs. A write is killed
/// after its first bytes reached the temporary file (`CREDENCE_WRITE_PAUSE_MIDWAY=NAME` holds
/// it there): the file written before is byte-identical and still usable, the command run
/// again succeeds. A file truncated or replaced between runs is refused with its name and what
/// to do, never read as something else or overwritten. (The results database's own kill tests
/// are in `BenchCLITests`.)
@Suite struct KilledWriterTests {
    /// Runs `arguments` with writes of `file`'s name paused midway, SIGKILLs the process as soon
    /// as the temporary file holds bytes, and returns whether it was caught there (within 120 s).
    static func killMidWrite(_ arguments: [String], of file: String) throws -> Bool {
        let url = URL(fileURLWithPath: file)
        let directory = url.deletingLastPathComponent().path, prefix = ".\(url.lastPathComponent)."
        let process = try CLI.start(arguments, environment: ["CREDENCE_WRITE_PAUSE_MIDWAY": url.lastPathComponent])
        func temporaryHoldsBytes() -> Bool {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            return names.contains { name in
                guard name.hasPrefix(prefix), name.hasSuffix(".tmp") else { return false }
                let size = (try? FileManager.default.attributesOfItem(atPath: directory + "/" + name))?[.size] as? Int
                return (size ?? 0) > 0
            }
        }
        let deadline = Date().addingTimeInterval(120)
        var caught = false
        while process.isRunning, Date() < deadline {
            if temporaryHoldsBytes() { caught = true; break }
            usleep(5_000)
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        return caught && process.terminationReason == .uncaughtSignal
    }

    static func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    /// Checkpoints and posteriors (a SWAG archive): killed while the next one is written, the
    /// one before loads and evaluates as it did; the same command then completes.
    @Test func checkpointsAndPosteriorsSurviveAKillMidWrite() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for (name, method) in [("map.safetensors", ["--method", "map"]), ("swag.safetensors", ["--method", "swag", "--set", "swagEpochs=1"])] {
            let file = dir.appendingPathComponent(name).path
            let train = ["train", "--dataset", "two-moons", "--hidden", "16", "--epochs", "2"] + method
            let first = try CLI.run(train + ["--out", file])
            try #require(first.status == 0, "\(first.stderr)")
            let before = try Self.bytes(file)
            let evaluated = try CLI.classification(try CLI.json(try CLI.run(["evaluate", "--checkpoint", file, "--format", "json"])))

            #expect(try Self.killMidWrite(train + ["--seed", "1", "--out", file], of: file), "\(name): the write was not caught midway")
            #expect(try Self.bytes(file) == before, "\(name): the file written before is untouched")
            let again = try CLI.classification(try CLI.json(try CLI.run(["evaluate", "--checkpoint", file, "--format", "json"])))
            #expect(CLI.differences(again, evaluated).isEmpty, "\(name) evaluates as before")

            let rerun = try CLI.run(train + ["--seed", "1", "--out", file])
            #expect(rerun.status == 0, "\(rerun.stderr)")
            #expect(try Self.bytes(file) != before)
        }
    }

    /// The report, adversarial examples (`.npy`) and certificates (JSON).
    @Test func reportAdversarialExamplesAndCertificatesSurviveAKillMidWrite() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let network = dir.appendingPathComponent("m.safetensors").path
        try #require(try CLI.run(["train", "--dataset", "two-moons", "--hidden", "16", "--epochs", "3", "--out", network]).status == 0)

        let suite = try BenchCLITests.writeSuite("""
            {"name": "kill-report", "datasets": ["two-moons"], "models": [{"kind": "mlp", "hidden": [4]}],
             "methods": [{"name": "map"}], "seeds": [0], "epochs": 1}
            """, in: dir)
        let db = dir.appendingPathComponent("b.sqlite").path, report = dir.appendingPathComponent("report").path
        try #require(try CLI.run(["bench", suite, "--db", db, "--no-report", "--runs-dir", dir.appendingPathComponent("runs").path]).status == 0)
        try #require(try CLI.run(["report", db, "--out", report]).status == 0)
        let page = report + "/index.html", html = try Self.bytes(page)
        #expect(try Self.killMidWrite(["report", db, "--out", report, "--title", "another title"], of: page))
        #expect(try Self.bytes(page) == html, "the report written before is untouched")

        let adversarials = dir.appendingPathComponent("adv.npy").path
        let attack = ["attack", "--checkpoint", network, "--attack", "fgsm", "--examples", "50", "--save-adversarials", adversarials]
        try #require(try CLI.run(attack + ["--eps", "0.1"]).status == 0)
        let npy = try Self.bytes(adversarials)
        #expect(try Self.killMidWrite(attack + ["--eps", "0.3"], of: adversarials))
        #expect(try Self.bytes(adversarials) == npy)
        #expect(try NumPy.read(adversarials).shape == [50, 2])

        // Smoothing writes its certificates after every example: a file holding the first 4,
        // continued to 8, is killed while the 5th is written.
        let certificate = dir.appendingPathComponent("cert.json").path
        let certify = ["certify", "--checkpoint", network, "--sigma", "0.25", "--n", "200", "--out", certificate]
        try #require(try CLI.run(certify + ["--examples", "4"]).status == 0)
        var partial = try #require(try JSONSerialization.jsonObject(with: Self.bytes(certificate)) as? [String: Any])
        var settings = try #require(partial["settings"] as? [String: Any])
        settings["examples"] = 8
        partial["settings"] = settings
        try JSONSerialization.data(withJSONObject: partial).write(to: URL(fileURLWithPath: certificate))
        let json = try Self.bytes(certificate)
        #expect(try Self.killMidWrite(certify + ["--examples", "8"], of: certificate))
        #expect(try Self.bytes(certificate) == json)
        let continued = try CLI.run(certify + ["--examples", "8", "--format", "json"])
        #expect(continued.status == 0, "\(continued.stderr)")
        #expect((try CLI.json(continued)["perExample"] as? [[String: Any]])?.count == 8)
    }

    /// Truncates `path` to `fraction` of its size.
    static func truncate(_ path: String, to fraction: Double) throws {
        let size = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.truncate(atOffset: UInt64(Double(size) * fraction))
        try handle.close()
    }

    /// A checkpoint, a method's phase state (SWAG's collection), a posterior, a results database
    /// and a certificate file truncated between runs: each refused with the file's name, what
    /// happened and what to do — and left as it was, not overwritten. (A database replaced by
    /// another SQLite file: `ResultStoreTests`.)
    @Test func filesTruncatedOrReplacedBetweenRunsAreRefusedAndKept() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
        func refusedAndKept(_ arguments: [String], file: String, saying phrases: [String]) throws {
            let before = try Self.bytes(file)
            let run = try CLI.run(arguments)
            #expect(run.status != 0 && !run.stderr.contains("Fatal error"), "\(arguments): \(run.stderr)")
            for phrase in phrases + [file] { #expect(run.stderr.contains(phrase), "\(arguments) does not say '\(phrase)': \(run.stderr)") }
            #expect(try Self.bytes(file) == before, "\(file) was changed")
        }

        let train = ["train", "--dataset", "two-moons", "--hidden", "16", "--epochs", "2", "--out", path("m.safetensors")]
        try #require(try CLI.run(train).status == 0)
        try Self.truncate(path("m.safetensors"), to: 0.6)
        try refusedAndKept(["train", "--dataset", "two-moons", "--hidden", "16", "--epochs", "3", "--out", path("m.safetensors"), "--resume"],
                           file: path("m.safetensors"), saying: ["cannot resume", "damaged", "truncated", "without --resume"])
        try refusedAndKept(["evaluate", "--checkpoint", path("m.safetensors")], file: path("m.safetensors"), saying: ["truncated"])

        let swag = ["train", "--dataset", "two-moons", "--hidden", "16", "--epochs", "2", "--method", "swag", "--set", "swagEpochs=2",
                    "--out", path("s.safetensors")]
        try #require(try CLI.run(swag).status == 0)
        let collection = path("s.swag-collection.member-0.safetensors")
        try Self.truncate(collection, to: 0.5)
        try refusedAndKept(swag + ["--resume"], file: collection, saying: ["cannot resume", "damaged", "truncated"])

        let suite = try BenchCLITests.writeSuite("""
            {"name": "cut", "datasets": ["two-moons"], "models": [{"kind": "mlp", "hidden": [4]}], "methods": [{"name": "map"}],
             "seeds": [0, 1, 2], "epochs": 1}
            """, in: dir)
        let bench = ["bench", suite, "--db", path("b.sqlite"), "--no-report", "--runs-dir", path("runs")]
        try #require(try CLI.run(bench).status == 0)
        try Self.truncate(path("b.sqlite"), to: 0.5)
        try refusedAndKept(bench, file: path("b.sqlite"), saying: ["corrupt", "move it away"])
        try refusedAndKept(["report", path("b.sqlite"), "--out", path("report")], file: path("b.sqlite"), saying: ["corrupt"])
        #expect(!FileManager.default.fileExists(atPath: path("report")))

        let certify = ["certify", "--checkpoint", path("s.safetensors"), "--sigma", "0.25", "--n", "200", "--examples", "3",
                       "--out", path("c.json")]
        try #require(try CLI.run(certify).status == 0)
        try Self.truncate(path("c.json"), to: 0.5)
        try refusedAndKept(certify, file: path("c.json"), saying: ["not a certification result", "remove it or pass another --out"])
    }
}
