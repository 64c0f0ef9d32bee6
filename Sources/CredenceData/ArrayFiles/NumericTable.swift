import CredenceTensor

/// A table in which every cell is a number — a matrix saved as text, such as
/// `np.savetxt(path, probs, delimiter=",")`, `np.savetxt(path, probs)` (spaces) or
/// `pandas.DataFrame(probs).to_csv(path, index=False)` — read into an `[R, C]` tensor.
///
/// ```swift
/// let table = try NumericTable.read("probs.csv")
/// print(table.values.shape, table.columnNames ?? [])   // [10000, 10] ["0", "1", ...]
/// ```
public struct NumericTable: Sendable {
    /// How cells are separated.
    public enum Delimiter: Sendable, Equatable {
        /// Decided from the first non-empty line: `,` if it has one, else tab, else `;`,
        /// else runs of spaces and tabs.
        case automatic
        /// One ASCII character.
        case character(Character)
        /// Runs of spaces and tabs (`np.savetxt`'s default); leading and trailing ones ignored.
        case whitespace
    }

    /// The cells, `[rows, columns]`, in file order.
    public var values: Tensor
    /// The header's column names, when the first line is a header.
    public var columnNames: [String]?
    /// The 1-based line number of each data row (for error messages that point into the file).
    public var lineNumbers: [Int]

    /// Reads `path` (gzip-compressed or not).
    ///
    /// With `Header.automatic` the first non-empty line is a header when one of its cells is
    /// not a number. Empty lines are skipped; `\r\n` line ends and a UTF-8 BOM are accepted;
    /// `nan` and `inf` cells are read as such (the caller decides whether they are allowed).
    ///
    /// - Throws: `DataError.emptyTable` (no data rows), `.raggedRow`, `.nonNumericCell`
    ///   (1-based line and column), and the file errors of `Gzip.readFile`.
    public static func read(_ path: String, header: CSVOptions.Header = .automatic,
                            delimiter: Delimiter = .automatic, remedy: String = "Check the path.") throws -> NumericTable {
        try parse(try Gzip.readFile(path, remedy: remedy), path: path, header: header, delimiter: delimiter)
    }

    /// Parses table text; `path` labels errors.
    public static func parse(_ text: [UInt8], path: String = "<memory>", header: CSVOptions.Header = .automatic,
                             delimiter: Delimiter = .automatic) throws -> NumericTable {
        var bytes = text.starts(with: [0xEF, 0xBB, 0xBF]) ? Array(text.dropFirst(3)) : text
        let separator: UInt8
        switch delimiter {
        case let .character(c):
            precondition(c.asciiValue != nil, "NumericTable delimiter must be an ASCII character")
            separator = c.asciiValue!
        case .whitespace:
            separator = 0x20
        case .automatic:
            separator = detectDelimiter(bytes)
        }
        if delimiter == .whitespace || (delimiter == .automatic && separator == 0x20) {
            bytes = collapsingWhitespace(bytes)
        }
        bytes.append(0)  // strtod needs a terminator after the last cell
        return try bytes.withUnsafeBufferPointer { buffer in
            var reader = CSV.Reader(buffer: buffer, delimiter: separator)
            var rows: [CSV.Row] = []
            while let row = reader.nextRow() { rows.append(row) }
            guard let first = rows.first else { throw DataError.emptyTable(path: path) }
            let hasHeader: Bool
            switch header {
            case .present: hasHeader = true
            case .absent: hasHeader = false
            case .automatic: hasHeader = first.cells.contains { reader.number($0) == nil }
            }
            let names = hasHeader ? first.cells.map { reader.string($0) } : nil
            let dataRows = hasHeader ? rows.dropFirst() : rows[...]
            guard !dataRows.isEmpty else { throw DataError.emptyTable(path: path) }
            let columns = first.cells.count
            var values: [Float] = []
            values.reserveCapacity(dataRows.count * columns)
            for row in dataRows {
                guard row.cells.count == columns else {
                    throw DataError.raggedRow(path: path, line: row.line, cells: row.cells.count, expected: columns)
                }
                for (c, cell) in row.cells.enumerated() {
                    guard let v = reader.number(cell) else {
                        throw DataError.nonNumericCell(path: path, line: row.line, column: c + 1, cell: reader.string(cell))
                    }
                    values.append(v)
                }
            }
            return NumericTable(values: Tensor(shape: [dataRows.count, columns], values: values),
                                columnNames: names, lineNumbers: dataRows.map(\.line))
        }
    }

    /// `,` if the first non-empty line has one, else tab, else `;`, else space (whitespace runs).
    static func detectDelimiter(_ bytes: [UInt8]) -> UInt8 {
        var start = 0
        while start < bytes.count {
            var end = start
            while end < bytes.count && bytes[end] != 0x0A { end += 1 }
            let line = bytes[start..<end]
            if line.contains(where: { !CSV.Reader.isSpace($0) }) {
                for candidate: UInt8 in [0x2C, 0x09, 0x3B] where line.contains(candidate) { return candidate }
                return 0x20
            }
            start = end + 1
        }
        return 0x2C
    }

    /// Each line's runs of spaces and tabs replaced by one space, leading and trailing ones dropped.
    static func collapsingWhitespace(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var pendingSpace = false, lineStart = true
        for b in bytes {
            switch b {
            case 0x20, 0x09, 0x0D:
                pendingSpace = !lineStart
            case 0x0A:
                out.append(0x0A); pendingSpace = false; lineStart = true
            default:
                if pendingSpace { out.append(0x20) }
                out.append(b); pendingSpace = false; lineStart = false
            }
        }
        return out
    }
}
