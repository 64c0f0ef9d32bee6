@testable import CredenceBench
import CredenceData
import CredenceMetrics
import CredenceTensor
import Foundation
import Testing

/// Small run records scored by the real metric code (ROC curves start at threshold +∞,
/// so the store's non-finite number encoding is exercised).
enum StoreFixtures {
    static func record(method: String = "map", seed: UInt64 = 0, settings: [String: String] = [:]) throws -> RunRecord {
        let configuration = RunConfiguration(dataset: .twoMoons, hidden: [16], method: method, settings: settings, epochs: 3,
                                             seed: seed, evaluations: [.inDistribution, .ood], oodSets: [.builtIn(.far)])
        var rng = RandomGenerator(seed: seed &+ 11)
        let logits = Tensor.randomNormal(shape: [2, 40, 2], rng: &rng)
        let p = try Predictive(logits: logits)
        let labels = (0..<40).map { Int32($0 % 2) }
        let q = try Predictive(logits: Tensor.randomNormal(shape: [2, 30, 2], rng: &rng) * 0.2)
        return RunRecord(
            configuration: configuration, finishedAt: Date(timeIntervalSinceReferenceDate: 7.25e8 + Double(seed)),
            metrics: EvaluationMetrics(
                classification: try metricsSummary(p, labels: labels), reliability: try reliabilityDiagram(p, labels: labels),
                rejection: try accuracyRejectionCurve(p, labels: labels), riskCoverage: try riskCoverage(p, labels: labels),
                misclassification: ["entropy": try misclassificationDetection(p, labels: labels, score: .entropy)],
                ood: [OODRecord(set: "far", scores: ["entropy": try oodDetection(inDistribution: p, outOfDistribution: q, score: .entropy)])],
                shift: [ShiftPoint(shift: "rotation", severity: 15, accuracy: 0.5, negativeLogLikelihood: .infinity,
                                   expectedCalibrationError: 0.1, brierScore: 0.2, meanEntropy: 0.3)],
                scalability: Scalability(fitSeconds: 1.5, predictionSecondsPer1000: 0.01, peakResidentBytes: 1 << 26,
                                         storedFloats: 100, parameterCount: 100)))
    }

    /// The record as canonical JSON (what equality of two records means here).
    static func json(_ record: RunRecord) throws -> String {
        String(decoding: try ResultStore.encoder.encode(record), as: UTF8.self)
    }

    static func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("credence-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }
}

@Suite struct ResultStoreTests {
    @Test func recordsRoundTripExactly() throws {
        let dir = try StoreFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("nested/results.sqlite").path  // the directory is created
        let a = try StoreFixtures.record(method: "map", seed: 0)
        let b = try StoreFixtures.record(method: "ensemble", seed: 1, settings: ["members": "3"])
        do {
            let store = try ResultStore(path: path)
            #expect(try store.insert(a))
            #expect(try store.insert(b))
            #expect(try store.contains(a.key) && store.contains(b.key) && !store.contains("0000000000000000"))
        }
        // A new connection (as after a restart) reads back the same records, oldest first.
        let reopened = try ResultStore(path: path, readOnly: true)
        let stored = try reopened.records()
        #expect(stored.map(\.key) == [a.key, b.key])
        #expect(try stored.map(StoreFixtures.json) == [a, b].map(StoreFixtures.json))
        #expect(stored[0].metrics.ood[0].scores["entropy"]?.rocCurve.first?.threshold == .infinity)
        #expect(stored[1].metrics.shift[0].negativeLogLikelihood == .infinity)
        #expect(stored[0].finishedAt == a.finishedAt)
        #expect(try reopened.keys() == [a.key, b.key])
        #expect(try StoreFixtures.json(#require(try reopened.record(forKey: b.key))) == StoreFixtures.json(b))

        // The indexed columns hold what queries filter on.
        var rows: [String] = []
        try reopened.connection.query("SELECT dataset, method, seed, label FROM runs ORDER BY finished_at") {
            rows.append("\($0.text(0)!) \($0.text(1)!) \($0.integer(2)) \($0.text(3)!)")
        }
        #expect(rows == ["two-moons map 0 map", "two-moons ensemble 1 ensemble (members 3)"])
        let indexes = try reopened.connection.strings("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'runs_%' ORDER BY name")
        #expect(indexes == ["runs_dataset", "runs_finished_at", "runs_method", "runs_seed"])
        #expect(try reopened.connection.strings("SELECT version FROM schema_version") == ["2"])
        #expect(try reopened.connection.strings("PRAGMA journal_mode") == ["delete"])
    }

    @Test func insertingTheSameKeyTwiceKeepsOneRow() throws {
        let dir = try StoreFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try ResultStore(path: dir.appendingPathComponent("r.sqlite").path)
        let first = try StoreFixtures.record()
        var second = first
        second.finishedAt = first.finishedAt.addingTimeInterval(60)
        second.metrics.scalability?.fitSeconds = 99
        #expect(try store.insert(first) == true)
        #expect(try store.insert(second) == false)
        #expect(try store.insert(first) == false)
        #expect(try store.count() == 1)
        #expect(try store.records().first?.metrics.scalability?.fitSeconds == 1.5, "the first row stays as it was")
    }

    @Test func anAbortedTransactionLeavesNoRowAndOthersNeverSeeAHalfWrittenOne() throws {
        let dir = try StoreFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("r.sqlite").path
        let store = try ResultStore(path: path)
        let kept = try StoreFixtures.record(seed: 0), aborted = try StoreFixtures.record(seed: 1)
        try store.insert(kept)

        struct Interrupted: Error {}
        var seenByOther: Bool?
        var otherCount: Int?
        store.beforeCommit = {
            // Inside the write transaction: the row is written but not committed. A second
            // connection (another process reading the file) sees the database as it was.
            let other = try ResultStore(path: path, readOnly: true)
            seenByOther = try other.contains(aborted.key)
            otherCount = try other.count()
            throw Interrupted()
        }
        #expect(throws: Interrupted.self) { try store.insert(aborted) }
        #expect(seenByOther == false && otherCount == 1)
        store.beforeCommit = nil
        #expect(try !store.contains(aborted.key) && store.count() == 1, "rolled back on this connection too")
        #expect(try ResultStore(path: path).keys() == [kept.key])
        // The store remains usable: the same record goes in afterwards.
        #expect(try store.insert(aborted))
        #expect(try store.count() == 2)
    }

    @Test func badFilesAreTypedErrorsNamingTheFile() throws {
        let dir = try StoreFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }

        let text = dir.appendingPathComponent("notes.sqlite").path
        try Data(String(repeating: "these are my notes, not a database\n", count: 200).utf8).write(to: URL(fileURLWithPath: text))
        #expect(throws: ResultStoreError.notADatabase(path: text)) { try ResultStore(path: text) }
        #expect(ResultStoreError.notADatabase(path: text).description.contains(text))

        // A real results database with its pages overwritten in the middle.
        let corrupt = dir.appendingPathComponent("corrupt.sqlite").path
        do {
            let store = try ResultStore(path: corrupt)
            for seed in 0..<30 { try store.insert(try StoreFixtures.record(seed: UInt64(seed))) }
        }
        var bytes = try Data(contentsOf: URL(fileURLWithPath: corrupt))
        #expect(bytes.count > 8 * 4096)
        for i in 4096..<(bytes.count - 4096) where i % 7 != 0 { bytes[i] = 0xA5 }
        try bytes.write(to: URL(fileURLWithPath: corrupt))
        do {
            _ = try ResultStore(path: corrupt)
            Issue.record("a corrupt database opened without an error")
        } catch let error as ResultStoreError {
            switch error {
            case .corrupt(let path, _), .notADatabase(let path): #expect(path == corrupt)
            default: Issue.record("unexpected error \(error)")
            }
            #expect(error.description.contains(corrupt))
        }

        let foreign = dir.appendingPathComponent("other.sqlite").path
        do {
            let connection = try SQLiteConnection(path: foreign, readOnly: false, create: true)
            try connection.execute("CREATE TABLE songs (title TEXT)")
        }
        #expect(throws: ResultStoreError.foreignDatabase(path: foreign, tables: ["songs"])) { try ResultStore(path: foreign) }

        let newer = dir.appendingPathComponent("newer.sqlite").path
        do {
            let store = try ResultStore(path: newer)
            try store.connection.execute("UPDATE schema_version SET version = 99")
        }
        #expect(throws: ResultStoreError.newerSchema(path: newer, found: 99, supported: 2)) { try ResultStore(path: newer) }

        let missing = dir.appendingPathComponent("absent.sqlite").path
        #expect(throws: ResultStoreError.missing(path: missing)) { try ResultStore(path: missing, readOnly: true) }
        #expect(!FileManager.default.fileExists(atPath: missing), "a read-only open creates nothing")
    }

    /// A stored record that no longer decodes is reported by run and field, in words, with the
    /// way out (`bench --forget KEY`) — not Foundation's DecodingError dump; removing it leaves
    /// the others readable.
    @Test func anUnreadableRecordNamesItsFieldAndTheWayOut() throws {
        let dir = try StoreFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("b.sqlite").path
        let store = try ResultStore(path: path)
        let damaged = try StoreFixtures.record(seed: 1), kept = try StoreFixtures.record(seed: 2)
        try store.insert(damaged)
        try store.insert(kept)
        var json = try StoreFixtures.json(damaged)
        json = json.replacingOccurrences(of: "\"accuracy\":", with: "\"accuracy\":\"high\",\"was\":")
        try store.connection.query("UPDATE runs SET record = ? WHERE key = ?", [.text(json), .text(damaged.key)])
        let error = try #require(throws: ResultStoreError.self) { try store.records() }
        let text = error.description
        #expect(text.contains("run \(damaged.key)") && text.contains("field \"metrics.classification.accuracy\" holds the wrong kind of value")
                && text.contains("--forget \(damaged.key)") && !text.contains("DecodingError"), "\(text)")
        #expect(readableDecodingError(DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "x"))) == "it is not valid JSON")
        #expect(try store.remove([damaged.key, "0000000000000000"]) == [damaged.key])
        #expect(try store.records().map(\.key) == [kept.key])
    }
}
