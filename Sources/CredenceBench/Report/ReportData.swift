import CredenceData
import CredenceInference
import CredenceMetrics
import Foundation

/// The runs of one configuration on one data set that differ only in their seed: one row
/// of the summary table and one line in every chart. Scalars are averaged over seeds,
/// curves pooled or averaged (see each accessor).
struct MethodRuns {
    /// Display name: the configuration's label, disambiguated when two configurations share it.
    var name: String
    var method: String
    var records: [RunRecord]
    var style: SeriesStyle

    var seeds: [UInt64] { records.map(\.configuration.seed) }

    /// Mean and (for two or more values) sample standard deviation of `metric` over seeds.
    func statistic(_ metric: (RunRecord) -> Double?) -> (mean: Double, sd: Double?)? {
        let values = records.compactMap(metric).filter(\.isFinite)
        guard !values.isEmpty else { return nil }
        let mean = values.reduce(0, +) / Double(values.count)
        guard values.count > 1 else { return (mean, nil) }
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count - 1)
        return (mean, variance.squareRoot())
    }

    func mean(_ metric: (RunRecord) -> Double?) -> Double? { statistic(metric)?.mean }

    /// Reliability bins pooled over seeds (counts added, confidence and accuracy count-weighted);
    /// the first seed's diagram alone when the seeds used different bins.
    var reliability: (bins: [PooledBin], examples: Int)? {
        let diagrams = records.compactMap(\.metrics.reliability)
        guard let first = diagrams.first else { return nil }
        let compatible = diagrams.filter { $0.bins.count == first.bins.count }
        var bins = first.bins.map { PooledBin(lower: $0.lowerEdge, upper: $0.upperEdge) }
        for d in compatible {
            for (i, b) in d.bins.enumerated() where b.count > 0 {
                bins[i].count += b.count
                bins[i].confidenceSum += (b.meanConfidence ?? 0) * Double(b.count)
                bins[i].correctSum += (b.accuracy ?? 0) * Double(b.count)
            }
        }
        return (bins, compatible.reduce(0) { $0 + $1.exampleCount })
    }

    /// Accuracy–rejection points averaged over seeds at each rejection rate.
    var rejection: [(rate: Double, accuracy: Double)] {
        var sums: [Double: (Double, Int)] = [:]
        for r in records { for p in r.metrics.rejection where p.accuracy.isFinite { sums[p.rejectionRate, default: (0, 0)].0 += p.accuracy; sums[p.rejectionRate, default: (0, 0)].1 += 1 } }
        return sums.keys.sorted().map { ($0, sums[$0]!.0 / Double(sums[$0]!.1)) }
    }

    /// Shift metrics averaged over seeds, per shift name and severity.
    var shiftPoints: [ShiftKey: ShiftAverage] {
        var out: [ShiftKey: ShiftAverage] = [:]
        for r in records {
            for p in r.metrics.shift {
                out[ShiftKey(shift: p.shift, severity: p.severity), default: ShiftAverage()].add(p)
            }
        }
        return out
    }

    /// The ROC curve of `score` against OOD set `set`: the run's own points for one seed,
    /// the vertical average over seeds (TPR at 101 FPR values) otherwise; with the mean AUROC.
    func rocCurve(set: String, score: String) -> (points: [(x: Double, y: Double)], auroc: Double)? {
        let found = records.compactMap { r in r.metrics.ood.first { $0.set == set }?.scores[score] }
        guard !found.isEmpty else { return nil }
        let auroc = found.map(\.auroc).reduce(0, +) / Double(found.count)
        return (averageROC(found.map(\.rocCurve)), auroc)
    }
}

/// One ROC curve, or several (seeds) averaged on a grid of 101 false-positive rates.
func averageROC(_ curves: [[ROCPoint]]) -> [(x: Double, y: Double)] {
    let points = curves.map { $0.map { ($0.falsePositiveRate, $0.truePositiveRate) } }
    if points.count == 1 { return points[0].map { (x: $0.0, y: $0.1) } }
    return (0...100).map { Double($0) / 100 }.map { f in
        (x: f, y: points.map { interpolateROC($0, at: f) }.reduce(0, +) / Double(Swift.max(points.count, 1)))
    }
}

/// Unit axes of a ROC chart, labelled.
func rocAxes(falsePositives: String, truePositives: String) -> (x: AxisSpec, y: AxisSpec) {
    let unit = AxisSpec(label: "", domain: (0, 1), ticks: [0, 0.2, 0.4, 0.6, 0.8, 1])
    var x = unit, y = unit
    x.label = falsePositives
    y.label = truePositives
    return (x, y)
}

/// TPR of a piecewise-linear ROC curve at false-positive rate `f` (the highest TPR on a vertical step).
func interpolateROC(_ curve: [(Double, Double)], at f: Double) -> Double {
    guard !curve.isEmpty else { return f }
    var best: Double?
    for i in curve.indices {
        let (x0, y0) = curve[i]
        if x0 == f { best = max(best ?? y0, y0) }
        if i + 1 < curve.count {
            let (x1, y1) = curve[i + 1]
            if x0 < f && f < x1 { best = max(best ?? 0, y0 + (y1 - y0) * (f - x0) / (x1 - x0)) }
        }
    }
    return best ?? (f <= (curve.first?.0 ?? 0) ? (curve.first?.1 ?? 0) : (curve.last?.1 ?? 1))
}

/// One reliability bin pooled over seeds.
struct PooledBin {
    var lower: Double
    var upper: Double
    var count = 0
    var confidenceSum = 0.0
    var correctSum = 0.0
    var confidence: Double? { count > 0 ? confidenceSum / Double(count) : nil }
    var accuracy: Double? { count > 0 ? correctSum / Double(count) : nil }
}

struct ShiftKey: Hashable { var shift: String; var severity: Int }

/// Running means of a shift point's metrics.
struct ShiftAverage {
    var n = 0
    var accuracy = 0.0, nll = 0.0, ece = 0.0, brier = 0.0
    mutating func add(_ p: ShiftPoint) {
        n += 1
        accuracy += (p.accuracy - accuracy) / Double(n)
        nll += (p.negativeLogLikelihood - nll) / Double(n)
        ece += (p.expectedCalibrationError - ece) / Double(n)
        brier += (p.brierScore - brier) / Double(n)
    }
}

/// All methods run on one data set.
struct DatasetGroup {
    var dataset: String
    var description: String
    var methods: [MethodRuns]

    var classification: [MethodRuns] { methods.filter { $0.records.contains { $0.metrics.classification != nil } } }
    var regression: [MethodRuns] { methods.filter { $0.records.contains { $0.metrics.regression != nil } } }
    /// OOD set names in first-seen order.
    var oodSets: [String] {
        var seen: [String] = []
        for m in methods { for r in m.records { for o in r.metrics.ood where !seen.contains(o.set) { seen.append(o.set) } } }
        return seen
    }
    var anchor: String { "ds-" + slug(dataset) }
}

/// The records arranged for the page: data sets in a stable order, methods within each,
/// and one style per method name shared by every chart.
struct ReportModel {
    var groups: [DatasetGroup]
    var styles: [(name: String, style: SeriesStyle)]

    /// Okabe & Ito (2008) colour-blind-safe palette, yellow last (weakest on white).
    static let palette = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#D4C21F"]
    static let dashes: [String?] = [nil, "7 3", "2 3"]

    init(_ records: [RunRecord]) {
        // Seeds of one configuration form one method: group by the configuration minus its seed.
        var byDataset: [String: [String: [RunRecord]]] = [:]
        var datasetOrder: [String] = []
        for r in records {
            var c = r.configuration
            c.seed = 0
            let ds = r.configuration.datasetLabel
            if byDataset[ds] == nil { datasetOrder.append(ds) }
            byDataset[ds, default: [:]][c.key, default: []].append(r)
        }
        // Methods in the registry's order (baseline first); others (external predictions) follow alphabetically.
        func rank(_ method: String) -> Int { MethodRegistry.rank(method) }
        var groups: [DatasetGroup] = []
        var names: Set<String> = []
        for ds in datasetOrder.sorted() {
            let configs = byDataset[ds]!.values.map { $0.sorted { $0.configuration.seed < $1.configuration.seed } }
            let labelled = disambiguatedNames(configs.map { $0[0].configuration })
            var methods = zip(configs, labelled).map { MethodRuns(name: $1, method: $0[0].configuration.method, records: $0,
                                                                  style: SeriesStyle(color: "", dash: nil, marker: .circle)) }
            methods.sort { (rank($0.method), $0.method, $0.name) < (rank($1.method), $1.method, $1.name) }
            names.formUnion(methods.map(\.name))
            let first = configs[0][0].configuration
            var description = first.isExternal ? "predictions made outside Credence, scored by credence score" : first.dataset.summary
            if let held = first.heldOutClassesText {
                description += "; trained and tested without \(held), whose test images are the OOD set held-out-classes"
            }
            groups.append(DatasetGroup(dataset: ds, description: description, methods: methods))
        }
        // One style per distinct method name across data sets, in method order.
        let ordered = names.sorted { a, b in
            let ma = groups.lazy.flatMap(\.methods).first { $0.name == a }?.method ?? a
            let mb = groups.lazy.flatMap(\.methods).first { $0.name == b }?.method ?? b
            return (rank(ma), ma, a) < (rank(mb), mb, b)
        }
        styles = ordered.enumerated().map { i, name in
            let p = Self.palette.count
            return (name, SeriesStyle(color: Self.palette[i % p], dash: Self.dashes[(i / p) % Self.dashes.count],
                                      marker: SeriesStyle.Marker.allCases[i % SeriesStyle.Marker.allCases.count]))
        }
        let lookup = Dictionary(styles.map { ($0.name, $0.style) }, uniquingKeysWith: { a, _ in a })
        for g in groups.indices { for m in groups[g].methods.indices { groups[g].methods[m].style = lookup[groups[g].methods[m].name]! } }
        self.groups = groups
    }
}

/// Labels for configurations on one data set; configurations sharing a label get the
/// fields that tell them apart appended ("map [cnn]", "map [epochs 20]").
func disambiguatedNames(_ configs: [RunConfiguration]) -> [String] {
    let labels = configs.map(\.label)
    return configs.indices.map { i in
        let clash = configs.indices.filter { labels[$0] == labels[i] }
        guard clash.count > 1 else { return labels[i] }
        let others = clash.map { configs[$0] }
        var parts: [String] = []
        let c = configs[i]
        if Set(others.map(\.model.rawValue)).count > 1 { parts.append(c.model.rawValue) }
        if Set(others.map { $0.hidden ?? [] }).count > 1 { parts.append("hidden " + (c.hidden ?? []).map(String.init).joined(separator: "-")) }
        if Set(others.map(\.epochs)).count > 1 { parts.append("epochs \(c.epochs)") }
        if Set(others.map(\.learningRate)).count > 1 { parts.append("lr \(c.learningRate)") }
        if Set(others.map(\.batchSize)).count > 1 { parts.append("batch \(c.batchSize)") }
        if Set(others.map(\.samples)).count > 1 { parts.append("S \(c.samples)") }
        if Set(others.map { $0.training ?? [:] }).count > 1 {
            parts.append((c.training ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
        if Set(others.map { $0.trainLimit ?? -1 }).count > 1 { parts.append("train \(c.trainLimit.map(String.init) ?? "all")") }
        if parts.isEmpty { parts.append(String(c.key.prefix(6))) }
        return labels[i] + " [" + parts.joined(separator: ", ") + "]"
    }
}

/// A lowercase identifier for anchors: letters, digits and dashes only.
func slug(_ s: String) -> String {
    let mapped = s.lowercased().unicodeScalars.map { CharacterSet.alphanumerics.contains($0) && $0.isASCII ? Character($0) : "-" }
    return String(mapped)
}
