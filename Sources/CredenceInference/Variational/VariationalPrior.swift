import CredenceTensor
import Foundation

/// The prior p(w) of each weight in variational inference, and the KL divergence of a
/// mean-field Gaussian q(w) = N(μ, σ²) from it.
///
/// - `gaussian(precision: δ)`: p = N(0, 1/δ); KL in closed form,
///   KL = ½[δ(σ² + μ²) − 1 − log(δσ²)], ∂KL/∂μ = δμ, ∂KL/∂σ = δσ − 1/σ.
/// - `scaleMixture` (Blundell et al. 2015, eq. 7): p = π N(0, σ₁²) + (1 − π) N(0, σ₂²); no
///   closed form, so KL is estimated from one reparameterised draw w = μ + σε per weight:
///   KL̂ = log q(w) − log p(w) = −log σ − ε²/2 − ½ log 2π − log p(w), unbiased, with
///   ∂KL̂/∂μ = −(log p)′(w) and ∂KL̂/∂σ = −1/σ − (log p)′(w)·ε.
///
/// ```swift
/// let prior = VariationalPrior.scaleMixture(weight: 0.5, firstStandardDeviation: 1, secondStandardDeviation: exp(-6))
/// let kl = prior.klDivergence(mean: mu, standardDeviations: sigma, rng: &rng)
/// ```
public enum VariationalPrior: Equatable, Sendable, CustomStringConvertible {
    case gaussian(precision: Double)
    case scaleMixture(weight: Double, firstStandardDeviation: Double, secondStandardDeviation: Double)
    /// The improper log-uniform prior p(|w|) ∝ 1/|w| of sparse variational dropout (Molchanov et
    /// al. 2017), with their fit to its KL as a function of α = σ²/μ² alone:
    /// KL ≈ k₁ − k₁·sigmoid(k₂ + k₃ log α) + ½ log(1 + 1/α), k = (0.63576, 1.87320, 1.48695),
    /// log α = log σ² − log(μ² + 10⁻⁸) clipped to [−10, 10] (no gradient beyond). Weights
    /// with large α carry no signal and are pruned (`PruningScore.signalToNoise`: log α = −2 log SNR).
    case logUniform

    public var description: String {
        switch self {
        case let .gaussian(delta): return "N(0, 1/\(delta))"
        case let .scaleMixture(pi, s1, s2): return "\(pi)·N(0, \(s1)²) + \(1 - pi)·N(0, \(s2)²)"
        case .logUniform: return "log-uniform"
        }
    }

    func validate() throws {
        switch self {
        case let .gaussian(delta):
            guard delta > 0, delta.isFinite else { throw InferenceError.invalidOption("the prior precision is \(delta); it must be > 0 and finite") }
        case let .scaleMixture(pi, s1, s2):
            guard pi > 0, pi < 1 else { throw InferenceError.invalidOption("the scale-mixture weight π is \(pi); it must be in (0, 1)") }
            guard s1 > 0, s2 > 0, s1.isFinite, s2.isFinite else {
                throw InferenceError.invalidOption("the scale-mixture standard deviations are \(s1) and \(s2); both must be > 0 and finite")
            }
        case .logUniform: break
        }
    }

    /// log p(w) and its derivative (log p)′(w).
    public func logDensity(_ w: Double) -> (value: Double, derivative: Double) {
        let halfLog2Pi = 0.5 * Foundation.log(2 * Double.pi)
        switch self {
        case let .gaussian(delta):
            return (0.5 * Foundation.log(delta) - halfLog2Pi - 0.5 * delta * w * w, -delta * w)
        case let .scaleMixture(pi, s1, s2):
            let a = Foundation.log(pi) - Foundation.log(s1) - halfLog2Pi - 0.5 * w * w / (s1 * s1)
            let b = Foundation.log(1 - pi) - Foundation.log(s2) - halfLog2Pi - 0.5 * w * w / (s2 * s2)
            let top = Swift.max(a, b)
            let value = top + Foundation.log(Foundation.exp(a - top) + Foundation.exp(b - top))
            let r1 = Foundation.exp(a - value), r2 = Foundation.exp(b - value)
            return (value, -w * (r1 / (s1 * s1) + r2 / (s2 * s2)))
        case .logUniform:
            // Improper: −log|w| up to a constant (used for nothing but completeness; point weights
            // under this prior get no prior term, see `negativeLogDensity`).
            let magnitude = Swift.max(Swift.abs(w), 1e-30)
            return (-Foundation.log(magnitude), -1 / (w == 0 ? 1e-30 : w))
        }
    }

    /// Σᵢ KL(N(μᵢ, σᵢ²) ‖ p) — exact for `.gaussian` unless `monteCarlo`, else the one-draw
    /// estimate (draws from `rng`) — and, when the gradient buffers are given,
    /// gradient += scale · ∂KL/∂μ and ∂KL/∂σ.
    public func klDivergence(mean: UnsafeBufferPointer<Float>, standardDeviations sigma: UnsafeBufferPointer<Float>,
                             meanGradient: UnsafeMutableBufferPointer<Float>? = nil,
                             sigmaGradient: UnsafeMutableBufferPointer<Float>? = nil, scale: Float = 1,
                             monteCarlo: Bool = false, rng: inout RandomGenerator) -> Double {
        var total = 0.0
        if case let .gaussian(delta) = self, !monteCarlo {
            return Self.gaussianKL(delta: delta, mean: mean, sigma: sigma, meanGradient: meanGradient,
                                   sigmaGradient: sigmaGradient, scale: scale)
        }
        if case .logUniform = self {
            return Self.logUniformKL(mean: mean, sigma: sigma, meanGradient: meanGradient, sigmaGradient: sigmaGradient, scale: scale)
        }
        let halfLog2Pi = 0.5 * Foundation.log(2 * Double.pi)
        for i in mean.indices {
            let epsilon = Double(rng.normalFloat()), s = Double(sigma[i])
            let w = Double(mean[i]) + s * epsilon
            let (logPrior, slope) = logDensity(w)
            total += -Foundation.log(s) - 0.5 * epsilon * epsilon - halfLog2Pi - logPrior
            meanGradient?[i] += scale * Float(-slope)
            sigmaGradient?[i] += scale * Float(-1 / s - slope * epsilon)
        }
        return total
    }

    /// The closed-form Gaussian KL over hundreds of thousands of weights every step (a loop that
    /// vectorises, `FastMath.log`, `FastMath.sum`): Σ ½δ(σ² + μ²) − log σ − ½(log δ + 1).
    static func gaussianKL(delta: Double, mean: UnsafeBufferPointer<Float>, sigma: UnsafeBufferPointer<Float>,
                           meanGradient: UnsafeMutableBufferPointer<Float>?, sigmaGradient: UnsafeMutableBufferPointer<Float>?,
                           scale: Float) -> Double {
        let d = Float(delta), n = mean.count
        guard n > 0, let mu = mean.baseAddress, let s = sigma.baseAddress else { return 0 }
        let total = FastMath.sum(n) { i in 0.5 * d * (s[i] * s[i] + mu[i] * mu[i]) - FastMath.log(s[i]) }
        if let g = meanGradient?.baseAddress { for i in 0..<n { g[i] += scale * d * mu[i] } }
        if let g = sigmaGradient?.baseAddress { for i in 0..<n { g[i] += scale * (d * s[i] - 1 / s[i]) } }
        return total - Double(n) * 0.5 * (Foundation.log(delta) + 1)
    }

    /// Molchanov et al.'s constants for the log-uniform prior's KL fit.
    static let sparseVD = (k1: Float(0.63576), k2: Float(1.87320), k3: Float(1.48695))

    /// log α = log σ² − log(μ² + 10⁻⁸), unclipped.
    @inline(__always) static func logAlpha(mean mu: Float, sigma: Float) -> Float {
        2 * FastMath.log(sigma) - FastMath.log(mu * mu + 1e-8)
    }

    /// The log-uniform prior's approximate KL (see `.logUniform`), value and gradients, in a
    /// loop that vectorises.
    static func logUniformKL(mean: UnsafeBufferPointer<Float>, sigma: UnsafeBufferPointer<Float>,
                             meanGradient: UnsafeMutableBufferPointer<Float>?, sigmaGradient: UnsafeMutableBufferPointer<Float>?,
                             scale: Float) -> Double {
        let n = mean.count
        guard n > 0, let mu = mean.baseAddress, let s = sigma.baseAddress else { return 0 }
        let (k1, k2, k3) = sparseVD
        @inline(__always) func terms(_ i: Int) -> (value: Float, slope: Float, inside: Float) {
            let raw = logAlpha(mean: mu[i], sigma: s[i])
            let logAlpha = Swift.min(Swift.max(raw, -10), 10)
            let inside: Float = raw == logAlpha ? 1 : 0
            let (softplusOfMinus, sigmoidOfMinus) = FastMath.softplusAndSigmoid(-logAlpha)
            let fit = FastMath.softplusAndSigmoid(k2 + k3 * logAlpha).sigmoid
            return (k1 - k1 * fit + 0.5 * softplusOfMinus, -k1 * k3 * fit * (1 - fit) - 0.5 * sigmoidOfMinus, inside)
        }
        // Split over the worker threads for layer-sized blocks (each chunk writes its own indices).
        let chunks = Parallel.ranges(n, parts: n >= 65_536 ? Parallel.workerCount : 1)
        var partials = [Double](repeating: 0, count: chunks.count)
        let g = meanGradient?.baseAddress, gs = sigmaGradient?.baseAddress
        partials.withUnsafeMutableBufferPointer { out in
            Parallel.forEach(chunks.count) { t in
                let lo = chunks[t].lowerBound
                out[t] = FastMath.sum(chunks[t].count) { terms(lo &+ $0).value }
                guard let g, let gs else { return }
                for i in chunks[t] {
                    let (_, slope, inside) = terms(i)
                    let c = scale * slope * inside
                    g[i] += c * (-2 * mu[i] / (mu[i] * mu[i] + 1e-8))
                    gs[i] += c * 2 / s[i]
                }
            }
        }
        return partials.reduce(0, +)
    }

    /// −Σ log p(θᵢ) over point weights, and gradient += scale · ∂/∂θ of it (nothing for the
    /// improper log-uniform prior).
    func negativeLogDensity(_ theta: UnsafeBufferPointer<Float>, gradient: UnsafeMutableBufferPointer<Float>?, scale: Float) -> Double {
        if case .logUniform = self { return 0 }   // improper: point weights get no prior term
        if case let .gaussian(delta) = self {
            let d = Float(delta)
            var squares = 0.0
            for i in theta.indices {
                squares += Double(theta[i] * theta[i])
                gradient?[i] += scale * d * theta[i]
            }
            return 0.5 * delta * squares - Double(theta.count) * 0.5 * Foundation.log(delta / (2 * Double.pi))
        }
        var total = 0.0
        for i in theta.indices {
            let (value, slope) = logDensity(Double(theta[i]))
            total -= value
            gradient?[i] -= scale * Float(slope)
        }
        return total
    }
}
