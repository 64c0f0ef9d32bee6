import CredenceMetrics
import CredenceNN
import CredenceTensor

/// A point estimate θ̂: the predictive is p(y|x, θ̂) (S = 1). The baseline every method is
/// compared with; with L2 weight decay λ, θ̂ is the MAP estimate under the Gaussian prior
/// N(0, (λN)⁻¹ I).
public struct PointPosterior: Posterior {
    public let model: any NetworkModel
    public let parameters: Tensor
    public let task: Predictive.Task
    public var method: String { MAPMethod.name }
    public var storedFloatCount: Int { parameters.count }

    public init(model: any NetworkModel, parameters: Tensor, task: Predictive.Task) throws {
        guard parameters.count == model.parameterCount else {
            throw ModelError.parameterCount(got: parameters.count, expected: model.parameterCount)
        }
        self.model = model
        self.parameters = parameters
        self.task = task
    }

    public init(archive: PosteriorArchive) throws {
        try self.init(model: archive.model(), parameters: archive.tensor("parameters"), task: archive.task)
    }

    public func predictive(_ inputs: Tensor, samples: Int, rng: inout RandomGenerator) throws -> Predictive {
        try makePredictive(stacking: [model.predictBatched(inputs, parameters: parameters)], task: task)
    }

    public func sampleCount(requested: Int) -> Int { 1 }

    public func sample(_ index: Int, of count: Int, rng: inout RandomGenerator) throws -> PosteriorSample {
        PosteriorSample(model: model, parameters: parameters)
    }

    public func archive() throws -> PosteriorArchive {
        PosteriorArchive(method: MAPMethod.name, model: model, task: task, tensors: [("parameters", parameters)])
    }
}

/// MAP: one network trained on the mean loss; coupled weight decay λ is the Gaussian prior
/// N(0, (λN)⁻¹ I) (`GaussianPrior.fromWeightDecay`). The baseline every method is compared with.
public struct MAPMethod: RegisteredMethod {
    public static let name = "map"
    public static let family = MethodFamily.point
    public static let phase = MethodPhase.trained
    public static let summary = "one network; weight decay acts as a Gaussian prior (the baseline)"
    public static let options: [MethodOption] = []

    public init() {}
    public init(settings: MethodSettings) throws {}

    public var takesAdversarialTraining: Bool { true }

    public func run(_ job: MethodJob) throws -> MethodOutcome {
        let network = try job.network(job.options)
        return MethodOutcome(posterior: try network.pointPosterior(), seconds: network.seconds)
    }

    public static func restore(_ archive: PosteriorArchive) throws -> any Posterior { try PointPosterior(archive: archive) }
}
