import CredenceMetrics
import CredenceNN
import CredenceTensor

/// A point estimate θ̂: the predictive is p(y|x, θ̂) (S = 1). The baseline every method is
/// compared with; with L2 weight decay λ, θ̂ is the MAP estimate under the Gaussian prior
/// N(0, (λN)⁻¹ I).
public struct PointPosterior: Posterior {
    public let model: Sequential
    public let parameters: Tensor
    public let task: Predictive.Task
    public var method: PosteriorMethod { .map }
    public var storedFloatCount: Int { parameters.count }

    public init(model: Sequential, parameters: Tensor, task: Predictive.Task) throws {
        guard parameters.count == model.parameterCount else {
            throw ModelError.parameterCount(got: parameters.count, expected: model.parameterCount)
        }
        self.model = model
        self.parameters = parameters
        self.task = task
    }

    public init(archive: PosteriorArchive) throws {
        try self.init(model: Sequential(archive.spec), parameters: archive.tensor("parameters"), task: archive.task)
    }

    public func predictive(_ inputs: Tensor, samples: Int, rng: inout RandomGenerator) throws -> Predictive {
        try makePredictive(stacking: [model.predictBatched(inputs, parameters: parameters)], task: task)
    }

    public func archive() throws -> PosteriorArchive {
        PosteriorArchive(method: .map, spec: model.spec, task: task, tensors: [("parameters", parameters)])
    }
}
