import CredenceInference
import CredenceMetrics
import Foundation

/// A reliability diagram for one method (Guo et al. 2017 style): accuracy per confidence
/// bin as bars, the gap to the bin's mean confidence shaded, the diagonal of perfect
/// calibration dashed, and underneath the share of examples per bin.
func reliabilityPanel(_ m: MethodRuns, id: String) -> String? {
    guard let (bins, examples) = m.reliability, !bins.isEmpty, examples > 0 else { return nil }
    let width = 300.0, height = 300.0
    var svg = SVGWriter(width: width, height: height)
    let unit = AxisSpec(label: "", domain: (0, 1), ticks: [0, 0.2, 0.4, 0.6, 0.8, 1])
    let probe = PlotFrame(width: width, height: 240, x: unit, y: AxisSpec(label: "accuracy", domain: (0, 1), ticks: [0, 0.2, 0.4, 0.6, 0.8, 1]))
    let main = PlotFrame(x: unit, y: probe.yAxis, left: probe.left, right: probe.right, top: 8, bottom: 196)
    let shares = bins.map { Double($0.count) / Double(examples) }
    let maxShare = niceDomain(0, max(shares.max() ?? 1, 0.01), count: 3).1
    let shareAxis = AxisSpec(label: "% of ex.", domain: (0, maxShare), ticks: [0, maxShare],
                             format: { formatFixed($0 * 100, 0) })
    let hist = PlotFrame(x: AxisSpec(label: "confidence (max p̄)", domain: (0, 1), ticks: unit.ticks), y: shareAxis,
                         left: main.left, right: main.right, top: 206, bottom: 256)
    let ece = bins.reduce(0.0) { acc, b in
        guard let a = b.accuracy, let c = b.confidence else { return acc }
        return acc + Double(b.count) / Double(examples) * abs(a - c)
    }
    // Gap: red hatching, readable over the bar colour and over the background alike.
    let hatch = "gap-" + id
    svg.raw("<defs><pattern id=\"\(escapeHTML(hatch))\" width=\"5\" height=\"5\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\"><rect width=\"5\" height=\"5\" fill=\"#ffffff\" fill-opacity=\"0.55\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"5\" stroke=\"#c8103f\" stroke-width=\"2\"/></pattern></defs>")
    main.drawAxes(into: &svg, title: nil, xTickLabels: false)
    for b in bins {
        guard let acc = b.accuracy, let conf = b.confidence else { continue }
        let x0 = main.x(b.lower), x1 = main.x(b.upper)
        svg.rect(x0, main.y(acc), x1 - x0, main.bottom - main.y(acc), fill: m.style.color, opacity: 0.8, stroke: "#ffffff",
                 strokeWidth: 0.6, title: "confidence \(formatFixed(b.lower, 2))–\(formatFixed(b.upper, 2)): accuracy \(formatFixed(acc * 100, 1)) %, mean confidence \(formatFixed(conf * 100, 1)) %, \(b.count) examples")
        let (top, bottom) = (main.y(max(acc, conf)), main.y(min(acc, conf)))
        if bottom - top > 0.3 {
            svg.rect(x0 + 0.5, top, x1 - x0 - 1, bottom - top, fill: "url(#\(hatch))", stroke: "#b0103f", strokeWidth: 0.9)
        }
    }
    svg.line(main.left, main.bottom, main.right, main.top, stroke: "#555", width: 1.2, dash: "5 4")
    svg.rect(main.left + 4, main.top + 4, 92, 32, fill: "#ffffff", opacity: 0.85)
    svg.text("ECE \(formatFixed(ece, 4))", x: main.left + 8, y: main.top + 17, size: 12, weight: "600", fill: "#222")
    svg.text("n = \(formatGrouped(Double(examples)))", x: main.left + 8, y: main.top + 31, size: 11, fill: "#555")
    hist.drawAxes(into: &svg, title: nil, xGrid: false)
    for (b, share) in zip(bins, shares) where b.count > 0 {
        let x0 = hist.x(b.lower), x1 = hist.x(b.upper)
        svg.rect(x0, hist.y(share), x1 - x0, hist.bottom - hist.y(share), fill: "#7a7a7a", opacity: 0.75, stroke: "#ffffff",
                 strokeWidth: 0.6, title: "\(b.count) examples (\(formatFixed(share * 100, 1)) %)")
    }
    // The method name as an HTML caption: long names wrap instead of being cut.
    return "<figcaption>\(escapeHTML(m.name))</figcaption>" + svg.render(title: "Reliability diagram: \(m.name)")
}

/// The key shared by all reliability panels: bar, gap, diagonal and histogram encodings
/// (HTML, so the entries wrap instead of overlapping).
func reliabilityKey() -> String {
    "<div class=\"legend\">"
        + "<span class=\"item\"><span class=\"key-box\" style=\"background:#7a8fa6\"></span>accuracy in the bin (method colour)</span>"
        + "<span class=\"item\"><span class=\"key-box key-gap\"></span>gap to the bin's mean confidence</span>"
        + "<span class=\"item\"><span class=\"key-diagonal\"></span>perfect calibration</span>"
        + "<span class=\"item\"><span class=\"key-box\" style=\"background:#8a8a8a\"></span>share of test examples per bin</span>"
        + "</div>\n"
}

/// Accuracy–rejection curves of all methods on one data set (one line per method).
func rejectionChart(_ methods: [MethodRuns]) -> String? {
    let curves = methods.map { ($0, $0.rejection) }.filter { !$0.1.isEmpty }
    guard !curves.isEmpty else { return nil }
    let accuracies = curves.flatMap { $0.1.map { $0.accuracy * 100 } }
    var y = AxisSpec.fitting(accuracies, label: "accuracy on retained (%)")
    y.domain.1 = min(y.domain.1, 100)
    // Nearly constant curves (an easy data set: 100 % everywhere) get a 5-point window, not 0–100.
    if let lo = accuracies.min(), let hi = accuracies.max(), hi - lo < 1 {
        y.domain = (max(0, min(lo, 100 - 5) - 0.5).rounded(.down), min(100, max(hi + 0.5, 5)).rounded(.up))
    }
    if y.domain.1 <= y.domain.0 { y.domain = (y.domain.0, y.domain.0 + 1) }
    let x = AxisSpec(label: "rejected, most uncertain first (%)", domain: (0, 100))
    let series = curves.map { m, pts in
        LineSeries(name: m.name, style: m.style, points: pts.map { ($0.rate * 100, $0.accuracy * 100) }, markers: pts.count <= 25)
    }
    let labels = curves.map { m, _ -> String in
        guard let aurc = m.mean({ $0.metrics.classification?.aurc }) else { return m.name }
        return "AURC \(formatFixed(aurc, 4)) — \(m.name)"
    }
    return lineChart(title: "Accuracy–rejection", x: x, y: y, series: series, width: 560, height: 320,
                     legend: .below, legendLabels: labels)
}

/// ROC curves for detecting OOD set `set`: by predictive entropy (or the first score stored),
/// and a second chart by mutual information when any method's posterior has it — the score
/// that separates "far from the data" from "near the decision boundary" (Kristiadi et al. 2020).
func rocCharts(_ methods: [MethodRuns], set: String) -> [String] {
    let preferred = [UncertaintyScore.entropy.rawValue, UncertaintyScore.maxProbability.rawValue, UncertaintyScore.mutualInformation.rawValue]
    let available = Set(methods.flatMap { m in m.records.flatMap { r in r.metrics.ood.filter { $0.set == set }.flatMap { $0.scores.keys } } })
    guard let first = preferred.first(where: available.contains) ?? available.sorted().first else { return [] }
    let mutualInformation = UncertaintyScore.mutualInformation.rawValue
    let scores = first != mutualInformation && available.contains(mutualInformation) ? [first, mutualInformation] : [first]
    return scores.compactMap { rocChart(methods, set: set, score: $0) }
}

/// ROC curves for detecting OOD set `set` by `score`, one line per method that stored it, AUROC
/// in the legend.
func rocChart(_ methods: [MethodRuns], set: String, score: String) -> String? {
    var series: [LineSeries] = [], labels: [String] = []
    for m in methods {
        guard let (points, auroc) = m.rocCurve(set: set, score: score) else { continue }
        series.append(LineSeries(name: m.name, style: m.style, points: points, markers: false))
        // Value first: a long method name may be shortened, the number never is.
        labels.append("AUROC \(formatFixed(auroc, 3)) — \(m.name)")
    }
    guard !series.isEmpty else { return nil }
    let (x, y) = rocAxes(falsePositives: "false-positive rate (test flagged as OOD)", truePositives: "true-positive rate (OOD detected)")
    let scoreName = score == "entropy" ? "predictive entropy" : score == "maxProbability" ? "1 − max p̄"
        : score == "mutualInformation" ? "mutual information" : score
    // The empty bottom-right corner of a ROC plot holds the legend when the labels fit there.
    let fits = (labels.map { estimatedTextWidth($0, size: 11) }.max() ?? 0) + 40 < 440 * 0.62 && labels.count <= 8
    return lineChart(title: "OOD \(set) — score: \(scoreName)", x: x, y: y, series: series, width: 440, height: 400,
                     legend: fits ? .inset(bottom: true, right: true) : .below, legendLabels: labels,
                     reference: [(0, 0), (1, 1)], referenceLabel: "chance (AUROC 0.5)")
}

/// Four bar charts of what each method cost: fit time, prediction time per 1,000 inputs,
/// peak memory and stored floats; log axes when the values span more than a factor of 30.
func costCharts(_ methods: [MethodRuns]) -> [String] {
    let measures: [(title: String, unit: String, value: (RunRecord) -> Double?, format: (Double) -> String)] = [
        ("Fit time", "seconds", { $0.metrics.scalability?.fitSeconds }, { formatSeconds($0) + " s" }),
        ("Prediction time per 1,000 inputs", "seconds", { $0.metrics.scalability?.predictionSecondsPer1000 }, { formatSeconds($0) + " s" }),
        ("Peak resident memory", "MB", { $0.metrics.scalability.map { Double($0.peakResidentBytes) / 1_048_576 } }, { formatFixed($0, 0) + " MB" }),
        ("Stored floats", "floats", { $0.metrics.scalability.map { Double($0.storedFloats) } }, { compactNumber($0) }),
    ]
    return measures.compactMap { measure in
        let values = methods.map { $0.mean(measure.value) ?? .nan }
        let finite = values.filter { $0.isFinite }
        guard !finite.isEmpty, finite.contains(where: { $0 > 0 }) else { return nil }
        let positive = finite.filter { $0 > 0 }
        let wide = finite.allSatisfy { $0 > 0 } && (positive.max()! / positive.min()!) > 30
        let axis = AxisSpec.fitting(finite, label: measure.unit + (wide ? " (log scale)" : ""), kind: wide ? .log : .linear,
                                    includeZero: !wide, tickCount: 5)
        let bars = zip(methods, values).map { Bar(label: $0.name, value: $1, style: $0.style, valueLabel: $1.isFinite ? measure.format($1) : nil) }
        return horizontalBarChart(title: measure.title, axis: axis, bars: bars, width: 460)
    }
}

/// The corruption gallery: one row per shift, one image per severity.
func galleryHTML(_ gallery: ShiftGallery) -> String {
    var h = ""
    if let clean = gallery.clean {
        h += "<figure class=\"gallery-clean\"><img src=\"data:image/png;base64,\(clean.base64EncodedString())\" alt=\"clean test image\" class=\"pixelated\" width=\"\(gallery.displaySize)\" height=\"\(gallery.displaySize)\"><figcaption>clean</figcaption></figure>"
    }
    h += "<div class=\"gallery\">"
    for row in gallery.rows {
        h += "<div class=\"gallery-row\(row.cells.count > 6 ? " long" : "")\"><div class=\"gallery-name\">\(escapeHTML(row.shift))</div><div class=\"gallery-cells\">"
        for cell in row.cells {
            let alt = "\(row.shift) \(cell.label)"
            h += "<figure><img src=\"data:image/png;base64,\(cell.png.base64EncodedString())\" alt=\"\(escapeHTML(alt))\" class=\"pixelated\" width=\"\(gallery.displaySize)\" height=\"\(gallery.displaySize)\"><figcaption>\(escapeHTML(cell.label))</figcaption></figure>"
        }
        h += "</div></div>"
    }
    return h + "</div>"
}

/// How an attack result is labelled in the report: the attack, its norm, and EOT when used.
func attackLabel(_ attack: AttackResult) -> String {
    "\(attack.attack.rawValue) \(attack.norm.rawValue)" + (attack.eotSamples > 1 ? ", EOT \(attack.eotSamples)" : "")
}

/// The attack labels stored by `methods`' runs, in first-seen order.
func attackLabels(_ methods: [MethodRuns]) -> [String] {
    var labels: [String] = []
    for m in methods {
        for r in m.records { for a in r.metrics.attacks ?? [] where !labels.contains(attackLabel(a)) { labels.append(attackLabel(a)) } }
    }
    return labels
}

/// Robust accuracy versus ε, one chart per attack, one line per method (mean over seeds; ε = 0
/// is the clean accuracy on the attacked examples when the suite lists it).
func robustnessCharts(_ methods: [MethodRuns]) -> [String] {
    attackLabels(methods).compactMap { label in
        var series: [LineSeries] = []
        for m in methods {
            var byEpsilon: [Float: [Double]] = [:]
            for r in m.records {
                for a in r.metrics.attacks ?? [] where attackLabel(a) == label {
                    for p in a.points { byEpsilon[p.epsilon, default: []].append(p.robustAccuracy * 100) }
                }
            }
            guard !byEpsilon.isEmpty else { continue }
            let points = byEpsilon.keys.sorted().map { (x: Double($0), y: byEpsilon[$0]!.reduce(0, +) / Double(byEpsilon[$0]!.count)) }
            series.append(LineSeries(name: m.name, style: m.style, points: points))
        }
        guard !series.isEmpty else { return nil }
        let x = AxisSpec.fitting(series.flatMap { $0.points.map(\.x) }, label: "ε", includeZero: true)
        let y = AxisSpec(label: "robust accuracy (%)", domain: (0, 100))
        return lineChart(title: label, x: x, y: y, series: series, width: 440, height: 320, legend: .below)
    }
}

/// Certified accuracy versus radius (smoothing: L2; IBP: L∞ ε), one chart per certificate, one
/// line per method (mean over seeds).
func certificationCharts(_ methods: [MethodRuns]) -> [String] {
    var labels: [String] = []
    for m in methods {
        for r in m.records { for c in r.metrics.certifications ?? [] where !labels.contains(c.settings.label) { labels.append(c.settings.label) } }
    }
    return labels.compactMap { label in
        var series: [LineSeries] = []
        for m in methods {
            var byRadius: [Double: [Double]] = [:]
            for r in m.records {
                for c in r.metrics.certifications ?? [] where c.settings.label == label {
                    for p in c.points { byRadius[p.radius, default: []].append(p.certifiedAccuracy * 100) }
                }
            }
            guard !byRadius.isEmpty else { continue }
            let points = byRadius.keys.sorted().map { (x: $0, y: byRadius[$0]!.reduce(0, +) / Double(byRadius[$0]!.count)) }
            series.append(LineSeries(name: m.name, style: m.style, points: points))
        }
        guard !series.isEmpty else { return nil }
        let x = AxisSpec.fitting(series.flatMap { $0.points.map(\.x) }, label: label.hasPrefix("ibp") ? "ε (L∞)" : "radius (L2)", includeZero: true)
        let y = AxisSpec(label: "certified accuracy (%)", domain: (0, 100))
        return lineChart(title: "certified: " + label, x: x, y: y, series: series, width: 440, height: 320, legend: .below)
    }
}

/// ROC curves of telling adversarial inputs (at each attack's largest ε) from clean ones by
/// predictive entropy, one chart per attack, one line per method (averaged over seeds).
func adversarialROCCharts(_ methods: [MethodRuns]) -> [String] {
    attackLabels(methods).compactMap { label in
        var series: [LineSeries] = [], labels: [String] = []
        for m in methods {
            let found = m.records.flatMap { ($0.metrics.attacks ?? []).filter { attackLabel($0) == label } }
                .compactMap { $0.points.max { $0.epsilon < $1.epsilon } }
                .compactMap { p in p.entropyROC.map { (p, $0) } }
            guard !found.isEmpty else { continue }
            let points = averageROC(found.map(\.1))
            let auroc = found.compactMap { $0.0.detectionAUROC["entropy"] }.reduce(0, +) / Double(found.count)
            series.append(LineSeries(name: m.name, style: m.style, points: points, markers: false))
            labels.append("AUROC \(formatFixed(auroc, 3)) — \(m.name)")
        }
        guard !series.isEmpty else { return nil }
        let (x, y) = rocAxes(falsePositives: "false-positive rate (clean flagged)", truePositives: "true-positive rate (adversarial detected)")
        return lineChart(title: "Detecting \(label) inputs by predictive entropy", x: x, y: y, series: series, width: 440, height: 400,
                         legend: .below, legendLabels: labels, reference: [(0, 0), (1, 1)], referenceLabel: "chance (AUROC 0.5)")
    }
}

/// Per method and attack: the adversarial-detection AUROC by predictive entropy at the largest
/// ε, and the gradient-masking checks that failed (in any seed).
func robustnessTable(_ methods: [MethodRuns]) -> String? {
    var rows = ""
    for label in attackLabels(methods) {
        for m in methods {
            let results = m.records.flatMap { ($0.metrics.attacks ?? []).filter { attackLabel($0) == label } }
            guard !results.isEmpty else { continue }
            let aurocs = results.compactMap { $0.points.max { $0.epsilon < $1.epsilon }?.detectionAUROC["entropy"] }
            let auroc = aurocs.isEmpty ? "—" : formatFixed(aurocs.reduce(0, +) / Double(aurocs.count), 3)
            let checks = results.compactMap(\.checks)
            var failed: [String] = []
            for c in checks.flatMap({ $0 }) where !c.passed && !failed.contains(c.name) { failed.append(c.name) }
            let verdict = checks.isEmpty ? "not run" : failed.isEmpty ? "all passed" : "failed: " + failed.joined(separator: "; ")
            rows += "<tr><td class=\"method\">\(escapeHTML(m.name))</td><td>\(escapeHTML(label))</td><td>\(auroc)</td>"
                + "<td\(failed.isEmpty ? "" : " class=\"warn\"")>\(escapeHTML(verdict))</td></tr>\n"
        }
    }
    guard !rows.isEmpty else { return nil }
    return "<table class=\"summary\"><thead><tr><th scope=\"col\" class=\"method\">Method</th><th scope=\"col\">Attack</th>"
        + "<th scope=\"col\" title=\"telling adversarial from clean inputs by predictive entropy, at the largest ε\">Detection AUROC</th>"
        + "<th scope=\"col\">Gradient-masking checks</th></tr></thead><tbody>\n" + rows + "</tbody></table>"
}

/// Per SG-MCMC method: the chain's samples, its largest R̂ and smallest bulk and tail ESS
/// (worst over seeds) — whether the samples describe the posterior or a corner of it.
func chainTable(_ methods: [MethodRuns]) -> String? {
    var rows = ""
    for m in methods {
        let chains = m.records.compactMap(\.metrics.chain)
        guard !chains.isEmpty else { continue }
        let rHat = chains.compactMap(\.worstRHat).max()
        let mixed = rHat.map { $0 <= 1.01 } ?? false
        let sampler = chains.compactMap(\.sampler).flatMap { $0 }
        let divergences = sampler.map(\.divergences).reduce(0, +)
        rows += "<tr><td class=\"method\">\(escapeHTML(m.name))</td><td>\(chains.map { $0.chains ?? 1 }.max()!)</td><td>\(chains.map(\.samples).min()!)</td>"
            + "<td\(mixed ? "" : " class=\"warn\"")>\(rHat.map { formatFixed($0, 3) } ?? "—")</td>"
            + "<td>\(formatFixed(chains.map(\.smallestBulkEffectiveSampleSize).min()!, 1))</td>"
            + "<td>\(formatFixed(chains.map(\.smallestTailEffectiveSampleSize).min()!, 1))</td>"
            + (sampler.isEmpty ? "<td>—</td><td>—</td><td>—</td></tr>\n"
                : "<td>\(formatFixed(sampler.map(\.meanAcceptance).min()!, 2))</td><td\(divergences > 0 ? " class=\"warn\"" : "")>\(divergences)</td>"
                + "<td>\(formatFixed(sampler.map(\.meanLeapfrogSteps).reduce(0, +) / Double(sampler.count), 1))</td></tr>\n")
    }
    guard !rows.isEmpty else { return nil }
    return "<table class=\"summary\"><thead><tr><th scope=\"col\" class=\"method\">Method</th><th scope=\"col\">Chains</th><th scope=\"col\">Samples</th>"
        + "<th scope=\"col\" title=\"largest split-R̂ over 8 random projections of θ and 5 test predictions (across chains; one chain's halves as two chains), worst seed\">R̂</th>"
        + "<th scope=\"col\">Bulk ESS</th><th scope=\"col\">Tail ESS</th>"
        + "<th scope=\"col\" title=\"HMC/NUTS: lowest mean acceptance statistic over chains and seeds\">Acceptance</th>"
        + "<th scope=\"col\" title=\"HMC/NUTS: divergent transitions after warm-up, all chains and seeds\">Divergences</th>"
        + "<th scope=\"col\" title=\"HMC/NUTS: mean leapfrog steps per iteration\">Leapfrog steps</th></tr></thead><tbody>\n" + rows + "</tbody></table>"
}

/// Methods ranked by their predictive's agreement with the reference sampler's on the test set,
/// for the runs that kept their test predictions (small tasks): the reference is the group's
/// NUTS run, else its HMC run; seeds are paired, figures averaged over them. Classifiers (runs
/// with `EvaluationMetrics.testProbabilities`): top-1 agreement and mean total variation
/// (Izmailov et al. 2021), sorted by total variation; regression (`testQuantileCellMeans`):
/// the mean W₁ between the predictives in the targets' units (`RegressionAgreement`), sorted by it.
func agreementTable(_ methods: [MethodRuns]) -> String? {
    guard let reference = methods.first(where: { $0.method == NUTSMethod.name }) ?? methods.first(where: { $0.method == HMCMethod.name })
    else { return nil }
    let referenceBySeed = Dictionary(reference.records.map { ($0.configuration.seed, $0) }, uniquingKeysWith: { first, _ in first })
    func paired<T>(_ score: (RunRecord, RunRecord) -> T?) -> [(name: String, scores: [T])] {
        methods.filter { $0.name != reference.name }.compactMap { m in
            let scores = m.records.compactMap { r in referenceBySeed[r.configuration.seed].flatMap { score(r, $0) } }
            return scores.isEmpty ? nil : (m.name, scores)
        }
    }
    let caption = "<table class=\"summary\"><caption>Agreement with \(escapeHTML(reference.name)) on the test set</caption><thead><tr><th scope=\"col\" class=\"method\">Method</th>"
    let seedsHeader = "<th scope=\"col\" title=\"seeds paired with a reference run\">Seeds</th></tr></thead><tbody>\n"
    func methodCell(_ name: String) -> String { "<tr><td class=\"method\">\(escapeHTML(name))</td>" }
    func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(values.count) }
    let classifiers = paired { r, q -> PredictiveAgreement? in
        guard let p = r.metrics.testProbabilities, let q = q.metrics.testProbabilities, let classes = r.metrics.classification?.classes else { return nil }
        return try? PredictiveAgreement(meanProbabilities: p, reference: q, classes: classes)
    }
    if !classifiers.isEmpty {
        let rows = classifiers.map { row in
            (name: row.name, agreement: mean(row.scores.map(\.topOneAgreement)), totalVariation: mean(row.scores.map(\.meanTotalVariation)), seeds: row.scores.count)
        }
        let body = rows.sorted { $0.totalVariation < $1.totalVariation }.map { row in
            methodCell(row.name) + "<td>\(formatFixed(row.agreement, 3))</td><td>\(formatFixed(row.totalVariation, 4))</td><td>\(row.seeds)</td></tr>\n"
        }.joined()
        return caption
            + "<th scope=\"col\" title=\"fraction of test inputs where the method predicts the reference's class\">Top-1 agreement</th>"
            + "<th scope=\"col\" title=\"mean over test inputs of ½ Σ_c |p̄_c − q̄_c|\">Total variation</th>" + seedsHeader + body + "</tbody></table>"
    }
    let regression = paired { r, q -> RegressionAgreement? in
        guard let p = r.metrics.testQuantileCellMeans, let q = q.metrics.testQuantileCellMeans, let outputs = r.metrics.regression?.outputs else { return nil }
        return try? RegressionAgreement(cellMeans: p.map(Double.init), reference: q.map(Double.init), cells: RegressionAgreement.defaultCells, outputs: outputs)
    }
    guard !regression.isEmpty else { return nil }
    let rows = regression.map { (name: $0.name, distance: mean($0.scores.map(\.meanWassersteinDistance)), seeds: $0.scores.count) }
    let body = rows.sorted { $0.distance < $1.distance }.map { row in
        methodCell(row.name) + "<td>\(formatFixed(row.distance, 4))</td><td>\(row.seeds)</td></tr>\n"
    }.joined()
    return caption
        + "<th scope=\"col\" title=\"mean over test inputs and outputs of the 1-Wasserstein distance between the two predictive distributions of y, in the targets' units (from \(RegressionAgreement.defaultCells) equal-probability slices of each)\">Wasserstein-1</th>"
        + seedsHeader + body + "</tbody></table>"
}
