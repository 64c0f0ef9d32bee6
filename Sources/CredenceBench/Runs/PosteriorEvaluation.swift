import CredenceData
import CredenceInference
import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation

/// OOD detection figures for one OOD set (positives = OOD inputs).
public struct OODEvaluation: Codable, Sendable {
    public var set: String
    public var examples: Int
    /// AUROC / AUPR / FPR@95 % TPR with predictive entropy as the score.
    public var aurocEntropy: Double
    public var auprEntropy: Double
    public var fpr95Entropy: Double
    /// AUROC with 1 − max probability as the score.
    public var aurocMaxProbability: Double
    /// AUROC with mutual information (epistemic) as the score; nil for S = 1.
    public var aurocMutualInformation: Double?
}

/// The standard table row for one posterior on one test set.
public struct PosteriorEvaluation: Codable, Sendable {
    public var method: String
    public var dataset: String
    public var examples: Int
    /// Monte-Carlo samples behind each prediction (members for an ensemble, 1 for a point).
    public var samples: Int
    public var accuracy: Double?
    public var negativeLogLikelihood: Double
    public var brierScore: Double?
    /// Expected / maximum calibration error, 15 equal-width bins on top-1 confidence.
    public var expectedCalibrationError: Double?
    public var maximumCalibrationError: Double?
    public var rootMeanSquaredError: Double?
    public var ood: [OODEvaluation]
    /// Wall time of the predictive per 1,000 test inputs.
    public var predictionSecondsPer1000: Double
    public var storedFloats: Int
}

/// The posterior's predictive on `inputs`, and its wall time per 1,000 inputs.
func timedPredictive(_ posterior: any Posterior, _ inputs: Tensor, samples: Int,
                     rng: inout RandomGenerator) throws -> (predictive: Predictive, secondsPer1000: Double) {
    let start = Date()
    let p = try posterior.predictive(inputs, samples: samples, rng: &rng)
    return (p, Date().timeIntervalSince(start) * 1000 / Double(Swift.max(inputs.shape.first ?? 0, 1)))
}

/// Scores a posterior on a test set and, for classification, against OOD input sets.
public func evaluatePosterior(_ posterior: any Posterior, on test: InMemoryDataset, ood: [(name: String, inputs: Tensor)] = [],
                              samples: Int, seed: UInt64 = 0) throws -> PosteriorEvaluation {
    var rng = RandomGenerator(seed: seed)
    let (p, secondsPer1000) = try timedPredictive(posterior, test.inputs, samples: samples, rng: &rng)
    var result = PosteriorEvaluation(
        method: posterior.method, dataset: test.name, examples: test.count, samples: p.sampleCount,
        negativeLogLikelihood: 0, ood: [], predictionSecondsPer1000: secondsPer1000,
        storedFloats: posterior.storedFloatCount)
    switch p.task {
    case .classification:
        result.accuracy = try accuracy(p, labels: test.labels)
        result.negativeLogLikelihood = try negativeLogLikelihood(p, labels: test.labels)
        result.brierScore = try brierScore(p, labels: test.labels)
        result.expectedCalibrationError = try expectedCalibrationError(p, labels: test.labels)
        result.maximumCalibrationError = try maximumCalibrationError(p, labels: test.labels)
        for (name, inputs) in ood {
            let q = try posterior.predictive(inputs, samples: samples, rng: &rng)
            let scores = try oodScores(inDistribution: p, outOfDistribution: q)
            let entropy = scores[UncertaintyScore.entropy.rawValue]!, maxProb = scores[UncertaintyScore.maxProbability.rawValue]!
            result.ood.append(OODEvaluation(set: name, examples: q.exampleCount, aurocEntropy: entropy.auroc,
                                            auprEntropy: entropy.averagePrecision, fpr95Entropy: entropy.falsePositiveRateAt95,
                                            aurocMaxProbability: maxProb.auroc,
                                            aurocMutualInformation: scores[UncertaintyScore.mutualInformation.rawValue]?.auroc))
        }
    case .regression:
        let (original, targets) = try inOriginalUnits(p, of: test)
        result.rootMeanSquaredError = try rootMeanSquaredError(original, targets: targets)
        result.negativeLogLikelihood = try mixtureNegativeLogLikelihood(original, targets: targets)
    }
    return result
}

/// Loads a posterior file (or plain checkpoint) and evaluates it on a data set's test
/// split (by default the data set recorded in the file, with the classes it was trained
/// on) and the given OOD sources.
public func evaluatePosteriorFile(at path: String, dataset: DatasetName?, ood: [OODSource], samples: Int,
                                  dataDirectory: String? = nil, seed: UInt64 = 0) throws -> PosteriorEvaluation {
    let archive = try PosteriorArchive.load(from: path)
    let posterior = try loadPosterior(from: archive, path: path)
    let (test, options) = try recordedTestSet(of: path, metadata: archive.provenance, dataset: dataset,
                                              dataDirectory: dataDirectory, inputShape: posterior.model.spec.inputShape)
    return try evaluatePosterior(posterior, on: test, ood: try loadOODInputs(ood, options: options, test: test),
                                 samples: samples, seed: seed)
}

/// The test split a saved model or posterior belongs to: `dataset`, or the data set its
/// metadata records, drawn with the recorded seed (synthetic test sets depend on it) and
/// without the classes its training held out; with the run's options as far as recorded.
/// Throws when neither names a data set, or when the model does not fit the data.
func recordedTestSet(of path: String, metadata: [String: String], dataset: DatasetName?, dataDirectory: String?,
                     inputShape: [Int]) throws -> (test: InMemoryDataset, options: TrainingOptions) {
    let recorded = metadata["credence.training_options"].flatMap { try? JSONDecoder().decode(TrainingOptions.self, from: Data($0.utf8)) }
    guard let name = dataset ?? metadata["credence.dataset"].flatMap(DatasetName.init(rawValue:)) else {
        throw TrainingError.invalidConfiguration("\(path) does not say which data set it belongs to; pass --dataset")
    }
    var options = recorded ?? TrainingOptions()
    if name != options.dataset { options.heldOutClasses = nil }  // another data set: its own classes
    options.dataset = name
    options.dataDirectory = dataDirectory
    options.trainLimit = nil
    options.seed = metadata["credence.seed"].flatMap(UInt64.init) ?? options.seed
    let (_, test) = try loadDataset(name, options: options.dataOptions)
    guard inputShape == test.inputShape else {
        throw ModelError.inputShape(layer: "\(path)", got: test.inputShape,
                                    expected: "\(inputShape) — it was trained on other data")
    }
    return (test, options)
}

/// Loads a checkpoint and evaluates it on the test split of a data set (by default the
/// one it was trained on, read from its metadata).
public func evaluateCheckpoint(at path: String, dataset: DatasetName?, dataDirectory: String? = nil) throws -> EvaluationSummary {
    let checkpoint = try Checkpoint.load(from: path)
    let (test, _) = try recordedTestSet(of: path, metadata: checkpoint.metadata, dataset: dataset,
                                        dataDirectory: dataDirectory, inputShape: checkpoint.spec.inputShape)
    return try evaluate(model: Sequential(checkpoint.spec), parameters: checkpoint.parameters, on: test)
}
