/// Errors raised while reading or assembling a data set.
///
/// Every message names the file or value that was wrong and says what to do about it,
/// so the CLI can print `error.description` as it is.
///
/// ```swift
/// do { _ = try loadDataset(.fashionMNIST, options: DataOptions()) }
/// catch let error as DataError { print(error) }   // "... sudo apt-get install dataset-fashion-mnist ..."
/// ```
public enum DataError: Error, CustomStringConvertible, Equatable {
    /// A file that does not exist; `remedy` says how to get it (a package, a script, a variable).
    case fileNotFound(path: String, remedy: String)
    /// A file that exists but cannot be read (permissions, a directory, an I/O error).
    case unreadableFile(path: String, reason: String)
    /// A file that cannot be created or written.
    case unwritableFile(path: String, reason: String)
    /// A gzip stream that zlib rejects (bad header, bad checksum, corrupt block).
    case corruptGzip(path: String, reason: String)
    /// A gzip stream that ends before its end marker (an interrupted download or copy).
    case truncatedGzip(path: String, decompressedBytes: Int)
    /// A file with fewer bytes than its header promises.
    case truncated(path: String, expectedBytes: Int, actualBytes: Int)
    /// A file whose first bytes are not the magic number of the expected format.
    case badMagic(path: String, found: [UInt8], expected: String)
    /// An IDX type byte outside 0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E.
    case unsupportedIDXType(path: String, code: UInt8)
    /// A well-formed file whose shape is not what the data set needs (e.g. images not 28×28).
    case unexpectedShape(path: String, shape: [Int], expected: String)
    /// An images file and a labels file that disagree on the number of examples.
    case countMismatch(imagesPath: String, imageCount: Int, labelsPath: String, labelCount: Int)
    /// A CSV row with a different number of cells than the first row (line numbers are 1-based).
    case raggedRow(path: String, line: Int, cells: Int, expected: Int)
    /// A CSV cell that should hold a number but does not (columns are 1-based).
    case nonNumericCell(path: String, line: Int, column: Int, cell: String)
    /// A CSV file with no data rows.
    case emptyTable(path: String)
    /// A CSV column requested by name or index that the file does not have.
    case columnNotFound(path: String, column: String, available: [String])
    /// A class label outside `0..<classCount`.
    case labelOutOfRange(dataset: String, index: Int, label: Int, classCount: Int)
    /// An argument outside its allowed range (a fraction, a count, mismatched tensor shapes).
    case invalidArgument(name: String, message: String)

    public var description: String {
        switch self {
        case let .fileNotFound(path, remedy):
            return "data file not found: \(path). \(remedy)"
        case let .unreadableFile(path, reason):
            return "cannot read \(path): \(reason). Check that it is a readable regular file."
        case let .unwritableFile(path, reason):
            return "cannot write \(path): \(reason). Check that its directory exists and is writable."
        case let .corruptGzip(path, reason):
            return "\(path) is not a valid gzip stream (\(reason)); the file is corrupt — delete it and fetch it again."
        case let .truncatedGzip(path, bytes):
            return "\(path) is truncated: its gzip stream ends early after \(bytes) decompressed bytes; "
                + "delete it and fetch it again."
        case let .truncated(path, expected, actual):
            return "\(path) is truncated: its header promises \(expected) bytes but it holds \(actual); "
                + "delete it and fetch it again."
        case let .badMagic(path, found, expected):
            let hex = found.map { String($0, radix: 16, uppercase: false) }
                .map { $0.count == 1 ? "0" + $0 : $0 }.joined(separator: " ")
            return "\(path) does not start with \(expected) (found bytes \(hex)); "
                + "is this the right file, and is it uncorrupted?"
        case let .unsupportedIDXType(path, code):
            return "\(path): IDX type byte 0x\(String(code, radix: 16)) is not one of 08 (ubyte), 09 (byte), "
                + "0B (short), 0C (int), 0D (float), 0E (double); the file is corrupt or not IDX."
        case let .unexpectedShape(path, shape, expected):
            return "\(path) holds an array of shape \(shape) but \(expected) was expected; "
                + "check that the file belongs to this data set."
        case let .countMismatch(imagesPath, imageCount, labelsPath, labelCount):
            return "\(imagesPath) holds \(imageCount) examples but \(labelsPath) holds \(labelCount) labels; "
                + "the two files come from different releases or one is damaged."
        case let .raggedRow(path, line, cells, expected):
            return "\(path), line \(line): \(cells) cells where every row needs \(expected); "
                + "fix the row or remove it."
        case let .nonNumericCell(path, line, column, cell):
            return "\(path), line \(line), column \(column): \"\(cell)\" is not a number; "
                + "fix the cell, or list the column in ignoredColumns if it is text."
        case let .emptyTable(path):
            return "\(path) has no data rows; check that it is the right file."
        case let .columnNotFound(path, column, available):
            let shown = available.prefix(20).joined(separator: ", ")
            return "\(path) has no column \(column); available: \(shown)\(available.count > 20 ? ", ..." : "")."
        case let .labelOutOfRange(dataset, index, label, classCount):
            return "\(dataset): example \(index) has label \(label), outside 0..<\(classCount); "
                + "labels must be remapped to 0...\(classCount - 1) first."
        case let .invalidArgument(name, message):
            return "invalid \(name): \(message)"
        }
    }
}
