import CredenceTensor

/// What a data set asks a model to predict.
///
/// - `classification(classCount:)`: one integer label in `0..<classCount` per example.
/// - `regression(outputCount:)`: a real vector of `outputCount` targets per example.
public enum PredictionTask: Equatable, Codable, Sendable {
    case classification(classCount: Int)
    case regression(outputCount: Int)

    /// The number of classes, or nil for regression.
    public var classCount: Int? {
        if case let .classification(k) = self { return k }
        return nil
    }

    /// The width of a model's output layer: classes (logits) or regression outputs.
    public var outputCount: Int {
        switch self {
        case let .classification(k): return k
        case let .regression(d): return d
        }
    }
}

/// One mini-batch of examples, gathered in the order they were requested.
///
/// For classification `labels` holds `B` class indices and `targets` is nil; for
/// regression `labels` is empty and `targets` has shape `[B, outputCount]`.
///
/// ```swift
/// let batch = train.batch([4, 0, 7])
/// print(batch.inputs.shape, batch.labels)   // [3, 1, 28, 28] [9, 0, 2]
/// ```
public struct Batch {
    /// Inputs of shape `[B, ...inputShape]`.
    public var inputs: Tensor
    /// Class labels (classification); empty for regression.
    public var labels: [Int32]
    /// Targets of shape `[B, outputCount]` (regression); nil for classification.
    public var targets: Tensor?

    public init(inputs: Tensor, labels: [Int32], targets: Tensor?) {
        self.inputs = inputs
        self.labels = labels
        self.targets = targets
    }

    /// The number of examples in the batch.
    public var count: Int { inputs.shape.first ?? 0 }
}

/// A finite, indexable collection of supervised examples.
///
/// Conformers gather examples by index; shuffling and batching are generic
/// (`batches(size:shuffle:dropLast:)`), so a loader only says how to fetch rows.
///
/// ```swift
/// var rng: RandomGenerator? = RandomGenerator(seed: 0)
/// for indices in train.batches(size: 128, shuffle: &rng) {
///     let batch = train.batch(indices)   // [128, 1, 28, 28] inputs, 128 labels
/// }
/// ```
public protocol Dataset {
    /// A short identifier, e.g. `"fashion-mnist/train"`.
    var name: String { get }
    /// The number of examples.
    var count: Int { get }
    /// The shape of one example's input, e.g. `[1, 28, 28]` or `[2]`.
    var inputShape: [Int] { get }
    /// Classification or regression, with the output width.
    var task: PredictionTask { get }
    /// The examples at `indices`, in that order. Every index must be in `0..<count`.
    func batch(_ indices: [Int]) -> Batch
}

extension Dataset {
    /// Splits `0..<count` into mini-batches of `size` indices.
    ///
    /// In order when `rng` is nil, else in the order of one permutation drawn from `rng`
    /// (which advances, so each epoch differs). The last partial batch is kept unless
    /// `dropLast`. Index lists are cheap; gather each with `batch(_:)`.
    ///
    /// ```swift
    /// var rng: RandomGenerator? = RandomGenerator(seed: 1)
    /// let epoch = data.batches(size: 32, shuffle: &rng)   // [[Int]], every index once
    /// ```
    public func batches(size: Int, shuffle rng: inout RandomGenerator?, dropLast: Bool = false) -> [[Int]] {
        precondition(size > 0, "batches(size:) needs size > 0, got \(size)")
        let order: [Int]
        if rng != nil {
            order = rng!.permutation(count)
        } else {
            order = Array(0..<count)
        }
        var result: [[Int]] = []
        result.reserveCapacity((count + size - 1) / size)
        var start = 0
        while start < count {
            let end = Swift.min(start + size, count)
            if end - start < size && dropLast { break }
            result.append(Array(order[start..<end]))
            start = end
        }
        return result
    }

    /// Mini-batches shuffled by `rng` (advanced once per call).
    public func batches(size: Int, shuffle rng: inout RandomGenerator, dropLast: Bool = false) -> [[Int]] {
        var optional: RandomGenerator? = rng
        defer { rng = optional! }
        return batches(size: size, shuffle: &optional, dropLast: dropLast)
    }

    /// Mini-batches in index order.
    public func batches(size: Int, dropLast: Bool = false) -> [[Int]] {
        var none: RandomGenerator? = nil
        return batches(size: size, shuffle: &none, dropLast: dropLast)
    }

    /// A lazy sequence of gathered mini-batches (see `batches(size:shuffle:dropLast:)`).
    ///
    /// ```swift
    /// var rng: RandomGenerator? = RandomGenerator(seed: 0)
    /// for batch in train.miniBatches(size: 64, shuffle: &rng) { /* batch.inputs, batch.labels */ }
    /// ```
    public func miniBatches(size: Int, shuffle rng: inout RandomGenerator?,
                            dropLast: Bool = false) -> MiniBatchSequence<Self> {
        MiniBatchSequence(dataset: self, indexBatches: batches(size: size, shuffle: &rng, dropLast: dropLast))
    }

    /// Every example in index order, as one batch.
    public func all() -> Batch { batch(Array(0..<count)) }
}

/// Mini-batches of a data set, gathered one at a time as the sequence is iterated.
public struct MiniBatchSequence<D: Dataset>: Sequence {
    /// The data set the batches come from.
    public let dataset: D
    /// The index list of each batch, in iteration order.
    public let indexBatches: [[Int]]

    public struct Iterator: IteratorProtocol {
        let dataset: D
        var remaining: IndexingIterator<[[Int]]>
        public mutating func next() -> Batch? {
            remaining.next().map { dataset.batch($0) }
        }
    }

    public func makeIterator() -> Iterator {
        Iterator(dataset: dataset, remaining: indexBatches.makeIterator())
    }

    /// The number of batches.
    public var underestimatedCount: Int { indexBatches.count }
}
