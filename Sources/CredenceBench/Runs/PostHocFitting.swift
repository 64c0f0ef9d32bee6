import CredenceData
import CredenceInference
import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation

/// Methods fitted after training, on a trained posterior (`credence fit --method`).
public enum PostHocMethod: String, CaseIterable, Codable, Sendable {
    /// Temperature scaling on the run's held-out examples (train with --holdout N).
    case temperature
    /// Laplace approximation around the trained weights (GGN curvature on the training set).
    case laplace
}

/// What `fitPostHoc` produced.
public struct PostHocResult: Codable, Sendable {
    public var method: String
    public var base: String
    public var fitSeconds: Double
    public var temperature: Double?
    /// NLL on the held-out examples before and after fitting.
    public var heldOutNLLBefore: Double?
    public var heldOutNLLAfter: Double?
    public var posterior: String?
    public var evaluation: PosteriorEvaluation
    /// Peak resident memory of the whole command (data, fitting, evaluation), MB.
    public var peakResidentMegabytes = Double(PeakMemory.bytes()) / 1e6
}

/// Fits `method` on top of the posterior (or checkpoint) at `path`, writes the result to
/// `out`, and evaluates it on the test set and OOD sets.
public func fitPostHoc(_ method: PostHocMethod, posteriorAt path: String, out: String?, samples: Int = 32,
                       ood: [OODSource] = [], seed: UInt64 = 0, laplace: Laplace? = nil) throws -> PostHocResult {
    let archive = try PosteriorArchive.load(from: path)
    let base = try loadPosterior(from: archive, path: path)
    let provenance = archive.provenance
    guard let json = provenance["credence.training_options"],
          let options = try? JSONDecoder().decode(TrainingOptions.self, from: Data(json.utf8)) else {
        throw TrainingError.invalidConfiguration("\(path) does not record the run it came from (credence.training_options); fit needs the run's held-out data")
    }
    let (train, holdout, test) = try loadRunData(options)
    var rng = RandomGenerator(seed: seed)
    let start = Date()
    let oodSets = try loadOODInputs(ood, options: options, test: test)
    switch method {
    case .laplace:
        guard let point = base as? PointPosterior else {
            throw TrainingError.invalidConfiguration("Laplace is fitted around one trained network; \(path) holds a \(base.method.rawValue) posterior — pass the MAP checkpoint")
        }
        let method = try laplace ?? Laplace()
        try method.validate(model: point.model)  // illegal combinations fail before any work
        let fit = try fitPosterior(method, model: point.model, parameters: point.parameters, task: point.task, data: train,
                                   epochs: 1, batchSize: 1000, seed: seed, shuffle: false)
        if let out {
            var archive = try fit.posterior.archive()
            archive.provenance = provenance
            try archive.save(to: out)
        }
        let evaluation = try evaluatePosterior(fit.posterior, on: test, ood: oodSets, samples: samples, seed: seed)
        return PostHocResult(method: "laplace", base: base.method.rawValue, fitSeconds: fit.seconds, posterior: out,
                             evaluation: evaluation)
    case .temperature:
        guard let holdout else {
            throw TrainingError.invalidConfiguration("temperature scaling needs held-out data: train with --holdout N (e.g. --holdout 5000) so N training examples are kept out of training")
        }
        let (scaled, fit) = try TemperatureScaledPosterior.fit(base, inputs: holdout.inputs, labels: holdout.labels,
                                                                samples: samples, rng: &rng)
        let seconds = Date().timeIntervalSince(start)
        if let out {
            var archive = try scaled.archive()
            archive.provenance = provenance
            try archive.save(to: out)
        }
        let evaluation = try evaluatePosterior(scaled, on: test, ood: oodSets, samples: samples, seed: seed)
        return PostHocResult(method: method.rawValue, base: base.method.rawValue, fitSeconds: seconds,
                             temperature: fit.temperature, heldOutNLLBefore: fit.negativeLogLikelihoodBefore,
                             heldOutNLLAfter: fit.negativeLogLikelihoodAfter, posterior: out, evaluation: evaluation)
    }
}
