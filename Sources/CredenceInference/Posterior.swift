import CredenceMetrics
import CredenceNN
import CredenceTensor

/// An approximate posterior: anything that answers with a predictive distribution.
///
/// Every method produces a `Predictive` with `S` per-sample predictions, so metrics, OOD
/// scores, attacks and reports treat all methods alike (DESIGN.md, idea 3).
public protocol Posterior {
    /// The registered method that produced it (`MethodRegistry`), e.g. "swag".
    var method: String { get }
    /// The architecture the posterior is over.
    var model: any NetworkModel { get }
    /// Classification or regression (how network outputs become a predictive).
    var task: Predictive.Task { get }
    /// Number of Floats the posterior stores (ensemble = M × parameters, SWAG = (rank + 2) ×, ...).
    var storedFloatCount: Int { get }
    /// The predictive at `inputs` from `samples` Monte-Carlo samples (deterministic
    /// posteriors ignore `samples` and return S = 1).
    func predictive(_ inputs: Tensor, samples: Int, rng: inout RandomGenerator) throws -> Predictive
    /// Everything needed to rebuild the posterior (see `PosteriorArchive`).
    func archive() throws -> PosteriorArchive
    /// How many samples a request for `requested` gives (an ensemble: its members; a point: 1).
    func sampleCount(requested: Int) -> Int
    /// Sample `index` of `count` as a network (`PosteriorSample`), drawing its randomness from
    /// `rng`; samples come one at a time, so callers can stream over hundreds of them.
    func sample(_ index: Int, of count: Int, rng: inout RandomGenerator) throws -> PosteriorSample
}

/// A posterior over the flat parameter vector that can be sampled; its predictive is the
/// Monte-Carlo average over sampled networks, p(y|x) ≈ (1/S) Σₛ p(y|x, θₛ).
public protocol ParameterSamplingPosterior: Posterior {
    /// One parameter vector drawn from the posterior.
    func sampleParameters(rng: inout RandomGenerator) throws -> Tensor
}

extension ParameterSamplingPosterior {
    public func sampleCount(requested: Int) -> Int { Swift.max(requested, 1) }

    public func sample(_ index: Int, of count: Int, rng: inout RandomGenerator) throws -> PosteriorSample {
        PosteriorSample(model: model, parameters: try sampleParameters(rng: &rng))
    }

    /// The predictive from S sampled networks (`samplePredictive`).
    public func predictive(_ inputs: Tensor, samples: Int, rng: inout RandomGenerator) throws -> Predictive {
        try samplePredictive(inputs, samples: samples, rng: &rng)
    }
}

/// Errors of inference methods: impossible option combinations (raised before any
/// work starts), unusable inputs, and unreadable posterior files.
public enum InferenceError: Error, CustomStringConvertible, Equatable {
    case invalidOption(String)
    case incompatibleModel(String)
    case invalidArchive(path: String, message: String)

    public var description: String {
        switch self {
        case let .invalidOption(m): return "invalid option: \(m)"
        case let .incompatibleModel(m): return "incompatible model: \(m)"
        case let .invalidArchive(path, m): return "\(path): \(m)"
        }
    }
}

/// Builds a predictive from per-sample network outputs, each [N, K]: logits for
/// classification (K = C), or D means followed by D raw variances for regression
/// (K = 2D; variance = softplus(raw) + 1e-6, as `Loss.meanAndVariance`).
public func makePredictive(stacking outputs: [Tensor], task: Predictive.Task) throws -> Predictive {
    guard let first = outputs.first, first.rank == 2 else {
        throw InferenceError.invalidOption("need at least one [N, K] output to build a predictive")
    }
    let n = first.shape[0], k = first.shape[1]
    let stacked = try Tensor.concatenate(outputs, axis: 0).reshaped([outputs.count, n, k])
    switch task {
    case .classification:
        return try Predictive(logits: stacked)
    case .regression:
        guard k % 2 == 0 else {
            throw InferenceError.incompatibleModel("a regression model must output D means and D variances; it outputs \(k) values")
        }
        let d = k / 2
        let means = try stacked.slice(axis: 2, 0..<d)
        let variances = try stacked.slice(axis: 2, d..<k).softplus() + 1e-6
        return try Predictive(means: means, variances: variances)
    }
}
