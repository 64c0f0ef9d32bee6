import CredenceData
import CredenceTensor
import Foundation

extension ScoreResult {
    /// A JSON encoder for results: sorted keys, and the threshold `+∞` of every ROC curve's
    /// first point written as the string "Infinity" (JSON has no infinity; Python's
    /// `float("Infinity")` reads it back) — the conventions of `ResultStore.encoder`.
    public static func jsonEncoder() -> JSONEncoder { ResultStore.encoder }

    /// The scored predictions as one run of the results store, so the report renders them
    /// like Credence's own runs (summary row, reliability diagram, rejection curve,
    /// misclassification and OOD ROC curves).
    ///
    /// `RunConfiguration` was made for runs Credence trains itself, so three of its fields
    /// have no honest value for predictions made elsewhere:
    /// - `dataset` is a closed enum of Credence's sets. It is `options.dataset` when the user
    ///   names the set the predictions were made on; otherwise `.fashionMNIST` as a
    ///   placeholder, marked by `settings["dataset"] = "external"` (`isExternal`: the report
    ///   then calls the data set "external predictions"). (No guess from the shape:
    ///   N = 10,000 with C = 10 is Fashion-MNIST's test split, but also MNIST's and CIFAR-10's.)
    /// - `model` is `.mlp`, a placeholder: the architecture is unknown.
    /// - `metrics.scalability` is nil: nothing was trained or timed here.
    /// The files read are in `settings["probs"]`, `["labels"]` and `["ood"]` (paths joined by
    /// ", "), and `epochs` is 0. Settings appear in the report's legends, so only non-default
    /// reading options are added (`logits`, `layout snc`, `tensor`).
    public func runRecord(options: ScoreOptions, finishedAt: Date = Date()) -> RunRecord {
        var settings = ["probs": probabilities.path, "labels": labels.path]
        if !oodFiles.isEmpty { settings["ood"] = oodFiles.map(\.path).joined(separator: ", ") }
        if options.dataset == nil { settings["dataset"] = "external" }
        if options.logits { settings["logits"] = "true" }
        if probabilities.shape.count == 3 && options.layout != .nsc { settings["layout"] = options.layout.rawValue }
        if let tensor = probabilities.tensor { settings["tensor"] = tensor }
        let configuration = RunConfiguration(
            dataset: options.dataset ?? .fashionMNIST, model: .mlp, method: name, settings: settings,
            epochs: 0, batchSize: 0, learningRate: 0, seed: 0, samples: metrics.samples ?? 1,
            evaluations: metrics.ood.isEmpty ? [.inDistribution] : [.inDistribution, .ood])
        return RunRecord(configuration: configuration, finishedAt: finishedAt, metrics: metrics)
    }
}

/// Writes the report of scored predictions into `directory` (created if needed):
/// `run-record.json` (a JSON array of the `RunRecord`s, which `credence report` also reads)
/// and `index.html`, the HTML report.
///
/// - Returns: the files written.
@discardableResult
public func writeScoreReport(_ records: [RunRecord], to directory: String,
                             title: String = "Credence report: external predictions") throws -> [String] {
    do {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    } catch {
        throw DataError.unwritableFile(path: directory, reason: error.localizedDescription)
    }
    let encoder = ResultStore.encoder  // what `credence report run-record.json` decodes
    let json = (directory as NSString).appendingPathComponent("run-record.json")
    try AtomicFile.write(try encoder.encode(records), to: json, failure: DataError.unwritableFile)
    return [json, try writeReport(records, to: directory, title: title)]
}
