import CredenceMetrics
import Foundation

/// Everything `credence score` computes for predictions made elsewhere: the standard
/// table row, the reliability diagram, the accuracy–rejection and risk–coverage curves,
/// misclassification detection and OOD detection per OOD file. Codable (one JSON object).
public struct ScoreResult: Codable, Sendable {
    /// The method name (`ScoreOptions.name`).
    public var name: String
    /// What was read: the probabilities, the labels and each OOD file.
    public var probabilities: ScoredFile
    public var labels: ScoredFile
    public var oodFiles: [ScoredFile]
    /// Accuracy, NLL, Brier, ECE/MCE/adaptive ECE, AURC, mean entropy and mutual
    /// information; the OOD fields score the first OOD file (every file is in `ood`).
    public var summary: MetricsSummary
    public var reliability: ReliabilityDiagram
    /// Accuracy after rejecting the 0 %, 5 %, …, 95 % least confident examples (by `1 − max p̄`).
    public var rejection: [RejectionPoint]
    public var riskCoverage: RiskCoverage
    /// Misclassification detection by "maxProbability", "entropy" and, for `S > 1`,
    /// "mutualInformation" (empty when every prediction is right, or every one wrong).
    public var misclassification: [String: DetectionScores]
    /// OOD detection per OOD file (set = the file's name without extension).
    public var ood: [OODRecord]
    /// Things the reader or the scorer did that a person should know.
    public var notes: [String]
}

/// Scores probabilities (or logits) computed by another framework against labels — and,
/// for OOD detection, against the probabilities of OOD inputs — with Credence's metrics.
///
/// - Parameters:
///   - probabilities: a `.npy`, `.csv` or `.safetensors` file holding `N × C` probabilities,
///     or `N × S × C` per-sample ones (`S × N × C` with `options.layout = .snc`).
///   - labels: a file holding the `N` integer class labels (whole-number floats accepted).
///   - ood: files of OOD probabilities from the same model (same `C`; any `N`, any `S`).
/// - Throws: `ScoreError` for malformed or inconsistent files (each message names the file
///   and the row), `DataError` / `CheckpointError` when a file cannot be read at all.
///
/// ```swift
/// let result = try scoreExternalPredictions(probabilities: "probs.npy", labels: "labels.npy",
///                                           ood: ["mnist_probs.npy"], options: ScoreOptions(name: "resnet"))
/// print(result.summary.accuracy, result.summary.expectedCalibrationError, result.ood[0].scores["entropy"]!.auroc)
/// ```
public func scoreExternalPredictions(probabilities: String, labels: String, ood: [String],
                                     options: ScoreOptions) throws -> ScoreResult {
    try options.validate()
    let inDistribution = try readProbabilities(probabilities, role: "probabilities", options: options)
    let (labelValues, labelsFile, labelNotes) = try readLabels(labels, options: options)
    try checkLabels(labelValues, file: labelsFile, against: inDistribution, layout: options.layout)
    var notes = inDistribution.notes + labelNotes

    var oodSets: [(name: String, probabilities: ScoredProbabilities)] = []
    for path in ood {
        let set = try readProbabilities(path, role: "OOD probabilities", options: options)
        guard set.predictive.outputCount == inDistribution.predictive.outputCount else {
            throw ScoreError.classCountMismatch(path: path, classes: set.predictive.outputCount,
                                                probabilitiesPath: probabilities,
                                                expected: inDistribution.predictive.outputCount)
        }
        notes += set.notes
        oodSets.append((oodSetName(path, among: ood), set))
    }

    let p = inDistribution.predictive, y = labelValues.map { Int32($0) }
    let summary = try metricsSummary(p, labels: y, outOfDistribution: oodSets.first?.probabilities.predictive,
                                     binCount: options.binCount)
    if oodSets.count > 1 {
        notes.append("the summary's OOD figures score the first OOD file (\(oodSets[0].name)); every file is listed under OOD")
    }
    var scores: [UncertaintyScore] = [.maxProbability, .entropy]
    if p.sampleCount > 1 { scores.append(.mutualInformation) }
    var misclassification: [String: DetectionScores] = [:]
    let errors = zip(p.predictedClass, labelValues).filter { $0 != $1 }.count
    if errors == 0 || errors == p.exampleCount {
        notes.append("misclassification detection skipped: every prediction is \(errors == 0 ? "right" : "wrong")")
    } else {
        for score in scores {
            misclassification[score.rawValue] = try misclassificationDetection(p, labels: y, score: score)
        }
    }
    let oodRecords = try oodSets.map { set -> OODRecord in
        var byScore: [String: DetectionScores] = [:]
        for score in scores where score != .mutualInformation || set.probabilities.predictive.sampleCount > 1 {
            byScore[score.rawValue] = try oodDetection(inDistribution: p, outOfDistribution: set.probabilities.predictive,
                                                       score: score)
        }
        return OODRecord(set: set.name, scores: byScore)
    }
    return ScoreResult(
        name: options.name, probabilities: inDistribution.file, labels: labelsFile,
        oodFiles: oodSets.map(\.probabilities.file), summary: summary,
        reliability: try reliabilityDiagram(p, labels: y, binCount: options.binCount),
        rejection: try accuracyRejectionCurve(p, labels: y), riskCoverage: try riskCoverage(p, labels: y),
        misclassification: misclassification, ood: oodRecords, notes: notes)
}

/// The file name without its extensions (`mnist_probs.npy.gz` → `mnist_probs`); the whole
/// path when two OOD files would get the same name.
func oodSetName(_ path: String, among paths: [String]) -> String {
    func stem(_ p: String) -> String {
        var name = (p as NSString).lastPathComponent
        if name.lowercased().hasSuffix(".gz") { name = String(name.dropLast(3)) }
        return (name as NSString).deletingPathExtension
    }
    let name = stem(path)
    return paths.filter { stem($0) == name }.count > 1 ? path : name
}
