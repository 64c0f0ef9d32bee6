import CredenceMetrics
import CredenceNN
import CredenceTensor

/// The SWAG posterior 𝒩(θ̄, s·Σ) over the flat parameter vector (Maddox et al., 2019).
///
/// Samples, with z₁ ~ 𝒩(0, I_P), z₂ ~ 𝒩(0, I_K) and Σ_diag = diag(`variance`):
/// - diagonal: θ̃ = θ̄ + √s · Σ_diag^{1/2} z₁, so Cov θ̃ = s·Σ_diag;
/// - low rank plus diagonal (the paper's equation):
///   θ̃ = θ̄ + √s · ( Σ_diag^{1/2} z₁ / √2 + D z₂ / √(2(K − 1)) ),
///   so Cov θ̃ = s·(½ Σ_diag + D Dᵀ / (2(K − 1))), with D the `[P, K]` deviation matrix
///   (stored transposed, `[K, P]`) and K the number of columns actually collected (the
///   reference divides by its maximum K − 1 even before K columns exist).
///
/// The standard deviation Σ_diag^{1/2} — not the variance — multiplies z₁ (the classic bug;
/// `SWAGSamplingTests` checks the sample covariance against `covarianceMatrix()`). The
/// predictive is the Monte-Carlo average over S sampled networks (`ParameterSamplingPosterior`).
///
/// ```swift
/// let swag = try SWAGCollection(collectEvery: 100).swagPosterior(from: state)
/// let θ̃ = try swag.sampleParameters(rng: &rng)
/// let p = try swag.predictive(x, samples: 30, rng: &rng)
/// ```
public struct SWAGPosterior: ParameterSamplingPosterior {
    public let model: any NetworkModel
    public let task: Predictive.Task
    /// θ̄ `[P]`.
    public let mean: Tensor
    /// Σ_diag = max(θ²‾ − θ̄², 1e-30), computed in `Double` at collection time, `[P]`.
    public let variance: Tensor
    /// D as rows `[K, P]` oldest first (`.lowRankPlusDiagonal`); nil for `.diagonal`.
    public let deviations: Tensor?
    /// Sampling scale s (see `SWAGCollection.scale`).
    public let scale: Double
    /// Number of iterates the moments average.
    public let collections: Int
    /// The maximum rank K the run was configured with (deviations may hold fewer rows).
    public let rank: Int
    /// Training inputs each sampled network's batch-norm statistics are recomputed on (SWAG's
    /// `bn_update`); nil for a model without running statistics.
    public let recalibrationInputs: Tensor?
    /// √(s/2)·Σ_diag^{1/2} (low rank) or √s·Σ_diag^{1/2} (diagonal), `[P]`, for sampling.
    let diagonalFactor: [Float]
    /// √(s / (2(K − 1))), the factor on D z₂.
    let lowRankFactor: Float

    public var method: String { SWAGMethod.name }
    public var covariance: SWAGCovariance { deviations == nil ? .diagonal : .lowRankPlusDiagonal }
    /// Mean, variance and K deviation rows: (K + 2) × P, and the recalibration inputs.
    public var storedFloatCount: Int { (2 + (deviations?.shape[0] ?? 0)) * mean.count + (recalibrationInputs?.count ?? 0) }

    public init(model: any NetworkModel, task: Predictive.Task, mean: Tensor, variance: Tensor, deviations: Tensor?,
                scale: Double, collections: Int, rank: Int, recalibrationInputs: Tensor? = nil) throws {
        let p = model.parameterCount
        guard mean.count == p else { throw ModelError.parameterCount(got: mean.count, expected: p) }
        guard variance.count == p else {
            throw InferenceError.invalidOption("SWAG variance has \(variance.count) entries for \(p) parameters")
        }
        guard variance.values.allSatisfy({ $0 >= 0 && $0.isFinite }) else {
            throw InferenceError.invalidOption("SWAG variance must be finite and ≥ 0")
        }
        guard scale > 0, scale.isFinite else { throw InferenceError.invalidOption("SWAG scale must be a finite number > 0, got \(scale)") }
        if let d = deviations {
            guard d.rank == 2, d.shape[1] == p, d.shape[0] >= 2 else {
                throw InferenceError.invalidOption("SWAG deviations must be [K, \(p)] with K ≥ 2, got \(d.shape)")
            }
        }
        self.model = model
        self.task = task
        self.mean = try mean.reshaped([p])
        self.variance = try variance.reshaped([p])
        self.deviations = deviations
        self.scale = scale
        self.collections = collections
        self.rank = rank
        if model.hasRunningStatistics {
            guard let inputs = recalibrationInputs, inputs.shape.count == model.inputShape.count + 1,
                  Array(inputs.shape.dropFirst()) == model.inputShape, inputs.shape[0] >= 2 else {
                throw InferenceError.invalidOption("SWAG over a network with batch normalization needs ≥ 2 training inputs of shape \(model.inputShape) to recompute each sample's running statistics; got \(recalibrationInputs?.shape.description ?? "none")")
            }
        }
        self.recalibrationInputs = model.hasRunningStatistics ? recalibrationInputs : nil
        let k = deviations?.shape[0] ?? 0
        let diagonalScale = k > 0 ? scale / 2 : scale
        diagonalFactor = self.variance.values.map { Float((diagonalScale * Double($0)).squareRoot()) }
        lowRankFactor = k > 0 ? Float((scale / (2 * Double(k - 1))).squareRoot()) : 0
    }

    public init(archive: PosteriorArchive) throws {
        let name: String = try archive.setting("covariance")
        guard let covariance = SWAGCovariance(rawValue: name) else {
            throw InferenceError.invalidArchive(path: "posterior", message: "the swag posterior's covariance '\(name)' is not one of \(SWAGCovariance.allCases.map(\.rawValue))")
        }
        try self.init(model: archive.model(), task: archive.task, mean: archive.tensor("mean"),
                      variance: archive.tensor("variance"),
                      deviations: covariance == .lowRankPlusDiagonal ? archive.tensor("deviations") : nil,
                      scale: archive.setting("scale"), collections: archive.setting("collections"),
                      rank: archive.setting("rank"),
                      recalibrationInputs: archive.tensors.first { $0.name == "recalibration_inputs" }?.value)
    }

    /// A sampled network: θ̃, and — for a model with batch normalization — the running
    /// statistics recomputed for θ̃ on `recalibrationInputs` (the statistics training left
    /// belong to other weights; Maddox et al. recompute them for every sample).
    public func sample(_ index: Int, of count: Int, rng: inout RandomGenerator) throws -> PosteriorSample {
        let theta = try sampleParameters(rng: &rng)
        guard let inputs = recalibrationInputs else { return PosteriorSample(model: model, parameters: theta) }
        return PosteriorSample(model: try model.recomputingRunningStatistics(parameters: theta, inputs: inputs, rng: rng.split()),
                               parameters: theta)
    }

    /// One draw θ̃ (P normals for z₁ by `Tensor.normalNoise` — vectorised, where libm's scalar
    /// Box–Muller made sampling cost more than the network's forward pass — then K for z₂, from `rng`).
    public func sampleParameters(rng: inout RandomGenerator) throws -> Tensor {
        let p = mean.count
        var theta = mean
        let z1 = Tensor.normalNoise(shape: [p], rng: &rng)
        theta.withUnsafeMutableBufferPointer { t in
            z1.withUnsafeBufferPointer { z in
                for i in 0..<p { t[i] += diagonalFactor[i] * z[i] }
            }
            guard let d = deviations else { return }
            let k = d.shape[0]
            let z2 = (0..<k).map { _ in lowRankFactor * rng.normalFloat() }
            d.withUnsafeBufferPointer { rows in
                for r in 0..<k {
                    let c = z2[r], row = rows.baseAddress! + r * p
                    for i in 0..<p { t[i] += c * row[i] }
                }
            }
        }
        return theta
    }

    /// The covariance the sampler draws from, s·Σ_diag or s·(½Σ_diag + DDᵀ/(2(K−1))), as a
    /// dense row-major P × P matrix in `Double` (for small models: tests and diagnostics).
    public func covarianceMatrix() throws -> [Double] {
        let p = mean.count
        guard p <= 4096 else { throw InferenceError.invalidOption("a dense covariance of \(p) parameters is too large (limit 4096)") }
        var c = [Double](repeating: 0, count: p * p)
        let v = variance.values
        if let d = deviations {
            let k = d.shape[0], rows = d.values
            let w = scale / (2 * Double(k - 1))
            for r in 0..<k {
                for i in 0..<p where rows[r * p + i] != 0 {
                    let a = w * Double(rows[r * p + i])
                    for j in 0..<p { c[i * p + j] += a * Double(rows[r * p + j]) }
                }
            }
            for i in 0..<p { c[i * p + i] += scale / 2 * Double(v[i]) }
        } else {
            for i in 0..<p { c[i * p + i] = scale * Double(v[i]) }
        }
        return c
    }

    /// Tensors "mean", "variance" (Σ_diag: a `Float` file cannot hold θ²‾ precisely enough
    /// for θ²‾ − θ̄² to survive), "deviations" `[K, P]` (low rank only), "recalibration_inputs"
    /// (batch normalization only); settings
    /// rank, scale, covariance, collections.
    public func archive() throws -> PosteriorArchive {
        var tensors: [(name: String, value: Tensor)] = [("mean", mean), ("variance", variance)]
        if let d = deviations { tensors.append(("deviations", d)) }
        if let inputs = recalibrationInputs { tensors.append(("recalibration_inputs", inputs)) }
        return PosteriorArchive(method: SWAGMethod.name, model: model, task: task, tensors: tensors,
                                settings: ["rank": String(rank), "scale": String(scale), "covariance": covariance.rawValue,
                                           "collections": String(collections)])
    }
}

/// SWA (Izmailov et al., 2018): the average θ̄ of the SGD iterates, used as a point
/// estimate — predictive p(y|x, θ̄) with S = 1, as `PointPosterior`, archived as method swa.
public struct SWAPosterior: Posterior {
    public let model: any NetworkModel
    /// θ̄ `[P]`.
    public let mean: Tensor
    public let task: Predictive.Task
    /// Number of iterates averaged.
    public let collections: Int
    public var method: String { SWAMethod.name }
    public var storedFloatCount: Int { mean.count }

    public init(model: any NetworkModel, mean: Tensor, task: Predictive.Task, collections: Int) throws {
        guard mean.count == model.parameterCount else {
            throw ModelError.parameterCount(got: mean.count, expected: model.parameterCount)
        }
        self.model = model
        self.mean = try mean.reshaped([mean.count])
        self.task = task
        self.collections = collections
    }

    public init(archive: PosteriorArchive) throws {
        try self.init(model: archive.model(), mean: archive.tensor("mean"), task: archive.task,
                      collections: archive.setting("collections"))
    }

    public func predictive(_ inputs: Tensor, samples: Int, rng: inout RandomGenerator) throws -> Predictive {
        try makePredictive(stacking: [model.predictBatched(inputs, parameters: mean)], task: task)
    }

    public func sampleCount(requested: Int) -> Int { 1 }

    public func sample(_ index: Int, of count: Int, rng: inout RandomGenerator) throws -> PosteriorSample {
        PosteriorSample(model: model, parameters: mean)
    }

    public func archive() throws -> PosteriorArchive {
        PosteriorArchive(method: SWAMethod.name, model: model, task: task, tensors: [("mean", mean)],
                         settings: ["collections": String(collections)])
    }
}
