/// What a suite needs to know about a data set without loading it: input shape, task and
/// (roughly) the training-set size, to reject impossible combinations before any work.
public struct DatasetFacts: Sendable {
    public var inputShape: [Int]
    public var task: PredictionTask
    /// Training examples before `trainLimit` (the loaders' splits).
    public var trainCount: Int

    public var isImage: Bool { inputShape.count == 3 }

    public init(_ name: DatasetName) {
        switch name {
        case .fashionMNIST: self.init([1, 28, 28], .classification(classCount: 10), 60_000)
        case .mnist5k: self.init([1, 28, 28], .classification(classCount: 10), 4_000)
        case .twoMoons: self.init([2], .classification(classCount: 2), 1_000)
        case .spirals, .blobs: self.init([2], .classification(classCount: 3), 1_000)
        case .regression1D: self.init([1], .regression(outputCount: 1), 1_000)
        case .shapes: self.init([1, 28, 28], .classification(classCount: 4), 1_000)
        case .bostonHousing: self.init([13], .regression(outputCount: 1), 455)
        case .autoMPG: self.init([7], .regression(outputCount: 1), 352)
        case .iris: self.init([4], .classification(classCount: 3), 120)
        case .wine: self.init([13], .classification(classCount: 3), 142)
        }
    }

    private init(_ shape: [Int], _ task: PredictionTask, _ count: Int) {
        inputShape = shape
        self.task = task
        trainCount = count
    }

    public var shapeText: String { "[" + inputShape.map(String.init).joined(separator: ", ") + "]" }
}
