import CredenceTensor
import Foundation

/// How to read a CSV file into a data set (see `CSV.load`).
///
/// ```swift
/// let options = CSVOptions(task: .classification, target: .name("species"))
/// let iris = try CSV.load("iris.csv", options: options)
/// ```
public struct CSVOptions: Sendable {
    /// Whether the first non-empty line names the columns.
    public enum Header: Sendable { case automatic, present, absent }
    /// A column by 0-based index, by header name, or the last one.
    public enum Column: Sendable, Equatable { case index(Int), name(String), last }
    /// What the target column holds.
    public enum TargetKind: Sendable {
        /// Class labels (numbers or text), remapped to 0..<K in sorted order.
        case classification
        /// A real number.
        case regression
    }

    public var task: TargetKind
    public var target: Column
    public var header: Header
    /// Columns to skip entirely (e.g. a free-text name column).
    public var ignoredColumns: [Column]
    /// The cell separator, an ASCII character.
    public var delimiter: Character

    public init(task: TargetKind, target: Column = .last, header: Header = .automatic,
                ignoredColumns: [Column] = [], delimiter: Character = ",") {
        precondition(delimiter.asciiValue != nil, "CSV delimiter must be an ASCII character")
        self.task = task
        self.target = target
        self.header = header
        self.ignoredColumns = ignoredColumns
        self.delimiter = delimiter
    }
}

/// A loader for numeric CSV files, plain or gzip-compressed (detected by magic bytes).
///
/// Every column except the target and `ignoredColumns` becomes a feature: inputs are
/// `[N, F]` in file order. Empty lines are skipped; `\r\n` line ends and a UTF-8 BOM are accepted.
/// With `Header.automatic`, the first line is a header when some column is non-numeric
/// (and non-empty) there but numeric on the second line (or, for a one-line file, when no cell is
/// numeric). For classification the distinct target values, sorted (numerically when
/// they all are numbers), become `classNames` and labels their indices.
///
/// Errors: `DataError.raggedRow` and `.nonNumericCell` with the 1-based line and column,
/// `.emptyTable`, `.columnNotFound`, and the file errors of `Gzip.readFile`.
///
/// ```swift
/// let wine = try CSV.load("wine.csv", options: CSVOptions(task: .classification))
/// print(wine.inputShape, wine.task)   // [13] classification(classCount: 3)
/// ```
public enum CSV {
    /// Reads `path` into a data set named `name` (default: the file name).
    public static func load(_ path: String, name: String? = nil, options: CSVOptions,
                            remedy: String = "Check the path.") throws -> InMemoryDataset {
        let bytes = try Gzip.readFile(path, remedy: remedy)
        let defaultName = URL(fileURLWithPath: path).lastPathComponent
        return try parse(bytes, path: path, name: name ?? defaultName, options: options)
    }

    /// Parses CSV text; `path` labels errors.
    public static func parse(_ text: [UInt8], path: String = "<memory>", name: String,
                             options: CSVOptions) throws -> InMemoryDataset {
        var bytes = text.starts(with: [0xEF, 0xBB, 0xBF]) ? Array(text.dropFirst(3)) : text  // UTF-8 BOM
        bytes.append(0)  // strtod needs a terminator after the last cell
        return try bytes.withUnsafeBufferPointer { buffer in
            var reader = Reader(buffer: buffer, delimiter: options.delimiter.asciiValue!)
            guard let first = reader.nextRow() else { throw DataError.emptyTable(path: path) }
            let firstCells = first.cells.map { reader.string($0) }
            let second = reader.nextRow()
            let hasHeader: Bool
            switch options.header {
            case .present: hasHeader = true
            case .absent: hasHeader = false
            case .automatic:
                if let row = second {
                    let secondCells = row.cells.map { reader.string($0) }
                    hasHeader = zip(firstCells, secondCells).contains { !$0.isEmpty && !isNumber($0) && isNumber($1) }
                } else {
                    hasHeader = !firstCells.contains(where: isNumber)
                }
            }
            let columns = firstCells.count
            let names = hasHeader ? firstCells : (1...columns).map { "column \($0)" }
            func resolve(_ column: CSVOptions.Column) throws -> Int {
                switch column {
                case .last: return columns - 1
                case let .index(i) where i >= 0 && i < columns: return i
                case let .index(i): throw DataError.columnNotFound(path: path, column: "index \(i)", available: names)
                case let .name(n):
                    if let i = names.firstIndex(of: n) { return i }
                    throw DataError.columnNotFound(path: path, column: "\"\(n)\"", available: names)
                }
            }
            let target = try resolve(options.target)
            let ignored = Set(try options.ignoredColumns.map(resolve)).subtracting([target])
            let featureColumns = (0..<columns).filter { $0 != target && !ignored.contains($0) }
            let classification = options.task == .classification

            var features: [Float] = []
            var targets: [Float] = []
            var rawLabels: [Int] = []
            var labelIndex: [String: Int] = [:]
            var labelNames: [String] = []
            var rowCount = 0
            let lineBytes = Swift.max(1, (first.cells.last?.upperBound ?? 1) - (first.cells.first?.lowerBound ?? 0))
            features.reserveCapacity(featureColumns.count * (buffer.count / lineBytes + 1))
            var queue = (hasHeader ? [] : [first]) + (second.map { [$0] } ?? [])
            while true {
                let row: Row
                if !queue.isEmpty { row = queue.removeFirst() } else if let r = reader.nextRow() { row = r } else { break }
                guard row.cells.count == columns else {
                    throw DataError.raggedRow(path: path, line: row.line, cells: row.cells.count, expected: columns)
                }
                for c in featureColumns {
                    guard let v = reader.number(row.cells[c]) else {
                        throw DataError.nonNumericCell(path: path, line: row.line, column: c + 1, cell: reader.string(row.cells[c]))
                    }
                    features.append(v)
                }
                if classification {
                    let key = reader.string(row.cells[target])
                    if let k = labelIndex[key] { rawLabels.append(k) } else {
                        labelIndex[key] = labelNames.count
                        rawLabels.append(labelNames.count)
                        labelNames.append(key)
                    }
                } else {
                    guard let v = reader.number(row.cells[target]) else {
                        throw DataError.nonNumericCell(path: path, line: row.line, column: target + 1,
                                                       cell: reader.string(row.cells[target]))
                    }
                    targets.append(v)
                }
                rowCount += 1
            }
            guard rowCount > 0 else { throw DataError.emptyTable(path: path) }
            let inputs = Tensor(shape: [rowCount, featureColumns.count], values: features)
            guard classification else {
                return try InMemoryDataset(name: name, inputs: inputs, targets: Tensor(shape: [rowCount, 1], values: targets))
            }
            let numeric = labelNames.allSatisfy(isNumber)
            let sorted = labelNames.sorted { numeric ? Double($0)! < Double($1)! : $0 < $1 }
            let rank = Dictionary(uniqueKeysWithValues: sorted.enumerated().map { ($1, Int32($0)) })
            let remap = labelNames.map { rank[$0]! }
            var data = try InMemoryDataset(name: name, inputs: inputs, labels: rawLabels.map { remap[$0] },
                                           classCount: sorted.count)
            data.classNames = sorted
            return data
        }
    }

    static func isNumber(_ s: String) -> Bool { !s.isEmpty && Double(s) != nil }

    /// One non-empty line: its 1-based line number and the byte ranges of its cells (trimmed).
    struct Row {
        var line: Int
        var cells: [Range<Int>]
    }

    /// A forward scanner over NUL-terminated CSV bytes.
    struct Reader {
        let buffer: UnsafeBufferPointer<UInt8>
        let delimiter: UInt8
        var position = 0
        var line = 0
        let end: Int

        init(buffer: UnsafeBufferPointer<UInt8>, delimiter: UInt8) {
            self.buffer = buffer
            self.delimiter = delimiter
            self.end = buffer.count - 1  // the terminator
        }

        static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0D }

        mutating func nextRow() -> Row? {
            while position < end {
                line += 1
                var stop = position
                while stop < end && buffer[stop] != 0x0A { stop += 1 }
                let start = position
                position = stop + 1
                var cells: [Range<Int>] = []
                var a = start
                var blank = true
                for i in start...stop where i == stop || buffer[i] == delimiter {
                    var lo = a, hi = i
                    while lo < hi && Reader.isSpace(buffer[lo]) { lo += 1 }
                    while hi > lo && Reader.isSpace(buffer[hi - 1]) { hi -= 1 }
                    if hi > lo || i != stop { blank = false }
                    cells.append(lo..<hi)
                    a = i + 1
                }
                if !blank { return Row(line: line, cells: cells) }
            }
            return nil
        }

        func string(_ cell: Range<Int>) -> String {
            var text = String(decoding: UnsafeBufferPointer(rebasing: buffer[cell]), as: UTF8.self)
            if text.count >= 2, text.first == "\"", text.last == "\"" { text = String(text.dropFirst().dropLast()) }
            return text
        }

        /// The number in `cell`, or nil unless the whole cell is one number.
        func number(_ cell: Range<Int>) -> Float? {
            guard !cell.isEmpty else { return nil }
            let start = UnsafeMutablePointer(mutating: buffer.baseAddress! + cell.lowerBound)
            var stop: UnsafeMutablePointer<CChar>? = nil
            let value = start.withMemoryRebound(to: CChar.self, capacity: cell.count) { strtod($0, &stop) }
            let consumed = stop.map { UnsafeRawPointer($0) - UnsafeRawPointer(start) } ?? 0
            return consumed == cell.count ? Float(value) : nil
        }
    }
}
