import CredenceData
import CredenceInference
import CredenceMetrics
import CredenceTensor
import Foundation

/// One posterior set against a reference posterior (HMC's) on the reference's test set.
public struct AgreementRow: Codable, Sendable {
    public var method: String
    public var path: String
    public var accuracy: Double
    public var negativeLogLikelihood: Double
    public var agreement: PredictiveAgreement
}

/// The agreement table of Izmailov et al. (2021): each posterior's top-1 agreement with the
/// reference's predictive and the mean total variation between them, with accuracy and NLL,
/// on the first `points` examples of the test set the reference was trained for (its own
/// row first: agreement 1, TV 0).
public func agreementWithReference(_ referencePath: String, posteriors paths: [String], points: Int?, samples: Int,
                                   dataDirectory: String? = nil, seed: UInt64 = 0) throws -> [AgreementRow] {
    let archive = try PosteriorArchive.load(from: referencePath)
    let reference = try loadPosterior(from: archive, path: referencePath)
    guard reference.task == .classification else {
        throw InferenceError.invalidOption("\(referencePath) holds a regression posterior; agreement compares classifiers' top-1 predictions")
    }
    var test = try recordedTestSet(of: referencePath, metadata: archive.provenance, dataset: nil, dataDirectory: dataDirectory,
                                        inputShape: reference.model.spec.inputShape).test
    if let points {
        guard points >= 1 else { throw InferenceError.invalidOption("--points must be ≥ 1, got \(points)") }
        test = test.subset(Array(0..<Swift.min(points, test.count)))
    }
    func predict(_ posterior: any Posterior, path: String) throws -> Predictive {
        guard posterior.model.spec.inputShape == reference.model.spec.inputShape, posterior.task == reference.task else {
            throw InferenceError.invalidOption("\(path) was trained on other data than the reference \(referencePath) (its inputs \(posterior.model.spec.inputShape), the reference's \(reference.model.spec.inputShape))")
        }
        var rng = RandomGenerator(seed: seed)
        return try posterior.predictive(test.inputs, samples: samples, rng: &rng)
    }
    let referencePredictive = try predict(reference, path: referencePath)
    let labels = test.labels
    func row(_ predictive: Predictive, method: String, path: String) throws -> AgreementRow {
        AgreementRow(method: method, path: path, accuracy: try accuracy(predictive, labels: labels),
                     negativeLogLikelihood: try negativeLogLikelihood(predictive, labels: labels),
                            agreement: try PredictiveAgreement(predictive, reference: referencePredictive))
    }
    var rows = [try row(referencePredictive, method: reference.method, path: referencePath)]
    for path in paths {
        let posterior = try loadPosterior(from: path)
        rows.append(try row(try predict(posterior, path: path), method: posterior.method, path: path))
    }
    return rows
}
