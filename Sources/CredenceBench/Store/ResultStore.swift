import CredenceTensor
import Foundation

/// The benchmark's results database: one SQLite file holding one row per finished run,
/// keyed by `RunConfiguration.key`.
///
/// Table `runs`: `key` (primary key), `dataset`, `method`, `seed`, `finished_at` (indexed,
/// for queries), `label`, and the `configuration` and `record` as JSON (`ResultStore.encoder`:
/// sorted keys, non-finite numbers as the strings "Infinity", "-Infinity", "NaN"). Table
/// `schema_version` holds one integer, `ResultStore.schemaVersion`.
///
/// **Versions.** 1: the record's metrics at the top level of its JSON. 2: under `metrics`
/// (`EvaluationMetrics`, the schema every command reports). Opening a version-1 file for
/// writing migrates it in one transaction (every record rewritten, run keys unchanged);
/// a read-only open reads it as it is.
///
/// **Atomicity.** Each run is written by one `INSERT` inside one transaction, so a process
/// killed at any moment (SIGKILL included) leaves either no row or the complete row; SQLite
/// rolls back the interrupted transaction (its hot journal) the next time the file is opened.
/// The journal is the classic rollback journal (`journal_mode=DELETE`) with
/// `synchronous=FULL`: the benchmark writes one row per run, seconds to hours apart, so
/// WAL's faster and concurrent writes buy nothing, while a rollback-journal database is
/// always one self-contained file between runs (copy it, attach it to a report) and also
/// works on network file systems, where WAL's shared memory does not; FULL syncs the
/// journal and the database at each commit, so a finished run survives a power cut too.
///
/// Opening checks the file (`PRAGMA quick_check`): a corrupt file, a non-database file or
/// another program's database is a `ResultStoreError` naming the file, never a crash.
///
/// ```swift
/// let store = try ResultStore(path: "credence-results/bench.sqlite")
/// if try !store.contains(record.key) { try store.insert(record) }
/// for run in try store.records() { print(run.configuration.label, run.metrics.classification?.accuracy ?? .nan) }
/// ```
public final class ResultStore {
    /// The version of the tables this Credence writes; older files are migrated on open.
    public static let schemaVersion = 2
    public let path: String
    let connection: SQLiteConnection
    /// Seconds to sleep inside the insert transaction before COMMIT (fault injection for the
    /// atomicity tests; from the environment variable `CREDENCE_STORE_PAUSE_BEFORE_COMMIT`).
    var pauseBeforeCommit: Double?
    /// Called inside the insert transaction, before COMMIT; a throw rolls the insert back (tests).
    var beforeCommit: (() throws -> Void)?

    /// Opens the database at `path`, creating it (and its directory) unless `readOnly`.
    ///
    /// - Throws: `ResultStoreError` — `.missing` (read-only, no file), `.notADatabase`,
    ///   `.corrupt`, `.foreignDatabase`, `.newerSchema`, `.migrationFailed`, `.cannotOpen`.
    public init(path: String, readOnly: Bool = false) throws {
        self.path = path
        let exists = FileManager.default.fileExists(atPath: path)
        if readOnly && !exists { throw ResultStoreError.missing(path: path) }
        if !readOnly {
            let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
            do {
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            } catch {
                throw ResultStoreError.cannotOpen(path: path, message: "cannot create its directory \(directory.path): \(error.localizedDescription)")
            }
        }
        if readOnly, FileManager.default.fileExists(atPath: path + "-journal") {
            // A writer killed mid-commit left a hot journal; reading needs it rolled back, which a
            // read-only connection cannot do ("attempt to write a readonly database"). Roll it
            // back once through a writable connection, then read.
            do {
                let recovery = try SQLiteConnection(path: path, readOnly: false, create: false)
                try recovery.execute("PRAGMA busy_timeout = 10000")
                _ = try recovery.strings("PRAGMA quick_check")
            } catch {
                throw ResultStoreError.cannotOpen(path: path, message: "it has the journal of an interrupted write (\(path)-journal) that must be rolled back, which needs write access: \(error)")
            }
        }
        connection = try SQLiteConnection(path: path, readOnly: readOnly, create: !readOnly)
        pauseBeforeCommit = ProcessInfo.processInfo.environment["CREDENCE_STORE_PAUSE_BEFORE_COMMIT"].flatMap(Double.init)
        try connection.execute("PRAGMA busy_timeout = 10000")
        // The first read of the file: a non-database fails here with SQLITE_NOTADB. Reading
        // also rolls back a hot journal left by a killed writer (needs write access).
        let check = try connection.strings("PRAGMA quick_check")
        guard check == ["ok"] else {
            throw ResultStoreError.corrupt(path: path, details: check.prefix(3).joined(separator: "; "))
        }
        if !readOnly {
            try connection.execute("PRAGMA journal_mode = DELETE")
            try connection.execute("PRAGMA synchronous = FULL")
        }
        try prepareSchema(readOnly: readOnly)
        if pauseBeforeCommit != nil {
            // Fault injection: a tiny page cache spills the insert's pages into the database
            // file before COMMIT, so a kill during the pause leaves a hot journal to roll back.
            try connection.execute("PRAGMA cache_size = 1")
        }
    }

    /// Creates the tables in a new file; checks the tables and version of an existing one.
    private func prepareSchema(readOnly: Bool) throws {
        let tables = try connection.strings("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        if tables.isEmpty {
            guard !readOnly else { throw ResultStoreError.foreignDatabase(path: path, tables: ["none"]) }
            try transaction {
                try connection.execute("""
                    CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
                    CREATE TABLE IF NOT EXISTS runs (
                        key TEXT PRIMARY KEY NOT NULL,
                        dataset TEXT NOT NULL,
                        method TEXT NOT NULL,
                        seed INTEGER NOT NULL,
                        label TEXT NOT NULL,
                        finished_at TEXT NOT NULL,
                        configuration TEXT NOT NULL,
                        record TEXT NOT NULL
                    );
                    CREATE INDEX IF NOT EXISTS runs_dataset ON runs (dataset);
                    CREATE INDEX IF NOT EXISTS runs_method ON runs (method);
                    CREATE INDEX IF NOT EXISTS runs_seed ON runs (seed);
                    CREATE INDEX IF NOT EXISTS runs_finished_at ON runs (finished_at);
                    """)
                // Another process may have created the tables between our check and BEGIN.
                if try connection.strings("SELECT version FROM schema_version").isEmpty {
                    try connection.query("INSERT INTO schema_version (version) VALUES (?)", [.integer(Int64(Self.schemaVersion))])
                }
            }
            return
        }
        guard tables.contains("runs"), tables.contains("schema_version") else {
            throw ResultStoreError.foreignDatabase(path: path, tables: tables)
        }
        let version = try connection.strings("SELECT version FROM schema_version").compactMap { Int($0) }.max() ?? 0
        guard version <= Self.schemaVersion else {
            throw ResultStoreError.newerSchema(path: path, found: version, supported: Self.schemaVersion)
        }
        if version < Self.schemaVersion && !readOnly { try migrate() }
    }

    /// Brings a version-1 file to the current version in one transaction: every record is
    /// decoded (`RunRecord` reads the old shape) and written back in the current one; keys
    /// and the indexed columns do not change. A record that does not decode aborts the
    /// migration and leaves the file as it was.
    private func migrate() throws {
        try transaction {
            // Another process may have migrated the file between our check and BEGIN.
            let version = try connection.strings("SELECT version FROM schema_version").compactMap { Int($0) }.max() ?? 0
            guard version < Self.schemaVersion else { return }
            var rows: [(key: String, json: String)] = []
            try connection.query("SELECT key, record FROM runs") { rows.append(($0.text(0) ?? "", $0.text(1) ?? "")) }
            for row in rows {
                let record: RunRecord
                do {
                    record = try Self.decoder.decode(RunRecord.self, from: Data(row.json.utf8))
                } catch {
                    throw ResultStoreError.migrationFailed(path: path, from: version, to: Self.schemaVersion,
                                                           message: "run \(row.key) does not decode: \(readableDecodingError(error))")
                }
                let json = String(decoding: try Self.encoder.encode(record), as: UTF8.self)
                try connection.query("UPDATE runs SET record = ? WHERE key = ?", [.text(json), .text(row.key)])
            }
            try connection.execute("DELETE FROM schema_version")
            try connection.query("INSERT INTO schema_version (version) VALUES (?)", [.integer(Int64(Self.schemaVersion))])
        }
    }

    /// Runs `body` in one write transaction: committed if it returns, rolled back if it throws.
    private func transaction(_ body: () throws -> Void) throws {
        try connection.execute("BEGIN IMMEDIATE")
        do {
            try body()
            try connection.execute("COMMIT")
        } catch {
            try? connection.execute("ROLLBACK")
            throw error
        }
    }

    /// Whether a run with this key is stored.
    public func contains(_ key: String) throws -> Bool {
        var found = false
        try connection.query("SELECT 1 FROM runs WHERE key = ?", [.text(key)]) { _ in found = true }
        return found
    }

    /// The keys of every stored run.
    public func keys() throws -> Set<String> {
        Set(try connection.strings("SELECT key FROM runs"))
    }

    /// Number of stored runs.
    public func count() throws -> Int {
        Int(try connection.strings("SELECT COUNT(*) FROM runs").first ?? "0") ?? 0
    }

    /// Stores a finished run in one transaction. Idempotent: a key already present is left
    /// as it is (no duplicate, no overwrite). Returns whether a row was added.
    @discardableResult
    public func insert(_ record: RunRecord) throws -> Bool {
        let configuration = String(decoding: try Self.encoder.encode(record.configuration), as: UTF8.self)
        let json = String(decoding: try Self.encoder.encode(record), as: UTF8.self)
        var inserted = false
        try transaction {
            try connection.query("""
                INSERT OR IGNORE INTO runs (key, dataset, method, seed, label, finished_at, configuration, record)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, [.text(record.key), .text(record.configuration.dataset.rawValue), .text(record.configuration.method),
                      .integer(Int64(bitPattern: record.configuration.seed)), .text(record.configuration.label),
                      .text(Self.timestamp(record.finishedAt)), .text(configuration), .text(json)])
            inserted = connection.changes == 1
            if let seconds = pauseBeforeCommit { Thread.sleep(forTimeInterval: seconds) }
            try beforeCommit?()
        }
        return inserted
    }

    /// Removes the stored runs with these keys in one transaction (a run whose record cannot
    /// be read, or one to run again); a later `bench` of their suite runs them anew, resuming
    /// from their checkpoints. Returns the keys that were stored (and are now removed).
    @discardableResult
    public func remove(_ keys: [String]) throws -> [String] {
        var removed: [String] = []
        try transaction {
            for key in keys {
                try connection.query("DELETE FROM runs WHERE key = ?", [.text(key)])
                if connection.changes == 1 { removed.append(key) }
            }
        }
        return removed
    }

    /// The stored run with this key, if any.
    public func record(forKey key: String) throws -> RunRecord? {
        try fetch("SELECT key, record FROM runs WHERE key = ?", [.text(key)]).first
    }

    /// Every stored run, oldest first (ties by key).
    public func records() throws -> [RunRecord] {
        try fetch("SELECT key, record FROM runs ORDER BY finished_at, key")
    }

    private func fetch(_ sql: String, _ parameters: [SQLiteValue] = []) throws -> [RunRecord] {
        var rows: [(String, String)] = []
        try connection.query(sql, parameters) { rows.append(($0.text(0) ?? "", $0.text(1) ?? "")) }
        return try rows.map { key, json in
            do {
                return try Self.decoder.decode(RunRecord.self, from: Data(json.utf8))
            } catch {
                throw ResultStoreError.unreadableRow(path: path, key: key, message: readableDecodingError(error))
            }
        }
    }

    /// The JSON encoding of stored configurations and records: sorted keys, exact doubles,
    /// ±∞ and NaN (ROC thresholds start at +∞) as strings.
    public static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return encoder
    }

    /// Decodes what `encoder` wrote.
    public static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return decoder
    }

    /// `finished_at`: ISO 8601 in UTC with milliseconds, so text order is time order.
    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }
}
