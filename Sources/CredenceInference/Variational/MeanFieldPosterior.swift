import CredenceMetrics
import CredenceNN
import CredenceTensor

/// A mean-field Gaussian posterior over the weights of some layers of a network: θ = μ + σ ⊙ ε
/// on the Bayesian layers' parameters (`MeanFieldLayout`), θ = μ elsewhere. Its samples are
/// ordinary networks; the predictive averages S of them. Stores P + (Bayesian parameters)
/// floats — for first-layer VI (STF-BNN) a small fraction more than the network itself.
public struct MeanFieldPosterior: ParameterSamplingPosterior {
    public let model: any NetworkModel
    public let task: Predictive.Task
    /// μ, in the network's layout.
    public let mean: Tensor
    /// σ, one per Bayesian parameter (in θ's order).
    public let standardDeviations: Tensor
    public let bayesianLayers: BayesianLayers
    public let meanField: MeanFieldLayout
    public let method: String
    public var storedFloatCount: Int { mean.count + standardDeviations.count }

    public init(model: any NetworkModel, task: Predictive.Task, mean: Tensor, standardDeviations: Tensor,
                bayesianLayers: BayesianLayers, method: String) throws {
        let layout = try MeanFieldLayout(bayesianLayers, model: MeanFieldLayout.layered(model))
        guard mean.count == model.parameterCount else { throw ModelError.parameterCount(got: mean.count, expected: model.parameterCount) }
        guard standardDeviations.count == layout.count else {
            throw ModelError.parameterCount(got: standardDeviations.count, expected: layout.count)
        }
        self.model = model
        self.task = task
        self.mean = mean
        self.standardDeviations = standardDeviations
        self.bayesianLayers = bayesianLayers
        meanField = layout
        self.method = method
    }

    public init(archive: PosteriorArchive) throws {
        let name: String = try archive.setting("bayesianLayers")
        guard let layers = BayesianLayers(rawValue: name) else {
            throw InferenceError.invalidArchive(path: "posterior", message: "the \(archive.method) posterior's bayesianLayers '\(name)' is not one of \(BayesianLayers.allCases.map(\.rawValue))")
        }
        let sigma = try archive.tensor("standard_deviation")
        if sigma.values.contains(where: { !($0 >= 0 && $0.isFinite) }) {
            throw InferenceError.invalidArchive(path: "posterior", message: "the \(archive.method) posterior has a negative or non-finite standard deviation")
        }
        try self.init(model: archive.model(), task: archive.task, mean: archive.tensor("mean"), standardDeviations: sigma,
                      bayesianLayers: layers, method: archive.method)
    }

    /// σ in θ's layout: each Bayesian parameter's standard deviation, 0 for the rest.
    public var standardDeviationsInLayout: Tensor {
        var full = Tensor(shape: [mean.count], repeating: 0)
        full.withUnsafeMutableBufferPointer { f in
            standardDeviations.withUnsafeBufferPointer { s in
                for block in meanField.blocks { for (k, i) in zip(block.sigmaRange, block.entry.range) { f[i] = s[k] } }
            }
        }
        return full
    }

    /// One draw θ = μ + σ ⊙ ε (one normal per Bayesian parameter, in θ's order, by
    /// `Tensor.normalNoise` — vectorised, as SWAG's: libm's scalar Box–Muller was a tenth of a
    /// VI posterior's evaluation on Fashion-MNIST).
    public func sampleParameters(rng: inout RandomGenerator) throws -> Tensor {
        var theta = mean
        let epsilon = Tensor.normalNoise(shape: [standardDeviations.count], rng: &rng)
        theta.withUnsafeMutableBufferPointer { t in
            standardDeviations.withUnsafeBufferPointer { s in
                epsilon.withUnsafeBufferPointer { e in
                    for block in meanField.blocks {
                        let (inSigma, inTheta) = (block.sigmaRange.lowerBound, block.entry.offset)
                        for k in 0..<block.sigmaRange.count { t[inTheta &+ k] += s[inSigma &+ k] * e[inSigma &+ k] }
                    }
                }
            }
        }
        return theta
    }

    public func archive() throws -> PosteriorArchive {
        PosteriorArchive(method: method, model: model, task: task,
                         tensors: [("mean", mean), ("standard_deviation", standardDeviations)],
                         settings: ["bayesianLayers": bayesianLayers.rawValue])
    }
}
