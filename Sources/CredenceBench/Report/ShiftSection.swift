import CredenceData
import Foundation

/// Pictures of one test image under every shift at every severity, for the report's
/// corruption gallery ("severity 5 blur" should look like severity 5 blur). PNG bytes are
/// embedded as `data:` URLs, so the page stays self-contained.
public struct ShiftGallery: Sendable {
    /// One shift kind: its name and one picture per severity.
    public struct Row: Sendable {
        public var shift: String
        public var cells: [(label: String, png: Data)]
        public init(shift: String, cells: [(label: String, png: Data)]) {
            self.shift = shift
            self.cells = cells
        }
    }

    /// The unshifted image (optional).
    public var clean: Data?
    public var rows: [Row]
    /// Displayed width and height of every picture, CSS pixels.
    public var displaySize: Int

    public init(clean: Data? = nil, rows: [Row], displaySize: Int = 72) {
        self.clean = clean
        self.rows = rows
        self.displaySize = displaySize
    }
}

/// How a shift's severities read on an axis.
enum ShiftFamily: Equatable {
    case corruption, rotation, translation

    init(_ name: String) {
        if let kind = ShiftKind(rawValue: name) {
            self = kind == .rotation ? .rotation : kind == .translation ? .translation : .corruption
        } else {
            let n = name.lowercased()
            self = n.hasPrefix("rotat") ? .rotation : n.hasPrefix("translat") ? .translation : .corruption
        }
    }
}

/// A metric plotted against shift: its axis title and how it is read from a point / the clean summary.
private struct ShiftMetric {
    var title: String
    var axis: String
    var scale: Double
    var shifted: (ShiftAverage) -> Double
    var clean: (RunRecord) -> Double?
}

private let shiftMetrics = [
    ShiftMetric(title: "Accuracy", axis: "accuracy (%)", scale: 100, shifted: { $0.accuracy }, clean: { $0.metrics.classification?.accuracy }),
    ShiftMetric(title: "ECE", axis: "ECE", scale: 1, shifted: { $0.ece }, clean: { $0.metrics.classification?.expectedCalibrationError }),
    ShiftMetric(title: "NLL", axis: "NLL (nats)", scale: 1, shifted: { $0.nll }, clean: { $0.metrics.classification?.negativeLogLikelihood }),
]

/// Line charts of accuracy, ECE and NLL versus shift intensity (Ovadia et al. 2019): for the
/// corruptions, averaged over corruption kinds at severities 1–5 (0 = clean test set); for
/// rotation and translation, against degrees and pixels. Then box plots of ECE and accuracy
/// per severity across corruption kinds (the second grid, drawn wider).
func shiftCharts(_ methods: [MethodRuns]) -> [[String]] {
    let points = methods.map(\.shiftPoints)
    guard points.contains(where: { !$0.isEmpty }) else { return [] }
    var charts: [String] = []
    let families: [(ShiftFamily, String, String)] = [
        (.corruption, "corruption severity (0 = clean; mean over corruption kinds)", "corruptions"),
        (.rotation, "rotation (degrees)", "rotation"),
        (.translation, "translation (pixels)", "translation"),
    ]
    for (family, xLabel, name) in families {
        let present = points.contains { $0.keys.contains { ShiftFamily($0.shift) == family } }
        guard present else { continue }
        for metric in shiftMetrics {
            var series: [LineSeries] = []
            for (m, byKey) in zip(methods, points) {
                var bySeverity: [Int: [Double]] = [:]
                // Sorted keys: the same input sums in the same order, so the page is reproducible.
                for key in byKey.keys.sorted(by: { ($0.shift, $0.severity) < ($1.shift, $1.severity) }) where ShiftFamily(key.shift) == family {
                    bySeverity[key.severity, default: []].append(metric.shifted(byKey[key]!))
                }
                guard !bySeverity.isEmpty else { continue }
                // Severity 0 is the clean test set, unless the run measured it itself.
                if bySeverity[0] == nil, let clean = m.mean(metric.clean) { bySeverity[0] = [clean] }
                let pts = bySeverity.keys.sorted().map { s in (Double(s), bySeverity[s]!.reduce(0, +) / Double(bySeverity[s]!.count) * metric.scale) }
                series.append(LineSeries(name: m.name, style: m.style, points: pts, markers: pts.count <= 16))
            }
            guard !series.isEmpty else { continue }
            let xs = series.flatMap { $0.points.map(\.x) }
            var x = AxisSpec(label: xLabel, domain: (xs.min() ?? 0, xs.max() ?? 1))
            switch family {
            case .corruption: x.ticks = Array(Set(xs.map { $0.rounded() })).sorted()
            case .rotation:
                x.domain = (min(0, x.domain.0), max(x.domain.1, 15))
                let step: Double = x.domain.1 - x.domain.0 > 120 ? 30 : 15
                x.ticks = stride(from: (x.domain.0 / step).rounded(.down) * step, through: x.domain.1, by: step).map { $0 }
            case .translation: x.domain = niceDomain(min(0, x.domain.0), x.domain.1, count: 6)
            }
            var y = AxisSpec.fitting(series.flatMap { $0.points.map(\.y) }, label: metric.axis,
                                     includeZero: metric.scale == 1)
            if metric.scale == 100 { y.domain.1 = min(y.domain.1, 100) }
            charts.append(lineChart(title: "\(metric.title) vs \(name)", x: x, y: y, series: series, width: 400, height: 290))
        }
    }
    return [charts, severityBoxPlots(methods, points: points)]
}

/// Box plots (over corruption kinds) of ECE and accuracy at each severity, one box per method.
private func severityBoxPlots(_ methods: [MethodRuns], points: [[ShiftKey: ShiftAverage]]) -> [String] {
    let severities = Array(Set(points.flatMap { $0.keys.filter { ShiftFamily($0.shift) == .corruption }.map(\.severity) })).sorted()
    guard !severities.isEmpty else { return [] }
    var charts: [String] = []
    for metric in [shiftMetrics[1], shiftMetrics[0]] {
        var series: [(name: String, style: SeriesStyle, boxes: [BoxStats?])] = []
        var all: [Double] = []
        for (m, byKey) in zip(methods, points) {
            let boxes = severities.map { s -> BoxStats? in
                let values = byKey.filter { $0.key.severity == s && ShiftFamily($0.key.shift) == .corruption }.map { metric.shifted($0.value) * metric.scale }
                all += values
                return BoxStats(values)
            }
            if boxes.contains(where: { $0 != nil }) { series.append((m.name, m.style, boxes)) }
        }
        guard !series.isEmpty else { continue }
        var y = AxisSpec.fitting(all, label: metric.axis, includeZero: metric.scale == 1)
        if metric.scale == 100 { y.domain.1 = min(y.domain.1, 100) }
        charts.append(boxPlotChart(title: "\(metric.title) per severity across corruption kinds", categories: severities.map(String.init),
                                   xLabel: "corruption severity", y: y, series: series, width: 600, height: 300))
    }
    return charts
}
