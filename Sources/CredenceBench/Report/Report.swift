import CredenceTensor
import Foundation

/// Why a report could not be written.
public enum ReportError: Error, CustomStringConvertible {
    case cannotCreateDirectory(path: String, reason: String)
    case cannotWrite(path: String, reason: String)

    public var description: String {
        switch self {
        case .cannotCreateDirectory(let path, let reason):
            return "cannot create the report folder \(path): \(reason) — check the path and its permissions"
        case .cannotWrite(let path, let reason):
            return "cannot write the report \(path): \(reason) — check free space and permissions"
        }
    }
}

/// Renders benchmark runs as one self-contained HTML page: inline SVG charts, inline CSS,
/// images as `data:` URLs — no JavaScript, no network. Sections: (1) summary table per data
/// set with the best value per column marked, (2) reliability diagrams, (3) accuracy / ECE /
/// NLL versus shift, (4) OOD ROC curves, (5) accuracy–rejection curves, (6) time and memory,
/// (7) the corruption gallery. Every method keeps one colour (Okabe–Ito) across all charts.
/// All user-supplied text (labels, set names, settings) is escaped.
///
/// ```swift
/// let html = renderReport(try store.records(), title: "Quick suite")
/// try writeReport(try store.records(), to: "report")      // report/index.html
/// ```
public func renderReport(_ records: [RunRecord], title: String, gallery: ShiftGallery? = nil) -> String {
    var page = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    page += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    page += "<title>\(escapeHTML(title))</title>\n<style>\n\(reportStyleSheet)</style>\n</head>\n<body>\n"
    page += "<header><h1>\(escapeHTML(title))</h1>\n"
    guard !records.isEmpty else {
        page += "</header>\n<main>\n<section id=\"empty\"><h2>No runs yet</h2><div class=\"empty\">"
        page += "<p>This results database holds no finished runs, so there is nothing to plot.</p>"
        page += "<p>Run a suite first, e.g. <code>credence bench</code> (the built-in quick suite) or "
        page += "<code>credence bench SUITE.yaml --db results.sqlite</code>, then "
        page += "<code>credence report results.sqlite --out report</code> again. "
        page += "Runs are added as they finish, so a partly run suite already gives a report.</p></div></section>\n"
        if let gallery, !gallery.rows.isEmpty {
            page += "<section id=\"gallery\"><h2>Corruption gallery</h2>\(galleryHTML(gallery))</section>\n"
        }
        return page + "</main>\n</body>\n</html>\n"
    }
    let model = ReportModel(records)
    page += "<p class=\"meta\">\(escapeHTML(metaLine(records, model)))</p>\n"
    let sections: [(id: String, title: String)] = [
        ("summary", "Summary"), ("reliability", "Reliability"), ("shift", "Dataset shift"), ("ood", "OOD detection"),
        ("rejection", "Accuracy–rejection"), ("cost", "Time & memory"), ("robustness", "Adversarial robustness"),
        ("chains", "Sampler diagnostics"), ("gallery", "Corruption gallery"),
    ]
    page += "<nav>" + sections.enumerated().map { "<a href=\"#\($1.id)\">\($0 + 1). \(escapeHTML($1.title))</a>" }.joined() + "</nav>\n"
    page += "</header>\n<main>\n"
    page += summarySection(model)
    page += chartSection(model, id: "reliability", title: "2. Reliability diagrams",
                         intro: "Accuracy per confidence bin (bars) against the diagonal of perfect calibration; the shaded gap is the miscalibration, the grey histogram the share of test examples per bin. Seeds are pooled.",
                         empty: "No run stored a reliability diagram (in-distribution evaluation of a classifier).", gridClass: "multiples",
                         preamble: reliabilityKey()) { g in
        [g.classification.enumerated().compactMap { reliabilityPanel($1, id: "\(g.anchor)-\($0)") }]
    }
    page += chartSection(model, id: "shift", title: "3. Accuracy, calibration and NLL under dataset shift",
                         intro: "Ovadia et al. (2019) protocol: corruptions at severities 1–5 averaged over corruption kinds (severity 0 is the clean test set), rotations in degrees and translations in pixels; the box plots show the spread over corruption kinds.",
                         empty: "No run evaluated shift — add `shift` to a suite's evaluations.", legend: true) { g in
        shiftCharts(g.classification)
    }
    page += chartSection(model, id: "ood", title: "4. Out-of-distribution detection",
                         intro: "ROC curves for telling OOD inputs (positives) from the test set by predictive entropy, and by mutual information for the posteriors that have it (only those methods appear in that chart); the dashed diagonal is chance. AUROC in the legend.",
                         empty: "No run evaluated OOD detection — add `ood` and OOD sets to a suite.") { g in
        [g.oodSets.flatMap { rocCharts(g.classification, set: $0) }]
    }
    page += chartSection(model, id: "rejection", title: "5. Accuracy–rejection curves",
                         intro: "Accuracy on the examples kept after rejecting the most uncertain fraction (by 1 − max p̄). Higher and steeper is better; AURC in the legend (lower is better).",
                         empty: "No run stored an accuracy–rejection curve.", gridClass: "wide") { g in
        [[rejectionChart(g.classification)].compactMap { $0 }]
    }
    page += chartSection(model, id: "cost", title: "6. Time and memory",
                         intro: "Measured by the harness: wall time of fitting, of prediction per 1,000 inputs, peak resident memory of the process, and the floats the posterior stores. Axes switch to log scale when values span more than 30×.",
                         empty: "No scalability measurements.", gridClass: "wide") { g in
        [costCharts(g.methods)]
    }
    page += chartSection(model, id: "robustness", title: "7. Adversarial robustness",
                         intro: "Robust accuracy on the attacked test examples versus the budget ε (mean over seeds), one chart per attack; below, ROC curves and AUROCs of telling the adversarial inputs at the largest ε from the clean ones by predictive entropy — does the posterior know it is being fooled? — and the gradient-masking checks (a failure means the robust accuracy may reflect masked gradients or a weak attack). Certified accuracy versus radius (randomized smoothing: L2 radius; IBP: L∞ ε), one chart per certificate, for the suites' certifications.",
                         empty: "No run was attacked or certified — add `attacks` or `certification` to a suite's evaluations and list them.", gridClass: "wide") { g in
        [robustnessCharts(g.classification), certificationCharts(g.classification), adversarialROCCharts(g.classification),
         [robustnessTable(g.classification)].compactMap { $0 }]
    }
    page += chartSection(model, id: "chains", title: "8. Sampler diagnostics",
                         intro: "For the samplers' posteriors (SG-MCMC, HMC, NUTS): chains and kept samples and, over 8 random projections of the parameters and the prediction at 5 test points, the largest split-R̂ (across chains; one SG-MCMC chain's halves serve as two chains; above 1.01, in red, the chains have not mixed) and the smallest bulk and tail effective sample sizes (Vehtari et al. 2021), worst seed; for HMC and NUTS the lowest mean acceptance statistic, the divergent transitions after warm-up (in red when any) and the mean leapfrog steps per iteration. Below, when a NUTS (else HMC) run is in the group and the test set is small enough for the runs to keep their test probabilities, every method's agreement with it: for classifiers top-1 agreement and mean total variation on the test set (Izmailov et al. 2021), sorted by total variation; for regression the mean 1-Wasserstein distance between the predictive distributions in the targets' units (the NeurIPS 2021 approximate-inference competition's score), sorted by it; seeds paired.",
                         empty: "No sampler run.", gridClass: "wide") { g in
        [[chainTable(g.methods), agreementTable(g.methods)].compactMap { $0 }]
    }
    page += "<section id=\"gallery\"><h2>9. Corruption gallery</h2>\n"
    if let gallery, !gallery.rows.isEmpty {
        page += "<p class=\"note\">One test image under every shift: corruptions at severities 1–5, rotations in degrees, translations in pixels (the shifts of section 3).</p>\n" + galleryHTML(gallery)
    } else {
        page += "<div class=\"empty\">No gallery: it is drawn for image data sets when the report is written with the test images at hand.</div>"
    }
    page += "</section>\n</main>\n"
    page += "<footer><p>Generated by <code>credence report</code>. Self-contained: no scripts, no network; print-friendly.</p></footer>\n"
    return page + "</body>\n</html>\n"
}

/// Writes `renderReport(records, …)` to `directory/index.html` (creating the folder), atomically
/// (`AtomicFile`): a reader never sees half a page. Returns the path written.
@discardableResult
public func writeReport(_ records: [RunRecord], to directory: String, title: String = "Credence benchmark report",
                        gallery: ShiftGallery? = nil) throws -> String {
    do {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    } catch {
        throw ReportError.cannotCreateDirectory(path: directory, reason: error.localizedDescription)
    }
    let target = (directory as NSString).appendingPathComponent("index.html")
    try AtomicFile.write(Data(renderReport(records, title: title, gallery: gallery).utf8), to: target, failure: ReportError.cannotWrite)
    return target
}

/// "12 runs · 2 data sets · 4 methods · seeds 0–2 · finished 2025-03-01 – 2025-03-02".
private func metaLine(_ records: [RunRecord], _ model: ReportModel) -> String {
    var parts = ["\(records.count) run\(records.count == 1 ? "" : "s")",
                 "\(model.groups.count) data set\(model.groups.count == 1 ? "" : "s")",
                 "\(model.styles.count) method\(model.styles.count == 1 ? "" : "s")"]
    let seeds = Set(records.map(\.configuration.seed)).sorted()
    if let a = seeds.first, let b = seeds.last { parts.append(a == b ? "seed \(a)" : "\(seeds.count) seeds (\(a)–\(b))") }
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.timeZone = TimeZone(identifier: "UTC")
    formatter.dateFormat = "yyyy-MM-dd HH:mm 'UTC'"
    let dates = records.map(\.finishedAt).sorted()
    if let a = dates.first, let b = dates.last {
        parts.append(a == b ? "finished \(formatter.string(from: a))" : "finished \(formatter.string(from: a)) – \(formatter.string(from: b))")
    }
    return parts.joined(separator: " · ")
}

private func datasetHeading(_ g: DatasetGroup, section: String) -> String {
    "<h3 id=\"\(section)-\(g.anchor)\">\(escapeHTML(g.dataset)) <span class=\"desc\">— \(escapeHTML(g.description))</span></h3>\n"
}

private func summarySection(_ model: ReportModel) -> String {
    var h = "<section id=\"summary\"><h2>1. Summary</h2>\n<p class=\"note\">Mean over seeds (± standard deviation when there are several). "
    h += "The best value in each column is <b>bold on green</b>; arrows say which way is better (hover a header for its definition).</p>\n"
    for g in model.groups {
        h += datasetHeading(g, section: "summary")
        let cls = g.classification, reg = g.regression
        if !cls.isEmpty {
            h += summaryTableHTML(cls, columns: classificationColumns(oodSets: g.oodSets),
                                  caption: "Classification, \(g.dataset)")
        }
        if !reg.isEmpty {
            let levels = Array(Set(reg.flatMap { $0.records.flatMap { $0.metrics.regression?.coverage.map(\.level) ?? [] } })).sorted()
            h += summaryTableHTML(reg, columns: regressionColumns(levels: levels), caption: "Regression, \(g.dataset)")
        }
        let other = g.methods.filter { m in !cls.contains { $0.name == m.name } && !reg.contains { $0.name == m.name } }
        if !other.isEmpty {
            h += summaryTableHTML(other, columns: costColumns(), caption: "Runs without test metrics, \(g.dataset)")
        }
    }
    return h + "</section>\n"
}

/// A section with one block of charts per data set, or a helpful empty note when no data set has any.
/// `charts` returns grids of charts: the first uses `gridClass`, later ones the wide grid.
private func chartSection(_ model: ReportModel, id: String, title: String, intro: String, empty: String,
                          gridClass: String = "", legend: Bool = false, preamble: String = "",
                          charts: (DatasetGroup) -> [[String]]) -> String {
    var h = "<section id=\"\(id)\"><h2>\(escapeHTML(title))</h2>\n<p class=\"note\">\(escapeHTML(intro))</p>\n"
    var any = false, body = ""
    for g in model.groups {
        let grids = charts(g).filter { !$0.isEmpty }
        guard !grids.isEmpty else { continue }
        any = true
        body += datasetHeading(g, section: id)
        if legend { body += htmlLegend(g.classification) }
        for (i, grid) in grids.enumerated() {
            body += "<div class=\"panels \(i == 0 ? gridClass : "wide")\">" + grid.map { "<figure>\($0)</figure>" }.joined(separator: "\n") + "</div>\n"
        }
    }
    h += any ? preamble + body : "<div class=\"empty\">\(escapeHTML(empty))</div>\n"
    return h + "</section>\n"
}

/// One legend above a block of charts that share it (line swatch with marker, then the name).
private func htmlLegend(_ methods: [MethodRuns]) -> String {
    var h = "<div class=\"legend\">"
    for m in methods {
        var svg = SVGWriter(width: 30, height: 14)
        svg.line(2, 7, 28, 7, stroke: m.style.color, width: 2.5, dash: m.style.dash)
        drawMarker(m.style, x: 15, y: 7, size: 3.4, into: &svg)
        h += "<span class=\"item\">\(svg.render(title: m.name, className: "swatch-line"))\(escapeHTML(m.name))</span>"
    }
    return h + "</div>\n"
}
