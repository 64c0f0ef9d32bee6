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

    /// valueScale·U and likelihoodScale·∇(mean loss) + priorScale·∇log p, formed in one
    /// threaded pass over θ's chunks (`ScaledGradient.materialize`).
    func evaluate(_ parameters: Tensor, _ batch: TrainingBatch, _ rng: inout RandomGenerator, _ mode: ForwardMode,
                  valueScale: Double, likelihoodScale: Float, priorScale: Float) throws -> (value: Double, gradient: Tensor) {
        let gradient = try scaledGradient(parameters, batch, &rng, mode, valueScale: valueScale, likelihoodScale: likelihoodScale,
                                          priorScale: priorScale)
        let g = gradient.materialize(theta: parameters)
        return (gradient.value, g)
    }

    /// The log-density's gradient on a mini-batch left in its parts (`ScaledGradient`), for a
    /// sampler that forms it chunk by chunk inside its own update: a 670k-parameter network's
    /// gradient is then never written out and read back. Arguments as in `logDensity`.
    public func logDensityGradient(parameters: Tensor, batch: TrainingBatch, rng: inout RandomGenerator,
                                   mode: ForwardMode = .eval) throws -> ScaledGradient {
        let n = Double(datasetSize)
        return try scaledGradient(parameters, batch, &rng, mode, valueScale: -1 / temperature,
                                  likelihoodScale: Float(-n * Double(outputsPerExample) / temperature), priorScale: Float(1 / temperature),
                                  recycling: trainer.zeroedGradients)
    }

    /// `recycling`: the likelihood's parts are cleared as the chunks are formed, for the
    /// trainer's next step to write into (`ScaledGradient.recycleParts`).
    func scaledGradient(_ parameters: Tensor, _ batch: TrainingBatch, _ rng: inout RandomGenerator, _ mode: ForwardMode,
                        valueScale: Double, likelihoodScale: Float, priorScale: Float,
                        recycling: ZeroedGradients? = nil) throws -> ScaledGradient {
        guard parameters.rank == 1, parameters.count == model.parameterCount else {
            throw ModelError.parameterCount(got: parameters.count, expected: model.parameterCount)
        }
        guard batch.count >= 1, batch.count <= datasetSize else {
            throw InferenceError.invalidOption(
                "a log-posterior batch must hold 1...N = 1...\(datasetSize) examples, got \(batch.count)")
        }
        let (meanLoss, _, parts) = try trainer.lossAndGradientParts(parameters: parameters, batch: batch, rng: &rng, mode: mode)
        let likelihood = valueScale * Double(datasetSize) * Double(outputsPerExample) * meanLoss
        let gaussian = prior as? GaussianPrior
        let scaled = ScaledGradient(parts: parts, likelihoodScale: likelihoodScale, windows: gaussian?.windows(count: parameters.count) ?? [],
                                    priorScale: priorScale, likelihoodValue: likelihood, valueScale: valueScale, recycling: recycling)
        if gaussian != nil { return scaled }
        // Another prior: the likelihood's part formed whole (every chunk once: the parts are
        // done with), then the prior's gradient and value its own way.
        var gradient = scaled.materialize(theta: parameters)
        scaled.recycleParts()
        prior.addGradient(of: parameters, to: &gradient, scale: priorScale)
        return ScaledGradient(exact: gradient, value: likelihood - valueScale * prior.logDensity(parameters), likelihoodValue: likelihood)
    }
}

/// g = s·Σₖ partₖ + priorScale·∇log p(θ) for a Gaussian prior (−priorScale·δ_w·θ on each
/// window), kept as the likelihood's shard gradients until a pass over θ's fixed chunks forms
/// it: each chunk (`form`) with the same operations per element, in the same order, as
/// summing, scaling and `GaussianPrior.addGradient` one after the other, and θ's sum of squares
/// on the way, so the log-density's `value` is known once every chunk has been formed (summed
/// in chunk order: it does not depend on the thread count). A reference type: chunks formed on
/// the worker threads write their sums into it, each to its own slots.
public final class ScaledGradient: @unchecked Sendable {
    let parts: [Tensor]
    let likelihoodScale: Float
    let windows: [GaussianPrior.Window]
    let priorScale: Float
    /// valueScale·(−N · mean log-likelihood): the value without the prior.
    public let likelihoodValue: Double
    let valueScale: Double
    let chunks: ParameterChunks
    /// Σθ² per chunk and window.
    var squares: [Double]
    /// The value when it is known without the chunks (another prior, or an explicit gradient).
    let fixedValue: Double?
    /// Where the parts go once every chunk was formed — each chunk of them cleared as it is
    /// read (`recycleParts`); nil: they are left as they are.
    let recycling: ZeroedGradients?

    init(parts: [Tensor], likelihoodScale: Float, windows: [GaussianPrior.Window], priorScale: Float, likelihoodValue: Double,
         valueScale: Double, recycling: ZeroedGradients? = nil) {
        self.recycling = recycling
        self.parts = parts
        self.likelihoodScale = likelihoodScale
        self.windows = windows
        self.priorScale = priorScale
        self.likelihoodValue = likelihoodValue
        self.valueScale = valueScale
        chunks = ParameterChunks(count: parts[0].count)
        squares = [Double](repeating: 0, count: chunks.count * windows.count)
        fixedValue = nil
    }

    /// An explicit gradient (a test's exact one; another prior's) and its value.
    public init(exact gradient: Tensor, value: Double, likelihoodValue: Double? = nil) {
        parts = [gradient]
        likelihoodScale = 1
        windows = []
        priorScale = 0
        self.likelihoodValue = likelihoodValue ?? value
        valueScale = 1
        chunks = ParameterChunks(count: gradient.count)
        squares = []
        fixedValue = value
        recycling = nil
    }

    /// Hands the parts, all zeros once every chunk was formed exactly once (a sampler's step
    /// forms each once), to the trainer's next step (`Trainer.zeroedGradients`); they must not
    /// be read again.
    public func recycleParts() {
        recycling?.keep(parts)
    }

    /// Elements of θ.
    public var count: Int { parts[0].count }

    /// valueScale·U(θ), the log-density (or potential) — complete once every chunk was formed.
    public var value: Double {
        if let fixedValue { return fixedValue }
        return windows.enumerated().reduce(likelihoodValue) { total, entry in
            let (w, window) = entry
            let sum = (0..<chunks.count).reduce(0.0) { $0 + squares[$1 * windows.count + w] }
            let logPrior = Double(window.range.count) / 2 * Foundation.log(window.precision / (2 * Double.pi)) - window.precision / 2 * sum
            return total - valueScale * logPrior
        }
    }

    /// Writes g over chunk `j` of θ into `out` (the chunk's elements from 0), from θ's values
    /// before any update of the chunk, and records the chunk's sums of squares. Chunks may be
    /// formed concurrently.
    func form(_ j: Int, theta t: UnsafeBufferPointer<Float>, into out: UnsafeMutablePointer<Float>,
              vectorKernels: Bool = FastMath.hasVectorKernels) {
        formReading(j, theta: t, into: out, vectorKernels: vectorKernels)
        if recycling != nil {
            Optimizer.clear(parts.map { $0.withUnsafeBufferPointer { $0.baseAddress! } }, chunks.range(j))
        }
    }

    private func formReading(_ j: Int, theta t: UnsafeBufferPointer<Float>, into out: UnsafeMutablePointer<Float>,
                             vectorKernels: Bool) {
        let chunk = chunks.range(j), base = chunk.lowerBound, s = likelihoodScale
        // The usual case in one loop: two shards, the chunk inside one window of the prior.
        if parts.count == 2, windows.count >= 1, let w = windows.firstIndex(where: { $0.range.contains(base) }),
           windows[w].range.upperBound >= chunk.upperBound {
            let c = Float(-Double(priorScale) * windows[w].precision)
            squares[j * windows.count + w] = parts[0].withUnsafeBufferPointer { first in
                parts[1].withUnsafeBufferPointer { second in
                    let (a, b, theta) = (first.baseAddress! + base, second.baseAddress! + base, t.baseAddress! + base)
                    if let sum = FastMath.twoPartGradient(a, b, theta: theta, into: out, count: chunk.count, scale: s, prior: c,
                                                          vectorKernels: vectorKernels) {
                        return sum
                    }
                    if s != 1 {
                        for i in 0..<chunk.count { out[i] = (a[i] + b[i]) * s + c * theta[i] }
                    } else {
                        for i in 0..<chunk.count { out[i] = (a[i] + b[i]) + c * theta[i] }
                    }
                    return sumOfSquares(t, chunk)
                }
            }
            return
        }
        parts[0].withUnsafeBufferPointer { first in
            for i in chunk { out[i - base] = first[i] }
            for part in parts.dropFirst() { part.withUnsafeBufferPointer { p in for i in chunk { out[i - base] += p[i] } } }
        }
        if s != 1 { for i in chunk { out[i - base] *= s } }
        for (w, window) in windows.enumerated() {
            let range = window.range.clamped(to: chunk)
            guard !range.isEmpty else { continue }
            let c = Float(-Double(priorScale) * window.precision)
            for i in range { out[i - base] += c * t[i] }
            squares[j * windows.count + w] = sumOfSquares(t, range)
        }
    }

    /// The whole gradient as a tensor, formed on the worker threads.
    public func materialize(theta: Tensor) -> Tensor {
        var gradient = Tensor(uninitializedShape: [count])
        theta.withUnsafeBufferPointer { t in
            gradient.withUnsafeMutableBufferPointer { g in
                nonisolated(unsafe) let (t, g) = (t, g)
                Parallel.forEach(chunks.count) { j in form(j, theta: t, into: g.baseAddress! + chunks.range(j).lowerBound) }
            }
        }
        return gradient
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
