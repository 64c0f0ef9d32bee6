import CredenceTensor
import Foundation

/// Temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural Networks"), a
/// post-hoc calibrator: one scalar `T > 0` divides the logits, `p = softmax(z / T)`.
/// `T > 1` softens an over-confident model; the predicted class never changes.
///
/// ```swift
/// let fit = try TemperatureScaling.fit(logits: validationLogits, labels: validationLabels)
/// let calibrated = try fit.calibrator.predictive(logits: testLogits)   // Predictive
/// print(fit.temperature, fit.negativeLogLikelihoodAfter)
/// ```
public struct TemperatureScaling: Codable, Sendable, Equatable {
    /// The temperature `T > 0`.
    public let temperature: Double

    /// A calibrator with a given temperature.
    /// - Throws: `MetricsError.invalidArgument` unless `temperature` is finite and > 0.
    public init(temperature: Double) throws {
        guard temperature > 0, temperature.isFinite else {
            throw MetricsError.invalidArgument(name: "temperature", message: "must be a finite number > 0, got \(temperature)")
        }
        self.temperature = temperature
    }

    /// Decodes and validates a stored calibrator (a corrupt file cannot yield `T ≤ 0`).
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(temperature: container.decode(Double.self, forKey: .temperature))
    }

    /// The calibrated predictive `softmax(z / T)` of logits `[N, C]` or `[S, N, C]`.
    public func predictive(logits: Tensor) throws -> Predictive {
        try Predictive(logits: logits, temperature: temperature)
    }
}

/// The result of fitting a temperature on held-out logits.
public struct TemperatureScalingFit: Codable, Sendable, Equatable {
    /// The fitted calibrator.
    public var calibrator: TemperatureScaling
    /// Mean held-out NLL at `T = 1` and at the fitted `T` (nats).
    public var negativeLogLikelihoodBefore: Double
    public var negativeLogLikelihoodAfter: Double
    /// Newton / bisection steps taken.
    public var iterations: Int
    /// True when the optimum lies outside the allowed range and `T` was clamped to its end
    /// (held-out predictions all correct with a margin drive `T → 0`; uninformative or
    /// anti-correlated logits drive `T → ∞`).
    public var atBound: Bool

    /// The fitted temperature.
    public var temperature: Double { calibrator.temperature }
}

extension TemperatureScaling {
    /// Fits `T` by minimising the held-out NLL
    /// `f(β) = (1/N) Σ_n [log Σ_c exp(β z_nc) − β z_{n,y_n}]`, `β = 1/T`, in `Double`.
    ///
    /// `f` is convex in `β` (`f″(β) = (1/N) Σ_n Var_{softmax(β z_n)}[z_n] ≥ 0`), with
    /// `f′(β) = (1/N) Σ_n (E_{softmax(β z_n)}[z_n] − z_{n,y_n})`. The root of `f′` is bracketed
    /// in `[1/maxT, 1/minT]` and found by Newton steps on the exact derivatives, falling back
    /// to geometric bisection whenever a step leaves the bracket — globally convergent and
    /// quadratic near the optimum. This is the same stationary point as optimising `log T`
    /// (the reference uses L-BFGS on `log T`), since `df/d log T = −β f′(β)`.
    ///
    /// - Parameters:
    ///   - logits: held-out logits `[N, C]` (or `[1, N, C]`), `C ≥ 2`.
    ///   - labels: `N` class indices.
    ///   - range: allowed temperatures; an optimum outside is clamped (`atBound`).
    ///   - tolerance: relative step in `β` at which to stop.
    /// - Throws: `MetricsError` for empty input, a non-finite logit, a bad shape or label,
    ///   or an invalid range.
    public static func fit(logits: Tensor, labels: [Int32], range: ClosedRange<Double> = 0.01...100,
                           tolerance: Double = 1e-12, maxIterations: Int = 100) throws -> TemperatureScalingFit {
        guard logits.count > 0 else { throw MetricsError.empty(name: "logits") }
        let (s, n, c) = try Predictive.sampleShape(logits, name: "logits")
        guard s == 1 else {
            throw MetricsError.invalidShape(name: "logits", shape: logits.shape, expected: "[N, C] logits of one model")
        }
        guard c >= 2 else { throw MetricsError.invalidShape(name: "logits", shape: logits.shape, expected: "at least 2 classes") }
        guard range.lowerBound > 0, range.upperBound.isFinite else {
            throw MetricsError.invalidArgument(name: "range", message: "temperatures must be finite and > 0, got \(range)")
        }
        guard labels.count == n else { throw MetricsError.countMismatch(name: "labels", count: labels.count, expected: n) }
        if let i = labels.firstIndex(where: { $0 < 0 || Int($0) >= c }) {
            throw MetricsError.labelOutOfRange(index: i, label: Int(labels[i]), classCount: c)
        }
        let z = logits.values.map(Double.init)
        if let i = z.firstIndex(where: { !$0.isFinite }) {
            throw MetricsError.nonFinite(name: "logits", location: "example \(i / c), class \(i % c)", value: z[i])
        }
        let objective = TemperatureObjective(logits: z, labels: labels.map(Int.init), classes: c)

        var lo = 1 / range.upperBound, hi = 1 / range.lowerBound
        var beta = Swift.min(Swift.max(1, lo), hi), iterations = 0, atBound = false
        if objective.evaluate(lo).gradient >= 0 {
            beta = lo; atBound = true
        } else if objective.evaluate(hi).gradient <= 0 {
            beta = hi; atBound = true
        } else {
            while iterations < maxIterations {
                iterations += 1
                let e = objective.evaluate(beta)
                if e.gradient < 0 { lo = beta } else if e.gradient > 0 { hi = beta } else { break }
                let step = e.curvature > 0 ? e.gradient / e.curvature : .infinity
                // Converged: the Newton step is below the tolerance (taken if it stays in the bracket).
                if Swift.abs(step) <= tolerance * beta {
                    if beta - step >= lo && beta - step <= hi { beta -= step }
                    break
                }
                let newton = beta - step
                beta = newton > lo && newton < hi ? newton : (lo * hi).squareRoot()
                if hi - lo <= tolerance * beta { break }
            }
        }
        return TemperatureScalingFit(calibrator: try TemperatureScaling(temperature: 1 / beta),
                                     negativeLogLikelihoodBefore: objective.evaluate(1).value,
                                     negativeLogLikelihoodAfter: objective.evaluate(beta).value,
                                     iterations: iterations, atBound: atBound)
    }
}

/// The held-out NLL of `softmax(β z)` with its first two derivatives in `β`.
struct TemperatureObjective {
    let logits: [Double], labels: [Int], classes: Int

    func evaluate(_ beta: Double) -> (value: Double, gradient: Double, curvature: Double) {
        let c = classes
        var value = 0.0, gradient = 0.0, curvature = 0.0
        var w = [Double](repeating: 0, count: c)
        logits.withUnsafeBufferPointer { z in
            for (n, y) in labels.enumerated() {
                let row = n * c
                var m = -Double.infinity
                for j in 0..<c { m = Swift.max(m, z[row + j]) }
                var total = 0.0, mean = 0.0
                for j in 0..<c { w[j] = Foundation.exp(beta * (z[row + j] - m)); total += w[j]; mean += w[j] * z[row + j] }
                mean /= total
                var variance = 0.0
                for j in 0..<c { let e = z[row + j] - mean; variance += w[j] * e * e }
                value += beta * m + Foundation.log(total) - beta * z[row + y]
                gradient += mean - z[row + y]
                curvature += variance / total
            }
        }
        let inv = 1 / Double(labels.count)
        return (value * inv, gradient * inv, curvature * inv)
    }
}
