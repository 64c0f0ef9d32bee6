import CredenceTensor
import Foundation

/// Where a run's out-of-distribution inputs come from: a built-in set, the test examples
/// of the classes held out of training, or a file of the user's.
///
/// Written as one string — in suites, on the command line (`--ood`) and in run keys: a
/// built-in name (`mnist-5k`, `far`, …; `mnist` is accepted for `mnist-5k`),
/// `held-out-classes`, or the path of a file of inputs: NumPy `.npy`, CSV (`.csv`, `.tsv`,
/// `.txt`, optionally `.gz`) or IDX (`…-idx3-ubyte`, `.idx`, optionally `.gz`).
///
/// ```swift
/// let sources = try ["mnist-5k", "held-out-classes", "data/kmnist-test.npy"].map(OODSource.init(parsing:))
/// let inputs = try loadOODInputs(sources[2], dataset: .fashionMNIST, test: test, options: DataOptions())
/// ```
public enum OODSource: Hashable, Sendable, Codable, CustomStringConvertible {
    case builtIn(OODSetName)
    /// The test examples of `DataOptions.heldOutClasses` (the open-set protocol).
    case heldOutClasses
    /// Inputs read from a file, as the model sees them (one example per row).
    case file(path: String)

    public static let heldOutClassesName = "held-out-classes"
    static let fileSuffixes = [".npy", ".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".txt.gz", "-ubyte", "-ubyte.gz", ".idx", ".idx.gz"]

    /// Every name that is not a path, for help texts and errors.
    public static var names: [String] { OODSetName.allCases.map(\.rawValue) + [heldOutClassesName] }

    /// Reads the string form; a path must end in one of the known suffixes (the file
    /// itself is only opened by `loadOODInputs`).
    ///
    /// - Throws: `DataError.invalidArgument` naming the value and the accepted forms.
    public init(parsing text: String) throws {
        if let set = OODSetName(rawValue: text == "mnist" ? OODSetName.mnist5k.rawValue : text) {
            self = .builtIn(set)
        } else if text == Self.heldOutClassesName {
            self = .heldOutClasses
        } else if Self.fileSuffixes.contains(where: { text.lowercased().hasSuffix($0) }) {
            self = .file(path: text)
        } else {
            throw DataError.invalidArgument(name: "OOD set", message: "'\(text)' is neither an OOD set (\(Self.names.joined(separator: ", "))) nor a file of inputs ending in .npy, .csv, .tsv, .txt or an IDX name (…-idx3-ubyte, .idx; any of them may be .gz)")
        }
    }

    public var description: String {
        switch self {
        case let .builtIn(set): return set.rawValue
        case .heldOutClasses: return Self.heldOutClassesName
        case let .file(path): return path
        }
    }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do {
            try self.init(parsing: text)
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "\(error)"))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// The inputs of an OOD source for a model of data set `dataset`, matched to its test
/// set `test` (as loaded with `options`): `count` examples at most.
///
/// - Throws: `DataError` when the source does not fit the data (see `loadOODSet`;
///   held-out classes when `options` holds none out), a file is missing or malformed, or
///   a file's examples have another size than the test inputs, non-finite values, or
///   (image sets in [0, 1]) values outside [0, 1].
public func loadOODInputs(_ source: OODSource, dataset: DatasetName, test: InMemoryDataset, options: DataOptions,
                          count: Int? = nil) throws -> Tensor {
    switch source {
    case let .builtIn(set):
        return try loadOODSet(set, like: test, options: options, count: count)
    case .heldOutClasses:
        guard !options.heldOutClasses.isEmpty else {
            throw DataError.invalidArgument(name: "--ood held-out-classes", message: "no classes of \(dataset.rawValue) were held out of training (train with --held-out-classes, or give the suite's data set \"heldOutClasses\")")
        }
        var all = options
        all.heldOutClasses = []
        all.trainLimit = nil
        let inputs = try loadDataset(dataset, options: all).test.inputs(ofClasses: options.heldOutClasses)
        return try inputs.rows(0..<Swift.min(count ?? inputs.shape[0], inputs.shape[0]))
    case let .file(path):
        return try loadOODFile(path, like: test, count: count)
    }
}

/// A file of OOD inputs shaped like `test`'s: `[N, …]` with as many values per example as
/// a test input. IDX unsigned bytes are divided by 255 (as the image loaders do); other
/// values are taken as they are.
func loadOODFile(_ path: String, like test: InMemoryDataset, count: Int?) throws -> Tensor {
    let remedy = "Check the --ood path (or the suite's \"ood\" entry)."
    let lower = path.lowercased()
    var values: Tensor
    if lower.hasSuffix(".npy") {
        values = try NumPy.read(path, remedy: remedy).tensor
    } else if lower.contains("-ubyte") || lower.hasSuffix(".idx") || lower.hasSuffix(".idx.gz") {
        let idx = try IDX.read(path, remedy: remedy)
        values = idx.elementType == .uint8 ? idx.tensor.map { $0 / 255 } : idx.tensor
    } else {
        values = try NumericTable.read(path, header: .automatic, remedy: remedy).values
    }
    let perExample = test.inputShape.reduce(1, *)
    if values.rank >= 1, values.shape[0] == 0 || values.count == 0 {
        throw DataError.invalidArgument(name: path, message: "holds no examples (an array of shape \(values.shape)); an OOD set needs at least one")
    }
    guard values.rank >= 1, values.count == values.shape[0] * perExample else {
        throw DataError.unexpectedShape(path: path, shape: values.shape,
                                        expected: "[N, \(perExample)] or [N] + \(test.inputShape): one example per row with the test inputs' \(perExample) values")
    }
    let n = Swift.min(count ?? values.shape[0], values.shape[0])
    values = try values.reshaped([values.shape[0]] + test.inputShape).rows(0..<n)
    let (low, high, firstBad) = values.withUnsafeBufferPointer { p -> (Float, Float, Int?) in
        var low = Float.infinity, high = -Float.infinity
        for (i, v) in p.enumerated() {
            guard v.isFinite else { return (low, high, i) }
            low = Swift.min(low, v)
            high = Swift.max(high, v)
        }
        return (low, high, nil)
    }
    if let i = firstBad {
        throw DataError.invalidArgument(name: path, message: "example \(i / perExample) holds a NaN or infinite value; OOD inputs must be finite")
    }
    let (testLow, testHigh) = test.inputs.withUnsafeBufferPointer { p in (p.min() ?? 0, p.max() ?? 1) }
    if test.inputShape.count == 3, testLow >= 0, testHigh <= 1, low < -1e-3 || high > 1 + 1e-3 {
        throw DataError.invalidArgument(name: path, message: "values range from \(low) to \(high) but the model's images are in [0, 1]; scale the file the same way (e.g. divide 0–255 pixels by 255)")
    }
    return values
}
