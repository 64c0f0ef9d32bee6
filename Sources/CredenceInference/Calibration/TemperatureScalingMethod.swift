import CredenceData
import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation

/// Temperature scaling as the registry lists it (Guo et al. 2017): T fitted by NLL on the
/// run's held-out examples (`--holdout N`), over any trained posterior's predictive.
/// Archived as the base posterior plus the setting `temperature`.
public struct TemperatureScalingMethod: RegisteredMethod {
    public static let name = "temperature"
    public static let family = MethodFamily.calibration
    public static let phase = MethodPhase.postHoc
    public static let summary = "temperature scaling of the predictive, fitted on held-out data (Guo et al. 2017; needs --holdout N)"
    public static let options: [MethodOption] = []

    public init() {}
    public init(settings: MethodSettings) throws {}

    public func validate(_ context: MethodContext) throws {
        guard context.task.classCount != nil else {
            throw InferenceError.invalidOption("temperature scaling calibrates class probabilities; \(context.options.dataset.rawValue) is a regression set")
        }
        guard context.options.holdout > 0 else {
            throw InferenceError.invalidOption("temperature scaling needs held-out data: keep N training examples out of training (--holdout N, or \"training\": {\"holdout\": N} in a suite; e.g. 5000 for Fashion-MNIST, 200 for two-moons)")
        }
    }

    public var takesAdversarialTraining: Bool { true }

    public func run(_ job: MethodJob) throws -> MethodOutcome {
        let file = try job.network(job.options)
        let base = try loadPosterior(from: file.path)
        let (_, holdout, _) = try loadRunData(job.options)
        guard let holdout else {
            throw TrainingError.invalidConfiguration("temperature scaling needs held-out data: train with --holdout N (e.g. --holdout 5000) so N training examples are kept out of training")
        }
        let start = Date()
        var rng = RandomGenerator(seed: job.seed)
        let (scaled, fit) = try TemperatureScaledPosterior.fit(base, inputs: holdout.inputs, labels: holdout.labels,
                                                                samples: job.samples, rng: &rng)
        let seconds = Date().timeIntervalSince(start)
        return MethodOutcome(posterior: scaled, seconds: file.seconds + seconds, posteriorSeconds: seconds,
                             details: ["temperature": fit.temperature, "heldOutNLLBefore": fit.negativeLogLikelihoodBefore,
                                       "heldOutNLLAfter": fit.negativeLogLikelihoodAfter])
    }

    /// Temperature-scaled archives carry their base's method; `loadPosterior` re-applies T.
    public static func restore(_ archive: PosteriorArchive) throws -> any Posterior {
        try loadPosterior(from: archive, path: "posterior")
    }
}
