import CredenceData
import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation

/// Stochastic gradient Langevin dynamics as the registry lists it (Welling & Teh 2011):
/// train the network (the chain's start), then run a Langevin chain on the tempered
/// log-posterior with mini-batch gradients, discard `burnInEpochs`, and keep every
/// `thinning`-th iterate of the next `sampleEpochs` as an equally weighted sample. The chain
/// resumes after a kill (`job.phaseCheckpoint`); MC-ensembles of chains are
/// `ensemble member=sgld`.
public struct SGLDMethod: SGMCMCSamplerMethod {
    public static let name = "sgld"
    public static let family = MethodFamily.mcmc
    public static let phase = MethodPhase.trained
    public static let summary = "stochastic gradient Langevin dynamics from the trained network (Welling & Teh 2011)"
    public static let options = SGMCMCOptions.target(learningRate: "0.01", help: "step on the mean-loss scale: the Langevin step ε is learningRate / N")
        + SGMCMCOptions.constantSchedule
    public static let quickSettings = ["sampleEpochs": "2", "thinning": "2"]

    public var chain: SGMCMCChainSettings

    public init(settings: MethodSettings) throws { chain = try SGMCMCChainSettings(settings: settings, cyclical: false) }

    public func validate(_ context: MethodContext) throws { try chain.validate(Self.name, context) }

    public static let chainSeedSalt: UInt64 = 0x5C1D
    public func dynamics(for target: LogPosterior) -> any SGMCMCDynamics { LangevinDynamics() }

}

/// The Langevin dynamics: θ ← θ + ε·∇log p̂_T(θ | D) + √(2ε)·ξ, ξ ~ N(0, I), with the
/// mini-batch estimate of the tempered log-posterior's gradient (`LogPosterior.logDensity`:
/// N × the batch mean, plus the prior, over T); without noise, a step of SGD. Its stationary
/// law tends to p_T(θ | D) as ε → 0; for a Gaussian target of precision P and exact gradients
/// it is Gaussian with covariance (P(I − εP/2))⁻¹ — the discretisation bias `step` is tested
/// against.
public struct LangevinDynamics: SGMCMCDynamics {
    public static let displayName = "SGLD"
    public init() {}
    public func makeBuffers(parameterCount: Int) -> NoBuffers { NoBuffers() }

    public func step(_ theta: inout Tensor, _ buffers: inout NoBuffers, gradient: ScaledGradient, stepSize: Double, noise: Bool,
                     rng: inout RandomGenerator) {
        let epsilon = Float(stepSize), scale = noise ? Float((2 * stepSize).squareRoot()) : 0
        ParameterChunks.update(&theta, gradient: gradient, noise: noise, rng: &rng) { _, count, t, g, z in
            for i in 0..<count { t[i] += epsilon * g[i] + scale * z[i] }
        }
    }
}

/// The SGLD chain: Langevin dynamics, constant step size, burn-in and thinning.
public typealias SGLD = SGMCMC<LangevinDynamics>

extension SGMCMC where Dynamics == LangevinDynamics {
    public init(target: LogPosterior, stepSize: Double, burnInSteps: Int, thinning: Int) {
        self.init(target: target, dynamics: LangevinDynamics(),
                  schedule: .constant(stepSize: stepSize, burnInSteps: burnInSteps, thinning: thinning), method: SGLDMethod.name)
    }

    /// θ ← θ + ε·g + √(2ε)·ξ for an explicit gradient g of the log-density (the dynamics' step
    /// with noise).
    public static func step(_ theta: inout Tensor, gradient: Tensor, stepSize: Double, rng: inout RandomGenerator) {
        var none = NoBuffers()
        LangevinDynamics().step(&theta, &none, gradient: gradient, stepSize: stepSize, noise: true, rng: &rng)
    }
}
