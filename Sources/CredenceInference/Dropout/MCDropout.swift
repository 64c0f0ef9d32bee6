import CredenceMetrics
import CredenceNN
import CredenceTensor

/// Monte-Carlo dropout (Gal & Ghahramani, 2016): a network trained with dropout, kept
/// stochastic at test time; the predictive averages S passes with independent masks,
/// p(y|x) ≈ (1/S) Σₛ softmax(f(x; θ ⊙ εₛ)). Equivalent to variational inference with a
/// Bernoulli approximate posterior over the rows of the weight matrices.
///
/// The deterministic prefix (layers before the first dropout) runs once and the S
/// passes are stacked into large GEMMs (`Sequential.monteCarloProbabilities`).
public struct MCDropoutPosterior: Posterior {
    /// The trained network (parameters validated against the model).
    public let network: PointPosterior
    public var model: Sequential { network.model }
    public var parameters: Tensor { network.parameters }
    public var task: Predictive.Task { network.task }
    public var method: PosteriorMethod { .mcDropout }
    public var storedFloatCount: Int { network.storedFloatCount }

    public init(model: Sequential, parameters: Tensor, task: Predictive.Task) throws {
        guard model.firstStochasticLayer != nil else {
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

    public func archive() throws -> PosteriorArchive {
        var archive = try network.archive()
        archive.method = .mcDropout
        return archive
    }
}
