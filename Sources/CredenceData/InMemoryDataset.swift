import CredenceTensor

/// A data set held in memory: inputs `[N, ...inputShape]` with `N` labels or `[N, D]` targets.
///
/// Every loader in this module returns one. Initialisers validate that the example
/// counts agree and that labels lie in `0..<classCount`; `batch(_:)` gathers rows
/// with one `memcpy` per example.
///
/// ```swift
/// let x = Tensor(shape: [4, 2], values: [0, 0, 0, 1, 1, 0, 1, 1])
/// let xor = try InMemoryDataset(name: "xor", inputs: x, labels: [0, 1, 1, 0], classCount: 2)
/// let (train, validation) = try xor.split(validationFraction: 0.25, rng: &rng)
/// ```
public struct InMemoryDataset: Dataset {
    public var name: String
    /// All inputs, `[N, ...inputShape]`.
    public var inputs: Tensor
    /// Class labels in `0..<classCount` (classification); empty for regression.
    public var labels: [Int32]
    /// Targets `[N, outputCount]` (regression); nil for classification.
    public var targets: Tensor?
    public private(set) var task: PredictionTask
    /// Human-readable class names (index = label) when known, else empty.
    public var classNames: [String]
    /// How `targets` were standardised from the data's own units (fitted on the training
    /// split), or nil when they are in those units. Models train and predict on the stored
    /// targets; `originalTargets` and `Predictive.destandardized` bring both back.
    public var targetStandardization: Standardization?

    /// A classification set. Throws `DataError.invalidArgument` when `inputs` has no
    /// example axis or its length differs from `labels.count`, and
    /// `DataError.labelOutOfRange` for a label outside `0..<classCount`.
    public init(name: String, inputs: Tensor, labels: [Int32], classCount: Int) throws {
        guard classCount > 0 else {
            throw DataError.invalidArgument(name: "classCount", message: "\(name): needs at least one class, got \(classCount)")
        }
        guard inputs.rank >= 1, inputs.shape[0] == labels.count else {
            throw DataError.invalidArgument(
                name: "inputs", message: "\(name): inputs of shape \(inputs.shape) need a first axis of \(labels.count) (one row per label)")
        }
        for (i, label) in labels.enumerated() where label < 0 || Int(label) >= classCount {
            throw DataError.labelOutOfRange(dataset: name, index: i, label: Int(label), classCount: classCount)
        }
        try Self.requireFinite(inputs, "inputs", of: name)
        self.name = name
        self.inputs = inputs
        self.labels = labels
        self.targets = nil
        self.task = .classification(classCount: classCount)
        self.classNames = []
        self.targetStandardization = nil
    }

    /// A regression set. `targets` is `[N, D]` (or `[N]`, read as `[N, 1]`) and must
    /// have as many rows as `inputs`; otherwise throws `DataError.invalidArgument`.
    public init(name: String, inputs: Tensor, targets: Tensor) throws {
        var targets = targets
        if targets.rank == 1 { targets = try targets.reshaped([targets.count, 1]) }
        guard inputs.rank >= 1, targets.rank == 2, inputs.shape[0] == targets.shape[0] else {
            throw DataError.invalidArgument(
                name: "targets", message: "\(name): targets of shape \(targets.shape) need shape [\(inputs.shape.first ?? 0), D] to match inputs \(inputs.shape)")
        }
        try Self.requireFinite(inputs, "inputs", of: name)
        try Self.requireFinite(targets, "targets", of: name)
        self.name = name
        self.inputs = inputs
        self.labels = []
        self.targets = targets
        self.task = .regression(outputCount: targets.shape[1])
        self.classNames = []
        self.targetStandardization = nil
    }

    /// Refuses a NaN or infinite value: a network would carry it through (ReLU turns NaN into
    /// 0) into figures that look fine and are wrong.
    static func requireFinite(_ values: Tensor, _ what: String, of name: String) throws {
        let perExample = Swift.max(1, values.count / Swift.max(values.shape.first ?? 1, 1))
        if let i = values.withUnsafeBufferPointer({ $0.firstIndex { !$0.isFinite } }) {
            throw DataError.invalidArgument(name: what, message: "\(name): example \(i / perExample) holds a NaN or infinite value (at position \(i % perExample)); clean or drop it")
        }
    }

    /// The targets in the data's own units (regression; nil for classification).
    public var originalTargets: Tensor? {
        guard let targets else { return nil }
        return targetStandardization.map { $0.invert(targets) } ?? targets
    }

    public var count: Int { inputs.shape.first ?? 0 }
    public var inputShape: [Int] { Array(inputs.shape.dropFirst()) }

    public func batch(_ indices: [Int]) -> Batch {
        Batch(inputs: Self.gatherRows(inputs, indices),
              labels: labels.isEmpty ? [] : indices.map { labels[$0] },
              targets: targets.map { Self.gatherRows($0, indices) })
    }

    /// Every example, without copying (the stored tensors themselves).
    public func all() -> Batch { Batch(inputs: inputs, labels: labels, targets: targets) }

    /// The examples at `indices`, in that order, as a new data set of the same task.
    public func subset(_ indices: [Int]) -> InMemoryDataset {
        var copy = self
        copy.inputs = Self.gatherRows(inputs, indices)
        copy.labels = labels.isEmpty ? [] : indices.map { labels[$0] }
        copy.targets = targets.map { Self.gatherRows($0, indices) }
        return copy
    }

    /// The examples of the classes `kept` (ascending class indices), relabelled 0, 1, …
    /// in that order, as a data set of `kept.count` classes; class names follow.
    public func restricted(toClasses kept: [Int]) -> InMemoryDataset {
        var newLabel = [Int32](repeating: -1, count: task.classCount ?? 0)
        for (i, c) in kept.enumerated() where c >= 0 && c < newLabel.count { newLabel[c] = Int32(i) }
        let indices = labels.indices.filter { newLabel[Int(labels[$0])] >= 0 }
        var copy = subset(indices)
        copy.labels = copy.labels.map { newLabel[Int($0)] }
        copy.task = .classification(classCount: kept.count)
        copy.classNames = classNames.isEmpty ? [] : kept.map { classNames[$0] }
        return copy
    }

    /// The inputs of the examples whose class is in `classes` (original labels), in order.
    public func inputs(ofClasses classes: [Int]) -> Tensor {
        Self.gatherRows(inputs, labels.indices.filter { classes.contains(Int(labels[$0])) })
    }

    /// The first `limit` examples (all of them when `limit` is nil or ≥ `count`), without copying.
    public func prefix(_ limit: Int?) -> InMemoryDataset {
        guard let limit, limit < count else { return self }
        var copy = self
        let n = Swift.max(0, limit)
        copy.inputs = try! inputs.rows(0..<n)
        copy.labels = labels.isEmpty ? [] : Array(labels[0..<n])
        copy.targets = targets.map { try! $0.rows(0..<n) }
        return copy
    }

    /// Rows `indices` of `source` (any rank ≥ 1), one contiguous copy per row.
    static func gatherRows(_ source: Tensor, _ indices: [Int]) -> Tensor {
        let n = source.shape[0]
        let rowSize = source.shape.dropFirst().reduce(1, *)
        var shape = source.shape
        shape[0] = indices.count
        var out = Tensor(uninitializedShape: shape)
        source.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                guard rowSize > 0 else { return }
                for (row, i) in indices.enumerated() {
                    precondition(i >= 0 && i < n, "example index \(i) out of range 0..<\(n)")
                    (dst.baseAddress! + row * rowSize).update(from: src.baseAddress! + i * rowSize, count: rowSize)
                }
            }
        }
        return out
    }
}

extension InMemoryDataset {
    /// A deterministic train/validation split.
    ///
    /// Draws one permutation of `0..<count` from `rng`; the first
    /// `round(validationFraction · count)` indices form the validation set and the rest
    /// the training set, both in permuted order. Names get `/train` and `/validation`.
    /// Throws `DataError.invalidArgument` unless `0 < validationFraction < 1` and both
    /// parts are non-empty.
    ///
    /// ```swift
    /// var rng = RandomGenerator(seed: 0)
    /// let (train, validation) = try data.split(validationFraction: 0.1, rng: &rng)
    /// ```
    public func split(validationFraction: Double, rng: inout RandomGenerator) throws
        -> (train: InMemoryDataset, validation: InMemoryDataset) {
        let (a, b) = try splitIndices(fraction: validationFraction, rng: &rng)
        var train = subset(a), validation = subset(b)
        train.name = name + "/train"
        validation.name = name + "/validation"
        return (train, validation)
    }

    /// The training examples of a run with `--holdout count` and `seed`, and the ones held out
    /// (temperature scaling and Laplace's held-out prior are fitted on them): drawn from a
    /// stream of its own derived from `seed`, so `train`, `fit` and `data export` find the same.
    /// - Throws: `DataError.invalidArgument` unless 0 < `count` < the examples.
    public func holdingOut(_ count: Int, seed: UInt64) throws -> (rest: InMemoryDataset, heldOut: InMemoryDataset) {
        guard count > 0, count < self.count else {
            throw DataError.invalidArgument(name: "--holdout", message: "\(count) must leave examples on both sides of \(self.count) in \(name)")
        }
        var rng = RandomGenerator(seed: seed ^ 0x4D5E_1D0C)
        let (rest, held) = try split(validationFraction: Double(count) / Double(self.count), rng: &rng)
        return (rest, held)
    }

    /// Indices of a seeded split: (rest, held out) with `round(fraction · count)` held out.
    func splitIndices(fraction: Double, rng: inout RandomGenerator) throws -> ([Int], [Int]) {
        guard fraction > 0, fraction < 1 else {
            throw DataError.invalidArgument(name: "validationFraction",
                                            message: "\(fraction) must lie strictly between 0 and 1")
        }
        let held = Int((Double(count) * fraction).rounded())
        guard held > 0, held < count else {
            throw DataError.invalidArgument(
                name: "validationFraction",
                message: "\(fraction) of \(count) examples in \(name) leaves an empty part; use a larger data set or another fraction")
        }
        let order = rng.permutation(count)
        return (Array(order[held...]), Array(order[..<held]))
    }
}
