import Credence
import Foundation
import Testing

/// Writers under faults, end to end: a full disk (a small tmpfs) and a read-only file system
/// (the tmpfs remounted read-only — root writes through a read-only directory's permissions).
/// Each refusal names the file and says what is wrong, the previous good file or database is
/// intact and usable, and no temporary file is left behind. Needs root (mount), as CI runs.
@Suite(.serialized, .enabled(if: getuid() == 0, "mounting a tmpfs needs root"))
struct FaultInjectionTests {
    /// A tmpfs of `kilobytes` mounted on a fresh directory, unmounted (and removed) by `close`.
    struct SmallDisk {
        let path: String
        init(kilobytes: Int) throws {
            path = try CLI.temporaryDirectory().path
            try Self.mount(["-t", "tmpfs", "-o", "size=\(kilobytes)k", "tmpfs", path])
        }
        func remountReadOnly() throws { try Self.mount(["-o", "remount,ro", path]) }
        func file(_ name: String) -> String { path + "/" + name }
        /// Fills what space is left with a file (`filler`), so the next write finds the disk full.
        func fill() {
            let handle = FileHandle(forWritingAtPath: file("filler")) ?? {
                FileManager.default.createFile(atPath: file("filler"), contents: nil)
                return FileHandle(forWritingAtPath: file("filler"))!
            }()
            let block = Data(count: 4096)
            while (try? handle.write(contentsOf: block)) != nil {}
            try? handle.close()
        }
        func close() {
            _ = try? CLI.runTool("/bin/umount", [path])
            try? FileManager.default.removeItem(atPath: path)
        }
        var leftovers: [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter { $0.contains(".tmp") || $0.hasPrefix(".") }
        }
        static func mount(_ arguments: [String]) throws {
            let mounted = try CLI.runTool("/bin/mount", arguments)
            try #require(mounted.status == 0, "mount \(arguments.joined(separator: " ")) failed: \(mounted.output)")
        }
    }

    /// Checkpoints and posteriors: a write that finds the disk full or read-only fails with the
    /// file's name, and the checkpoint already there still loads.
    @Test func checkpointsAndPosteriorsOnAFullOrReadOnlyDisk() throws {
        let disk = try SmallDisk(kilobytes: 256)
        defer { disk.close() }
        let model = disk.file("m.safetensors")
        let small = try CLI.run(["train", "--dataset", "two-moons", "--hidden", "8", "--epochs", "1", "--out", model])
        #expect(small.status == 0, "\(small.stderr)")
        let before = try Data(contentsOf: URL(fileURLWithPath: model))
        // 784-free but big: two moons through 256-256 is ~67k parameters, 270 kB — more than the disk.
        let big = try CLI.run(["train", "--dataset", "two-moons", "--hidden", "256,256", "--epochs", "1", "--out", model])
        #expect(big.status != 0 && big.stderr.contains(model) && !big.stderr.contains("Fatal error"), "\(big.stderr)")
        #expect(big.stderr.lowercased().contains("space"), "says the disk is full: \(big.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: model)) == before, "the earlier checkpoint is untouched")
        #expect(try CLI.run(["evaluate", "--checkpoint", model]).status == 0, "and still loads")
        let swag = try CLI.run(["train", "--dataset", "two-moons", "--hidden", "256,256", "--epochs", "1", "--method", "swag",
                                "--set", "swagEpochs=1", "--out", disk.file("swag.safetensors")])
        #expect(swag.status != 0 && swag.stderr.contains(disk.path) && !swag.stderr.contains("Fatal error"), "\(swag.stderr)")

        try disk.remountReadOnly()
        let readOnly = try CLI.run(["train", "--dataset", "two-moons", "--hidden", "8", "--epochs", "1", "--seed", "1", "--out", model])
        #expect(readOnly.status != 0 && readOnly.stderr.contains(model) && readOnly.stderr.lowercased().contains("read-only"),
                "\(readOnly.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: model)) == before)
        #expect(disk.leftovers.isEmpty, "\(disk.leftovers)")
    }

    /// The results database and the report: a bench that finds the disk full stops with a
    /// clear error, the runs stored before are intact (a later bench on free space resumes),
    /// and the report already written stays.
    @Test func theResultsDatabaseAndTheReportOnAFullDisk() throws {
        let disk = try SmallDisk(kilobytes: 1024)
        defer { disk.close() }
        let suiteDir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: suiteDir) }
        let suite = try BenchCLITests.writeSuite("""
            {"name": "disk", "datasets": ["two-moons"], "models": [{"kind": "mlp", "hidden": [4]}], "methods": [{"name": "map"}],
             "seeds": [0, 1, 2], "epochs": 1}
            """, in: suiteDir)
        let db = disk.file("b.sqlite"), report = disk.file("report")
        let first = try CLI.run(["bench", suite, "--db", db, "--report", report, "--runs-dir", suiteDir.appendingPathComponent("runs").path])
        #expect(first.status == 0, "\(first.stderr)")
        let html = try Data(contentsOf: URL(fileURLWithPath: report + "/index.html"))
        let stored = try ResultStore(path: db, readOnly: true).count()
        #expect(stored == 3)

        let more = try BenchCLITests.writeSuite("""
            {"name": "disk", "datasets": ["two-moons"], "models": [{"kind": "mlp", "hidden": [4]}], "methods": [{"name": "map"}],
             "seeds": [0, 1, 2, 3, 4, 5, 6, 7], "epochs": 1}
            """, in: suiteDir, name: "more.json")
        disk.fill()
        let full = try CLI.run(["bench", more, "--db", db, "--report", report, "--runs-dir", suiteDir.appendingPathComponent("runs").path])
        #expect(full.status != 0 && full.stderr.contains("'\(db)' is full") && full.stderr.contains("free space and run the same command again")
                && !full.stderr.contains("Fatal error"), "\(full.stderr)")
        #expect(try ResultStore(path: db, readOnly: true).count() >= stored, "nothing stored is lost")
        #expect(try Data(contentsOf: URL(fileURLWithPath: report + "/index.html")) == html, "the report is as it was")
        try FileManager.default.removeItem(atPath: disk.file("filler"))
        let resumed = try CLI.run(["bench", more, "--db", db, "--report", report, "--runs-dir", suiteDir.appendingPathComponent("runs").path])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try ResultStore(path: db, readOnly: true).count() == 8)
        #expect(disk.leftovers.filter { !$0.hasPrefix("b.sqlite") }.isEmpty, "\(disk.leftovers)")

        try disk.remountReadOnly()
        let evenMore = try BenchCLITests.writeSuite("""
            {"name": "disk", "datasets": ["two-moons"], "models": [{"kind": "mlp", "hidden": [4]}], "methods": [{"name": "map"}],
             "seeds": [8], "epochs": 1}
            """, in: suiteDir, name: "even-more.json")
        let readOnly = try CLI.run(["bench", evenMore, "--db", db, "--no-report", "--runs-dir", suiteDir.appendingPathComponent("runs").path])
        #expect(readOnly.status != 0 && readOnly.stderr.contains(db) && readOnly.stderr.contains("read-only"), "\(readOnly.stderr)")
        #expect(try ResultStore(path: db, readOnly: true).count() == 8)
        let reportReadOnly = try CLI.run(["report", db, "--out", report])
        #expect(reportReadOnly.status != 0 && reportReadOnly.stderr.contains(report) && !reportReadOnly.stderr.contains("Fatal error"),
                "\(reportReadOnly.stderr)")
    }
}
