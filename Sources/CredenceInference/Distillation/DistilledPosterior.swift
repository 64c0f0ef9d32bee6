import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation

/// A posterior distilled into students (`PosteriorDistillation`): one network whose softmax is
/// the teacher's posterior predictive, and optionally one whose output is the expected entropy
/// E_θ H[p(y|x,θ)] — so the predictive carries the decomposition total = aleatoric + epistemic
/// (mutual information) from two forward passes instead of S. Its one sample is the predictive
/// student, a deterministic network (attacks see what a user deploys).
public struct DistilledPosterior: Posterior {
    public let method: String
    /// The sampler that taught the students ("sgld", "sghmc", …).
    public let teacher: String
    /// The predictive student.
    public let model: any NetworkModel
    public let parameters: Tensor
    /// The expected-entropy student; nil when only the predictive was distilled.
    public let entropyStudent: (model: any NetworkModel, parameters: Tensor)?
    /// Teacher samples the students learned from.
    public let lessons: Int
    /// The teacher chain's last iterate when this posterior comes straight from its run (nil
    /// when read from an archive, which does not keep it): the run checks with it that the
    /// chain stayed in its posterior (`SGMCMCRun.checkPotentialRise`).
    public var chainEnd: Tensor?
    public var task: Predictive.Task { .classification }
    public var storedFloatCount: Int { parameters.count + (entropyStudent?.parameters.count ?? 0) }

    public init(method: String, teacher: String, predictive model: any NetworkModel, parameters: Tensor,
                entropyStudent: (model: any NetworkModel, parameters: Tensor)?, lessons: Int) throws {
        guard parameters.count == model.parameterCount else {
            throw ModelError.parameterCount(got: parameters.count, expected: model.parameterCount)
        }
        if let entropy = entropyStudent {
            guard entropy.parameters.count == entropy.model.parameterCount else {
                throw ModelError.parameterCount(got: entropy.parameters.count, expected: entropy.model.parameterCount)
            }
            guard entropy.model.outputShape == [1], entropy.model.inputShape == model.inputShape else {
                throw InferenceError.incompatibleModel("the expected-entropy student must map the predictive student's inputs \(model.inputShape) to one value; it maps \(entropy.model.inputShape) to \(entropy.model.outputShape)")
            }
        }
        self.method = method
        self.teacher = teacher
        self.model = model
        self.parameters = parameters
        self.entropyStudent = entropyStudent
        self.lessons = lessons
    }

    public init(archive: PosteriorArchive) throws {
        var entropy: (model: any NetworkModel, parameters: Tensor)?
        if archive.settings["entropyStudent"] != nil {
            let model = try archive.modelSpec(setting: "entropyStudent").makeModel()
            let buffers = try model.buffers.map { ($0.name, try archive.tensor(Self.entropyBufferPrefix + $0.name)) }
            do {
                entropy = (buffers.isEmpty ? model : try model.replacingBuffers(Dictionary(uniqueKeysWithValues: buffers)),
                           try archive.tensor("entropy.parameters"))
            } catch let error as ModelError {
                throw InferenceError.invalidArchive(path: "posterior", message: "the expected-entropy student's running statistics: \(error)")
            }
        }
        try self.init(method: archive.method, teacher: archive.settings["teacher"] ?? "unknown", predictive: archive.model(),
                      parameters: archive.tensor("parameters"), entropyStudent: entropy, lessons: try archive.setting("lessons"))
    }

    /// The predictive student's probabilities; with an entropy student, its expected entropy
    /// too (`Predictive(probabilities:expectedEntropy:)`). `samples` is ignored (S = 1).
    public func predictive(_ inputs: Tensor, samples: Int, rng: inout RandomGenerator) throws -> Predictive {
        let logits = try model.predictBatched(inputs, parameters: parameters)
        guard let entropy = entropyStudent else { return try Predictive(logits: logits) }
        let probabilities = try Predictive(logits: logits).probabilities!.reshaped(logits.shape)
        let expected = StudentObjective.entropy(try entropy.model.predictBatched(inputs, parameters: entropy.parameters),
                                                classes: logits.shape[1])
        return try Predictive(probabilities: probabilities, expectedEntropy: expected)
    }

    public func sampleCount(requested: Int) -> Int { 1 }

    public func sample(_ index: Int, of count: Int, rng: inout RandomGenerator) throws -> PosteriorSample {
        PosteriorSample(model: model, parameters: parameters)
    }

    public func archive() throws -> PosteriorArchive {
        var tensors: [(name: String, value: Tensor)] = [("parameters", parameters)]
        var settings = ["teacher": teacher, "lessons": String(lessons)]
        if let entropy = entropyStudent {
            tensors.append(("entropy.parameters", entropy.parameters))
            tensors += entropy.model.buffers.map { (Self.entropyBufferPrefix + $0.name, $0.value) }
            settings["entropyStudent"] = try PosteriorArchive.settingText(describing: entropy.model.spec)
        }
        return PosteriorArchive(method: method, model: model, task: task, tensors: tensors, settings: settings)
    }

    /// The expected-entropy student's running statistics in the archive: "entropy.buffer.<name>".
    static let entropyBufferPrefix = "entropy.buffer."
}
