import CredenceData
import CredenceMetrics
import CredenceTensor
import Foundation

/// The prior precision that minimises the predictive's NLL on held-out examples, over a
/// log-spaced grid — laplace-torch's `optimize_prior_precision(method="gridsearch")`
/// (defaults 10⁻⁴ … 10⁴, 100 points, one scalar δ). Where the marginal likelihood picks a prior
/// for the training data's evidence, this one picks it for the predictive on data the network
/// has not seen: the remedy when the evidence-optimal prior leaves the predictive
/// underconfident (on small data: the README's Laplace section).
///
/// ```swift
/// let laplace = try Laplace(subset: .lastLayer, structure: .kronecker, priorOptimization: .none)
/// let fit = try fitPosterior(laplace, model: model, parameters: θ, task: .classification, data: train,
///                            epochs: 1, batchSize: 1000, seed: 0, shuffle: false)
/// let tuned = try HeldOutPriorSearch().tune(fit.posterior, on: heldOut, samples: 32, seed: 0)
/// // tuned.posterior.priorPrecision.values == [tuned.precision]
/// ```
public struct HeldOutPriorSearch: Sendable, Equatable {
    /// log₁₀ of the smallest and largest precision tried.
    public var logMinimum: Double
    public var logMaximum: Double
    /// Points of the grid (≥ 2), evenly spaced in log δ.
    public var points: Int

    public init(logMinimum: Double = -4, logMaximum: Double = 4, points: Int = 100) {
        self.logMinimum = logMinimum
        self.logMaximum = logMaximum
        self.points = points
    }

    /// The grid of precisions, smallest first.
    public var grid: [Double] {
        (0..<points).map { Foundation.pow(10, logMinimum + (logMaximum - logMinimum) * Double($0) / Double(Swift.max(points - 1, 1))) }
    }

    /// What the search found: the posterior at the chosen precision, that precision, its
    /// held-out NLL, and the NLL at every grid point (infinite where the predictive failed).
    public struct Result {
        public var posterior: LaplacePosterior
        public var precision: Double
        public var negativeLogLikelihood: Double
        public var curve: [(precision: Double, negativeLogLikelihood: Double)]
    }

    /// Scores `posterior` with each grid precision (its curvature, θ̂ and predictive kept) on
    /// `heldOut` — classification: NLL of the mean predictive; regression: Gaussian NLL of the
    /// moment-matched predictive, in the targets' standardised units — and returns the best.
    /// Every grid point draws its Monte-Carlo samples from the same `seed`, so the comparison is
    /// between priors, not between draws. Ties go to the smaller precision (the wider posterior).
    /// - Throws: `LaplaceError.invalidValue` for a bad grid or a layerwise prior,
    ///   `InferenceError` when no grid point gives a finite NLL.
    public func tune(_ posterior: LaplacePosterior, on heldOut: InMemoryDataset, samples: Int, seed: UInt64,
                     onPoint: (Int, Int) -> Void = { _, _ in }) throws -> Result {
        guard points >= 2, logMinimum.isFinite, logMaximum.isFinite, logMinimum < logMaximum else {
            throw LaplaceError.invalidValue("the held-out prior grid needs ≥ 2 points between two finite bounds, got \(points) in 10^\(logMinimum)…10^\(logMaximum)")
        }
        guard posterior.priorPrecision.values.count == 1 else {
            throw LaplaceError.invalidValue("the held-out search tunes one scalar prior precision; this posterior has \(posterior.priorPrecision.values.count) (use priorStructure scalar)")
        }
        var curve: [(precision: Double, negativeLogLikelihood: Double)] = []
        var best: (posterior: LaplacePosterior, precision: Double, nll: Double)?
        for (i, precision) in grid.enumerated() {
            onPoint(i + 1, points)
            guard let candidate = try? posterior.with(prior: PriorPrecision(precision)) else {
                curve.append((precision, .infinity))  // the precision does not factorize at this prior: not a candidate
                continue
            }
            var rng = RandomGenerator(seed: seed)
            let predictive = try candidate.predictive(heldOut.inputs, samples: samples, rng: &rng)
            let nll = try heldOut.targets.map { try gaussianNegativeLogLikelihood(predictive, targets: $0) }
                ?? negativeLogLikelihood(predictive, labels: heldOut.labels)
            let value = nll.isFinite ? nll : .infinity
            curve.append((precision, value))
            if value.isFinite, value < best?.nll ?? .infinity { best = (candidate, precision, value) }
        }
        guard let best else {
            throw InferenceError.invalidOption("no prior precision in 10^\(logMinimum)…10^\(logMaximum) gives a finite held-out NLL")
        }
        return Result(posterior: best.posterior, precision: best.precision, negativeLogLikelihood: best.nll, curve: curve)
    }
}

extension LaplacePosterior {
    /// The same posterior with prior precision `prior`: θ̂, the curvature and the predictive
    /// unchanged, the precision refactorized (its evidence not recorded).
    public func with(prior: PriorPrecision) throws -> LaplacePosterior {
        try LaplacePosterior(model: model, parameters: parameters, task: task, subset: subset, likelihood: likelihood,
                             precision: try precision.with(prior: prior, curvatureScale: precision.curvatureScale),
                             predictive: predictiveKind, link: link, noiseVariance: noiseVariance, temperature: temperature,
                             logLikelihood: logLikelihood, examples: examples)
    }
}
