import CredenceNN
import CredenceTensor
import Foundation

/// Preconditioned SGLD as the registry lists it (Li et al. 2016): SGLD with RMSprop's diagonal
/// preconditioner, so flat and steep directions of a network's posterior move at comparable
/// speeds. Train the network (the chain's start), then run the chain from it with a constant
/// step, burn-in and thinning as `sgld` does; resumable (θ, V and the step count are saved).
public struct PSGLDMethod: SGMCMCSamplerMethod {
    public static let name = "psgld"
    public static let family = MethodFamily.mcmc
    public static let phase = MethodPhase.trained
    public static let summary = "SGLD preconditioned by RMSprop from the trained network (Li et al. 2016)"
    public static let options = SGMCMCOptions.target(learningRate: "0.001",
                                                     help: "RMSprop's learning rate on the mean-loss scale: the step ε is learningRate / N")
        + SGMCMCOptions.constantSchedule + [
            MethodOption("decay", .real(above: 0, below: 1), default: "0.99", help: "α, the decay of the running mean V of squared gradients"),
            MethodOption("damping", .real(above: 0, below: nil), default: "1e-05",
                         help: "λ in G = 1/(λ + √V), on the mean-loss gradient's scale (bounds the preconditioner by 1/λ)"),
        ]
    public static let quickSettings = ["sampleEpochs": "2", "thinning": "2"]

    public var chain: SGMCMCChainSettings
    public var decay = 0.99, damping = 1e-5

    public init(settings: MethodSettings) throws {
        chain = try SGMCMCChainSettings(settings: settings, cyclical: false)
        decay = try settings.required("decay")
        damping = try settings.required("damping")
    }

    public func validate(_ context: MethodContext) throws { try chain.validate(Self.name, context) }

    public static let chainSeedSalt: UInt64 = 0x95_C1D
    public func dynamics(for target: LogPosterior) -> any SGMCMCDynamics {
        PreconditionedLangevinDynamics(decay: decay, damping: damping, gradientScale: target.temperature / Double(target.datasetSize))
    }

}

/// Langevin dynamics with RMSprop's diagonal preconditioner (Li et al. 2016, Algorithm 1): with
/// g = ∇log p̂_T(θ | D) and ĝ = s·g its value on the mean-loss scale (s = T/N, `gradientScale`),
///
///     V ← αV + (1 − α)·ĝ⊙ĝ,   G = 1 ⊘ (λ + √V),
///     θ ← θ + ε·G⊙g + √(2ε·G)⊙ξ,   ξ ~ N(0, I)
///
/// (the paper writes ε/2 and N(0, εG); this is the same chain with ε doubled, as SGLD here).
/// V starts at 0 and is updated before G is formed, as RMSprop does. With ε = learningRate / N
/// the drift is exactly an RMSprop step of learningRate / T on the mean loss.
///
/// The paper's full drift has a third term, ε·Γ(θ) with Γᵢ = ∂Gᵢ/∂θᵢ, which keeps p_T
/// stationary when G depends on θ. Like the paper's experiments (and every implementation we
/// know of), this drops it: Γ needs second derivatives, and with α near 1 V changes slowly, so
/// Γ is small. What that implies: the chain samples p_T only up to a bias that does not vanish
/// with ε alone — it is small when V averages the squared gradient over many uncorrelated
/// iterates (α → 1, or mini-batch noise dominating ĝ²), and grows when V follows the current
/// θ (α small, or steps so small that θ barely moves in 1/(1 − α) steps); Li et al. discuss
/// this approximation and its bias. Without noise the step is RMSprop.
public struct PreconditionedLangevinDynamics: SGMCMCDynamics {
    public static let displayName = "pSGLD"
    /// α.
    public var decay: Double
    /// λ.
    public var damping: Double
    /// s, so that ĝ = s·g is on the scale λ is given on (T/N: the mean loss).
    public var gradientScale: Double

    public init(decay: Double, damping: Double, gradientScale: Double) {
        self.decay = decay
        self.damping = damping
        self.gradientScale = gradientScale
    }

    public func makeBuffers(parameterCount: Int) -> VectorBuffer { VectorBuffer(name: "psgld.squareAverage", parameterCount: parameterCount) }

    public func step(_ theta: inout Tensor, _ buffers: inout VectorBuffer, gradient: ScaledGradient, stepSize: Double, noise: Bool,
                     rng: inout RandomGenerator) {
        let alpha = Float(decay), lambda = Float(damping), s = Float(gradientScale), epsilon = Float(stepSize)
        // g formed and ξ drawn chunk by chunk on the worker threads, then the chunk's update
        // (`FastMath.preconditionedLangevinUpdate`: AVX2 + FMA where the CPU has it).
        buffers.values.withUnsafeMutableBufferPointer { squareAverage in
            nonisolated(unsafe) let squareAverage = squareAverage
            ParameterChunks.update(&theta, gradient: gradient, noise: noise, rng: &rng) { offset, count, t, g, z in
                FastMath.preconditionedLangevinUpdate(theta: t, squareAverage: squareAverage.baseAddress! + offset, gradient: g, noise: z,
                                                      count: count, decay: alpha, damping: lambda, gradientScale: s, stepSize: epsilon)
            }
        }
    }
}
