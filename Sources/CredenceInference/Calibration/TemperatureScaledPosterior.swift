import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation

/// Temperature scaling (Guo et al., 2017) on top of any posterior: the predictive's log
/// mean probabilities are divided by a temperature T fitted by NLL on held-out data,
/// p_T(y|x) ∝ p̄(y|x)^(1/T). For a point estimate, log p̄ = logits − logsumexp, so this is
/// exactly softmax(z / T); for other methods it tempers their averaged predictive.
/// The result has S = 1 (the samples are averaged before tempering).
public struct TemperatureScaledPosterior: Posterior {
    public let base: any Posterior
    public let temperature: Double
    public var method: String { base.method }
    public var model: any NetworkModel { base.model }
    public var task: Predictive.Task { base.task }
    public var storedFloatCount: Int { base.storedFloatCount + 1 }

    public init(base: any Posterior, temperature: Double) throws {
        guard base.task == .classification else {
            throw InferenceError.invalidOption("temperature scaling applies to classification; \(base.method) posterior is for regression")
        }
        guard temperature > 0, temperature.isFinite else {
            throw InferenceError.invalidOption("temperature must be a finite number > 0, got \(temperature)")
        }
        self.base = base
        self.temperature = temperature
    }

    /// Fits T on held-out `inputs` and `labels` from the base posterior's predictive.
    public static func fit(_ base: any Posterior, inputs: Tensor, labels: [Int32], samples: Int,
                           rng: inout RandomGenerator) throws -> (posterior: TemperatureScaledPosterior, fit: TemperatureScalingFit) {
        let logits = try logMeanProbabilities(base.predictive(inputs, samples: samples, rng: &rng))
        let fit = try TemperatureScaling.fit(logits: logits, labels: labels)
        return (try TemperatureScaledPosterior(base: base, temperature: fit.temperature), fit)
    }

    /// log p̄ as an [N, C] logits tensor (probabilities floored at 1e-30 so log stays finite).
    static func logMeanProbabilities(_ p: Predictive) throws -> Tensor {
        try Tensor(shape: [p.exampleCount, p.outputCount],
                   checkedValues: p.meanProbabilities.map { Float(Foundation.log(Swift.max($0, 1e-30))) })
    }

    public func predictive(_ inputs: Tensor, samples: Int, rng: inout RandomGenerator) throws -> Predictive {
        try Predictive(logits: Self.logMeanProbabilities(base.predictive(inputs, samples: samples, rng: &rng)),
                       temperature: temperature)
    }

    public func sampleCount(requested: Int) -> Int { base.sampleCount(requested: requested) }

    /// The base's sample with its logits divided by T. For a point base this is exactly the
    /// scaled predictive; for a sampled base, tempering each sample differs from `predictive`,
    /// which tempers the averaged probabilities (Guo et al. scale one network's logits).
    public func sample(_ index: Int, of count: Int, rng: inout RandomGenerator) throws -> PosteriorSample {
        let s = try base.sample(index, of: count, rng: &rng)
        return PosteriorSample(model: s.model, parameters: s.parameters, mode: s.mode, noise: s.noise,
                               outputScale: Float(1 / temperature) * (s.outputScale ?? 1))
    }

    public func archive() throws -> PosteriorArchive {
        var archive = try base.archive()
        archive.settings["temperature"] = String(temperature)
        return archive
    }
}
