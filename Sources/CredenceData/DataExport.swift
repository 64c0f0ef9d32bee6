import CredenceTensor
import Foundation

/// What `exportDataset` wrote: one `.npy` file per array, named in `files`, and the facts a
/// reader needs to use them as Credence does. Written last, as `manifest.json`, so a
/// directory with a manifest holds every file it names.
public struct DataExportManifest: Codable, Sendable, Equatable {
    public struct File: Codable, Sendable, Equatable {
        /// The file's name in the directory, e.g. "test-inputs.npy".
        public var name: String
        /// What it holds: "train inputs", "shift gaussian-noise 3 inputs", "ood mnist-5k inputs", ….
        public var contents: String
        public var shape: [Int]
        /// "float32" (inputs, targets) or "int64" (class labels).
        public var dtype: String
    }
    public var dataset: String
    /// The seed of the split, the synthetic sets and the shifts' noise.
    public var seed: UInt64
    public var trainLimit: Int?
    /// Training examples held out (`--holdout`; nil: none), written as `holdout-*.npy`.
    public var holdout: Int?
    public var heldOutClasses: [Int]
    /// "classification" or "regression".
    public var task: String
    /// Classification: the classes (labels are 0..<classCount) and their names where known.
    public var classCount: Int?
    public var classNames: [String]?
    /// Regression: targets are written in their own units; Credence trains on them
    /// standardised with this mean and standard deviation per output.
    public var targetMean: [Float]?
    public var targetStandardDeviation: [Float]?
    public var files: [File]
}

/// Writes a built-in data set as NumPy `.npy` files in `directory` (created if missing), so
/// PyTorch, JAX and cross-checks use exactly the examples Credence uses: the train and test
/// inputs (float32, as Credence feeds them: images in [0, 1] as [N, C, H, W], tabular
/// features standardised), class labels (int64) or regression targets (float32, original
/// units), each shift's shifted test inputs (`shift-KIND-SEVERITY-inputs.npy`, shifted with
/// `options.seed` as `bench` and `evaluate --shifts` shift them) and each OOD set's inputs
/// (`ood-NAME-inputs.npy`), then `manifest.json` (`DataExportManifest`). With `holdout` N, the
/// N training examples a run with `--holdout N` keeps out go to `holdout-*.npy` and the train
/// files hold the rest, in the order Credence trains on them. Every file is written
/// atomically; `onFile` reports each one written.
///
/// ```swift
/// let manifest = try exportDataset(.shapes, options: DataOptions(seed: 0), shifts: Shift.strongest, ood: [], to: "shapes-npy")
/// // python: np.load("shapes-npy/test-inputs.npy").shape == (500, 1, 28, 28)
/// ```
/// - Throws: `DataError` when the data set cannot be loaded, shifts are asked of data that
///   are not images, an OOD source does not fit, or a file cannot be written.
@discardableResult
public func exportDataset(_ name: DatasetName, options: DataOptions, holdout: Int = 0, shifts: [Shift] = [], ood: [OODSource] = [],
                          to directory: String, onFile: (DataExportManifest.File) -> Void = { _ in }) throws -> DataExportManifest {
    let (all, test) = try loadDataset(name, options: options)
    var train = all, heldOut: InMemoryDataset?
    if holdout > 0 { (train, heldOut) = try all.holdingOut(holdout, seed: options.seed) }
    if !shifts.isEmpty, test.inputShape.count != 3 {
        throw DataError.invalidArgument(name: "--shift", message: "shifts transform images; \(name.rawValue) has inputs of shape \(test.inputShape)")
    }
    do {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    } catch {
        throw DataError.unwritableFile(path: directory, reason: "the directory cannot be created (\(error.localizedDescription))")
    }
    var files: [DataExportManifest.File] = []
    func writeAtomically(_ data: Data, _ file: String) throws {
        let path = (directory as NSString).appendingPathComponent(file)
        try AtomicFile.write(data, to: path, failure: DataError.unwritableFile)
    }
    func write(_ bytes: [UInt8], _ file: String, _ contents: String, shape: [Int], dtype: String) throws {
        try writeAtomically(Data(bytes), file)
        let entry = DataExportManifest.File(name: file, contents: contents, shape: shape, dtype: dtype)
        files.append(entry)
        onFile(entry)
    }
    func inputs(_ tensor: Tensor, _ file: String, _ contents: String) throws {
        try write(NumPy.encode(tensor), file, contents, shape: tensor.shape, dtype: "float32")
    }
    for (split, set) in [("train", train), ("holdout", heldOut), ("test", test)].compactMap({ s, d in d.map { (s, $0) } }) {
        try inputs(set.inputs, "\(split)-inputs.npy", "\(split) inputs")
        if let targets = set.originalTargets {
            try inputs(targets, "\(split)-targets.npy", "\(split) targets")
        } else {
            try write(NumPy.encode(integers: set.labels.map(Int.init)), "\(split)-labels.npy", "\(split) labels",
                      shape: [set.labels.count], dtype: "int64")
        }
    }
    for shift in shifts {
        try inputs(try applyShift(shift, to: test.inputs, seed: options.seed), "shift-\(shift.kind.rawValue)-\(shift.severity)-inputs.npy",
                   "shift \(shift.kind.rawValue) \(shift.severity) inputs")
    }
    for source in ood {
        let set = try loadOODInputs(source, dataset: name, test: test, options: options)
        let label = String(URL(fileURLWithPath: source.description).lastPathComponent.map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "_" })
        try inputs(set, "ood-\(label)-inputs.npy", "ood \(source.description) inputs")
    }
    let manifest = DataExportManifest(
        dataset: name.rawValue, seed: options.seed, trainLimit: options.trainLimit, holdout: holdout > 0 ? holdout : nil,
        heldOutClasses: options.heldOutClasses,
        task: test.targets == nil ? "classification" : "regression", classCount: test.task.classCount,
        classNames: test.classNames.isEmpty ? nil : test.classNames,
        targetMean: test.targetStandardization?.mean, targetStandardDeviation: test.targetStandardization?.standardDeviation, files: files)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    try writeAtomically(try encoder.encode(manifest), "manifest.json")
    return manifest
}
