import CredenceData
import CredenceInference
import CredenceMetrics
import CredenceTensor
import Foundation

/// Scores a fitted posterior for one run: in-distribution metrics (always), OOD detection
/// and dataset shift when the configuration asks for them, and the prediction time.
/// Every predictive draws from a generator seeded by the run's seed and the part's name.
func evaluateRun(_ posterior: any Posterior, configuration c: RunConfiguration, options: TrainingOptions,
                 onEvent: (BenchEvent) -> Void) throws -> RunRecord {
    let (_, _, test) = try loadRunData(options)
    var rng = RandomGenerator(seed: derivedSeed(c.seed, "test"))
    let (p, secondsPer1000) = try timedPredictive(posterior, test.inputs, samples: c.samples, rng: &rng)
    var record = RunRecord(configuration: c, scalability: Scalability(
        fitSeconds: 0, predictionSecondsPer1000: secondsPer1000, peakResidentBytes: 0,
        storedFloats: posterior.storedFloatCount, parameterCount: posterior.model.parameterCount))

    switch p.task {
    case .classification:
        record.classification = try metricsSummary(p, labels: test.labels)
        record.reliability = try reliabilityDiagram(p, labels: test.labels)
        record.rejection = try accuracyRejectionCurve(p, labels: test.labels)
        record.misclassification = try misclassificationScores(p, labels: test.labels)
    case .regression:
        let (original, targets) = try inOriginalUnits(p, of: test)
        record.regression = try regressionMetricsSummary(original, targets: targets)
    }

    if c.evaluations.contains(.ood) {
        for set in c.oodSets {
            onEvent(.stage("evaluating OOD set \(set)"))
            let inputs = try loadOODInputs(set, dataset: c.dataset, test: test, options: options.dataOptions)
            var oodRNG = RandomGenerator(seed: derivedSeed(c.seed, "ood:\(set)"))
            let q = try posterior.predictive(inputs, samples: c.samples, rng: &oodRNG)
            record.ood.append(OODRecord(set: set.description, scores: try oodScores(inDistribution: p, outOfDistribution: q)))
        }
    }
    if c.evaluations.contains(.shift) {
        record.shift = try shiftPoints(posterior, configuration: c, test: test, onEvent: onEvent)
    }
    return record
}

/// Misclassification detection (positives = wrong top-1 predictions) by `1 − max p̄`,
/// entropy and, for sampled predictives, mutual information. Empty when every test
/// prediction is right (or every one wrong): there is nothing to detect.
func misclassificationScores(_ p: Predictive, labels: [Int32]) throws -> [String: DetectionScores] {
    var scores: [String: DetectionScores] = [:]
    for score in detectionScores(for: p) {
        do {
            scores[score.rawValue] = try misclassificationDetection(p, labels: labels, score: score)
        } catch MetricsError.empty {
            return [:]
        }
    }
    return scores
}

/// The uncertainty scores that mean something for this predictive: mutual information is
/// identically 0 with one sample.
func detectionScores(for p: Predictive) -> [UncertaintyScore] {
    p.sampleCount > 1 ? [.maxProbability, .entropy, .mutualInformation] : [.maxProbability, .entropy]
}

/// OOD detection (positives = OOD inputs) by every meaningful score: for classification
/// `maxProbability`, `entropy`, `mutualInformation`; for regression the per-example
/// predictive variance, `totalVariance` and (sampled predictives) `epistemicVariance`,
/// averaged over outputs.
func oodScores(inDistribution p: Predictive, outOfDistribution q: Predictive) throws -> [String: DetectionScores] {
    var scores: [String: DetectionScores] = [:]
    switch p.task {
    case .classification:
        let kinds = p.sampleCount > 1 && q.sampleCount > 1 ? [UncertaintyScore.maxProbability, .entropy, .mutualInformation]
            : [.maxProbability, .entropy]
        for score in kinds {
            scores[score.rawValue] = try oodDetection(inDistribution: p, outOfDistribution: q, score: score)
        }
    case .regression:
        func perExample(_ values: [Double], _ predictive: Predictive) -> [Double] {
            let d = Swift.max(predictive.outputCount, 1)
            return (0..<predictive.exampleCount).map { n in values[(n * d)..<((n + 1) * d)].reduce(0, +) / Double(d) }
        }
        scores["totalVariance"] = try detectionScores(positives: perExample(q.totalVariance, q), negatives: perExample(p.totalVariance, p))
        if p.sampleCount > 1 && q.sampleCount > 1 {
            scores["epistemicVariance"] = try detectionScores(positives: perExample(q.epistemicVariance, q),
                                                              negatives: perExample(p.epistemicVariance, p))
        }
    }
    return scores
}

/// The test set under every shift of Ovadia et al.'s protocol (`Shift.ovadiaProtocol`:
/// 11 corruptions × 5 severities, rotations 0–180°, translations 2–26 px), shifted with
/// the run's seed so every method sees the same shifted images.
func shiftPoints(_ posterior: any Posterior, configuration c: RunConfiguration, test: InMemoryDataset,
                 onEvent: (BenchEvent) -> Void) throws -> [ShiftPoint] {
    let shifts = Shift.ovadiaProtocol
    var points: [ShiftPoint] = []
    for (i, shift) in shifts.enumerated() {
        onEvent(.stage("evaluating shift \(i + 1)/\(shifts.count): \(shift.kind.rawValue) \(shift.severity)"))
        let images = try applyShift(shift, to: test.inputs, seed: c.seed)
        var rng = RandomGenerator(seed: derivedSeed(c.seed, "shift:\(shift.kind.rawValue):\(shift.severity)"))
        let p = try posterior.predictive(images, samples: c.samples, rng: &rng)
        let n = Double(p.exampleCount)
        points.append(ShiftPoint(
            shift: shift.kind.rawValue, severity: shift.severity,
            accuracy: try accuracy(p, labels: test.labels),
            negativeLogLikelihood: try negativeLogLikelihood(p, labels: test.labels),
            expectedCalibrationError: try expectedCalibrationError(p, labels: test.labels),
            brierScore: try brierScore(p, labels: test.labels),
            meanEntropy: p.totalEntropy.reduce(0, +) / n))
    }
    return points
}
