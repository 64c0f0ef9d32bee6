import CredenceNN
import CredenceTensor
import Foundation

/// Cyclical SGLD as the registry lists it (Zhang et al. 2020): from the trained network, M
/// cosine cycles of the step size (`SGMCMCSchedule.cyclical`); in each, an exploration stage
/// of plain SGD with large steps (the first fraction β) and a sampling stage of Langevin steps
/// that keeps every `thinning`-th iterate — samples from several modes at the cost of one chain.
/// Resumable (θ and the step count are saved; the step size is a function of the step).
public struct CSGLDMethod: SGMCMCSamplerMethod {
    public static let name = "csgld"
    public static let family = MethodFamily.mcmc
    public static let phase = MethodPhase.trained
    public static let summary = "cyclical SGLD: cosine step-size cycles, SGD exploration then Langevin sampling (Zhang et al. 2020)"
    public static let options = SGMCMCOptions.target(learningRate: "0.1",
                                                     help: "initial step of each cycle on the mean-loss scale: ε₀ = learningRate / N")
        + SGMCMCOptions.cyclicalSchedule
    public static let quickSettings = ["cycles": "2", "cycleEpochs": "1", "explorationFraction": "0.5", "thinning": "1"]

    public var chain: SGMCMCChainSettings

    public init(settings: MethodSettings) throws { chain = try SGMCMCChainSettings(settings: settings, cyclical: true) }

    public func validate(_ context: MethodContext) throws { try chain.validate(Self.name, context) }

    public static let chainSeedSalt: UInt64 = 0xC5_C1D
    public func dynamics(for target: LogPosterior) -> any SGMCMCDynamics { LangevinDynamics() }

}

/// Cyclical SGHMC as the registry lists it (Zhang et al. 2020): `csgld`'s cosine cycles with
/// SGHMC's dynamics (`SGHMCDynamics`) — SGD with momentum in the exploration stage, SGHMC in
/// the sampling stage; the momentum carries over from stage to stage and cycle to cycle, as in
/// the paper's code. Resumable (θ, the momentum and the step count are saved).
public struct CSGHMCMethod: SGMCMCSamplerMethod {
    public static let name = "csghmc"
    public static let family = MethodFamily.mcmc
    public static let phase = MethodPhase.trained
    public static let summary = "cyclical SGHMC: cosine step-size cycles, momentum-SGD exploration then SGHMC sampling (Zhang et al. 2020)"
    public static let options = SGMCMCOptions.target(learningRate: "0.01",
                                                     help: "initial learning rate of each cycle on the mean-loss scale: η₀ = learningRate / N")
        + SGMCMCOptions.cyclicalSchedule + SGHMCMethod.dynamicsOptions
    public static let quickSettings = ["cycles": "2", "cycleEpochs": "1", "explorationFraction": "0.5", "thinning": "1"]

    public var chain: SGMCMCChainSettings
    public var friction: SGHMCFriction

    public init(settings: MethodSettings) throws {
        chain = try SGMCMCChainSettings(settings: settings, cyclical: true)
        friction = try SGHMCFriction(settings: settings)
    }

    public func validate(_ context: MethodContext) throws {
        try chain.validate(Self.name, context)
        try friction.validate(Self.name, chain: chain, context)
    }

    public static let chainSeedSalt: UInt64 = 0xC5_4A3C
    public func dynamics(for target: LogPosterior) -> any SGMCMCDynamics { friction.dynamics(target) }

}
