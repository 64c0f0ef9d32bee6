@testable import CredenceBench
import CredenceData
import CredenceMetrics
import CredenceTensor
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing

/// Structure of the rendered report: sections, well-formed SVG, best-per-column marks,
/// escaping, self-containment, the empty state, and atomic writing.
@Suite struct ReportTests {
    static let records: [RunRecord] = (try? ReportFixtures.records()) ?? []
    static let page = renderReport(records, title: "Synthetic suite")

    @Test func fixturesAreRealistic() {
        #expect(Self.records.count == 4 * 2 + 4 + 2)
        let fmnist = Self.records.filter { $0.configuration.dataset == .fashionMNIST }
        #expect(fmnist.allSatisfy { !$0.metrics.shift.isEmpty && $0.metrics.ood.count == 2 && $0.metrics.reliability != nil && !$0.metrics.rejection.isEmpty })
    }

    @Test func everySectionIsPresentWithCharts() throws {
        let page = Self.page
        for id in ["summary", "reliability", "shift", "ood", "rejection", "cost", "gallery"] {
            #expect(page.contains("<section id=\"\(id)\">"), "section \(id) missing")
            #expect(page.contains("href=\"#\(id)\""), "navigation link to \(id) missing")
        }
        func svgCount(in id: String) -> Int {
            guard let body = section(id, of: page) else { return 0 }
            return body.components(separatedBy: "<svg class=\"chart\"").count - 1
        }
        // One reliability panel per method and classification data set (4 × 2).
        #expect(svgCount(in: "reliability") == 8)
        // Per data set: 3 metrics × (corruptions, rotation, translation) + 2 box plots.
        #expect(svgCount(in: "shift") == 2 * (9 + 2))
        // fashion-mnist: mnist-5k and uniform-noise; two-moons: far.
        #expect(svgCount(in: "ood") == 3)
        #expect(svgCount(in: "rejection") == 2)
        // Four bar charts per data set (regression included).
        #expect(svgCount(in: "cost") == 3 * 4)
        #expect(page.contains("Classification, fashion-mnist") && page.contains("Regression, regression-1d"))
        let ood = try #require(section("ood", of: page))
        #expect(ood.contains("AUROC"))
    }

    @Test func everySVGIsWellFormedXML() throws {
        let svgs = extractSVGs(Self.page)
        #expect(svgs.count > 40)
        for svg in svgs {
            let parser = XMLParser(data: Data(svg.utf8))
            let ok = parser.parse()
            #expect(ok, "SVG does not parse: \(parser.parserError.map { "\($0)" } ?? "?") in \(svg.prefix(300))")
            #expect(!svg.contains("NaN") && !svg.contains("nan\"") && !svg.contains("inf\""))
        }
    }

    @Test func bestValuePerColumnIsMarkedDirectionAware() throws {
        let table = try #require(tableRows(Self.page, caption: "Classification, fashion-mnist"))
        let header = table.header
        let group = ReportModel(Self.records).groups.first { $0.dataset == "fashion-mnist" }!
        func expectBest(_ column: String, higherIsBetter: Bool, _ metric: (RunRecord) -> Double?) throws {
            let c = try #require(header.firstIndex { $0.hasPrefix(column) }, "no column \(column)")
            let means = group.classification.map { ($0.name, $0.mean(metric)!) }
            let best = higherIsBetter ? means.max { $0.1 < $1.1 }! : means.min { $0.1 < $1.1 }!
            let marked = table.rows.filter { $0.cells[c].isBest }.map(\.name)
            #expect(marked.contains(best.0), "\(column): expected \(best.0) marked, got \(marked)")
            #expect(marked.count < means.count, "\(column): every row marked")
        }
        try expectBest("Accuracy", higherIsBetter: true) { $0.metrics.classification?.accuracy }
        try expectBest("NLL", higherIsBetter: false) { $0.metrics.classification?.negativeLogLikelihood }
        try expectBest("ECE", higherIsBetter: false) { $0.metrics.classification?.expectedCalibrationError }
        try expectBest("OOD AUROC mnist-5k", higherIsBetter: true) { r in r.metrics.ood.first { $0.set == "mnist-5k" }?.scores["entropy"]?.auroc }
        try expectBest("Fit (s)", higherIsBetter: false) { $0.metrics.scalability?.fitSeconds }
        try expectBest("Stored floats", higherIsBetter: false) { $0.metrics.scalability.map { Double($0.storedFloats) } }
        // The synthetic ensemble is the most accurate and the map the fastest to fit.
        let acc = header.firstIndex { $0.hasPrefix("Accuracy") }!, fit = header.firstIndex { $0.hasPrefix("Fit (s)") }!
        #expect(table.rows.first { $0.name == "ensemble (members 5)" }!.cells[acc].isBest)
        #expect(table.rows.first { $0.name == "map" }!.cells[fit].isBest)
        #expect(!table.rows.first { $0.name == "map" }!.cells[acc].isBest)
        // Two seeds: mean ± standard deviation.
        #expect(table.rows[0].cells[acc].text.contains("±"))
    }

    @Test func aColumnWhereEveryMethodTiesHasNoMark() throws {
        let same = Self.records.map { r -> RunRecord in
            var r = r
            r.metrics.scalability?.storedFloats = 1_000
            return r
        }
        let table = try #require(tableRows(renderReport(same, title: "t"), caption: "Classification, two-moons"))
        let c = try #require(table.header.firstIndex { $0.hasPrefix("Stored floats") })
        #expect(table.rows.allSatisfy { !$0.cells[c].isBest && $0.cells[c].text == "1,000" })
    }

    @Test func intervalCoverageBestIsClosestToNominal() throws {
        let table = try #require(tableRows(Self.page, caption: "Regression, regression-1d"))
        let c = try #require(table.header.firstIndex { $0.hasPrefix("PICP 90%") })
        let coverages = Self.records.compactMap { r in r.metrics.regression.map { (r.configuration.label, $0.coverage.first { abs($0.level - 0.9) < 1e-9 }!.coverage) } }
        let best = coverages.min { abs($0.1 - 0.9) < abs($1.1 - 0.9) }!
        #expect(table.rows.first { $0.name == best.0 }!.cells[c].isBest)
        for column in ["RMSE", "NLL", "CRPS"] { #expect(table.header.contains { $0.hasPrefix(column) }) }
    }

    @Test func userTextIsEscaped() throws {
        var records = Self.records
        records[0].configuration.method = "<script>alert(\"x\")</script>"
        records[0].configuration.settings = ["a&b": "'q'"]
        records[0].metrics.ood[0].set = "<img src=x onerror=alert(1)>"
        let page = renderReport(records, title: "</title><script>bad()</script>")
        #expect(!page.contains("<script"))
        #expect(!page.contains("<img src=x"))
        #expect(page.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"))
        #expect(page.contains("a&amp;b &#39;q&#39;"))
        for svg in extractSVGs(page) { #expect(XMLParser(data: Data(svg.utf8)).parse()) }
    }

    @Test func pageIsSelfContained() {
        let page = Self.page
        #expect(!page.lowercased().contains("http"))
        #expect(!page.lowercased().contains("<script"))
        #expect(!page.lowercased().contains("<link"))
        #expect(!page.contains("@import"))
        // url( only for in-document references (SVG patterns), never for files or hosts.
        #expect(page.components(separatedBy: "url(").dropFirst().allSatisfy { $0.hasPrefix("#") })
        #expect(!page.contains("src=\"") || page.components(separatedBy: "src=\"").dropFirst().allSatisfy { $0.hasPrefix("data:") })
        #expect(page.hasPrefix("<!DOCTYPE html>") && page.contains("<meta charset=\"utf-8\">") && page.hasSuffix("</html>\n"))
    }

    @Test func methodsKeepOneColourAcrossDataSets() {
        let model = ReportModel(Self.records)
        var seen: [String: String] = [:]
        for g in model.groups {
            for m in g.methods {
                if let c = seen[m.name] { #expect(c == m.style.color, "\(m.name) changes colour") }
                seen[m.name] = m.style.color
            }
        }
        let styles = model.styles.map(\.style)
        for i in styles.indices { for j in styles.indices where i < j { #expect(styles[i] != styles[j]) } }
        // Palette order puts the MAP baseline first.
        #expect(model.styles.first?.name == "map")
    }

    @Test func emptyInputRendersAHelpfulEmptyState() {
        let page = renderReport([], title: "Nothing yet")
        #expect(page.contains("No runs yet"))
        #expect(page.contains("credence bench"))
        #expect(!page.contains("<svg") && !page.contains("<table"))
        #expect(page.hasSuffix("</html>\n"))
    }

    @Test func sectionsWithoutDataSayWhy() {
        let inDistributionOnly = Self.records.map { r -> RunRecord in
            var r = r
            r.metrics.shift = []
            r.metrics.ood = []
            return r
        }
        let page = renderReport(inDistributionOnly, title: "t")
        #expect(section("shift", of: page)?.contains("No run evaluated shift") == true)
        #expect(section("ood", of: page)?.contains("No run evaluated OOD detection") == true)
        #expect(section("reliability", of: page)?.contains("<svg") == true)
    }

    /// A posterior that stores mutual information gets a second ROC chart per OOD set, by that
    /// score, holding only the methods that have it.
    @Test func oodSectionAddsMutualInformationChartsForPosteriorsThatHaveIt() throws {
        let withMutualInformation = Self.records.map { r -> RunRecord in
            var r = r
            guard r.configuration.method == "ensemble" else { return r }
            r.metrics.ood = r.metrics.ood.map { o in
                var o = o
                o.scores[UncertaintyScore.mutualInformation.rawValue] = o.scores[UncertaintyScore.entropy.rawValue]
                return o
            }
            return r
        }
        let ood = try #require(section("ood", of: renderReport(withMutualInformation, title: "t")))
        let charts = ood.components(separatedBy: "<svg class=\"chart\"").dropFirst()
        #expect(charts.count == 2 * 3)
        let byMutualInformation = charts.filter { $0.contains("score: mutual information") }
        #expect(byMutualInformation.count == 3)
        for chart in byMutualInformation {
            #expect(chart.contains("— ensemble") && !chart.contains("— map"))
        }
    }

    @Test func galleryEmbedsImagesAsDataURLs() {
        let png = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        let gallery = ShiftGallery(clean: png, rows: [.init(shift: "gaussian-noise", cells: (1...5).map { ("severity \($0)", png) }),
                                                      .init(shift: "<b>rot</b>", cells: [("15°", png)])])
        let page = renderReport(Self.records, title: "t", gallery: gallery)
        let body = section("gallery", of: page) ?? ""
        #expect(body.components(separatedBy: "src=\"data:image/png;base64,iVBORw0KGgo=\"").count - 1 == 7)
        #expect(body.contains("&lt;b&gt;rot&lt;/b&gt;") && !body.contains("<b>rot"))
    }

    @Test func galleryShowsEveryShiftAtEverySeverity() throws {
        // A bright square on black, 28×28.
        let image = Tensor(shape: [1, 28, 28], values: (0..<784).map { i in (8..<20).contains(i / 28) && (8..<20).contains(i % 28) ? 0.9 : 0.05 })
        let gallery = try ShiftGallery(image: image, seed: 3)
        #expect(gallery.rows.map(\.shift) == ShiftKind.allCases.map(\.rawValue))
        for (row, kind) in zip(gallery.rows, ShiftKind.allCases) {
            #expect(row.cells.count == kind.severities.count)
            #expect(row.cells.allSatisfy { Array($0.png.prefix(8)) == PNG.signature })
        }
        #expect(gallery.rows.first { $0.shift == "rotation" }?.cells.last?.label == "180°")
        let page = renderReport(Self.records, title: "t", gallery: gallery)
        let imageCount = page.components(separatedBy: "<img src=\"data:image/png;base64,").count - 1
        #expect(imageCount == 1 + ShiftKind.allCases.reduce(0) { $0 + $1.severities.count })
        #expect(throws: (any Error).self) { try ShiftGallery(image: Tensor(shape: [784], repeating: 0.5)) }
    }

    @Test func writeReportIsAtomicAndReplacesThePage() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("credence-report-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try writeReport([], to: directory + "/nested")
        #expect(first == directory + "/nested/index.html")
        let path = try writeReport(Self.records, to: directory + "/nested", title: "Synthetic suite")
        #expect(try String(contentsOfFile: path, encoding: .utf8) == Self.page)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/nested") == ["index.html"])
        // For looking at the page in a browser: CREDENCE_REPORT_PREVIEW=/some/dir swift test --filter Report
        // (the gallery shows the first Fashion-MNIST test image when its files are installed).
        if let preview = ProcessInfo.processInfo.environment["CREDENCE_REPORT_PREVIEW"] {
            try writeReport(Self.records, to: preview, title: "Synthetic suite", gallery: shiftGallery(for: Self.records))
        }
    }

    @Test func chartToolkitPicksReadableTicks() {
        #expect(niceTicks(0, 1, count: 6) == [0, 0.2, 0.4, 0.6, 0.8, 1])
        #expect(niceTicks(0, 100, count: 5) == [0, 25, 50, 75, 100])
        #expect(niceDomain(0.53, 0.97) == (0.5, 1.0))
        #expect(logTicks(1, 1e6) == [1, 10, 100, 1000, 10_000, 1e5, 1e6])
        #expect(logTicks(1, 1e9) == [1, 100, 10_000, 1e6, 1e8])
        #expect(logTicks(0.01, 0.5) == [0.01, 0.02, 0.05, 0.1, 0.2, 0.5])
        #expect(niceLogDomain(0.012, 0.38) == (0.01, 0.5))
        #expect(formatTick(0.25, step: 0.25) == "0.25")
        #expect(formatTick(20, step: 20) == "20")
        #expect(formatTick(-0.5, step: 0.5) == "−0.5")
        #expect(compactNumber(2_679_090) == "2.7M" && compactNumber(0.002) == "0.002")
        let y = ChartScale(.linear, domain: (0, 1), range: (200, 0))
        #expect(y(0.25) == 150)
        let lx = ChartScale(.log, domain: (1, 100), range: (0, 200))
        #expect(abs(lx(10) - 100) < 1e-9)
        #expect(escapeHTML("<a href=\"x\">'&'</a>") == "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;")
        #expect(svgNumber(.nan) == "0" && svgNumber(3.0) == "3" && svgNumber(12.5) == "12.5" && svgNumber(0.126) == "0.13")
        #expect(wrapLabel("laplace (hessian kron, subset last-layer)", width: 100, size: 11.5, maxLines: 3).count == 3)
    }
}

// MARK: - Helpers

/// The body of `<section id="id">…</section>`.
func section(_ id: String, of page: String) -> String? {
    guard let start = page.range(of: "<section id=\"\(id)\">") else { return nil }
    guard let end = page.range(of: "</section>", range: start.upperBound..<page.endIndex) else { return nil }
    return String(page[start.upperBound..<end.lowerBound])
}

/// Every `<svg …>…</svg>` element of the page.
func extractSVGs(_ page: String) -> [String] {
    var out: [String] = []
    var rest = page[...]
    while let start = rest.range(of: "<svg"), let end = rest.range(of: "</svg>", range: start.upperBound..<rest.endIndex) {
        out.append(String(rest[start.lowerBound..<end.upperBound]))
        rest = rest[end.upperBound...]
    }
    return out
}

struct TableCell { var text: String; var isBest: Bool }
struct TableRow { var name: String; var cells: [TableCell] }

/// Header titles (after Method and Seeds) and rows of the summary table with `caption`; cells
/// are aligned with the header (Method and Seeds columns dropped).
func tableRows(_ page: String, caption: String) -> (header: [String], rows: [TableRow])? {
    guard let cap = page.range(of: "<caption>\(caption)</caption>"),
          let end = page.range(of: "</table>", range: cap.upperBound..<page.endIndex) else { return nil }
    let table = String(page[cap.upperBound..<end.lowerBound])
    func stripTags(_ s: String) -> String {
        s.replacingOccurrences(of: "<[^>]+>", with: "", options: .regularExpression)
            .replacingOccurrences(of: "&amp;", with: "&").trimmingCharacters(in: .whitespaces)
    }
    let parts = table.components(separatedBy: "<tr>").dropFirst()
    guard let headerRow = parts.first else { return nil }
    let header = headerRow.components(separatedBy: "<th").dropFirst(3).map { stripTags("<th" + $0) }
    let rows = parts.dropFirst().map { row -> TableRow in
        let name = stripTags(row.components(separatedBy: "</th>")[0] + "</th>")
        let cells = row.components(separatedBy: "<td").dropFirst(2).map { c in
            TableCell(text: stripTags("<td" + c), isBest: c.hasPrefix(" class=\"best\""))
        }
        return TableRow(name: name, cells: cells)
    }
    return (header, rows)
}
