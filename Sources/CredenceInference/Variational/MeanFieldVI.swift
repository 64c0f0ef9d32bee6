import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation

/// How the variational standard deviations start.
public enum VariationalInitialization: Equatable, Sendable {
    /// σ = `standardDeviation` for every Bayesian weight (from scratch; μ = the given network).
    case constant(standardDeviation: Double)
    /// MOPED (Krishnan et al. 2020): μ = the given (trained) network, σ = δ·|w|, floored at 1e-8.
    case moped(delta: Double)
}

/// Mean-field Gaussian variational inference — Bayes by Backprop (Blundell et al. 2015) — on
/// the layers `bayesianLayers` picks: q(w) = N(μ, softplus(ρ)²) per weight, fitted by
/// maximising the (tempered, annealed) evidence lower bound with Adam. Per example and step,
/// the loss minimised is the negative ELBO over N:
///
///     L(φ) = (1/|B|) Σ_{n∈B} E_q[−log p(yₙ | xₙ, w)] + β_t · T · KL(q ‖ p) / N
///            − T · Σ_{point weights} log p(θ) / N,
///
/// with the expectation estimated by `weightSamples` draws through the Bayesian layers'
/// `estimator` (plain reparameterization, local reparameterization or Flipout), T the
/// posterior temperature (T < 1: a cold posterior) and β_t = min(1, (t + 1)/`klAnnealingSteps`)
/// a linear KL warm-up (1 throughout without one). Weights outside the Bayesian layers are
/// point estimates under the same prior (a MAP), or kept fixed with `fixPointWeights` (STF-BNN).
///
/// ```swift
/// let vi = MeanFieldVI(datasetSize: 60_000, estimator: .flipout, prior: .gaussian(precision: 1))
/// let (posterior, _) = try fitPosterior(vi, model: model, parameters: θ0, task: .classification,
///                                       data: train, epochs: 20, batchSize: 128, seed: 0)
/// ```
public struct MeanFieldVI: InferenceMethod {
    public var datasetSize: Int
    public var bayesianLayers: BayesianLayers
    public var estimator: WeightNoiseEstimator
    public var prior: VariationalPrior
    public var temperature: Double
    public var klAnnealingSteps: Int
    public var weightSamples: Int
    public var learningRate: LearningRateSchedule
    public var initialization: VariationalInitialization
    public var fixPointWeights: Bool
    /// The per-example negative log-likelihood (default: the task's, `Objective.default(for:)`).
    public var likelihood: (any TrainingObjective)?
    /// The registered method whose posterior this is.
    public var method: String

    public init(datasetSize: Int, bayesianLayers: BayesianLayers = .all,
                estimator: WeightNoiseEstimator = .localReparameterization, prior: VariationalPrior = .gaussian(precision: 1),
                temperature: Double = 1, klAnnealingSteps: Int = 0, weightSamples: Int = 1,
                learningRate: LearningRateSchedule = .constant(1e-3),
                initialization: VariationalInitialization = .constant(standardDeviation: 1e-3),
                fixPointWeights: Bool = false, likelihood: (any TrainingObjective)? = nil, method: String = "vi") {
        self.datasetSize = datasetSize
        self.bayesianLayers = bayesianLayers
        self.estimator = estimator
        self.prior = prior
        self.temperature = temperature
        self.klAnnealingSteps = klAnnealingSteps
        self.weightSamples = weightSamples
        self.learningRate = learningRate
        self.initialization = initialization
        self.fixPointWeights = fixPointWeights
        self.likelihood = likelihood
        self.method = method
    }

    public struct State {
        public var network: VariationalNetwork
        public let task: Predictive.Task
        /// φ = (μ, ρ), the coordinates Adam moves; the network runs at ψ = (μ, softplus(ρ)).
        public var parameters: Tensor
        /// Holds the network, the likelihood and Adam (with its state).
        public var trainer: Trainer
        public var steps = 0
    }

    public func validate(model: any NetworkModel) throws {
        guard datasetSize >= 1 else { throw InferenceError.invalidOption("the data-set size N must be ≥ 1, got \(datasetSize)") }
        guard temperature > 0, temperature.isFinite else {
            throw InferenceError.invalidOption("the posterior temperature is \(temperature); it must be > 0 and finite (1 = Bayes posterior)")
        }
        guard weightSamples >= 1, klAnnealingSteps >= 0 else {
            throw InferenceError.invalidOption("VI needs ≥ 1 weight samples per step and ≥ 0 KL-annealing steps (got \(weightSamples), \(klAnnealingSteps))")
        }
        try prior.validate()
        switch initialization {
        case let .constant(sigma) where !(sigma > 0 && sigma.isFinite), let .moped(sigma) where !(sigma > 0 && sigma.isFinite):
            throw InferenceError.invalidOption("the initial standard deviation (or MOPED's δ) is \(sigma); it must be > 0 and finite")
        default: break
        }
        _ = try meanField(model)
    }

    func meanField(_ model: any NetworkModel) throws -> (base: any LayeredModel, layout: MeanFieldLayout) {
        let base = try MeanFieldLayout.layered(model)
        return (base, try MeanFieldLayout(bayesianLayers, model: base))
    }

    public func initialState(model: any NetworkModel, parameters: Tensor, task: Predictive.Task,
                             rng: inout RandomGenerator) throws -> State {
        guard parameters.count == model.parameterCount else {
            throw ModelError.parameterCount(got: parameters.count, expected: model.parameterCount)
        }
        let (base, layout) = try meanField(model)
        let network = VariationalNetwork(base: base, meanField: layout, estimator: estimator, fixedPointWeights: fixPointWeights)
        let sigma: Tensor
        switch initialization {
        case let .constant(s): sigma = Tensor(shape: [layout.count], repeating: Float(s))
        case let .moped(delta): sigma = layout.gather(parameters).map { Swift.max(Float(delta) * Swift.abs($0), 1e-8) }
        }
        let rho = sigma.map { Swift.max($0, 1e-30) }.map { s in s > 20 ? s : Foundation.log(Foundation.expm1(s)) }
        let phi = try network.parameters(mean: parameters, standardDeviations: rho)
        let objective = likelihood ?? Objective.default(for: task)
        let trainer = Trainer(model: network, optimizer: .adam(learningRate: learningRate, parameterCount: phi.count),
                              configuration: TrainingConfiguration(epochs: 1, objective: objective))
        return State(network: network, task: task, parameters: phi, trainer: trainer)
    }

    /// β_t for the 0-based step t.
    func annealing(at step: Int) -> Double {
        klAnnealingSteps == 0 ? 1 : Swift.min(1, Double(step + 1) / Double(klAnnealingSteps))
    }

    /// One Adam step on the negative ELBO per example; reports it.
    ///
    /// σ = softplus(ρ) is computed once per step (and sigmoid(ρ) where the general path needs
    /// it), and so is each weight sample's layer noise (ΔW = σ ⊙ ε, or σ² for local
    /// reparameterization): the worker shards run the network over ψ = (μ, layer noise)
    /// (`VariationalNetwork.Coordinates.layerNoise`) and share the draw. Their gradients, summed over shards and samples with the layer-noise
    /// coordinates times ∂(layer noise)/∂σ, get the regularizer's, then ∂/∂ρ = ∂/∂σ · sigmoid(ρ).
    /// With the Gaussian prior all of that and Adam are one pass over φ, chunk by chunk
    /// (`gaussianRegularizedUpdate`, tested equal to the general path: `combined`,
    /// `addRegularizer`, the chain rule, then the optimizer).
    public func update(_ state: inout State, batch: TrainingBatch, rng: inout RandomGenerator) throws -> StepReport {
        // φ is read in a function of its own, so that no copy of it is alive when Adam moves it
        // in place (one would cost a 2P copy per step).
        let gaussianPrecision: Double? = if case let .gaussian(delta) = prior, !fixPointWeights { delta } else { nil }
        let fit = try likelihoodGradient(state.network, phi: state.parameters, trainer: &state.trainer, batch: batch,
                                         withSigmoid: gaussianPrecision == nil, rng: &rng)
        try EpochLoop.requireFinite(fit.loss)
        let penalty: Double
        if let delta = gaussianPrecision {
            penalty = gaussianRegularizedUpdate(state.network, parameters: &state.parameters, optimizer: &state.trainer.optimizer,
                                                likelihood: fit, precision: delta, step: state.steps, clearingParts: true)
            // The next step's tapes write into the cleared parts.
            state.trainer.zeroedGradients.keep(fit.parts.flatMap { $0 })
        } else {
            let objective = try regularizedGradient(state.network, phi: state.parameters, likelihood: fit, step: state.steps, rng: &rng)
            penalty = objective.penalty
            state.trainer.optimizer.update(&state.parameters, gradientParts: [objective.gradient])
        }
        // A regularizer that overflowed (σ → 0) shows only now; the failed step's state is dropped.
        try EpochLoop.requireFinite(fit.loss + penalty)
        if !fit.statistics.isEmpty {
            state.network = try state.network.updatingBuffers(with: fit.statistics) as! VariationalNetwork
        }
        state.trainer.model = state.network
        state.steps += 1
        return StepReport(loss: fit.loss + penalty, correct: state.task == .classification ? fit.correct / weightSamples : nil)
    }

    /// The likelihood's side of a step: the expected negative log-likelihood per example, the
    /// summed correct predictions and batch-norm statistics of the weight samples, per sample
    /// the shard parts of its gradient over ψ = (μ, layer noise) and its ∂(layer noise)/∂σ,
    /// and the σ = softplus(ρ) they were made at, with sigmoid(ρ) when asked for (the Gaussian
    /// prior's one-pass update forms it from ρ as it goes).
    struct LikelihoodGradient {
        var loss: Double
        var correct: Int
        var parts: [[Tensor]]
        var derivatives: [Tensor]
        var sigma: Tensor
        var sigmoid: Tensor?
        var statistics: [String: [BatchNormStatistics]]
    }

    /// The expected negative log-likelihood per example at φ on `batch` and its gradient's parts.
    func likelihoodGradient(_ network: VariationalNetwork, phi: Tensor, trainer: inout Trainer, batch: TrainingBatch,
                            withSigmoid: Bool, rng: inout RandomGenerator) throws -> LikelihoodGradient {
        let (sigma, sigmoid) = Self.standardDeviations(network, phi: phi, withSigmoid: withSigmoid)
        trainer.model = network.with(.layerNoise)
        var result = LikelihoodGradient(loss: 0, correct: 0, parts: [], derivatives: [], sigma: sigma, sigmoid: sigmoid, statistics: [:])
        for var stream in rng.split(into: weightSamples) {
            // One weight draw per sample, shared by the worker shards (drawn in parallel halves).
            var noiseStream = estimator.drawsWeights ? stream.split() : stream
            let (psi, derivative) = Self.layerNoiseParameters(network, phi: phi, sigma: sigma, rng: &noiseStream)
            let shards = try trainer.shardedStep(parameters: psi, batch: batch, rng: &stream)
            result.loss += shards.loss / Double(weightSamples)
            result.correct += shards.correct
            result.parts.append(shards.gradientParts)
            result.derivatives.append(derivative)
            for (module, passes) in shards.batchStatistics { result.statistics[module, default: []] += passes }
        }
        return result
    }

    /// The whole objective's gradient over φ = (μ, ρ) and the regularizer's value, for any
    /// prior and for fixed point weights: `combined`, `addRegularizer`, then the chain rule.
    func regularizedGradient(_ network: VariationalNetwork, phi: Tensor, likelihood fit: LikelihoodGradient, step: Int,
                             rng: inout RandomGenerator) throws -> (gradient: Tensor, penalty: Double) {
        var gradient = Self.combined(fit.parts, derivatives: fit.derivatives, meanCount: network.meanCount)
        var klRNG = rng.split()
        let psi = try network.parameters(mean: phi.segment(offset: 0, shape: [network.meanCount]), standardDeviations: fit.sigma)
        let penalty = addRegularizer(network, psi: psi, to: &gradient, step: step, rng: &klRNG)
        let meanCount = network.meanCount
        guard let sigmoid = fit.sigmoid else {
            preconditionFailure("the general path's chain rule needs sigmoid(ρ): likelihoodGradient(withSigmoid: true)")
        }
        gradient.withUnsafeMutableBufferPointer { g in
            sigmoid.withUnsafeBufferPointer { s in
                Parallel.forEachRange(s.count) { _, range in for k in range { g[meanCount + k] *= s[k] } }
            }
        }
        return (gradient, penalty)
    }

    /// σ = softplus(ρ) for φ = (μ, ρ), and sigmoid(ρ) when asked for, split over the worker threads.
    static func standardDeviations(_ network: VariationalNetwork, phi: Tensor, withSigmoid: Bool) -> (sigma: Tensor, sigmoid: Tensor?) {
        let count = network.meanField.count, meanCount = network.meanCount
        var sigma = Tensor(uninitializedShape: [count]), sigmoid = withSigmoid ? Tensor(uninitializedShape: [count]) : nil
        phi.withUnsafeBufferPointer { p in
            sigma.withUnsafeMutableBufferPointer { s in
                let g = sigmoid?.withUnsafeMutableBufferPointer { $0.baseAddress! }
                let rho = UnsafeBufferPointer(rebasing: p[meanCount...])
                Parallel.forEachRange(count) { _, range in
                    FastMath.softplusAndSigmoid(UnsafeBufferPointer(rebasing: rho[range]), softplus: UnsafeMutableBufferPointer(rebasing: s[range]),
                                                sigmoid: g.map { UnsafeMutableBufferPointer(start: $0 + range.lowerBound, count: range.count) })
                }
                withExtendedLifetime(sigmoid) {}
            }
        }
        return (sigma, sigmoid)
    }

    /// ψ = (μ, layer noise) for one weight draw — ΔW = σ ⊙ ε with ε ~ N(0, I) from `rng`, or
    /// σ² for local reparameterization (no draw) — and ∂(layer noise)/∂σ (ε, or 2σ).
    ///
    /// ε is `FastMath.fillNormalNoise`'s interleaved stream (four generators in AVX2 lanes,
    /// where one dependent chain of draws was 5 % of a Flipout step), each worker thread
    /// filling its part from a stream split off `rng` and forming ΔW from each block of it
    /// while the block is in cache.
    static func layerNoiseParameters(_ network: VariationalNetwork, phi: Tensor, sigma: Tensor,
                                     rng: inout RandomGenerator) -> (psi: Tensor, derivative: Tensor) {
        let meanCount = network.meanCount, count = sigma.count, drawsWeights = network.estimator.drawsWeights
        let streams = drawsWeights ? rng.split(into: Parallel.ranges(count, parts: Parallel.workerCount).count) : []
        var derivative = Tensor(uninitializedShape: [count]), psi = Tensor(uninitializedShape: [meanCount + count])
        psi.withUnsafeMutableBufferPointer { out in
            phi.withUnsafeBufferPointer { p in
                sigma.withUnsafeBufferPointer { s in
                    derivative.withUnsafeMutableBufferPointer { d in
                        let o = out.baseAddress!, pp = p.baseAddress!, sp = s.baseAddress!, dp = d.baseAddress!, noise = o + meanCount
                        Parallel.forEachRange(meanCount) { _, range in (o + range.lowerBound).update(from: pp + range.lowerBound, count: range.count) }
                        Parallel.forEachRange(count) { t, range in
                            guard drawsWeights else {
                                for k in range { noise[k] = sp[k] * sp[k]; dp[k] = 2 * sp[k] }
                                return
                            }
                            var stream = streams[t]
                            let first = range.lowerBound
                            FastMath.fillNormalNoise(UnsafeMutableBufferPointer(start: dp + first, count: range.count), rng: &stream,
                                                     interleaved: true) { block in
                                for k in (first &+ block.lowerBound)..<(first &+ block.upperBound) { noise[k] = sp[k] * dp[k] }
                            }
                        }
                    }
                }
            }
        }
        return (psi, derivative)
    }

    /// The gradient over ψ = (μ, σ) from the shard parts of every weight sample (`parts[s]`:
    /// sample s's gradients over ψ = (μ, layer noise)): summed and averaged over samples, the
    /// layer-noise coordinates times each sample's own ∂(layer noise)/∂σ (`derivatives[s]`).
    /// Split over the worker threads.
    static func combined(_ parts: [[Tensor]], derivatives: [Tensor], meanCount: Int) -> Tensor {
        var sum = Tensor(uninitializedShape: parts[0][0].shape)
        sum.withUnsafeMutableBufferPointer { out in
            let o = out.baseAddress!
            Parallel.forEachRange(out.count) { _, chunk in
                combine(parts, derivatives: derivatives, meanCount: meanCount, range: chunk, into: o)
            }
        }
        return sum
    }

    /// `combined`'s coordinates `range`, written to `out[range]`: per sample one pass that sums
    /// its parts (two shards: one add) and multiplies the sum by the derivative once. A loop
    /// over one sample at a time vectorises, a loop over the samples per element does not.
    static func combine(_ parts: [[Tensor]], derivatives: [Tensor], meanCount: Int, range: Range<Int>,
                        into o: UnsafeMutablePointer<Float>) {
        let means = range.clamped(to: 0..<meanCount)
        let noise = Swift.max(range.lowerBound, meanCount)..<Swift.max(range.upperBound, meanCount)
        for (s, (sampleParts, derivative)) in zip(parts, derivatives).enumerated() {
            let pointers = sampleParts.map { $0.withUnsafeBufferPointer { $0.baseAddress! } }
            let factor = derivative.withUnsafeBufferPointer { $0.baseAddress! } - meanCount
            let a = pointers[0], b = pointers.count > 1 ? pointers[1] : nil
            switch (s == 0, b) {
            case (true, nil):
                (o + means.lowerBound).update(from: a + means.lowerBound, count: means.count)
                for i in noise { o[i] = a[i] * factor[i] }
            case let (true, b?):
                for i in means { o[i] = a[i] + b[i] }
                for i in noise { o[i] = (a[i] + b[i]) * factor[i] }
            case (false, nil):
                for i in means { o[i] += a[i] }
                for i in noise { o[i] += a[i] * factor[i] }
            case let (false, b?):
                for i in means { o[i] += a[i] + b[i] }
                for i in noise { o[i] += (a[i] + b[i]) * factor[i] }
            }
            for c in pointers.dropFirst(2) {
                for i in means { o[i] += c[i] }
                for i in noise { o[i] += c[i] * factor[i] }
            }
            withExtendedLifetime(sampleParts) {}
            withExtendedLifetime(derivative) {}
        }
        if parts.count > 1 {
            let average = 1 / Float(parts.count)
            for i in range { o[i] *= average }
        }
    }

    /// For the Gaussian prior N(0, 1/δ) with trainable point weights, one optimizer step on
    /// the whole objective, its gradient formed chunk by chunk inside the step
    /// (`Optimizer.update(_:formingGradient:)`) — the likelihood's (`combine`), plus
    /// klScale·δμ on the means (the closed-form KL's gradient; the point weights' MAP prior has
    /// the same form at scale T/N), plus klScale·(δσ − 1/σ) on the σ coordinates, times
    /// sigmoid(ρ), formed from ρ in the same pass — so neither the gradient nor its parts' sum
    /// is ever a whole vector (and a chunk of one run's means with one weight sample is handed
    /// to the optimizer as its shard parts plus scale·μ, which Adam's kernel reads directly:
    /// `Optimizer.ChunkGradient.sum`); returns the regularizer's value at φ before the step.
    /// With `clearingParts`, every chunk of the likelihood's parts is set to 0 once read, for
    /// the trainer's next step to write into (`Trainer.zeroedGradients`).
    func gaussianRegularizedUpdate(_ network: VariationalNetwork, parameters phi: inout Tensor, optimizer: inout Optimizer,
                                   likelihood fit: LikelihoodGradient, precision delta: Double, step: Int,
                                   clearingParts: Bool = false) -> Double {
        let n = Double(datasetSize), meanCount = network.meanCount, total = phi.count
        let klScale = annealing(at: step) * temperature / n, priorScale = temperature / n
        // The mean coordinates in runs: Bayesian blocks (KL at klScale) and point weights (MAP prior at priorScale).
        var runs: [(range: Range<Int>, isBayesian: Bool)] = []
        var covered = 0
        for block in network.meanField.blocks {
            if covered < block.entry.offset { runs.append((covered..<block.entry.offset, false)) }
            runs.append((block.entry.range, true))
            covered = block.entry.range.upperBound
        }
        if covered < meanCount { runs.append((covered..<meanCount, false)) }
        let d = Float(delta), sigmaScale = Float(klScale)
        // One weight sample: the kernels below sum its shard parts as they go (the layer noise's
        // derivative applied in the same pass); several: `combine` forms the sum first.
        let shardParts = fit.parts.count == 1 ? fit.parts[0].map { $0.withUnsafeBufferPointer { $0.baseAddress! } } : nil
        let factor = fit.derivatives[0].withUnsafeBufferPointer { $0.baseAddress! } - meanCount
        let allParts = fit.parts.flatMap { $0.map { $0.withUnsafeBufferPointer { $0.baseAddress! } } }
        // Per chunk c, from c·width: Σμ² per run, then Σσ² and Σ log σ over its σ coordinates.
        let width = runs.count + 2
        var partials = [Double](repeating: 0, count: optimizer.gradientChunks.count * width)
        fit.sigma.withUnsafeBufferPointer { sd in
            partials.withUnsafeMutableBufferPointer { out in
                optimizer.update(&phi, formingGradient: { c, chunk, gradient, p in
                    // A chunk of one run's means with one weight sample: its gradient is the shard
                    // parts plus scale·μ, which Adam's kernel forms as it reads them (and Σμ²).
                    if let shardParts, let r = runs.firstIndex(where: { $0.range.lowerBound <= chunk.lowerBound && chunk.upperBound <= $0.range.upperBound }) {
                        return .sum(parts: shardParts, plusScaledParameters: Float(runs[r].isBayesian ? klScale : priorScale) * d,
                                    sumOfSquares: out.baseAddress! + c * width + r)
                    }
                    if shardParts == nil {
                        Self.combine(fit.parts, derivatives: fit.derivatives, meanCount: meanCount, range: chunk, into: gradient)
                    }
                    for (r, run) in runs.enumerated() {
                        let part = run.range.clamped(to: chunk)
                        guard !part.isEmpty else { continue }
                        let mean = UnsafeBufferPointer(start: p + part.lowerBound, count: part.count)
                        let g = UnsafeMutableBufferPointer(start: gradient + part.lowerBound, count: part.count)
                        let scale = Float(run.isBayesian ? klScale : priorScale) * d
                        out[c * width + r] = shardParts.map { FastMath.addScaled(mean, toSumOf: $0.map { $0 + part.lowerBound }, into: g, scale: scale) }
                            ?? FastMath.addScaled(mean, to: g, scale: scale)
                    }
                    let part = chunk.clamped(to: meanCount..<total)
                    guard !part.isEmpty else { return .formed }
                    let inSigma = (part.lowerBound - meanCount)..<(part.upperBound - meanCount)
                    let sigma = UnsafeBufferPointer(rebasing: sd[inSigma]), rho = UnsafeBufferPointer(start: p + part.lowerBound, count: part.count)
                    let g = UnsafeMutableBufferPointer(start: gradient + part.lowerBound, count: part.count)
                    // Several samples: `combine` formed the gradient, derivatives applied.
                    (out[c * width + runs.count], out[c * width + runs.count + 1]) = FastMath.addGaussianKLGradient(
                        summing: shardParts.map { $0.map { $0 + part.lowerBound } } ?? [UnsafePointer(g.baseAddress!)],
                        factor: shardParts == nil ? nil : factor + part.lowerBound, sigma: sigma, rho: rho, gradient: g,
                        precision: d, scale: sigmaScale)
                    return .formed
                }, afterEachChunk: clearingParts ? { range in Optimizer.clear(allParts, range) } : nil)
            }
        }
        withExtendedLifetime(fit) {}
        func summed(_ k: Int) -> Double { stride(from: k, to: partials.count, by: width).reduce(0) { $0 + partials[$1] } }
        // KL = Σ ½δ(σ² + μ²) − log σ − ½(log δ + 1) over the Bayesian weights; each point weight's
        // −log p = ½δθ² − ½ log(δ/2π).
        var value = klScale * (0.5 * delta * summed(runs.count) - summed(runs.count + 1)
                               - Double(network.meanField.count) * 0.5 * (Foundation.log(delta) + 1))
        for (r, run) in runs.enumerated() {
            value += run.isBayesian ? klScale * 0.5 * delta * summed(r)
                : priorScale * (0.5 * delta * summed(r) - Double(run.range.count) * 0.5 * Foundation.log(delta / (2 * Double.pi)))
        }
        return value
    }

    /// Adds to `gradient` (over ψ = (μ, σ)) the gradient of β_t·T·KL/N and of the point
    /// weights' −T·log p/N (none when they are fixed); returns the value.
    func addRegularizer(_ network: VariationalNetwork, psi: Tensor, to gradient: inout Tensor, step: Int,
                        rng: inout RandomGenerator) -> Double {
        let n = Double(datasetSize)
        let klScale = annealing(at: step) * temperature / n, priorScale = temperature / n
        let meanCount = network.meanCount
        var total = 0.0
        psi.withUnsafeBufferPointer { p in
            gradient.withUnsafeMutableBufferPointer { g in
                var covered = 0
                for block in network.meanField.blocks {
                    total += pointWeights(covered..<block.entry.offset, p, g, priorScale)
                    covered = block.entry.range.upperBound
                    let sigma = (meanCount + block.sigmaRange.lowerBound)..<(meanCount + block.sigmaRange.upperBound)
                    total += klScale * prior.klDivergence(
                        mean: UnsafeBufferPointer(rebasing: p[block.entry.range]),
                        standardDeviations: UnsafeBufferPointer(rebasing: p[sigma]),
                        meanGradient: UnsafeMutableBufferPointer(rebasing: g[block.entry.range]),
                        sigmaGradient: UnsafeMutableBufferPointer(rebasing: g[sigma]), scale: Float(klScale), rng: &rng)
                }
                total += pointWeights(covered..<meanCount, p, g, priorScale)
            }
        }
        return total
    }

    /// The point weights in `range`: their prior term (value returned, gradient added); none
    /// when they are fixed (the network then gives them no gradient either).
    private func pointWeights(_ range: Range<Int>, _ psi: UnsafeBufferPointer<Float>, _ g: UnsafeMutableBufferPointer<Float>,
                              _ scale: Double) -> Double {
        guard !range.isEmpty, !fixPointWeights else { return 0 }
        return scale * prior.negativeLogDensity(UnsafeBufferPointer(rebasing: psi[range]),
                                                gradient: UnsafeMutableBufferPointer(rebasing: g[range]), scale: Float(scale))
    }

    public func posterior(from state: State) throws -> MeanFieldPosterior {
        let mean = try state.network.split(state.parameters).mean
        let sigma = Self.standardDeviations(state.network, phi: state.parameters, withSigmoid: false).sigma
        return try MeanFieldPosterior(model: state.network.base, task: state.task, mean: mean, standardDeviations: sigma,
                                      bayesianLayers: bayesianLayers, method: method)
    }
}

extension MeanFieldVI.State: PersistentState {
    /// φ, the step count, Adam's state and the running statistics of the network's batch norms.
    public func save(into file: inout SafeTensorsFile) throws {
        file["parameters"] = parameters
        file.metadata["vi.steps"] = String(steps)
        try trainer.optimizer.exportState().store(in: &file, path: "the VI state")
        file.storeBuffers(of: network)
    }

    public mutating func restore(from file: SafeTensorsFile, path: String) throws {
        parameters = try file.required("parameters", shape: [network.parameterCount], path: path)
        steps = try file.requiredInteger("vi.steps", path: path)
        try trainer.optimizer.restore(from: file, path: path)
        if !network.buffers.isEmpty {
            network = try file.restoringBuffers(of: network, path: path) as! VariationalNetwork
            trainer.model = network
        }
    }
}
