import Foundation

/// One row of the end-of-suite table: a method (with its settings) on a data set and
/// model, its key metrics averaged over the seeds it ran with.
public struct BenchSummaryRow: Codable, Sendable, Equatable {
    public var dataset: String
    /// "mlp 64-64", "cnn".
    public var model: String
    /// `RunConfiguration.label`, e.g. "ensemble (members 5)".
    public var method: String
    /// Runs (seeds) averaged.
    public var runs: Int
    /// Classification.
    public var accuracy: Double?
    public var expectedCalibrationError: Double?
    /// Regression.
    public var rootMeanSquaredError: Double?
    /// Classification NLL, or the Gaussian NLL of a regression.
    public var negativeLogLikelihood: Double?
    /// Mean OOD AUROC over the OOD sets, by predictive entropy (classification) or total
    /// predictive variance (regression).
    public var oodAUROC: Double?
    /// Mean accuracy over every shift and severity.
    public var shiftedAccuracy: Double?
    public var fitSeconds: Double
    public var predictionSecondsPer1000: Double
    public var peakResidentMegabytes: Double
}

/// The suite table: one row per (data set, model, method label), in first-seen order.
public func summarize(_ records: [RunRecord]) -> [BenchSummaryRow] {
    var groups: [String: [RunRecord]] = [:]
    var order: [String] = []
    func model(_ c: RunConfiguration) -> String {
        c.hidden.map { "\(c.model.rawValue) " + $0.map(String.init).joined(separator: "-") } ?? c.model.rawValue
    }
    for r in records {
        let id = [r.configuration.datasetLabel, model(r.configuration), r.configuration.label].joined(separator: "\u{1F}")
        if groups[id] == nil { order.append(id) }
        groups[id, default: []].append(r)
    }
    func mean(_ values: [Double?]) -> Double? {
        let present = values.compactMap { $0 }
        return present.isEmpty ? nil : present.reduce(0, +) / Double(present.count)
    }
    return order.map { id in
        let runs = groups[id]!
        let c = runs[0].configuration
        let ood = runs.map { r in
            mean(r.metrics.ood.map { $0.scores["entropy"]?.auroc ?? $0.scores["totalVariance"]?.auroc })
        }
        return BenchSummaryRow(
            dataset: c.datasetLabel, model: model(c), method: c.label, runs: runs.count,
            accuracy: mean(runs.map { $0.metrics.classification?.accuracy }),
            expectedCalibrationError: mean(runs.map { $0.metrics.classification?.expectedCalibrationError }),
            rootMeanSquaredError: mean(runs.map { $0.metrics.regression?.rootMeanSquaredError }),
            negativeLogLikelihood: mean(runs.map { $0.metrics.classification?.negativeLogLikelihood ?? $0.metrics.regression?.negativeLogLikelihood }),
            oodAUROC: mean(ood),
            shiftedAccuracy: mean(runs.map { r in mean(r.metrics.shift.map(\.accuracy)) }),
            fitSeconds: mean(runs.map { $0.metrics.scalability?.fitSeconds }) ?? 0,
            predictionSecondsPer1000: mean(runs.map { $0.metrics.scalability?.predictionSecondsPer1000 }) ?? 0,
            peakResidentMegabytes: (mean(runs.map { $0.metrics.scalability.map { Double($0.peakResidentBytes) } }) ?? 0) / 1_048_576)
    }
}
