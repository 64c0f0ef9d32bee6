import CSQLite
import Foundation

/// A thin wrapper over one `sqlite3` connection: statements with bound text and integer
/// parameters, stepped row by row. Only what the result store needs; every failure
/// becomes a `ResultStoreError` naming the database file.
final class SQLiteConnection {
    let path: String
    private var handle: OpaquePointer?

    /// Opens (and with `create`, creates) the database at `path`.
    init(path: String, readOnly: Bool, create: Bool) throws {
        self.path = path
        var flags = readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE
        if create && !readOnly { flags |= SQLITE_OPEN_CREATE }
        flags |= SQLITE_OPEN_NOMUTEX  // one connection per store, used from one thread at a time
        let status = sqlite3_open_v2(path, &handle, flags, nil)
        guard status == SQLITE_OK else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close_v2(handle)
            handle = nil
            throw ResultStoreError.cannotOpen(path: path, message: message)
        }
        sqlite3_extended_result_codes(handle, 1)
    }

    deinit { sqlite3_close_v2(handle) }

    /// The error for a failed call: corrupt and non-database files get their own cases.
    func error(_ status: Int32, _ context: String) -> ResultStoreError {
        let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(status))
        switch status & 0xFF {
        case SQLITE_NOTADB: return .notADatabase(path: path)
        case SQLITE_CORRUPT: return .corrupt(path: path, details: message)
        case SQLITE_BUSY, SQLITE_LOCKED: return .busy(path: path)
        case SQLITE_FULL: return .full(path: path)
        case SQLITE_READONLY: return .readOnly(path: path)
        default: return .sqlite(path: path, context: context, message: message)
        }
    }

    /// Runs one or more statements that return no rows of interest.
    func execute(_ sql: String) throws {
        var message: UnsafeMutablePointer<CChar>?
        let status = sqlite3_exec(handle, sql, nil, nil, &message)
        if let message { sqlite3_free(message) }
        guard status == SQLITE_OK else { throw error(status, sql) }
    }

    /// Rows changed by the last INSERT, UPDATE or DELETE.
    var changes: Int { Int(sqlite3_changes(handle)) }

    /// Prepares, binds `parameters` (1-based, in order), and calls `row` for each result row.
    func query(_ sql: String, _ parameters: [SQLiteValue] = [], row: (SQLiteRow) throws -> Void = { _ in }) throws {
        var statement: OpaquePointer?
        var status = sqlite3_prepare_v2(handle, sql, -1, &statement, nil)
        guard status == SQLITE_OK, let statement else { throw error(status, sql) }
        defer { sqlite3_finalize(statement) }
        for (i, value) in parameters.enumerated() {
            let index = Int32(i + 1)
            switch value {
            case let .text(s): status = sqlite3_bind_text(statement, index, s, -1, SQLiteConnection.transient)
            case let .integer(n): status = sqlite3_bind_int64(statement, index, n)
            }
            guard status == SQLITE_OK else { throw error(status, sql) }
        }
        while true {
            status = sqlite3_step(statement)
            if status == SQLITE_DONE { return }
            guard status == SQLITE_ROW else { throw error(status, sql) }
            try row(SQLiteRow(statement: statement))
        }
    }

    /// The first column of every result row, as text.
    func strings(_ sql: String, _ parameters: [SQLiteValue] = []) throws -> [String] {
        var result: [String] = []
        try query(sql, parameters) { result.append($0.text(0) ?? "") }
        return result
    }

    /// SQLite copies bound text before the call returns.
    static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
}

/// A value bound to a statement parameter.
enum SQLiteValue {
    case text(String)
    case integer(Int64)
}

/// One result row while its statement is being stepped.
struct SQLiteRow {
    let statement: OpaquePointer

    func text(_ column: Int32) -> String? {
        guard let p = sqlite3_column_text(statement, column) else { return nil }
        return String(cString: p)
    }

    func integer(_ column: Int32) -> Int64 { sqlite3_column_int64(statement, column) }
}
