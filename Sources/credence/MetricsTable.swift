import Credence
import Foundation

/// Prints the metrics every command reports (`EvaluationMetrics`) as one indented table:
/// test-set figures, misclassification and OOD detection, accuracy under rejection and
/// shift, and what the prediction cost. Rows without a value are left out.
func printMetrics(_ m: EvaluationMetrics) {
    func row(_ name: String, _ value: Double?) { printMetricRow(name, value, labelWidth: 38) }
    if let s = m.classification {
        row("accuracy", s.accuracy)
        row("NLL", s.negativeLogLikelihood)
        row("Brier", s.brierScore)
        row("ECE (\(s.binCount) bins)", s.expectedCalibrationError)
        row("MCE (\(s.binCount) bins)", s.maximumCalibrationError)
        row("adaptive ECE (\(s.binCount) bins)", s.adaptiveCalibrationError)
        row("AURC", s.aurc)
        row("E-AURC", s.excessAURC)
        row("mean entropy (nats)", s.meanEntropy)
        if s.samples > 1 { row("mean mutual information (nats)", s.meanMutualInformation) }
    }
    if let r = m.regression {
        row("RMSE", r.rootMeanSquaredError)
        row("NLL (Gaussian)", r.negativeLogLikelihood)
        row("NLL (sample mixture)", r.mixtureNegativeLogLikelihood)
        row("CRPS", r.continuousRankedProbabilityScore)
        for c in r.coverage { row(String(format: "coverage of the %.0f%% interval", c.level * 100), c.coverage) }
    }
    let scoreNames = [("maxProbability", "1−max p"), ("entropy", "H"), ("mutualInformation", "MI"),
                      ("totalVariance", "variance"), ("epistemicVariance", "epistemic variance")]
    for (key, label) in scoreNames { row("misclassification AUROC (\(label))", m.misclassification[key]?.auroc) }
    for o in m.ood {
        for (key, label) in scoreNames {
            guard let d = o.scores[key] else { continue }
            row("OOD \(o.set) AUROC (\(label))", d.auroc)
            row("OOD \(o.set) FPR@95 (\(label))", d.falsePositiveRateAt95)
        }
    }
    for point in m.rejection where [0, 0.1, 0.2, 0.5].contains(point.rejectionRate) {
        row(String(format: "accuracy at %.0f%% rejected", point.rejectionRate * 100), point.accuracy)
    }
    if !m.shift.isEmpty { row("mean accuracy under \(m.shift.count) shifts", m.shift.map(\.accuracy).reduce(0, +) / Double(m.shift.count)) }
    if let c = m.scalability {
        print(String(format: "  prediction: %.3f s per 1,000 inputs; %d stored floats", c.predictionSecondsPer1000, c.storedFloats))
    }
    if let chain = m.chain {
        print(String(format: "  %@ of %d samples: R̂ up to %@, bulk ESS from %.1f, tail ESS from %.1f (`credence diagnose` for each quantity)",
                     ((chain.chains ?? 1) > 1 ? "\(chain.chains!) chains" : "chain") as NSString, chain.samples,
                     (chain.worstRHat.map { String(format: "%.3f", $0) } ?? "—") as NSString,
                     chain.smallestBulkEffectiveSampleSize, chain.smallestTailEffectiveSampleSize))
        if let sampler = chain.samplerSummary { print("  sampler: " + sampler) }
        for warning in chain.warnings { Terminal.error("warning: " + warning) }
    }
}
