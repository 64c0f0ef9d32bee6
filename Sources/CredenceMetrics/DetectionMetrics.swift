import Foundation

/// One point of a ROC curve: the rates when every score ≥ `threshold` is called positive.
public struct ROCPoint: Codable, Sendable, Equatable {
    public var falsePositiveRate: Double
    public var truePositiveRate: Double
    /// The score threshold (`+∞` for the first point, (0, 0)).
    public var threshold: Double
}

/// How well a score separates positives (OOD inputs, misclassified examples) from
/// negatives, higher score = more likely positive.
public struct DetectionScores: Codable, Sendable, Equatable {
    /// Area under the ROC curve, ties counted one half (Mann–Whitney U / (P·N)).
    public var auroc: Double
    /// Average precision (area under the precision–recall curve, scikit-learn's definition).
    public var averagePrecision: Double
    /// False-positive rate at the first threshold reaching 95 % true-positive rate.
    public var falsePositiveRateAt95: Double
    /// Number of positives `P` and negatives `N` scored.
    public var positiveCount: Int
    public var negativeCount: Int
    /// ROC points for plotting, from (0, 0) to (1, 1), at most `maxROCPoints` of them.
    public var rocCurve: [ROCPoint]
}

/// Distinct scores, highest first, with how many positives (`tp`) and negatives (`fp`) hold each.
typealias ScoreGroups = [(score: Double, tp: Int, fp: Int)]

/// Positives and negatives merged and grouped by distinct score, highest first.
func groupedByScore(positives: [Double], negatives: [Double]) throws -> ScoreGroups {
    guard !positives.isEmpty else { throw MetricsError.empty(name: "positive scores") }
    guard !negatives.isEmpty else { throw MetricsError.empty(name: "negative scores") }
    for (name, list) in [("positive scores", positives), ("negative scores", negatives)] {
        if let i = list.firstIndex(where: { !$0.isFinite }) {
            throw MetricsError.nonFinite(name: name, location: "index \(i)", value: list[i])
        }
    }
    let sorted = (positives.map { ($0, true) } + negatives.map { ($0, false) }).sorted { $0.0 > $1.0 }
    var groups: ScoreGroups = []
    for (s, positive) in sorted {
        if groups.last?.score != s { groups.append((s, 0, 0)) }
        if positive { groups[groups.count - 1].tp += 1 } else { groups[groups.count - 1].fp += 1 }
    }
    return groups
}

/// Area under the ROC curve by the Mann–Whitney statistic with average ranks for ties
/// (Hanley & McNeil 1982): with ascending ranks `r` over all `P + N` scores,
/// `AUROC = (Σ_{i ∈ pos} r_i − P(P + 1)/2) / (P · N) = P(s⁺ > s⁻) + ½ P(s⁺ = s⁻)`.
/// 1 for a perfect separator, 0 for a reversed one, 0.5 for a constant score.
/// Matches the reference (`scipy.stats.rankdata`) and `sklearn.metrics.roc_auc_score`.
///
/// - Throws: `MetricsError` when either list is empty or holds a non-finite score.
public func areaUnderROC(positives: [Double], negatives: [Double]) throws -> Double {
    areaUnderROC(try groupedByScore(positives: positives, negatives: negatives),
                 positives: positives.count, negatives: negatives.count)
}

func areaUnderROC(_ groups: ScoreGroups, positives: Int, negatives: Int) -> Double {
    // From the lowest score up: k tied scores after `below` lower ones share rank below + (k + 1)/2.
    var below = 0.0, positiveRankSum = 0.0
    for g in groups.reversed() {
        let k = Double(g.tp + g.fp)
        positiveRankSum += Double(g.tp) * (below + (k + 1) / 2)
        below += k
    }
    let p = Double(positives), n = Double(negatives)
    return (positiveRankSum - p * (p + 1) / 2) / (p * n)
}

/// Average precision, scikit-learn's `average_precision_score`: over the distinct score
/// thresholds in decreasing order, `AP = Σ_k (R_k − R_{k−1}) · P_k` with recall `R_k` and
/// precision `P_k` at threshold `k` (no interpolation). 1 for a perfect separator; the
/// positive fraction `P / (P + N)` for a constant score.
///
/// - Throws: `MetricsError` when either list is empty or holds a non-finite score.
public func averagePrecision(positives: [Double], negatives: [Double]) throws -> Double {
    averagePrecision(try groupedByScore(positives: positives, negatives: negatives), positives: positives.count)
}

func averagePrecision(_ groups: ScoreGroups, positives: Int) -> Double {
    let p = Double(positives)
    var tp = 0, fp = 0, ap = 0.0, previousRecall = 0.0
    for g in groups {
        tp += g.tp; fp += g.fp
        let recall = Double(tp) / p
        ap += (recall - previousRecall) * Double(tp) / Double(tp + fp)
        previousRecall = recall
    }
    return ap
}

/// The full ROC curve at every distinct threshold, from (0, 0) to (1, 1).
func fullROCCurve(_ groups: ScoreGroups, positives p: Int, negatives n: Int) -> [ROCPoint] {
    var points = [ROCPoint(falsePositiveRate: 0, truePositiveRate: 0, threshold: .infinity)]
    var tp = 0, fp = 0
    for g in groups {
        tp += g.tp; fp += g.fp
        points.append(ROCPoint(falsePositiveRate: Double(fp) / Double(n), truePositiveRate: Double(tp) / Double(p),
                               threshold: g.score))
    }
    return points
}

/// FPR at the first threshold whose TPR reaches `level` (`fpr[searchsorted(tpr, level)]`,
/// no interpolation), i.e. the smallest FPR among thresholds with TPR ≥ level.
func falsePositiveRate(on curve: [ROCPoint], atTruePositiveRate level: Double, positives p: Int) -> Double {
    // tp ≥ level·P, with a relative slack of 1e-12 so 19/20 counts as reaching 0.95.
    let needed = level * Double(p) * (1 - 1e-12)
    return curve.first { $0.truePositiveRate * Double(p) >= needed }?.falsePositiveRate ?? 1
}

/// False-positive rate at `level` (default 95 %) true-positive rate: the FPR of the first
/// threshold, from the highest score down, at which at least `level · P` positives are
/// detected (no interpolation between thresholds).
///
/// - Throws: `MetricsError` when either list is empty, a score is not finite, or
///   `level ∉ (0, 1]`.
public func falsePositiveRate(atTruePositiveRate level: Double = 0.95, positives: [Double], negatives: [Double]) throws -> Double {
    guard level > 0, level <= 1 else {
        throw MetricsError.invalidArgument(name: "level", message: "a true-positive rate in (0, 1], got \(level)")
    }
    let groups = try groupedByScore(positives: positives, negatives: negatives)
    return falsePositiveRate(on: fullROCCurve(groups, positives: positives.count, negatives: negatives.count),
                             atTruePositiveRate: level, positives: positives.count)
}

/// ROC curve points at the distinct thresholds, from (0, 0) to (1, 1), downsampled to at
/// most `maxPoints` (≥ 2) evenly spaced in threshold index, first and last kept — for plots.
///
/// - Throws: `MetricsError` when either list is empty, a score is not finite, or `maxPoints < 2`.
public func rocCurve(positives: [Double], negatives: [Double], maxPoints: Int = 200) throws -> [ROCPoint] {
    guard maxPoints >= 2 else {
        throw MetricsError.invalidArgument(name: "maxPoints", message: "must be ≥ 2, got \(maxPoints)")
    }
    let groups = try groupedByScore(positives: positives, negatives: negatives)
    return downsample(fullROCCurve(groups, positives: positives.count, negatives: negatives.count), to: maxPoints)
}

/// At most `maxPoints` of `points`, evenly spaced in index, first and last kept.
func downsample<T>(_ points: [T], to maxPoints: Int) -> [T] {
    guard points.count > maxPoints else { return points }
    let last = Double(points.count - 1)
    return (0..<maxPoints).map { points[Int((Double($0) * last / Double(maxPoints - 1)).rounded())] }
}

/// AUROC, average precision, FPR at 95 % TPR and a plotting ROC curve from one sort.
/// Convention: positives (OOD inputs, misclassified examples) should score higher.
///
/// ```swift
/// let d = try detectionScores(positives: oodEntropy, negatives: inEntropy)
/// print(d.auroc, d.averagePrecision, d.falsePositiveRateAt95)
/// ```
/// - Throws: `MetricsError` when either list is empty or a score is not finite.
public func detectionScores(positives: [Double], negatives: [Double], maxROCPoints: Int = 200) throws -> DetectionScores {
    let groups = try groupedByScore(positives: positives, negatives: negatives)
    let (p, n) = (positives.count, negatives.count)
    let curve = fullROCCurve(groups, positives: p, negatives: n)
    return DetectionScores(auroc: areaUnderROC(groups, positives: p, negatives: n),
                           averagePrecision: averagePrecision(groups, positives: p),
                           falsePositiveRateAt95: falsePositiveRate(on: curve, atTruePositiveRate: 0.95, positives: p),
                           positiveCount: p, negativeCount: n,
                           rocCurve: downsample(curve, to: Swift.max(2, maxROCPoints)))
}
