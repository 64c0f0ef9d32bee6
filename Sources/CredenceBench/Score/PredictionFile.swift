import CredenceData
import CredenceNN
import CredenceTensor
import Foundation

/// The file formats `credence score` reads.
public enum PredictionFileFormat: String, Codable, Sendable, CaseIterable {
    /// NumPy `.npy` (`np.save`), any version; optionally gzip-compressed.
    case npy
    /// Text table: rows = examples, columns = classes; `,`, tab, `;` or spaces; header optional.
    case csv
    /// Hugging Face safetensors (`safetensors.torch.save_file`); one named tensor is read.
    case safetensors

    /// The format of `path`: by extension (`.npy`, `.csv`/`.tsv`/`.txt`, each optionally
    /// `.gz`; `.safetensors`), else by the first bytes (the NumPy magic, or a safetensors
    /// header length followed by `{`).
    static func detect(_ path: String, firstBytes: [UInt8]) throws -> PredictionFileFormat {
        var name = (path as NSString).lastPathComponent.lowercased()
        if name.hasSuffix(".gz") { name = String(name.dropLast(3)) }
        switch (name as NSString).pathExtension {
        case "npy": return .npy
        case "csv", "tsv", "txt": return .csv
        case "safetensors": return .safetensors
        default:
            if firstBytes.starts(with: NumPy.magic) || Gzip.isGzip(firstBytes) { return .npy }
            if firstBytes.count > 8, firstBytes[8] == UInt8(ascii: "{") { return .safetensors }
            throw ScoreError.unsupportedFormat(path: path)
        }
    }
}

/// Which file was read for what, as recorded in a `ScoreResult`.
public struct ScoredFile: Codable, Sendable, Equatable {
    public var path: String
    public var format: PredictionFileFormat
    /// The safetensors tensor that was read (nil for other formats).
    public var tensor: String?
    /// The shape of the array in the file.
    public var shape: [Int]
}

/// One array read from a predictions file, before it is interpreted as probabilities or labels.
struct ArrayFileContents {
    var file: ScoredFile
    /// The elements as Float32, C order, shaped `file.shape`.
    var values: Tensor
    /// Exact elements of an integer-typed `.npy` array (nil otherwise).
    var integers: [Int]?
    /// The 1-based line of each row of a text table (nil for other formats).
    var lineNumbers: [Int]?
    /// What the reader did that the user should know (e.g. an index column dropped).
    var notes: [String] = []

    var path: String { file.path }
    var shape: [Int] { file.shape }

    /// Reads the array in `path`; for safetensors, the tensor `tensor` (nil = the first in the file).
    static func read(_ path: String, tensor: String?) throws -> ArrayFileContents {
        let head = try firstBytes(of: path, count: 16)
        guard !head.isEmpty else { throw ScoreError.emptyFile(path: path, detail: "0 bytes") }
        let format = try PredictionFileFormat.detect(path, firstBytes: head)
        switch format {
        case .npy:
            let array = try NumPy.read(path)
            var integers: [Int]? = nil
            if case let .integer(values) = array.elements { integers = values }
            return ArrayFileContents(file: ScoredFile(path: path, format: .npy, shape: array.shape),
                                     values: array.tensor, integers: integers)
        case .csv:
            let table: NumericTable
            do {
                table = try NumericTable.read(path)
            } catch DataError.emptyTable {
                throw ScoreError.emptyFile(path: path, detail: "no data rows")
            }
            var values = table.values, notes: [String] = []
            let (rows, columns) = (values.shape[0], values.shape[1])
            // pandas' `to_csv()` writes the row index as a first column with an empty header cell.
            if columns > 1, let first = table.columnNames?.first, first.isEmpty || first == "Unnamed: 0",
               values.withUnsafeBufferPointer({ p in (0..<rows).allSatisfy { p[$0 * columns] == Float($0) } }) {
                values = try values.slice(axis: 1, 1..<columns)
                notes.append("\(path): the first column (0, 1, 2, …, no header) was read as a row index and skipped")
            }
            return ArrayFileContents(file: ScoredFile(path: path, format: .csv, shape: values.shape),
                                     values: values, lineNumbers: table.lineNumbers, notes: notes)
        case .safetensors:
            let file = try SafeTensorsFile(contentsOf: path)
            guard let first = file.names.first else { throw ScoreError.emptyFile(path: path, detail: "it holds no tensors") }
            let name = tensor ?? first
            guard let values = file[name] else {
                throw ScoreError.tensorNotFound(path: path, tensor: name,
                                                available: file.names.map { "'\($0)' \(file[$0]!.shape)" })
            }
            return ArrayFileContents(file: ScoredFile(path: path, format: .safetensors, tensor: name, shape: values.shape),
                                     values: values)
        }
    }

    /// Up to `count` leading bytes of `path`; `DataError.fileNotFound` when it does not exist.
    private static func firstBytes(of path: String, count: Int) throws -> [UInt8] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw DataError.fileNotFound(path: path, remedy: "Check the path.")
        }
        guard !isDirectory.boolValue, let handle = FileHandle(forReadingAtPath: path) else {
            throw DataError.unreadableFile(path: path, reason: isDirectory.boolValue ? "it is a directory" : "it cannot be opened")
        }
        defer { try? handle.close() }
        return [UInt8]((try? handle.read(upToCount: count)) ?? Data())
    }

    /// "row 17" (with the text line for tables) for a rank-2 array's row `row`.
    func rowDescription(_ row: Int) -> String {
        if let lines = lineNumbers, row < lines.count { return "row \(row) (line \(lines[row]))" }
        return "row \(row)"
    }
}
