import CredenceNN
import CredenceTensor
import Foundation

/// The explicit (tempered) log-posterior of a network: what samplers and variational
/// methods see (DESIGN.md, "The posterior protocol", rule 4).
///
/// Convention. For a mini-batch B drawn from a data set of N examples, the potential is
///
///     U(θ) = −N · (1/|B|) Σ_{n∈B} log p(yₙ | xₙ, θ) − log p(θ),
///
/// an unbiased estimate of −log p(D | θ) − log p(θ) (exact when B is the whole data set),
/// and the tempered posterior is p_T(θ | D) ∝ exp(−U(θ)/T): T = 1 is the Bayes posterior,
/// T < 1 the "cold" posteriors of Wenzel et al. (2020), T → 0 the MAP. The per-example
/// negative log-likelihood −log p(y | x, θ) comes from the `Objective`:
/// `.crossEntropy(labelSmoothing: 0)` (categorical likelihood over softmax logits) or
/// `.gaussianNegativeLogLikelihood` (heteroscedastic Gaussian; the model outputs D means then
/// D raw variances, and the objective's mean over the D outputs is multiplied back by D).
/// Both are normalised densities, so U is −log of the unnormalised posterior with no
/// constant dropped. An optimiser minimising the mean loss with coupled weight decay λ
/// follows ∇U/N under `GaussianPrior.fromWeightDecay(λ, datasetSize: N)`.
///
/// The likelihood gradient is taped per shard on the worker threads, exactly as in
/// `Trainer.lossAndGradientParts` (which it calls), and summed.
///
/// ```swift
/// let prior = try GaussianPrior.fromWeightDecay(5e-4, datasetSize: 60_000)
/// let target = try LogPosterior(model: model, objective: .crossEntropy(labelSmoothing: 0),
///                               prior: prior, datasetSize: 60_000)
/// let (u, gradU) = try target.potential(parameters: θ, batch: batch, rng: &rng)
/// ```
public struct LogPosterior {
    public let model: any NetworkModel
    /// The per-example negative log-likelihood.
    public let objective: Objective
    public let prior: any ParameterPrior
    /// N, the number of training examples the mini-batch mean is scaled to.
    public let datasetSize: Int
    /// T > 0; the density is exp(−U/T).
    public let temperature: Double
    /// Runs the sharded tape; its optimizer is an empty placeholder (never stepped).
    let trainer: Trainer
    /// Output dimensions D the Gaussian objective averages over (1 for cross-entropy).
    let outputsPerExample: Int

    /// - Parameters:
    ///   - model: the network; θ has `model.parameterCount` elements.
    ///   - objective: `.crossEntropy(labelSmoothing: 0)` or `.gaussianNegativeLogLikelihood`
    ///     (smoothed cross-entropy and MSE are not normalised likelihoods and are rejected).
    ///   - prior: p(θ); a per-module prior must be built for `model.layout`.
    ///   - datasetSize: N ≥ 1.
    ///   - temperature: T > 0 and finite (default 1).
    public init(model: any NetworkModel, objective: Objective, prior: any ParameterPrior, datasetSize: Int,
                temperature: Double = 1) throws {
        guard datasetSize >= 1 else {
            throw InferenceError.invalidOption("the data-set size N of a log-posterior must be ≥ 1, got \(datasetSize)")
        }
        guard temperature > 0, temperature.isFinite else {
            throw InferenceError.invalidOption("the posterior temperature is \(temperature); it must be > 0 and finite (1 = Bayes posterior)")
        }
        switch objective {
        case let .crossEntropy(smoothing):
            guard smoothing == 0 else {
                throw InferenceError.invalidOption(
                    "label smoothing \(smoothing) is not a likelihood; a log-posterior needs .crossEntropy(labelSmoothing: 0)")
            }
            outputsPerExample = 1
        case .gaussianNegativeLogLikelihood:
            guard model.outputShape.count == 1, model.outputShape[0] % 2 == 0 else {
                throw InferenceError.incompatibleModel(
                    "the Gaussian likelihood needs D means and D raw variances per example; the model outputs \(model.outputShape)")
            }
            outputsPerExample = model.outputShape[0] / 2
        case .meanSquaredError:
            throw InferenceError.invalidOption(
                "mean squared error has no noise scale, so it is not a normalised likelihood; use .gaussianNegativeLogLikelihood")
        }
        if let perLayer = prior as? GaussianPrior, let count = perLayer.parameterCount, count != model.parameterCount {
            throw ModelError.parameterCount(got: count, expected: model.parameterCount)
        }
        self.model = model
        self.objective = objective
        self.prior = prior
        self.datasetSize = datasetSize
        self.temperature = temperature
        trainer = Trainer(model: model, optimizer: Optimizer([], parameterCount: 0),
                          configuration: TrainingConfiguration(epochs: 0, objective: objective))
    }

    /// U(θ) and ∇U(θ) on a mini-batch (see the type's comment for the convention).
    ///
    /// - Parameters:
    ///   - parameters: θ, rank 1 with `model.parameterCount` elements.
    ///   - batch: 1 ≤ |B| ≤ N examples.
    ///   - rng: split into one stream per shard (noise of stochastic layers in `.train` or
    ///     `.mcSample` mode); advanced once.
    ///   - mode: `.eval` by default — the likelihood of the deterministic network; `.train`
    ///     includes dropout noise as the training loop does.
    public func potential(parameters: Tensor, batch: TrainingBatch, rng: inout RandomGenerator,
                          mode: ForwardMode = .eval) throws -> (value: Double, gradient: Tensor) {
        let n = Double(datasetSize)
        return try evaluate(parameters, batch, &rng, mode, valueScale: 1,
                            likelihoodScale: Float(n * Double(outputsPerExample)), priorScale: -1)
    }

    /// log p_T(θ | D) + const = −U(θ)/T and its gradient −∇U(θ)/T — what Langevin and
    /// Hamiltonian samplers ascend. Arguments as in `potential`.
    public func logDensity(parameters: Tensor, batch: TrainingBatch, rng: inout RandomGenerator,
                           mode: ForwardMode = .eval) throws -> (value: Double, gradient: Tensor) {
        let n = Double(datasetSize)
        return try evaluate(parameters, batch, &rng, mode, valueScale: -1 / temperature,
                            likelihoodScale: Float(-n * Double(outputsPerExample) / temperature),
                            priorScale: Float(1 / temperature))
    }

    /// U(θ)/N and ∇U(θ)/N = ∇(mean loss) − ∇log p(θ)/N: the scale of the mean training loss,
    /// so an optimizer without weight decay stepping on this gradient under
    /// `GaussianPrior.fromWeightDecay(λ, datasetSize: N)` takes the steps it takes with
    /// `weightDecay: λ` on the mean-loss gradient — bit for bit when the prior's coefficient
    /// Float(λN · Float(1/N)) rounds to λ (always for N a power of two), else to one ulp of λ
    /// (the `Float` scale of `ParameterPrior.addGradient`). Arguments as in `potential`.
    public func scaledGradientForMeanLoss(parameters: Tensor, batch: TrainingBatch, rng: inout RandomGenerator,
                                          mode: ForwardMode = .eval) throws -> (value: Double, gradient: Tensor) {
        try evaluate(parameters, batch, &rng, mode, valueScale: 1 / Double(datasetSize),
                     likelihoodScale: Float(outputsPerExample), priorScale: Float(-1 / Double(datasetSize)))
    }

    /// valueScale·U and likelihoodScale·∇(mean loss) + priorScale·∇log p, in one pass over the
    /// shard gradients (summed in the optimizer's order, part 0 first).
    func evaluate(_ parameters: Tensor, _ batch: TrainingBatch, _ rng: inout RandomGenerator, _ mode: ForwardMode,
                  valueScale: Double, likelihoodScale: Float, priorScale: Float) throws -> (value: Double, gradient: Tensor) {
        guard parameters.rank == 1, parameters.count == model.parameterCount else {
            throw ModelError.parameterCount(got: parameters.count, expected: model.parameterCount)
        }
        guard batch.count >= 1, batch.count <= datasetSize else {
            throw InferenceError.invalidOption(
                "a log-posterior batch must hold 1...N = 1...\(datasetSize) examples, got \(batch.count)")
        }
        let (meanLoss, _, parts) = try trainer.lossAndGradientParts(parameters: parameters, batch: batch, rng: &rng, mode: mode)
        var gradient = Tensor(uninitializedShape: [parameters.count])
        let logPrior: Double
        if let gaussian = prior as? GaussianPrior {
            logPrior = Self.combine(parts, likelihoodScale: likelihoodScale, gaussian: gaussian, priorScale: priorScale,
                                    parameters: parameters, into: &gradient)
        } else {
            gradient.withUnsafeMutableBufferPointer { g in
                parts[0].withUnsafeBufferPointer { _ = g.update(fromContentsOf: $0) }
                for part in parts.dropFirst() {
                    part.withUnsafeBufferPointer { p in for i in g.indices { g[i] += p[i] } }
                }
                if likelihoodScale != 1 { for i in g.indices { g[i] *= likelihoodScale } }
            }
            prior.addGradient(of: parameters, to: &gradient, scale: priorScale)
            logPrior = prior.logDensity(parameters)
        }
        let u = Double(datasetSize) * Double(outputsPerExample) * meanLoss - logPrior
        return (valueScale * u, gradient)
    }
}

extension LogPosterior {
    /// The likelihood's shard gradients summed and scaled, plus the Gaussian prior's gradient,
    /// g = s·Σₖ partₖ − c_w·δ_w·θ — the same operations per element, in the same order, as
    /// summing, scaling and `GaussianPrior.addGradient` one after the other — in one pass over
    /// the fixed chunks of θ on the worker threads, returning log p(θ) from the chunks' sums of
    /// squares (added in chunk order: the value does not depend on the thread count).
    static func combine(_ parts: [Tensor], likelihoodScale s: Float, gaussian: GaussianPrior, priorScale: Float,
                        parameters: Tensor, into gradient: inout Tensor) -> Double {
        let n = parameters.count
        let windows = gaussian.windows(count: n)
        let chunks = ParameterChunks(count: n)
        var squares = [Double](repeating: 0, count: chunks.count * windows.count)
        parameters.withUnsafeBufferPointer { theta in
            gradient.withUnsafeMutableBufferPointer { g in
                squares.withUnsafeMutableBufferPointer { sums in
                    let pointers = parts.map { $0.withUnsafeBufferPointer { $0 } }  // the tensors outlive the pass
                    nonisolated(unsafe) let (t, out, totals) = (theta, g, sums)
                    Parallel.forEach(chunks.count) { j in
                        let chunk = chunks.range(j)
                        for (w, window) in windows.enumerated() {
                            let range = window.range.clamped(to: chunk)
                            guard !range.isEmpty else { continue }
                            let c = Float(-Double(priorScale) * window.precision)
                            // The shards' sum first (two shards, the usual case, in one pass).
                            if pointers.count == 2 {
                                let (a, b) = (pointers[0], pointers[1])
                                for i in range { out[i] = a[i] + b[i] }
                            } else {
                                for i in range { out[i] = pointers[0][i] }
                                for part in pointers.dropFirst() { for i in range { out[i] += part[i] } }
                            }
                            if s != 1 { for i in range { out[i] *= s } }
                            for i in range { out[i] += c * t[i] }
                            totals[j * windows.count + w] = sumOfSquares(t, range)
                        }
                    }
                }
            }
        }
        return windows.enumerated().reduce(0.0) { total, entry in
            let (w, window) = entry
            let sum = (0..<chunks.count).reduce(0.0) { $0 + squares[$1 * windows.count + w] }
            return total + Double(window.range.count) / 2 * Foundation.log(window.precision / (2 * Double.pi)) - window.precision / 2 * sum
        }
    }
}

/// Σ θᵢ² over `range` in `Double`, in eight interleaved partial sums (one running sum is a
/// chain of dependent additions the CPU cannot overlap — it cost a third of a sampler step).
func sumOfSquares(_ t: UnsafeBufferPointer<Float>, _ range: Range<Int>) -> Double {
    var (s0, s1, s2, s3, s4, s5, s6, s7) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    var i = range.lowerBound
    while i + 8 <= range.upperBound {
        let (a, b, c, d) = (Double(t[i]), Double(t[i + 1]), Double(t[i + 2]), Double(t[i + 3]))
        let (e, f, g, h) = (Double(t[i + 4]), Double(t[i + 5]), Double(t[i + 6]), Double(t[i + 7]))
        s0 += a * a; s1 += b * b; s2 += c * c; s3 += d * d
        s4 += e * e; s5 += f * f; s6 += g * g; s7 += h * h
        i += 8
    }
    var total = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
    while i < range.upperBound { total += Double(t[i]) * Double(t[i]); i += 1 }
    return total
}

/// θ cut into at most 64 fixed, nearly equal contiguous chunks: the unit of the samplers'
/// threaded passes, fixed so that per-chunk random streams and partial sums — and so the
/// numbers — do not depend on how many threads run them.
struct ParameterChunks {
    let total: Int
    let count: Int

    init(count n: Int) {
        total = n
        count = Swift.max(1, Swift.min(64, n))
    }

    func range(_ j: Int) -> Range<Int> { (total * j / count)..<(total * (j + 1) / count) }
}
