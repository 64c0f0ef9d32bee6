import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation

/// The Laplace posterior N(θ̂, P⁻¹) over a weight subset (the other weights fixed at θ̂),
/// with its predictive:
///
/// - `.monteCarlo`: p(y|x) ≈ (1/S) Σₛ p(y | f(x; θₛ)), θₛ = θ̂ + zₛ, zₛ ~ N(0, P⁻¹) on the
///   subset. The layers before the subset run once for all samples.
/// - `.glm` (Immer et al. 2021): the network linearised at θ̂, f ~ N(f(x; θ̂), J P⁻¹ Jᵀ),
///   with J the per-output Jacobian (exact for the last layer: f = Wφ + b). Classification
///   uses the probit approximation p ≈ softmax(f / √(1 + π/8·diag Σ)) (S = 1) or
///   Monte-Carlo over logit samples; regression returns N(f, diag Σ + σ²) (S = 1).
///
/// The algebra comes from the structured `precision`; nothing here depends on its structure.
public struct LaplacePosterior: ParameterSamplingPosterior {
    public let model: any NetworkModel
    /// θ̂ (all weights).
    public let parameters: Tensor
    public let task: Predictive.Task
    public let subset: LaplaceSubset
    public let likelihood: LaplaceLikelihood
    public let precision: any StructuredPrecision
    public let predictiveKind: PredictiveKind
    public let link: LinkApproximation
    /// σ² of a homoscedastic regression (1 otherwise).
    public let noiseVariance: Double
    public let temperature: Double
    /// log p(D | θ̂) (tempered) over the `examples` the curvature was collected on.
    public let logLikelihood: Double
    public let examples: Int
    /// The Laplace log evidence at the tuned prior (nil when the prior was not tuned).
    public let logMarginalLikelihood: Double?

    public var method: String { LaplaceMethod.name }
    public var storedFloatCount: Int { parameters.count + precision.storedFloatCount }
    public var priorPrecision: PriorPrecision { precision.prior }

    public init(model: any NetworkModel, parameters: Tensor, task: Predictive.Task, subset: LaplaceSubset,
                likelihood: LaplaceLikelihood, precision: any StructuredPrecision, predictive: PredictiveKind,
                link: LinkApproximation, noiseVariance: Double = 1, temperature: Double = 1, logLikelihood: Double = 0,
                examples: Int = 0, logMarginalLikelihood: Double? = nil) throws {
        guard parameters.count == model.parameterCount else {
            throw ModelError.parameterCount(got: parameters.count, expected: model.parameterCount)
        }
        guard precision.dimension == subset.dimension else {
            throw LaplaceError.invalidValue("the precision covers \(precision.dimension) weights but the subset has \(subset.dimension)")
        }
        self.model = model
        self.parameters = parameters
        self.task = task
        self.subset = subset
        self.likelihood = likelihood
        self.precision = precision
        predictiveKind = predictive
        self.link = link
        self.noiseVariance = noiseVariance
        self.temperature = temperature
        self.logLikelihood = logLikelihood
        self.examples = examples
        self.logMarginalLikelihood = logMarginalLikelihood
    }

    /// The Laplace log evidence for another prior (same curvature and θ̂).
    public func logMarginalLikelihood(prior: PriorPrecision) throws -> Double {
        let logDet = try precision.logDeterminantFunction(curvatureScale: precision.curvatureScale)(prior)
        return laplaceLogMarginalLikelihood(logLikelihood: logLikelihood, posteriorLogDeterminant: logDet, prior: prior,
                                            groups: precision.groups, mean: subset.gather(parameters))
    }

    /// The posterior mean of the subset (θ̂ restricted to it) and its marginal variances.
    public var subsetMean: [Double] { subset.gather(parameters) }

    /// Flat indices of the `count` weights with the largest marginal posterior variance —
    /// the subnetwork choice of Daxberger et al. (2021) when `self` is a diagonal Laplace over all weights.
    public func largestVarianceIndices(_ count: Int) -> [Int] {
        let v = precision.marginalVariances
        let order = v.indices.sorted { v[$0] > v[$1] }
        return order.prefix(Swift.max(0, count)).map { subset.flatIndices[$0] }.sorted()
    }

    public func sampleParameters(rng: inout RandomGenerator) throws -> Tensor {
        subset.adding(precision.sample(rng: &rng), to: parameters)
    }

    public func predictive(_ inputs: Tensor, samples: Int, rng: inout RandomGenerator) throws -> Predictive {
        guard samples >= 1 else { throw InferenceError.invalidOption("samples must be ≥ 1, got \(samples)") }
        switch predictiveKind {
        case .monteCarlo: return try monteCarloPredictive(inputs, samples: samples, rng: &rng)
        case .glm: return try linearizedPredictive(inputs, samples: samples, rng: &rng)
        }
    }

    /// Runs layers `range` of a chain on `x` in chunks of 1000 rows (a graph of blocks runs
    /// whole: its range is all of it).
    func forward(_ x: Tensor, parameters theta: Tensor, layers range: Range<Int>) throws -> Tensor {
        if range.isEmpty { return x }
        let chain = try model.laplaceLayers() as? Sequential
        let n = x.shape[0]
        var parts: [Tensor] = []
        var context = ForwardContext(mode: .eval)
        for chunk in Parallel.ranges(n, parts: Swift.max(1, (n + 999) / 1000)) {
            let input = Variable(constant: try x.rows(chunk)), p = Variable(constant: theta)
            parts.append(try (chain.map { try $0(input, parameters: p, context: &context, layers: range) }
                              ?? model(input, parameters: p, context: &context)).value)
        }
        return try Tensor.concatenate(parts, axis: 0)
    }

    func monteCarloPredictive(_ inputs: Tensor, samples: Int, rng: inout RandomGenerator) throws -> Predictive {
        let layered = try model.laplaceLayers()
        // A chain's layers before the subset run once; a graph runs whole for every sample.
        let first = layered is Sequential ? subset.layers[0] : 0, end = layered.layers.count
        let prefix = try forward(inputs, parameters: parameters, layers: 0..<first)
        var outputs: [Tensor] = []
        for _ in 0..<samples {
            outputs.append(try forward(prefix, parameters: try sampleParameters(rng: &rng), layers: first..<end))
        }
        switch likelihood {
        case .categorical:
            return try makePredictive(stacking: outputs, task: .classification)
        case .heteroscedasticGaussian:
            return try makePredictive(stacking: outputs, task: .regression)
        case .homoscedasticGaussian:
            let n = inputs.shape[0], d = outputs[0].shape[1]
            let means = try Tensor.concatenate(outputs, axis: 0).reshaped([samples, n, d])
            return try Predictive(means: means, variances: Tensor(shape: [samples, n, d], repeating: Float(noiseVariance)))
        }
    }

    func linearizedPredictive(_ inputs: Tensor, samples: Int, rng: inout RandomGenerator) throws -> Predictive {
        let n = inputs.shape[0]
        let k = model.outputShape.reduce(1, *), d = likelihood.predictedOutputs(k)
        // Dense Jacobian rows (full/low-rank over several layers) take d·n Floats per example.
        let chunk = Swift.min(512, Swift.max(32, 4_000_000 / Swift.max(1, d * precision.dimension)))
        var means = [Float](), covariances = [Double]()
        means.reserveCapacity(n * k)
        covariances.reserveCapacity(n * d * d)
        for range in Parallel.ranges(n, parts: Swift.max(1, (n + chunk - 1) / chunk)) {
            let (f, factors) = try subset.backpropagate(model: model, parameters: parameters, inputs: try inputs.rows(range)) { f in
                // Seeds eⱼ for the j-th predicted output: the factors are ∂fⱼ/∂θ.
                var s = Tensor(shape: [f.shape[0], k, d], repeating: 0)
                s.withUnsafeMutableBufferPointer { p in for e in 0..<f.shape[0] { for j in 0..<d { p[(e * k + j) * d + j] = 1 } } }
                return s
            }
            means += f.values
            covariances += try precision.inverseQuadraticForm(factors)
        }
        switch likelihood {
        case .categorical:
            if link == .probit {
                var logits = [Float](repeating: 0, count: n * k)
                for e in 0..<n {
                    for j in 0..<k {
                        let v = Swift.max(covariances[(e * k + j) * k + j], 0)
                        logits[e * k + j] = Float(Double(means[e * k + j]) / (1 + Double.pi / 8 * v).squareRoot())
                    }
                }
                return try Predictive(logits: Tensor(shape: [n, k], values: logits))
            }
            var logits = [Float](repeating: 0, count: samples * n * k)
            var factor = [Double](repeating: 0, count: k * k)
            for e in 0..<n {
                Self.semidefiniteCholesky(covariances, offset: e * k * k, k, into: &factor)
                for s in 0..<samples {
                    let z = (0..<k).map { _ in Double(rng.normalFloat()) }
                    for j in 0..<k {
                        var v = Double(means[e * k + j])
                        for t in 0...j { v += factor[j * k + t] * z[t] }
                        logits[(s * n + e) * k + j] = Float(v)
                    }
                }
            }
            return try Predictive(logits: Tensor(shape: [samples, n, k], values: logits))
        case .homoscedasticGaussian, .heteroscedasticGaussian:
            var mu = [Float](repeating: 0, count: n * d), variance = [Float](repeating: 0, count: n * d)
            for e in 0..<n {
                for j in 0..<d {
                    mu[e * d + j] = means[e * k + j]
                    let aleatoric = likelihood == .homoscedasticGaussian
                        ? noiseVariance : LaplaceLikelihood.softplus(Double(means[e * k + d + j])) + 1e-6
                    variance[e * d + j] = Float(Swift.max(covariances[(e * d + j) * d + j], 0) + aleatoric)
                }
            }
            return try Predictive(means: Tensor(shape: [n, d], values: mu), variances: Tensor(shape: [n, d], values: variance))
        }
    }

    /// Lower L with L Lᵀ = Σ for a positive semi-definite k×k Σ (pivots ≤ 0 give zero columns).
    static func semidefiniteCholesky(_ a: [Double], offset: Int, _ k: Int, into l: inout [Double]) {
        for i in l.indices { l[i] = 0 }
        for j in 0..<k {
            var d = a[offset + j * k + j]
            for t in 0..<j { d -= l[j * k + t] * l[j * k + t] }
            guard d > 1e-300 else { continue }
            let r = d.squareRoot()
            l[j * k + j] = r
            for i in (j + 1)..<Swift.max(k, j + 1) {
                var s = a[offset + i * k + j]
                for t in 0..<j { s -= l[i * k + t] * l[j * k + t] }
                l[i * k + j] = s / r
            }
        }
    }

    // MARK: - Archive

    public func archive() throws -> PosteriorArchive {
        var tensors: [(name: String, value: Tensor)] = [("parameters", parameters)]
        tensors += precision.archiveTensors()
        if subset.kind == .subnetwork {
            guard parameters.count < 1 << 24 else {
                throw LaplaceError.invalidValue("subnetwork indices above 2²⁴ cannot be archived exactly")
            }
            tensors.append(("subnetwork.indices", Tensor(subset.flatIndices.map(Float.init))))
        }
        var settings: [String: String] = [
            "subset": subset.kind.rawValue, "structure": precision.structure.rawValue,
            "predictive": predictiveKind.rawValue, "link": link.rawValue, "likelihood": likelihood.rawValue,
            "prior": precision.prior.values.map { String($0) }.joined(separator: ","),
            "curvatureScale": String(precision.curvatureScale), "noiseVariance": String(noiseVariance),
            "posteriorTemperature": String(temperature), "logLikelihood": String(logLikelihood), "examples": String(examples),
        ]
        if let e = logMarginalLikelihood { settings["logMarginalLikelihood"] = String(e) }
        return PosteriorArchive(method: LaplaceMethod.name, model: model, task: task, tensors: tensors, settings: settings)
    }

    /// Rebuilds a posterior written by `archive()` (the curvature is refactorized).
    public init(archive: PosteriorArchive) throws {
        func setting<T: RawRepresentable>(_ key: String, _: T.Type) throws -> T where T.RawValue == String {
            guard let raw = archive.settings[key], let v = T(rawValue: raw) else {
                throw InferenceError.invalidArchive(path: "posterior", message: "the Laplace setting '\(key)' is missing or unknown")
            }
            return v
        }
        let model = try archive.model()
        let kind = try setting("subset", WeightSubset.self)
        let structure = try setting("structure", HessianStructure.self)
        let indices = kind == .subnetwork ? try archive.tensor("subnetwork.indices").values.map { Int($0) } : nil
        let subset = try LaplaceSubset(kind, model: model, indices: indices)
        guard let priorText = archive.settings["prior"] else {
            throw InferenceError.invalidArchive(path: "posterior", message: "the Laplace prior precision is missing")
        }
        let prior = PriorPrecision(values: try priorText.split(separator: ",").map { s in
            guard let v = Double(s) else { throw InferenceError.invalidArchive(path: "posterior", message: "malformed prior precision '\(priorText)'") }
            return v
        })
        let scale: Double = try archive.setting("curvatureScale")
        let precision = try restorePrecision(structure: structure, tensors: { try archive.tensor($0) }, groups: subset.groups,
                                             blocks: subset.factoredBlocks, prior: prior,
                                             curvatureScale: scale)
        try self.init(model: model, parameters: try archive.tensor("parameters"), task: archive.task, subset: subset,
                      likelihood: try setting("likelihood", LaplaceLikelihood.self), precision: precision,
                      predictive: try setting("predictive", PredictiveKind.self), link: try setting("link", LinkApproximation.self),
                      noiseVariance: try archive.setting("noiseVariance"), temperature: try archive.setting("posteriorTemperature"),
                      logLikelihood: try archive.setting("logLikelihood"), examples: try archive.setting("examples"),
                      logMarginalLikelihood: archive.settings["logMarginalLikelihood"].flatMap(Double.init))
    }
}

extension Laplace {
    /// Flat indices of the `count` weights with the largest marginal variance under a
    /// diagonal Laplace over all weights with prior precision `priorPrecision` (Daxberger
    /// et al. 2021; laplace-torch's `LargestVarianceDiagLaplaceSubnetMask`) — the input
    /// of `Laplace(subset: .subnetwork, structure: .full, subnetworkIndices:)`.
    public static func largestVarianceSubnetwork(count: Int, model: any NetworkModel, parameters: Tensor, task: Predictive.Task,
                                                 data: some BatchSource, batchSize: Int = 256, priorPrecision: Double = 1,
                                                 regression: RegressionLikelihood = .heteroscedastic) throws -> [Int] {
        guard count >= 1, count <= model.parameterCount else {
            throw LaplaceError.invalidValue("a subnetwork needs 1...\(model.parameterCount) weights, got \(count)")
        }
        let diagonal = try Laplace(subset: .all, structure: .diagonal, predictive: .monteCarlo, priorPrecision: priorPrecision,
                                   priorOptimization: .none, regression: regression)
        let fit = try fitPosterior(diagonal, model: model, parameters: parameters, task: task, data: data, epochs: 1,
                                   batchSize: batchSize, seed: 0, shuffle: false)
        return fit.posterior.largestVarianceIndices(count)
    }
}
