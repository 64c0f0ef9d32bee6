import CredenceMetrics
import Foundation

/// What `credence score` reports for predictions made elsewhere: the files read, the
/// metrics (the schema every command reports; `scalability` is nil: nothing was run or
/// timed here) and notes. Codable (one JSON object).
public struct ScoreResult: Codable, Sendable {
    /// The method name (`ScoreOptions.name`).
    public var name: String
    /// What was read: the probabilities, the labels and each OOD file.
    public var probabilities: ScoredFile
    public var labels: ScoredFile
    public var oodFiles: [ScoredFile]
    /// Summary, reliability diagram, accuracy–rejection and risk–coverage curves,
    /// misclassification detection, and OOD detection per OOD file (set = the file's name
    /// without extension).
    public var metrics: EvaluationMetrics
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
/// let summary = result.metrics.classification!
/// print(summary.accuracy, summary.expectedCalibrationError, result.metrics.ood[0].scores["entropy"]!.auroc)
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

    let p = inDistribution.predictive
    let metrics = try evaluationMetrics(p, truth: .labels(labelValues.map { Int32($0) }),
                                        ood: oodSets.map { set in (set.name, { set.probabilities.predictive }) },
                                        binCount: options.binCount)
    if metrics.misclassification.isEmpty {
        notes.append("misclassification detection skipped: every prediction is \(metrics.classification?.accuracy == 1 ? "right" : "wrong")")
    }
    return ScoreResult(name: options.name, probabilities: inDistribution.file, labels: labelsFile,
                       oodFiles: oodSets.map(\.probabilities.file), metrics: metrics, notes: notes)
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
