import Foundation

/// One bin of a reliability diagram: the examples whose confidence falls in
/// `(lowerEdge, upperEdge]`, their mean confidence and their accuracy.
public struct ReliabilityBin: Codable, Sendable, Equatable {
    /// Bin edges; for equal-mass bins, the smallest and largest confidence in the bin.
    public var lowerEdge: Double
    public var upperEdge: Double
    /// Number of examples in the bin.
    public var count: Int
    /// Mean confidence of the examples in the bin (nil when empty).
    public var meanConfidence: Double?
    /// Fraction of the examples in the bin that are correct (nil when empty).
    public var accuracy: Double?

    /// `|accuracy − meanConfidence|` (nil when empty).
    public var gap: Double? {
        guard let a = accuracy, let c = meanConfidence else { return nil }
        return Swift.abs(a - c)
    }
}

/// Reliability-diagram data (DeGroot & Fienberg 1983; Niculescu-Mizil & Caruana 2005):
/// per confidence bin, the count, mean confidence and accuracy. ECE and MCE are read off it.
///
/// ```swift
/// let diagram = try reliabilityDiagram(p, labels: y)          // 15 equal-width bins
/// for bin in diagram.bins where bin.count > 0 { print(bin.meanConfidence!, bin.accuracy!) }
/// print(diagram.expectedCalibrationError)
/// ```
public struct ReliabilityDiagram: Codable, Sendable, Equatable {
    /// The bins in increasing confidence.
    public var bins: [ReliabilityBin]
    /// `N`, the number of examples scored (the denominator of the bin weights).
    public var exampleCount: Int

    /// Expected calibration error (Naeini et al. 2015; Guo et al. 2017):
    /// `ECE = Σ_b (|B_b| / N) · |acc(B_b) − conf(B_b)|`.
    public var expectedCalibrationError: Double {
        bins.reduce(0.0) { $0 + Double($1.count) / Double(exampleCount) * ($1.gap ?? 0) }
    }

    /// Maximum calibration error (Naeini et al. 2015): `MCE = max_b |acc(B_b) − conf(B_b)|`
    /// over the non-empty bins.
    public var maximumCalibrationError: Double {
        bins.compactMap(\.gap).max() ?? 0
    }
}

/// The `binCount + 1` edges `linspace(0, 1, binCount + 1)` exactly as PyTorch's CPU
/// kernel computes them in float64 (`torch.linspace`, torch 2.13, 8-wide vectors, two per
/// iteration): `start + step·i` below the halfway index and `end − step·(steps − 1 − i)`
/// from there, each vector continued by `+ step·k`. Bit-identical to the reference for
/// 1, 2, 3, 5, 7, 10, 11 and 15 bins (checked); for other counts an edge may differ by one
/// ulp, which only moves a confidence lying within one ulp of that edge.
public func calibrationBinEdges(binCount: Int) -> [Double] {
    let steps = binCount + 1, step = 1.0 / Double(binCount), half = steps / 2
    func scalar(_ i: Int) -> Double { i < half ? step * Double(i) : 1 - step * Double(steps - i - 1) }
    var edges: [Double] = []
    edges.reserveCapacity(steps)
    let width = 8
    while edges.count + 2 * width <= steps {
        for _ in 0..<2 {
            let base = scalar(edges.count)
            for k in 0..<width { edges.append(base + step * Double(k)) }
        }
    }
    while edges.count < steps { edges.append(scalar(edges.count)) }
    return edges
}

/// Index `i` of the bin with `edges[i] < value ≤ edges[i + 1]` (the reference's rule).
/// A value ≤ edges[0] goes to the first bin and one > the last edge to the last bin (the
/// reference drops both; neither occurs for top-1 confidences of normalised rows).
func binIndex(_ value: Double, edges: [Double]) -> Int {
    let bins = edges.count - 1
    var i = Swift.min(Swift.max(Int((value * Double(bins)).rounded(.up)) - 1, 0), bins - 1)
    while i > 0 && value <= edges[i] { i -= 1 }
    while i < bins - 1 && value > edges[i + 1] { i += 1 }
    return i
}

/// Equal-width binning of `(confidence, outcome)` pairs on `edges`.
func equalWidthBins(confidences: [Double], outcomes: [Double], edges: [Double]) -> [ReliabilityBin] {
    let bins = edges.count - 1
    var count = [Int](repeating: 0, count: bins)
    var sumConfidence = [Double](repeating: 0, count: bins), sumOutcome = [Double](repeating: 0, count: bins)
    for (c, o) in zip(confidences, outcomes) {
        let b = binIndex(c, edges: edges)
        count[b] += 1; sumConfidence[b] += c; sumOutcome[b] += o
    }
    return (0..<bins).map { b in
        let k = Double(count[b])
        return ReliabilityBin(lowerEdge: edges[b], upperEdge: edges[b + 1], count: count[b],
                              meanConfidence: count[b] > 0 ? sumConfidence[b] / k : nil,
                              accuracy: count[b] > 0 ? sumOutcome[b] / k : nil)
    }
}

func validateBinCount(_ binCount: Int) throws {
    guard binCount >= 1 else {
        throw MetricsError.invalidArgument(name: "binCount", message: "must be ≥ 1, got \(binCount)")
    }
}

/// Reliability-diagram data over `binCount` equal-width bins of top-1 confidence
/// `max_c p̄_c`: bin `i` holds the confidences in `(edges[i], edges[i+1]]` with
/// `edges = linspace(0, 1, binCount + 1)` (see `calibrationBinEdges`).
///
/// - Throws: `MetricsError` for a regression predictive, bad labels, or `binCount < 1`.
public func reliabilityDiagram(_ predictive: Predictive, labels: [Int32], binCount: Int = 15) throws -> ReliabilityDiagram {
    try predictive.validateLabels(labels, for: "reliabilityDiagram")
    try validateBinCount(binCount)
    let outcomes = predictive.correctness(labels).map { $0 ? 1.0 : 0.0 }
    let bins = equalWidthBins(confidences: predictive.confidence, outcomes: outcomes,
                              edges: calibrationBinEdges(binCount: binCount))
    return ReliabilityDiagram(bins: bins, exampleCount: predictive.exampleCount)
}

/// Expected calibration error with `binCount` equal-width bins on top-1 confidence
/// (Naeini et al. 2015; Guo et al. 2017):
/// `ECE = Σ_b (|B_b| / N) · |acc(B_b) − conf(B_b)|`, bins `(edges[i], edges[i+1]]` on
/// `linspace(0, 1, binCount + 1)` — the binning of the PyTorch reference, reproduced exactly.
/// Everything is computed in `Double`; the reference computes the bin weight `|B_b| / N` in
/// float32 (torch's default dtype for an integer division), so its ECE differs from this
/// one in about the eighth significant digit.
///
/// ```swift
/// let ece = try expectedCalibrationError(p, labels: y)   // 15 bins
/// ```
/// - Throws: `MetricsError` for a regression predictive, bad labels, or `binCount < 1`.
public func expectedCalibrationError(_ predictive: Predictive, labels: [Int32], binCount: Int = 15) throws -> Double {
    try reliabilityDiagram(predictive, labels: labels, binCount: binCount).expectedCalibrationError
}

/// Maximum calibration error over the non-empty equal-width bins (Naeini et al. 2015):
/// `MCE = max_b |acc(B_b) − conf(B_b)|`. Same bins as `expectedCalibrationError`.
///
/// - Throws: `MetricsError` for a regression predictive, bad labels, or `binCount < 1`.
public func maximumCalibrationError(_ predictive: Predictive, labels: [Int32], binCount: Int = 15) throws -> Double {
    try reliabilityDiagram(predictive, labels: labels, binCount: binCount).maximumCalibrationError
}
