import CredenceMetrics
import CredenceNN
import CredenceTensor

/// Monte-Carlo dropout (Gal & Ghahramani, 2016): a network trained with dropout, kept
/// stochastic at test time; the predictive averages S passes with independent masks,
/// p(y|x) ≈ (1/S) Σₛ softmax(f(x; θ ⊙ εₛ)). Equivalent to variational inference with a
/// Bernoulli approximate posterior over the rows of the weight matrices.
///
/// The S passes come from `NetworkModel.monteCarloProbabilities`: a chain of layers runs
/// its deterministic prefix (layers before the first dropout) once and stacks the passes
/// into large GEMMs.
public struct MCDropoutPosterior: Posterior {
    /// The trained network (parameters validated against the model).
    public let network: PointPosterior
    public var model: any NetworkModel { network.model }
    public var parameters: Tensor { network.parameters }
    public var task: Predictive.Task { network.task }
    public var method: String { MCDropoutMethod.name }
    public var storedFloatCount: Int { network.storedFloatCount }

    public init(model: any NetworkModel, parameters: Tensor, task: Predictive.Task) throws {
        guard model.isStochastic else {
            throw InferenceError.invalidOption("MC dropout needs a model with dropout layers (train with --dropout P, P > 0)")
        }
        network = try PointPosterior(model: model, parameters: parameters, task: task)
    }

    public init(archive: PosteriorArchive) throws {
        let network = try PointPosterior(archive: archive)
        try self.init(model: network.model, parameters: network.parameters, task: network.task)
    }

    public func predictive(_ inputs: Tensor, samples: Int, rng: inout RandomGenerator) throws -> Predictive {
        guard samples >= 1 else { throw InferenceError.invalidOption("samples must be ≥ 1, got \(samples)") }
        if task == .classification {
            let n = inputs.shape.first ?? 0
            var parts: [Tensor] = []
            for chunk in Parallel.ranges(n, parts: Swift.max(1, n / 1000)) {  // 1000 images per block
                parts.append(try model.monteCarloProbabilities(try inputs.rows(chunk), parameters: parameters,
                                                               samples: samples, rng: &rng))
            }
            return try Predictive(probabilities: try Tensor.concatenate(parts, axis: 1))
        }
        var outputs: [Tensor] = []
        for _ in 0..<samples {
            outputs.append(try model.predictBatched(inputs, parameters: parameters, mode: .mcSample, rng: rng.split()))
        }
        return try makePredictive(stacking: outputs, task: task)
    }

    public func sampleCount(requested: Int) -> Int { Swift.max(requested, 1) }

    /// The network with one draw of dropout masks (the same masks on every call).
    public func sample(_ index: Int, of count: Int, rng: inout RandomGenerator) throws -> PosteriorSample {
        PosteriorSample(model: model, parameters: parameters, mode: .mcSample, noise: rng.split())
    }

    public func archive() throws -> PosteriorArchive {
        var archive = try network.archive()
        archive.method = MCDropoutMethod.name
        return archive
    }
}

/// MC dropout as the registry lists it: the network is trained with dropout rate `dropout`
/// after each hidden layer and sampled with dropout on at test time.
public struct MCDropoutMethod: RegisteredMethod {
    public static let name = "mc-dropout"
    public static let family = MethodFamily.dropout
    public static let phase = MethodPhase.trained
    public static let summary = "one network trained with dropout, kept on at test time (Gal & Ghahramani 2016)"
    public static let options = [
        MethodOption("dropout", .real(above: 0, below: 1), default: "0.1", recordsDefault: true,
                     help: "dropout rate after each hidden layer (when not set: the run's --dropout if > 0, else 0.1)"),
    ]
    public static let quickSettings = ["dropout": "0.2"]

    /// The dropout rate given as a setting (nil: the run's own, or the default).
    public var dropout: Float?

    public init(dropout: Float? = nil) { self.dropout = dropout }

    public init(settings: MethodSettings) throws {
        dropout = try settings.values["dropout"].map { _ in try settings.required("dropout", as: Float.self) }
    }

    public func adjust(_ options: inout TrainingOptions) {
        if let dropout {
            options.dropout = dropout
        } else if options.dropout <= 0 {
            options.dropout = Float(Self.options[0].defaultValue!)!
        }
    }

    public var takesAdversarialTraining: Bool { true }

    public func run(_ job: MethodJob) throws -> MethodOutcome {
        let file = try job.network(job.options)
        let network = try file.pointPosterior()
        return MethodOutcome(posterior: try MCDropoutPosterior(model: network.model, parameters: network.parameters, task: network.task),
                             seconds: file.seconds)
    }

    public static func restore(_ archive: PosteriorArchive) throws -> any Posterior { try MCDropoutPosterior(archive: archive) }
}
