/// Why the results database cannot be used. Every case names the file.
public enum ResultStoreError: Error, CustomStringConvertible, Equatable {
    /// SQLite could not open the file (missing directory, permissions, ...).
    case cannotOpen(path: String, message: String)
    /// A read-only open of a file that does not exist.
    case missing(path: String)
    /// The file is not an SQLite database at all (e.g. a text file given as `--db`).
    case notADatabase(path: String)
    /// The file is an SQLite database that fails its integrity check.
    case corrupt(path: String, details: String)
    /// An SQLite database written by something else (it lacks Credence's tables).
    case foreignDatabase(path: String, tables: [String])
    /// A results database written by a newer Credence (schema version above ours).
    case newerSchema(path: String, found: Int, supported: Int)
    /// A results database of an older schema that could not be brought to the current one
    /// (the file is left as it was).
    case migrationFailed(path: String, from: Int, to: Int, message: String)
    /// Another connection holds the write lock for longer than the busy timeout.
    case busy(path: String)
    /// The disk holding the database is full (the transaction in progress was rolled back).
    case full(path: String)
    /// The database (or its directory) cannot be written: a read-only file or file system.
    case readOnly(path: String)
    /// A stored row whose JSON does not decode (hand-edited, or a bug).
    case unreadableRow(path: String, key: String, message: String)
    /// Any other SQLite failure.
    case sqlite(path: String, context: String, message: String)

    public var description: String {
        switch self {
        case let .cannotOpen(path, message):
            return "cannot open the results database '\(path)': \(message)"
        case let .missing(path):
            return "no results database at '\(path)'; run `credence bench --db \(path)` first"
        case let .notADatabase(path):
            return "'\(path)' is not an SQLite database (is it the right file?); pass another --db, or move it away to start a new one"
        case let .corrupt(path, details):
            return "the results database '\(path)' is corrupt (\(details)); move it away to start a new one — finished runs in it would have to be re-run"
        case let .foreignDatabase(path, tables):
            return "'\(path)' is an SQLite database but not a Credence results database (its tables: \(tables.joined(separator: ", "))); pass another --db"
        case let .newerSchema(path, found, supported):
            return "the results database '\(path)' has schema version \(found); this Credence reads up to version \(supported) — use a newer Credence"
        case let .migrationFailed(path, from, to, message):
            return "the results database '\(path)' has schema version \(from) and could not be migrated to version \(to) (\(message)); "
                + "it is unchanged — open it with the Credence that wrote it, or move it away to start a new one"
        case let .busy(path):
            return "the results database '\(path)' is locked by another process; wait for it or pass another --db"
        case let .full(path):
            return "the disk holding the results database '\(path)' is full; every run stored before is kept — free space and run the same command again"
        case let .readOnly(path):
            return "the results database '\(path)' cannot be written (a read-only file or file system); pass a --db on a writable disk"
        case let .unreadableRow(path, key, message):
            return "run \(key) in '\(path)' cannot be read: \(message); drop it with `credence bench --db \(path) --forget \(key)` "
                + "(the next bench of its suite runs it again), or read the database with the Credence that wrote it"
        case let .sqlite(path, context, message):
            let what = context.split(separator: "\n").first.map(String.init) ?? context
            return "SQLite error on '\(path)' (\(what.prefix(60))): \(message)"
        }
    }
}
