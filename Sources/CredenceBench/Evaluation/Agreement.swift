import CredenceData
import CredenceInference
import CredenceMetrics
import CredenceTensor
import Foundation

/// One posterior set against a reference posterior (HMC's) on the reference's test set: for
/// classifiers accuracy, NLL, top-1 agreement and total variation; for regression RMSE, NLL and
/// the mean 1-Wasserstein distance between the predictives, all in the targets' units.
public struct AgreementRow: Codable, Sendable {
    public var method: String
    public var path: String
    /// Classification only.
    public var accuracy: Double?
    /// Regression only.
    public var rootMeanSquaredError: Double?
    /// Classification: the mean NLL of the labels; regression: the Gaussian NLL of the
    /// moment-matched predictive, as the benchmark reports it.
    public var negativeLogLikelihood: Double
    /// Classification only.
    public var agreement: PredictiveAgreement?
    /// Regression only.
    public var regressionAgreement: RegressionAgreement?
}

/// The agreement table of Izmailov et al. (2021): each posterior's top-1 agreement with the
/// reference's predictive and the mean total variation between them, with accuracy and NLL —
/// or, for regression, the mean W₁ between the predictives (`RegressionAgreement`, the
/// NeurIPS 2021 competition's score) with RMSE and NLL, in the targets' own units — on the
/// first `points` examples of the test set the reference was trained for (its own row first:
/// agreement 1, TV 0, W₁ 0). `onStage` hears which posterior is being scored (a reference of
/// tens of thousands of draws takes a minute).
public func agreementWithReference(_ referencePath: String, posteriors paths: [String], points: Int?, samples: Int,
                                   dataDirectory: String? = nil, seed: UInt64 = 0,
                                   onStage: (String) -> Void = { _ in }) throws -> [AgreementRow] {
    let archive = try PosteriorArchive.load(from: referencePath)
    let reference = try loadPosterior(from: archive, path: referencePath)
    var test = try recordedTestSet(of: referencePath, metadata: archive.provenance, dataset: nil, dataDirectory: dataDirectory,
                                   inputShape: reference.model.spec.inputShape).test
    if let points {
        guard points >= 1 else { throw InferenceError.invalidOption("--points must be ≥ 1, got \(points)") }
        test = test.subset(Array(0..<Swift.min(points, test.count)))
    }
    func predict(_ posterior: any Posterior, path: String) throws -> Predictive {
        guard posterior.model.spec.inputShape == reference.model.spec.inputShape, posterior.task == reference.task else {
            throw InferenceError.invalidOption("\(path) was trained on other data than the reference \(referencePath) (its inputs \(posterior.model.spec.inputShape), \(posterior.task.rawValue); the reference's \(reference.model.spec.inputShape), \(reference.task.rawValue))")
        }
        var rng = RandomGenerator(seed: seed)
        let p = try posterior.predictive(test.inputs, samples: samples, rng: &rng)
        return reference.task == .regression ? try inOriginalUnits(p, of: test).predictive : p
    }
    let referenceSamples = reference.sampleCount(requested: samples)
    onStage("scoring the reference \(referencePath): \(referenceSamples) sample\(referenceSamples == 1 ? "" : "s") on \(test.count) test inputs")
    let referencePredictive = try predict(reference, path: referencePath)
    func row(_ predictive: Predictive, method: String, path: String) throws -> AgreementRow {
        switch reference.task {
        case .classification:
            return AgreementRow(method: method, path: path, accuracy: try accuracy(predictive, labels: test.labels),
                                negativeLogLikelihood: try negativeLogLikelihood(predictive, labels: test.labels),
                                agreement: try PredictiveAgreement(predictive, reference: referencePredictive))
        case .regression:
            guard let targets = test.originalTargets else {
                throw InferenceError.invalidOption("the test set of \(referencePath) has no regression targets")
            }
            guard predictive.outputCount == referencePredictive.outputCount else {
                throw InferenceError.invalidOption("\(path) predicts \(predictive.outputCount) targets, the reference \(referencePath) \(referencePredictive.outputCount)")
            }
            return AgreementRow(method: method, path: path, rootMeanSquaredError: try rootMeanSquaredError(predictive, targets: targets),
                                negativeLogLikelihood: try gaussianNegativeLogLikelihood(predictive, targets: targets),
                                regressionAgreement: try RegressionAgreement(predictive, reference: referencePredictive))
        }
    }
    var rows = [try row(referencePredictive, method: reference.method, path: referencePath)]
    for (i, path) in paths.enumerated() {
        onStage("scoring \(i + 1)/\(paths.count): \(path)")
        let posterior = try loadPosterior(from: path)
        rows.append(try row(try predict(posterior, path: path), method: posterior.method, path: path))
    }
    return rows
}
