import CredenceData
import CredenceInference
import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation

/// The accuracy of a posterior's network as more and more of its weights are pruned
/// (`WeightPruning`: signal-to-noise for mean-field posteriors, magnitude for one network),
/// each pruned network evaluated deterministically on the test set — `credence compress`.
public struct CompressionReport: Codable, Sendable {
    public struct Row: Codable, Sendable {
        public var fraction: Double
        public var prunedWeights: Int
        public var accuracy: Double
        public var negativeLogLikelihood: Double
        public var expectedCalibrationError: Double
    }

    public var method: String
    public var dataset: String
    /// "signal-to-noise" or "magnitude".
    public var score: String
    public var weights: Int
    /// Fraction of ranked weights with log α = −2 log SNR above 3 (mean-field posteriors only):
    /// what Molchanov et al. prune.
    public var fractionWithLogAlphaAbove3: Double?
    public var rows: [Row]
    /// The pruned checkpoint written, if any, and its fraction.
    public var written: String?
    public var writtenFraction: Double?
}

/// Prunes the posterior in `path` at each of `fractions` and evaluates the pruned network on
/// its recorded test set; with `out`, writes the network pruned at `writeFraction` as an
/// ordinary checkpoint (its pruned weights exactly zero; the run's metadata kept).
///
/// `score` `.fisher` ranks by the diagonal Fisher information of the mean network on the first
/// `fisherExamples` examples of the run's training data; by default a mean-field posterior is
/// ranked by signal-to-noise and one network by magnitude.
public func compressPosteriorFile(at path: String, fractions: [Double], score: PruningScore? = nil, fisherExamples: Int = 10_000,
                                  dataset: DatasetName? = nil, dataDirectory: String? = nil,
                                  out: String? = nil, writeFraction: Double? = nil) throws -> CompressionReport {
    for f in fractions + [writeFraction].compactMap({ $0 }) where !(f >= 0 && f <= 1) {
        throw TrainingError.invalidConfiguration("pruning fractions must be in [0, 1], got \(f)")
    }
    guard (out == nil) == (writeFraction == nil) else {
        throw TrainingError.invalidConfiguration("writing a pruned network needs both the file (--out) and the fraction to prune (--fraction)")
    }
    let archive = try PosteriorArchive.load(from: path)
    let posterior = try loadPosterior(from: archive, path: path)
    let (test, options) = try recordedTestSet(of: path, metadata: archive.provenance, dataset: dataset, dataDirectory: dataDirectory,
                                              inputShape: posterior.model.spec.inputShape)
    let pruning: WeightPruning
    switch score {
    case .fisher?:
        guard fisherExamples >= 1 else { throw TrainingError.invalidConfiguration("Fisher pruning needs ≥ 1 training example, got \(fisherExamples)") }
        let (train, _, _) = try loadRunData(options)
        pruning = try WeightPruning(posterior, fisherOn: train.prefix(fisherExamples))
    case nil:
        pruning = try WeightPruning(posterior)
    case let chosen?:
        pruning = try WeightPruning(posterior)
        guard pruning.score == chosen else {
            throw TrainingError.invalidConfiguration("a \(posterior.method) posterior is ranked by \(pruning.score.rawValue), not \(chosen.rawValue) (or use fisher)")
        }
    }
    guard case .classification = test.task else {
        throw TrainingError.invalidConfiguration("compress reports classification accuracy; \(test.name) is a regression set")
    }
    var report = CompressionReport(method: posterior.method, dataset: test.name, score: pruning.score.rawValue,
                                   weights: pruning.ranking.count,
                                   fractionWithLogAlphaAbove3: pruning.score == .signalToNoise ? pruning.fraction(below: Float(Foundation.exp(-1.5))) : nil,
                                   rows: [])
    for fraction in fractions {
        let network = pruning.pruned(fraction: fraction)
        let predictive = try Predictive(logits: try network.model.predictBatched(test.inputs, parameters: network.parameters))
        report.rows.append(.init(fraction: network.fraction, prunedWeights: network.prunedCount,
                                 accuracy: try accuracy(predictive, labels: test.labels),
                                 negativeLogLikelihood: try negativeLogLikelihood(predictive, labels: test.labels),
                                 expectedCalibrationError: try expectedCalibrationError(predictive, labels: test.labels)))
    }
    if let out, let writeFraction {
        let network = pruning.pruned(fraction: writeFraction)
        var metadata = archive.provenance.filter { $0.key.hasPrefix("credence.") && $0.key != "credence.optimizer_state" }
        metadata["credence.pruned_fraction"] = String(network.fraction)
        metadata["credence.pruned_from"] = posterior.method
        try Checkpoint(spec: network.model.spec, parameters: network.parameters, buffers: network.model.bufferValues,
                       metadata: metadata).save(to: out)
        (report.written, report.writtenFraction) = (out, network.fraction)
    }
    return report
}

