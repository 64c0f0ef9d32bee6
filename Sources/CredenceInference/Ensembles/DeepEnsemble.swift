import CredenceMetrics
import CredenceNN
import CredenceTensor

/// A deep ensemble (Lakshminarayanan et al., 2017): M networks trained from independent
/// random initialisations (and data orders); the predictive is the equal-weight mixture
/// p(y|x) = (1/M) Σₘ p(y|x, θₘ). Each member is one "sample", so `samples` is ignored
/// and S = M.
public struct EnsemblePosterior: Posterior {
    public let model: Sequential
    public let members: [Tensor]
    public let task: Predictive.Task
    public var method: PosteriorMethod { .ensemble }
    public var storedFloatCount: Int { members.count * model.parameterCount }

    public init(model: Sequential, members: [Tensor], task: Predictive.Task) throws {
        guard !members.isEmpty else { throw InferenceError.invalidOption("an ensemble needs at least one member") }
        for m in members where m.count != model.parameterCount {
            throw ModelError.parameterCount(got: m.count, expected: model.parameterCount)
        }
        self.model = model
        self.members = members
        self.task = task
    }

    public init(archive: PosteriorArchive) throws {
        let count: Int = try archive.setting("members")
        let members = try (0..<count).map { try archive.tensor("member.\($0)") }
        try self.init(model: Sequential(archive.spec), members: members, task: archive.task)
    }

    public func predictive(_ inputs: Tensor, samples: Int, rng: inout RandomGenerator) throws -> Predictive {
        try makePredictive(stacking: members.map { try model.predictBatched(inputs, parameters: $0) }, task: task)
    }

    public func archive() throws -> PosteriorArchive {
        PosteriorArchive(method: .ensemble, spec: model.spec, task: task,
                         tensors: members.enumerated().map { ("member.\($0.offset)", $0.element) },
                         settings: ["members": String(members.count)])
    }
}
