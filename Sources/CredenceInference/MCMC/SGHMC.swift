import CredenceNN
import CredenceTensor
import Foundation

/// Stochastic gradient Hamiltonian Monte Carlo as the registry lists it (Chen et al. 2014), in
/// the "learning rate and momentum" form of SGD with momentum: train the network (the chain's
/// start), then run the chain from it with a constant step, burn-in and thinning as `sgld`
/// does; resumable (θ, the momentum and the step count are saved).
public struct SGHMCMethod: SGMCMCSamplerMethod {
    public static let name = "sghmc"
    public static let family = MethodFamily.mcmc
    public static let phase = MethodPhase.trained
    public static let summary = "stochastic gradient Hamiltonian Monte Carlo with friction from the trained network (Chen et al. 2014)"
    public static let options = SGMCMCOptions.target(learningRate: "0.001",
                                                     help: "SGD-with-momentum's learning rate on the mean-loss scale: η = learningRate / N")
        + SGMCMCOptions.constantSchedule + SGHMCMethod.dynamicsOptions
    /// The friction and the gradient-noise estimate (shared with `csghmc`).
    static let dynamicsOptions = [
        MethodOption("friction", .real(above: 0, below: nil), default: "0.1", help: "α = 1 − momentum, the friction per step, in (0, 1] (1: no momentum, SGLD)"),
        MethodOption("gradientNoise", .nonNegativeReal, default: "0",
                     help: "V̂, per-coordinate variance of the mini-batch gradient of the mean loss; the injected noise shrinks by its share (Chen et al.'s B̂); 0 = ignore it"),
    ]
    public static let quickSettings = ["sampleEpochs": "2", "thinning": "2"]

    public var chain: SGMCMCChainSettings
    public var friction: SGHMCFriction

    public init(settings: MethodSettings) throws {
        chain = try SGMCMCChainSettings(settings: settings, cyclical: false)
        friction = try SGHMCFriction(settings: settings)
    }

    public func validate(_ context: MethodContext) throws {
        try chain.validate(Self.name, context)
        try friction.validate(Self.name, chain: chain, context)
    }

    public static let chainSeedSalt: UInt64 = 0x5C_4A3C
    public func dynamics(for target: LogPosterior) -> any SGMCMCDynamics { friction.dynamics(target) }

}

/// SGHMC's own settings, shared by `sghmc` and `csghmc`: the friction α and the gradient-noise
/// estimate V̂ (`SGHMCMethod.dynamicsOptions`).
public struct SGHMCFriction: Sendable {
    public var friction: Double
    public var gradientNoise: Double

    init(settings: MethodSettings) throws {
        friction = try settings.required("friction")
        gradientNoise = try settings.required("gradientNoise")
        guard friction <= 1 else {
            throw InferenceError.invalidOption("\(settings.method) friction α = 1 − momentum must be in (0, 1], got \(friction)")
        }
    }

    /// β̂ = ηV/2 ≤ α at the largest step: else the gradient noise alone exceeds the friction's.
    func validate(_ name: String, chain: SGMCMCChainSettings, _ context: MethodContext) throws {
        let n = Double(Swift.max(context.trainCount - context.options.holdout, 1))
        let beta = chain.learningRate * n * gradientNoise / (2 * chain.temperature * chain.temperature)
        guard beta <= friction else {
            throw InferenceError.invalidOption("\(name): the gradient noise's share β̂ = learningRate·N·V̂/(2T²) = \(beta) exceeds the friction \(friction); lower learningRate or gradientNoise")
        }
    }

    /// The dynamics for `target`: V̂ on the mean-loss scale is (N/T)²·V̂ on the log-density's.
    func dynamics(_ target: LogPosterior) -> SGHMCDynamics {
        let scale = Double(target.datasetSize) / target.temperature
        return SGHMCDynamics(friction: friction, gradientNoiseVariance: gradientNoise * scale * scale)
    }
}

/// SGHMC (Chen et al. 2014, eq. 15) as SGD with momentum: with g = ∇log p̂_T(θ | D) the
/// mini-batch gradient of the tempered log-posterior, step size η (`stepSize`) and friction α,
///
///     v ← (1 − α)·v + η·g + √(2η(α − β̂))·ξ,   ξ ~ N(0, I)
///     θ ← θ + v,
///
/// the paper's Δθ = v, Δv = −η∇Ũ − αv + N(0, 2(α − β̂)η) with η = ε²M⁻¹, α = εM⁻¹C and
/// β̂ = εM⁻¹B̂, B̂ = εV̂/2 (V̂: the covariance of the stochastic gradient's noise, here diagonal
/// and constant, `gradientNoiseVariance`, on g's scale): β̂ = ηV̂/2, the variance η²V̂ the
/// mini-batch gradient already injects into v, taken off the added noise. β̂ = 0 (the common
/// choice, as in Zhang et al.'s and URSABench's code) over-disperses by that share. With T = 1,
/// learning rate ℓ on the mean loss (η = ℓ/N) and β̂ = 0 this is the cSGHMC code's update
/// v ← (1−α)v − ℓ∇(mean loss + wd) + N(0, 2ℓαT/N) — ours divides the gradient by T instead of
/// multiplying the noise by it, the same chain for ℓ scaled by T. Without noise the step is SGD
/// with momentum 1 − α. For a Gaussian target and exact gradients the iterates (θ, v) form a
/// linear Gaussian recursion whose stationary covariance (the discretised one, → (P⁻¹, ηI) as
/// η → 0 at fixed α) the tests compute exactly.
public struct SGHMCDynamics: SGMCMCDynamics {
    public static let displayName = "SGHMC"
    /// α = 1 − momentum, in (0, 1].
    public var friction: Double
    /// V̂ on the scale of g (the log-density's gradient); 0 ignores the gradient noise.
    public var gradientNoiseVariance: Double

    public init(friction: Double, gradientNoiseVariance: Double = 0) {
        self.friction = friction
        self.gradientNoiseVariance = gradientNoiseVariance
    }

    public func makeBuffers(parameterCount: Int) -> VectorBuffer { VectorBuffer(name: "sghmc.momentum", parameterCount: parameterCount) }

    public func step(_ theta: inout Tensor, _ buffers: inout VectorBuffer, gradient: ScaledGradient, stepSize: Double, noise: Bool,
                     rng: inout RandomGenerator) {
        let keep = Float(1 - friction), eta = Float(stepSize)
        let share = Swift.max(friction - stepSize * gradientNoiseVariance / 2, 0)
        let scale = noise ? Float((2 * stepSize * share).squareRoot()) : 0
        buffers.values.withUnsafeMutableBufferPointer { momentum in
            nonisolated(unsafe) let momentum = momentum
            ParameterChunks.update(&theta, gradient: gradient, noise: noise, rng: &rng) { offset, count, t, g, z in
                let v = momentum.baseAddress! + offset
                for i in 0..<count {
                    v[i] = keep * v[i] + eta * g[i] + scale * z[i]
                    t[i] += v[i]
                }
            }
        }
    }
}
