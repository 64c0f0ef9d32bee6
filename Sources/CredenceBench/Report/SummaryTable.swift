import CredenceMetrics
import Foundation

/// One column of the summary table: how to read the value off a method's runs, how to print
/// it, and which direction is better (so the best cell can be marked).
struct MetricColumn {
    enum Better { case higher, lower, closest(to: Double) }

    var title: String
    /// Tooltip: what the number is and which way is better.
    var help: String
    var better: Better
    var value: (RunRecord) -> Double?
    var format: (Double) -> String

    var arrow: String {
        switch better {
        case .higher: return "↑"
        case .lower: return "↓"
        case .closest(let t): return "→" + formatFixed(t * 100, 0) + "%"
        }
    }

    /// How far a value is from the best possible, as a number to minimise.
    func badness(_ v: Double) -> Double {
        switch better {
        case .higher: return -v
        case .lower: return v
        case .closest(let t): return abs(v - t)
        }
    }
}

func formatFixed(_ v: Double, _ decimals: Int) -> String {
    guard v.isFinite else { return "—" }
    let s = String(format: "%.\(decimals)f", v)
    return s.hasPrefix("-") ? "−" + s.dropFirst() : s
}

/// Seconds with three significant figures ("0.0421", "12.3", "1,234").
func formatSeconds(_ s: Double) -> String {
    guard s.isFinite else { return "—" }
    if s >= 1000 { return formatGrouped(s) }
    if s >= 100 { return formatFixed(s, 0) }
    if s >= 10 { return formatFixed(s, 1) }
    if s >= 1 { return formatFixed(s, 2) }
    if s == 0 { return "0" }
    let decimals = min(6, Int(Foundation.ceil(-Foundation.log10(s))) + 2)
    return formatFixed(s, decimals)
}

/// An integer-valued quantity with thousands separators ("1,234,567").
func formatGrouped(_ v: Double) -> String {
    guard v.isFinite else { return "—" }
    let digits = String(Int(v.rounded()).magnitude)
    var out = ""
    for (i, ch) in digits.reversed().enumerated() {
        if i > 0 && i % 3 == 0 { out.append(",") }
        out.append(ch)
    }
    return (v < 0 ? "−" : "") + String(out.reversed())
}

/// The columns shared by every table: what the run cost.
func costColumns() -> [MetricColumn] {
    [MetricColumn(title: "Fit (s)", help: "wall time of training / fitting the posterior, seconds (lower is better)",
                  better: .lower, value: { $0.metrics.scalability?.fitSeconds }, format: formatSeconds),
     MetricColumn(title: "Predict (s/1k)", help: "wall time of the predictive per 1,000 inputs, seconds (lower is better)",
                  better: .lower, value: { $0.metrics.scalability?.predictionSecondsPer1000 }, format: formatSeconds),
     MetricColumn(title: "Peak RSS (MB)", help: "peak resident memory of the process during the run, MB (lower is better)",
                  better: .lower, value: { $0.metrics.scalability.map { Double($0.peakResidentBytes) / 1_048_576 } }, format: { formatFixed($0, 0) }),
     MetricColumn(title: "Stored floats", help: "floats the posterior stores (lower is better)",
                  better: .lower, value: { $0.metrics.scalability.map { Double($0.storedFloats) } }, format: formatGrouped)]
}

/// Classification columns; one OOD AUROC column per OOD set (by predictive entropy).
func classificationColumns(oodSets: [String]) -> [MetricColumn] {
    var columns = [
        MetricColumn(title: "Accuracy (%)", help: "top-1 accuracy on the test set (higher is better)", better: .higher,
                     value: { $0.metrics.classification?.accuracy }, format: { formatFixed($0 * 100, 2) }),
        MetricColumn(title: "NLL", help: "negative log-likelihood per example, nats (lower is better)", better: .lower,
                     value: { $0.metrics.classification?.negativeLogLikelihood }, format: { formatFixed($0, 3) }),
        MetricColumn(title: "Brier", help: "Brier score (lower is better)", better: .lower,
                     value: { $0.metrics.classification?.brierScore }, format: { formatFixed($0, 4) }),
        MetricColumn(title: "ECE", help: "expected calibration error, equal-width bins (lower is better)", better: .lower,
                     value: { $0.metrics.classification?.expectedCalibrationError }, format: { formatFixed($0, 4) }),
        MetricColumn(title: "Adaptive ECE", help: "ECE with equal-mass bins (lower is better)", better: .lower,
                     value: { $0.metrics.classification?.adaptiveCalibrationError }, format: { formatFixed($0, 4) }),
        MetricColumn(title: "AURC", help: "area under the risk–coverage curve (lower is better)", better: .lower,
                     value: { $0.metrics.classification?.aurc }, format: { formatFixed($0, 4) }),
    ]
    for set in oodSets {
        columns.append(MetricColumn(title: "OOD AUROC " + set, help: "AUROC of predictive entropy separating \(set) from the test set (higher is better)",
                                    better: .higher, value: { r in r.metrics.ood.first { $0.set == set }?.scores[UncertaintyScore.entropy.rawValue]?.auroc },
                                    format: { formatFixed($0, 4) }))
    }
    return columns + costColumns()
}

/// Regression columns: RMSE, Gaussian NLL, CRPS and interval coverage (best = closest to nominal).
func regressionColumns(levels: [Double]) -> [MetricColumn] {
    var columns = [
        MetricColumn(title: "RMSE", help: "root-mean-square error (lower is better)", better: .lower,
                     value: { $0.metrics.regression?.rootMeanSquaredError }, format: { formatFixed($0, 4) }),
        MetricColumn(title: "NLL", help: "Gaussian negative log-likelihood per target, nats (lower is better)", better: .lower,
                     value: { $0.metrics.regression?.negativeLogLikelihood }, format: { formatFixed($0, 3) }),
        MetricColumn(title: "CRPS", help: "continuous ranked probability score (lower is better)", better: .lower,
                     value: { $0.metrics.regression?.continuousRankedProbabilityScore }, format: { formatFixed($0, 4) }),
    ]
    for level in levels {
        let percent = formatFixed(level * 100, 0)
        columns.append(MetricColumn(title: "PICP \(percent)%", help: "fraction of targets inside the central \(percent) % interval (best: closest to \(percent) %)",
                                    better: .closest(to: level),
                                    value: { r in r.metrics.regression?.coverage.first { abs($0.level - level) < 1e-9 }?.coverage },
                                    format: { formatFixed($0 * 100, 1) }))
    }
    return columns + costColumns()
}

/// An HTML table: one row per method, the best value in each column marked (class `best`:
/// bold with a tinted background; ties at the printed precision are all marked, and a
/// column where all methods tie is not marked at all).
func summaryTableHTML(_ methods: [MethodRuns], columns: [MetricColumn], caption: String) -> String {
    let stats = methods.map { m in columns.map { m.statistic($0.value) } }
    var best: [Set<Int>] = []
    for (c, column) in columns.enumerated() {
        let present = methods.indices.filter { stats[$0][c] != nil }
        guard present.count >= 2 else { best.append([]); continue }
        let minimum = present.map { column.badness(stats[$0][c]!.mean) }.min()!
        let target = present.first { column.badness(stats[$0][c]!.mean) == minimum }!
        let printed = column.format(stats[target][c]!.mean)
        let winners = present.filter { column.format(stats[$0][c]!.mean) == printed || column.badness(stats[$0][c]!.mean) == minimum }
        // A column where every method ties has no best value to point out.
        best.append(winners.count == present.count ? [] : Set(winners))
    }
    var h = "<div class=\"table-wrap\"><table class=\"summary\">"
    h += "<caption>\(escapeHTML(caption))</caption><thead><tr><th scope=\"col\" class=\"method\">Method</th><th scope=\"col\" title=\"number of seeds averaged\">Seeds</th>"
    for c in columns {
        h += "<th scope=\"col\" title=\"\(escapeHTML(c.help))\">\(escapeHTML(c.title)) <span class=\"dir\">\(escapeHTML(c.arrow))</span></th>"
    }
    h += "</tr></thead><tbody>"
    for (i, m) in methods.enumerated() {
        h += "<tr><th scope=\"row\" class=\"method\"><span class=\"swatch\" style=\"background:\(escapeHTML(m.style.color))\"></span>\(escapeHTML(m.name))</th>"
        h += "<td>\(m.records.count)</td>"
        for (c, column) in columns.enumerated() {
            guard let s = stats[i][c] else { h += "<td class=\"na\">—</td>"; continue }
            let isBest = best[c].contains(i)
            var cell = escapeHTML(column.format(s.mean))
            if let sd = s.sd, sd > 0 { cell += "<span class=\"sd\">± \(escapeHTML(column.format(sd).replacingOccurrences(of: "−", with: "")))</span>" }
            h += isBest ? "<td class=\"best\" title=\"best in column\">\(cell)</td>" : "<td>\(cell)</td>"
        }
        h += "</tr>"
    }
    return h + "</tbody></table></div>"
}
