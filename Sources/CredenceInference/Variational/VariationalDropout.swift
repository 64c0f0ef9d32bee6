import CredenceData
import CredenceMetrics
import CredenceNN
import CredenceTensor

/// Sparse variational dropout (Molchanov, Ashukha & Vetrov 2017) as the registry lists it:
/// every dense and convolutional weight w = μ + σε with its own dropout rate α = σ²/μ²,
/// learned under the log-uniform prior (`VariationalPrior.logUniform`) with the additive
/// reparameterization (σ a parameter of its own, not α·μ²) and local reparameterization. The
/// KL pushes the weights that do not help the likelihood to large α, where they carry no
/// signal: `credence compress` prunes them (log α > 3 ⇔ |μ|/σ < e^−1.5) and writes the
/// pruned network as an ordinary checkpoint. By default it starts from the trained network
/// (MOPED, σ = 0.1·|w|, i.e. log α = −4.6 everywhere) for `viEpochs` epochs.
public struct VariationalDropoutMethod: RegisteredMethod {
    public static let name = "variational-dropout"
    public static let family = MethodFamily.variational
    public static let phase = MethodPhase.trained
    public static let summary = "sparse variational dropout with learned per-weight rates (Molchanov et al. 2017); prune with credence compress"
    public static let options = [
        MethodOption.choice("start", VariationalStart.self, default: .moped, help: "from the trained network (MOPED) or from scratch"),
        MethodOption("initialStandardDeviation", .real(above: 0, below: nil), default: "0.001", help: "scratch start: σ of every weight"),
    ] + VariationalSettings.trainingOptions
    public static let quickSettings = ["viEpochs": "2"]

    public var settings: VariationalSettings

    public init(settings: MethodSettings) throws {
        self.settings = try VariationalSettings(settings: settings, start: try settings.choice("start") ?? .moped, prior: .logUniform)
    }

    public func validate(_ context: MethodContext) throws { try settings.validate(context, bayesianLayers: .all) }

    public func run(_ job: MethodJob) throws -> MethodOutcome {
        try settings.run(job, name: Self.name, bayesianLayers: .all, estimator: .localReparameterization, fixPointWeights: false)
    }

    public static func restore(_ archive: PosteriorArchive) throws -> any Posterior { try MeanFieldPosterior(archive: archive) }
}
