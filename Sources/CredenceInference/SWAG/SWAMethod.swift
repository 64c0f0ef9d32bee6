/// SWA as the registry lists it (Izmailov et al. 2018): the collection phase of SWAG keeping
/// only the running mean of the iterates, used as a point estimate.
public struct SWAMethod: RegisteredMethod {
    public static let name = "swa"
    public static let family = MethodFamily.swag
    public static let phase = MethodPhase.trained
    public static let summary = "stochastic weight averaging: the mean of the iterates of continued training (Izmailov et al. 2018)"
    public static let options = SWAGMethod.options.filter { ["swagEpochs", "swagLearningRate", "swagOptimizer", "collectionsPerEpoch", "recalibrationExamples"].contains($0.key) }
    public static let quickSettings = ["swagEpochs": "2"]

    public var collection = SWAGCollectionSettings()

    public init() {}
    public init(settings: MethodSettings) throws { collection = try SWAGCollectionSettings(settings: settings) }

    public var takesAdversarialTraining: Bool { true }

    public func run(_ job: MethodJob) throws -> MethodOutcome {
        try collection.run(job, meanOnly: true, rank: 2, covariance: .diagonal, scale: 1)
    }

    public static func restore(_ archive: PosteriorArchive) throws -> any Posterior { try SWAPosterior(archive: archive) }
}
