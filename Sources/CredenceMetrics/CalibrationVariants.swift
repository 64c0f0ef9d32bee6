import Foundation

/// Reliability data over `binCount` equal-mass bins of top-1 confidence: the examples
/// sorted by confidence (stable) and cut into contiguous groups whose sizes differ by at
/// most one, the larger groups first (`numpy.array_split`). Each bin's edges are the
/// smallest and largest confidence it holds; with fewer examples than bins, the surplus
/// bins are empty.
///
/// - Throws: `MetricsError` for a regression predictive, bad labels, or `binCount < 1`.
public func adaptiveReliabilityDiagram(_ predictive: Predictive, labels: [Int32], binCount: Int = 15) throws -> ReliabilityDiagram {
    try predictive.validateLabels(labels, for: "adaptiveReliabilityDiagram")
    try validateBinCount(binCount)
    let confidence = predictive.confidence, correct = predictive.correctness(labels)
    let order = confidence.indices.sorted { (confidence[$0], $0) < (confidence[$1], $1) }
    let n = order.count, base = n / binCount, extra = n % binCount
    var bins: [ReliabilityBin] = []
    var start = 0
    for b in 0..<binCount {
        let size = base + (b < extra ? 1 : 0)
        let members = order[start..<(start + size)]
        start += size
        guard let first = members.first, let last = members.last else {
            bins.append(ReliabilityBin(lowerEdge: 1, upperEdge: 1, count: 0, meanConfidence: nil, accuracy: nil))
            continue
        }
        let sumConfidence = members.reduce(0.0) { $0 + confidence[$1] }
        let hits = members.reduce(0.0) { $0 + (correct[$1] ? 1 : 0) }
        bins.append(ReliabilityBin(lowerEdge: confidence[first], upperEdge: confidence[last], count: size,
                                   meanConfidence: sumConfidence / Double(size), accuracy: hits / Double(size)))
    }
    return ReliabilityDiagram(bins: bins, exampleCount: n)
}

/// Adaptive (equal-mass) expected calibration error (Nixon et al. 2019, "Measuring
/// Calibration in Deep Learning"): `Σ_b (|B_b| / N) · |acc(B_b) − conf(B_b)|` over
/// `binCount` bins holding equally many examples (see `adaptiveReliabilityDiagram`).
/// Less sensitive than equal-width ECE to confidences piling up in the top bin.
///
/// - Throws: `MetricsError` for a regression predictive, bad labels, or `binCount < 1`.
public func adaptiveCalibrationError(_ predictive: Predictive, labels: [Int32], binCount: Int = 15) throws -> Double {
    try adaptiveReliabilityDiagram(predictive, labels: labels, binCount: binCount).expectedCalibrationError
}

/// Classwise expected calibration error (Kull et al. 2019, "Beyond temperature scaling"):
/// every class probability is scored, not just the top one,
/// `cwECE = (1/C) Σ_c Σ_b (|B_{b,c}| / N) · |(1/|B_{b,c}|) Σ_{n ∈ B_{b,c}} 1[y_n = c] − mean p̄_c(B_{b,c})|`,
/// with `B_{b,c}` the equal-width bins (the edges of `expectedCalibrationError`) of `p̄_c`.
/// A probability of exactly 0 goes to the first bin.
///
/// - Throws: `MetricsError` for a regression predictive, bad labels, or `binCount < 1`.
public func classwiseCalibrationError(_ predictive: Predictive, labels: [Int32], binCount: Int = 15) throws -> Double {
    try predictive.validateLabels(labels, for: "classwiseCalibrationError")
    try validateBinCount(binCount)
    let edges = calibrationBinEdges(binCount: binCount)
    let (n, c) = (predictive.exampleCount, predictive.outputCount)
    var total = 0.0
    for j in 0..<c {
        let p = (0..<n).map { predictive.meanProbabilities[$0 * c + j] }
        let hits = labels.map { Int($0) == j ? 1.0 : 0.0 }
        total += ReliabilityDiagram(bins: equalWidthBins(confidences: p, outcomes: hits, edges: edges),
                                    exampleCount: n).expectedCalibrationError
    }
    return total / Double(c)
}
