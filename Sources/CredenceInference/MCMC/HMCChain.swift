import CredenceNN
import CredenceTensor
import Foundation

/// Full-batch Hamiltonian Monte Carlo: static HMC with a fixed number of leapfrog steps and a
/// Metropolis correction, or NUTS (Hoffman & Gelman 2014) — warm-up adapts the step size by
/// dual averaging and the metric in Stan's windows, then `samples` iterations are
/// kept (every `thinning`-th).
public struct HMCSettings: Equatable, Sendable, CustomStringConvertible {
    public enum Integrator: Equatable, Sendable {
        /// Static HMC with `leapfrogSteps` steps per transition.
        case hmc(leapfrogSteps: Int)
        /// NUTS with trees of at most 2^`maxTreeDepth` leapfrog steps.
        case nuts(maxTreeDepth: Int)
    }

    public var integrator: Integrator
    /// Warm-up iterations per chain (adapting; not kept).
    public var warmup: Int
    /// Iterations after warm-up per chain; every `thinning`-th is kept.
    public var iterations: Int
    public var thinning: Int
    /// δ, the mean acceptance statistic dual averaging aims at (Stan: 0.8).
    public var targetAcceptance: Double
    /// ε before warm-up; refined by the doubling/halving heuristic (Hoffman & Gelman's
    /// Algorithm 4) before the first transition and after each metric update.
    public var initialStepSize: Double
    /// The metric warm-up estimates (diagonal or dense), or the identity (`unit`).
    public var metric: HMCMetric

    public init(integrator: Integrator, warmup: Int = 500, iterations: Int = 500, thinning: Int = 1, targetAcceptance: Double = 0.8,
                initialStepSize: Double = 0.1, metric: HMCMetric = .diagonal) {
        self.integrator = integrator
        self.warmup = warmup
        self.iterations = iterations
        self.thinning = thinning
        self.targetAcceptance = targetAcceptance
        self.initialStepSize = initialStepSize
        self.metric = metric
    }

    /// Whether warm-up estimates the metric.
    public var adaptsMetric: Bool { metric != .unit }

    /// The most parameters a dense metric takes: each chain holds two d×d matrices of doubles
    /// (4,096: 268 MB) and a window's draws.
    public static let denseMetricLimit = 4096

    /// Samples each chain keeps.
    public var keptPerChain: Int { iterations / thinning }

    public func validate() throws {
        switch integrator {
        case let .hmc(steps): guard steps >= 1 else { throw InferenceError.invalidOption("HMC needs ≥ 1 leapfrog step per transition, got \(steps)") }
        case let .nuts(depth): guard (1...20).contains(depth) else { throw InferenceError.invalidOption("the NUTS tree depth must be in 1...20, got \(depth)") }
        }
        guard warmup >= 0, iterations >= 1, thinning >= 1 else {
            throw InferenceError.invalidOption("HMC needs warm-up ≥ 0, ≥ 1 iteration and thinning ≥ 1 (got \(warmup), \(iterations), \(thinning))")
        }
        guard iterations >= thinning else {
            throw InferenceError.invalidOption("keeping every \(thinning)th of \(iterations) iterations keeps no sample; lower thinning or raise the iterations")
        }
        guard targetAcceptance > 0, targetAcceptance < 1 else {
            throw InferenceError.invalidOption("the target acceptance must be in (0, 1), got \(targetAcceptance)")
        }
        guard initialStepSize > 0, initialStepSize.isFinite else {
            throw InferenceError.invalidOption("the initial step size must be > 0 and finite, got \(initialStepSize)")
        }
    }

    public var description: String {
        let kind: String
        switch integrator {
        case let .hmc(steps): kind = "HMC \(steps) leapfrog steps"
        case let .nuts(depth): kind = "NUTS depth ≤ \(depth)"
        }
        return "\(kind), warm-up \(warmup), \(iterations) iterations, thinning \(thinning), δ \(targetAcceptance), ε₀ \(initialStepSize), metric \(metric.rawValue)"
    }
}

/// What a chain's sampling iterations did: the figures Stan prints after a run.
public struct HMCChainStatistics: Codable, Sendable, Equatable {
    /// ε after warm-up.
    public var stepSize: Double
    /// Mean acceptance statistic over the sampling iterations.
    public var meanAcceptance: Double
    /// Sampling iterations that diverged (and how many of the warm-up's).
    public var divergences: Int
    public var warmupDivergences: Int
    /// Mean leapfrog steps per sampling iteration, and the tree depths (NUTS; 0 for HMC).
    public var meanLeapfrogSteps: Double
    public var meanTreeDepth: Double
    /// Sampling iterations that stopped at the maximum tree depth (NUTS).
    public var maxDepthHits: Int
    /// Gradients evaluated in all (warm-up, step-size search and sampling).
    public var gradientEvaluations: Int
    /// With `metric=dense`: the shrinkage λ* of the dense metric in use (0 = the window's
    /// sample covariance, 1 = its diagonal; `shrunkCovariance` — also 1 when the shrunk
    /// covariance did not factor and the chain runs the diagonal); nil on a diagonal metric,
    /// and until a dense chain's first metric window ends.
    public var denseMetricShrinkage: Double?

    public init(stepSize: Double, meanAcceptance: Double, divergences: Int, warmupDivergences: Int, meanLeapfrogSteps: Double,
                meanTreeDepth: Double, maxDepthHits: Int, gradientEvaluations: Int, denseMetricShrinkage: Double? = nil) {
        self.stepSize = stepSize
        self.meanAcceptance = meanAcceptance
        self.divergences = divergences
        self.warmupDivergences = warmupDivergences
        self.meanLeapfrogSteps = meanLeapfrogSteps
        self.meanTreeDepth = meanTreeDepth
        self.maxDepthHits = maxDepthHits
        self.gradientEvaluations = gradientEvaluations
        self.denseMetricShrinkage = denseMetricShrinkage
    }
}

/// One Hamiltonian chain: its position, step size, metric, warm-up state, counters and kept
/// draws. Iteration k draws its momentum and choices from a stream derived from (seed, chain,
/// k), so a chain restored from its saved state continues bit for bit.
public struct HMCChain {
    public let settings: HMCSettings
    public let seed: UInt64
    public let index: Int
    public private(set) var iteration = 0
    public private(set) var position: [Double]
    var logDensity: Double
    var gradient: [Double]
    public private(set) var stepSize: Double
    var inverseMetric: InverseMetric
    /// λ* of `inverseMetric` when it is dense.
    var denseMetricShrinkage: Double?
    var dualAveraging: DualAveraging
    var window: WelfordVariance
    /// The current window's draws, for a dense metric's correlations (empty otherwise).
    var windowDraws: [[Double]] = []
    let windows: WarmupWindows
    // Counters: sampling iterations, then warm-up.
    var acceptanceSum = 0.0, leapfrogSum = 0, treeDepthSum = 0, maxDepthHits = 0, divergences = 0, warmupDivergences = 0
    var gradientEvaluations = 0
    /// The kept draws, oldest first (in single precision, as networks store them).
    public private(set) var draws: [Tensor] = []

    /// A chain at `start` (log π must be finite there).
    public init(settings: HMCSettings, target: any HamiltonianTarget, start: [Double], seed: UInt64, index: Int) throws {
        try settings.validate()
        guard start.count == target.dimension else {
            throw InferenceError.invalidOption("the chain's start has \(start.count) coordinates, the target \(target.dimension)")
        }
        if settings.metric == .dense, start.count > HMCSettings.denseMetricLimit {
            let gigabytes = Double(2 * start.count * start.count * 8) / 1e9
            throw InferenceError.invalidOption(String(format: "metric=dense keeps two %d×%d matrices per chain (%.1f GB) and is for at most %d parameters; use metric=diagonal", start.count, start.count, gigabytes, HMCSettings.denseMetricLimit))
        }
        let (value, gradient) = try target.logDensity(at: start)
        guard value.isFinite, gradient.allSatisfy(\.isFinite) else {
            throw InferenceError.invalidOption("chain \(index + 1) starts where log π or its gradient is not finite (log π = \(value)); start elsewhere")
        }
        self.settings = settings
        self.seed = seed
        self.index = index
        position = start
        logDensity = value
        self.gradient = gradient
        stepSize = settings.initialStepSize
        inverseMetric = .diagonal([Double](repeating: 1, count: start.count))
        dualAveraging = DualAveraging(targetAcceptance: settings.targetAcceptance, initialStepSize: settings.initialStepSize)
        window = WelfordVariance(dimension: start.count)
        windows = WarmupWindows(warmup: settings.warmup, adaptsMetric: settings.adaptsMetric)
        gradientEvaluations = 1
    }

    public var totalIterations: Int { settings.warmup + settings.iterations }
    public var isFinished: Bool { iteration >= totalIterations }
    public var isWarmingUp: Bool { iteration < settings.warmup }

    /// The stream of iteration `k`.
    func stream(for k: Int) -> RandomGenerator { .counterBased(seed: seed, stream: index, counter: k) }

    /// Runs the next iteration: step-size search before the first, a transition, warm-up
    /// adaptation or bookkeeping and thinning after.
    public mutating func advance(target: any HamiltonianTarget) throws {
        guard !isFinished else { return }
        var rng = stream(for: iteration)
        var hamiltonian = Hamiltonian(target: target, inverseMetric: inverseMetric)
        if iteration == 0 && settings.warmup > 0 {
            try searchStepSize(hamiltonian, &rng)
            dualAveraging.restart(initialStepSize: stepSize)
        }
        let start = PhasePoint(position: position, momentum: [], logDensity: logDensity, gradient: gradient)
        let (next, report): (PhasePoint, TransitionReport)
        switch settings.integrator {
        case let .hmc(steps): (next, report) = try hamiltonian.staticTransition(from: start, stepSize: stepSize, steps: steps, rng: &rng)
        case let .nuts(depth): (next, report) = try hamiltonian.nutsTransition(from: start, stepSize: stepSize, maxTreeDepth: depth, rng: &rng)
        }
        (position, logDensity, gradient) = (next.position, next.logDensity, next.gradient)
        gradientEvaluations += report.leapfrogSteps
        if isWarmingUp {
            if report.divergent { warmupDivergences += 1 }
            stepSize = dualAveraging.update(acceptance: report.acceptance)
            let k = iteration
            if windows.collects(k) {
                window.add(position)
                if settings.metric == .dense { windowDraws.append(position) }
            }
            if windows.windowEnds.contains(k) {
                (inverseMetric, denseMetricShrinkage) = try estimatedMetric()
                window = WelfordVariance(dimension: position.count)
                windowDraws = []
                hamiltonian = Hamiltonian(target: target, inverseMetric: inverseMetric)
                try searchStepSize(hamiltonian, &rng)
                dualAveraging.restart(initialStepSize: stepSize)
            }
            if k == settings.warmup - 1 { stepSize = dualAveraging.finalStepSize }
        } else {
            acceptanceSum += report.acceptance
            leapfrogSum += report.leapfrogSteps
            treeDepthSum += report.treeDepth
            if report.divergent { divergences += 1 }
            if case let .nuts(depth) = settings.integrator, report.treeDepth >= depth { maxDepthHits += 1 }
            if (iteration - settings.warmup + 1) % settings.thinning == 0 { draws.append(Tensor(position.map { Float($0) })) }
        }
        iteration += 1
    }

    /// The metric the window's draws give: their regularised variances, or (dense) their
    /// covariance shrunk towards those (`shrunkCovariance`, the spread of the correlations
    /// scaled by the draws' autocorrelation time) with its λ* — the diagonal if that Σ does
    /// not factor, reported as λ* = 1 (the diagonal is Σ with the correlations shrunk away), so
    /// that a dense chain always reports a λ* and a diagonal one never does.
    func estimatedMetric() throws -> (metric: InverseMetric, denseShrinkage: Double?) {
        let variances = window.regularizedVariance
        guard settings.metric == .dense else { return (.diagonal(variances), nil) }
        let (covariance, shrinkage) = try shrunkCovariance(draws: windowDraws, variances: variances,
                                                           autocorrelationTime: meanAutocorrelationTime(draws: windowDraws))
        guard let metric = try? InverseMetric.dense(covariance) else { return (.diagonal(variances), 1) }
        return (metric, shrinkage)
    }

    /// Hoffman & Gelman's Algorithm 4 as Stan runs it: from the current ε, one leapfrog step
    /// with a fresh momentum; double ε while exp(ΔH) stays above 0.8, or halve it while it
    /// stays below, and stop at the crossing.
    mutating func searchStepSize(_ hamiltonian: Hamiltonian, _ rng: inout RandomGenerator) throws {
        let start = PhasePoint(position: position, momentum: [], logDensity: logDensity, gradient: gradient)
        func deltaH() throws -> Double {
            var z = start
            z.momentum = hamiltonian.drawMomentum(&rng)
            let h0 = hamiltonian.energy(z)
            try hamiltonian.leapfrog(&z, stepSize: stepSize)
            gradientEvaluations += 1
            return h0 - hamiltonian.energy(z)
        }
        let threshold = log(0.8)
        let growing = try deltaH() > threshold
        for _ in 0..<100 {
            let delta = try deltaH()
            if growing ? !(delta > threshold) : !(delta < threshold) { return }
            stepSize = growing ? stepSize * 2 : stepSize / 2
            guard stepSize < 1e7 else { throw InferenceError.invalidOption("the step size grew past 1e7: the posterior looks improper (flat in some direction); check the prior") }
            guard stepSize > 1e-300 else { throw InferenceError.invalidOption("no step size keeps the energy error acceptable at chain \(index + 1)'s position; log π is not finite nearby") }
        }
    }

    /// The chain's figures after its sampling iterations.
    public var statistics: HMCChainStatistics {
        let n = Double(Swift.max(iteration - settings.warmup, 1))
        return HMCChainStatistics(stepSize: stepSize, meanAcceptance: acceptanceSum / n, divergences: divergences,
                                  warmupDivergences: warmupDivergences, meanLeapfrogSteps: Double(leapfrogSum) / n,
                                  meanTreeDepth: Double(treeDepthSum) / n, maxDepthHits: maxDepthHits,
                                  gradientEvaluations: gradientEvaluations, denseMetricShrinkage: denseMetricShrinkage)
    }
}

extension HMCChain {
    /// Everything the next iteration depends on, under "chain.K." names.
    func save(into file: inout SafeTensorsFile) {
        let p = "chain.\(index)."
        file.setVector(p + "position", position)
        file.setVector(p + "gradient", gradient)
        switch inverseMetric {
        case let .diagonal(m): file.setVector(p + "inverseMetric", m)
        case let .dense(covariance, factor):
            file.setDoubles(covariance.values, shape: [covariance.rows, covariance.columns], name: p + "inverseMetric")
            file.setDoubles(factor.values, shape: [factor.rows, factor.columns], name: p + "inverseMetric.factor")
            if let denseMetricShrinkage { file.metadata[p + "denseMetricShrinkage"] = String(denseMetricShrinkage) }
        }
        if !windowDraws.isEmpty { file.setDoubles(windowDraws.flatMap { $0 }, shape: [windowDraws.count, position.count], name: p + "window.draws") }
        file.setVector(p + "window.mean", window.mean)
        file.setVector(p + "window.squaredDeviations", window.squaredDeviations)
        file.setVector(p + "dualAveraging", dualAveraging.stored)
        file.setVector(p + "scalars", [logDensity, stepSize, acceptanceSum])
        let counters = [iteration, window.count, leapfrogSum, treeDepthSum, maxDepthHits, divergences, warmupDivergences, gradientEvaluations]
        file.metadata[p + "counters"] = counters.map(String.init).joined(separator: ",")
        file.metadata[p + "draws"] = String(draws.count)
        for (k, draw) in draws.enumerated() { file[p + "draw.\(k)"] = draw }
    }

    mutating func restore(from file: SafeTensorsFile, path: String) throws {
        let p = "chain.\(index).", d = position.count
        position = try file.requiredDoubles(p + "position", count: d, path: path)
        gradient = try file.requiredDoubles(p + "gradient", count: d, path: path)
        // A dense metric is saved with its factor (before its first window ends it is the unit diagonal).
        if file.doubles(p + "inverseMetric.factor") == nil {
            inverseMetric = .diagonal(try file.requiredDoubles(p + "inverseMetric", count: d, path: path))
        } else {
            inverseMetric = .dense(covariance: DenseMatrix(rows: d, columns: d, values: try file.requiredDoubles(p + "inverseMetric", count: d * d, path: path)),
                                   factor: DenseMatrix(rows: d, columns: d, values: try file.requiredDoubles(p + "inverseMetric.factor", count: d * d, path: path)))
            denseMetricShrinkage = file.metadata[p + "denseMetricShrinkage"].flatMap(Double.init)
        }
        window.mean = try file.requiredDoubles(p + "window.mean", count: d, path: path)
        window.squaredDeviations = try file.requiredDoubles(p + "window.squaredDeviations", count: d, path: path)
        dualAveraging = DualAveraging(stored: try file.requiredDoubles(p + "dualAveraging", count: DualAveraging.storedCount, path: path))
        let scalars = try file.requiredDoubles(p + "scalars", count: 3, path: path)
        (logDensity, stepSize, acceptanceSum) = (scalars[0], scalars[1], scalars[2])
        guard let counters = file.metadata[p + "counters"]?.split(separator: ",").compactMap({ Int($0) }), counters.count == 8 else {
            throw ResumeError.inconsistentState(path: path, reason: "it lacks chain \(index + 1)'s counters")
        }
        (iteration, window.count, leapfrogSum, treeDepthSum) = (counters[0], counters[1], counters[2], counters[3])
        let windowValues = settings.metric == .dense && window.count > 0
            ? try file.requiredDoubles(p + "window.draws", count: window.count * d, path: path) : []
        windowDraws = stride(from: 0, to: windowValues.count, by: d).map { Array(windowValues[$0..<($0 + d)]) }
        (maxDepthHits, divergences, warmupDivergences, gradientEvaluations) = (counters[4], counters[5], counters[6], counters[7])
        let count = try file.requiredInteger(p + "draws", path: path)
        draws = try (0..<count).map { try file.required(p + "draw.\($0)", shape: [d], path: path) }
    }
}

extension SafeTensorsFile {
    /// Stores a vector of doubles under `name` (F64, rank 1).
    mutating func setVector(_ name: String, _ values: [Double]) { setDoubles(values, shape: [values.count], name: name) }
}
