import Foundation

/// One line of a line chart.
struct LineSeries {
    var name: String
    var style: SeriesStyle
    var points: [(x: Double, y: Double)]
    /// Draw a marker at every point (for few points; off for dense curves such as ROC).
    var markers = true
}

/// Where a line chart puts its legend.
enum LegendPlacement {
    case none
    case below
    case inset(bottom: Bool, right: Bool)
}

/// A line chart: axes, an optional dashed reference line (e.g. the ROC chance diagonal),
/// one polyline per series in its method's style, and a legend.
func lineChart(title: String, x: AxisSpec, y: AxisSpec, series: [LineSeries], width: Double = 440,
               height: Double = 300, legend: LegendPlacement = .none, legendLabels: [String]? = nil,
               reference: [(Double, Double)]? = nil, referenceLabel: String? = nil) -> String {
    let entries = zip(series.indices, series).map { i, s in LegendEntry(label: legendLabels?[i] ?? s.name, style: s.style) }
    var legendLayout: LegendLayout?
    if case .below = legend { legendLayout = LegendLayout(entries, width: width - 20, maxColumns: 2) }
    let legendHeight = legendLayout?.height ?? 0
    var svg = SVGWriter(width: width, height: height + legendHeight)
    let frame = PlotFrame(width: width, height: height + legendHeight, x: x, y: y, extraBottom: legendHeight)
    frame.drawAxes(into: &svg, title: title)
    if let reference {
        let pts = reference.map { (frame.x($0.0), frame.y($0.1)) }
        svg.polyline(pts, stroke: "#888", width: 1.2, dash: "5 4", title: referenceLabel)
    }
    for s in series {
        let pts = s.points.filter { $0.x.isFinite && $0.y.isFinite }.map { (frame.clampX(frame.x($0.x)), frame.clampY(frame.y($0.y))) }
        svg.polyline(pts, stroke: s.style.color, width: 2.2, dash: s.style.dash, title: s.name)
        if s.markers { for p in pts { drawMarker(s.style, x: p.0, y: p.1, into: &svg) } }
    }
    switch legend {
    case .none: break
    case .below: legendLayout?.draw(into: &svg, x: 10, y: frame.bottom + 42)
    case .inset(let bottom, let right): drawInsetLegend(entries, frame: frame, corner: (bottom, right), into: &svg)
    }
    return svg.render(title: title)
}

/// One bar of a horizontal bar chart.
struct Bar {
    var label: String
    var value: Double
    var style: SeriesStyle
    /// Text printed at the bar's end (default: the axis's tick formatting of `value`).
    var valueLabel: String? = nil
}

/// Horizontal bars, one per method, labels on the left, values at the bar ends. On a log
/// axis bars start at the axis's lower end. Height grows with the number of bars.
func horizontalBarChart(title: String, axis: AxisSpec, bars: [Bar], width: Double = 440) -> String {
    let barHeight = 18.0, gap = 8.0
    let labelWidth = min(width * 0.4, (bars.map { estimatedTextWidth($0.label, size: 11.5) }.max() ?? 40) + 12)
    // Long method names wrap onto up to three lines rather than being cut; rows grow to fit.
    let wrapped = bars.map { wrapLabel($0.label, width: labelWidth - 6, size: 11.5, maxLines: 3) }
    let rowHeights = wrapped.map { max(barHeight + gap, Double($0.count) * 13 + 6) }
    let rowTops = rowHeights.indices.map { i in rowHeights[..<i].reduce(0, +) }
    let valueRoom = (bars.map { estimatedTextWidth($0.valueLabel ?? "", size: 11) }.max() ?? 30) + 12
    let plotHeight = rowHeights.reduce(0, +) + gap
    let height = 24 + 8 + plotHeight + 42
    var svg = SVGWriter(width: width, height: height)
    let left = 8 + labelWidth, right = width - max(14, valueRoom), top = 32.0, bottom = top + plotHeight
    let x = ChartScale(axis.kind, domain: axis.domain, range: (left, right))
    svg.text(truncated(title, toWidth: width - 12, size: 13), x: 6, y: 17, size: 13, weight: "600")
    let ticks = axis.ticks ?? x.ticks(count: axis.tickCount)
    let labels = ticks.map { axis.format?($0) ?? x.tickLabel($0, among: ticks) }
    let widest = labels.map { estimatedTextWidth($0, size: 11) }.max() ?? 0
    let spacing = ticks.count > 1 ? abs(x(ticks[1]) - x(ticks[0])) : .infinity
    let every = max(1, Int(Foundation.ceil((widest + 6) / max(spacing, 1))))
    for (i, t) in ticks.enumerated() where x(t) >= left - 0.5 && x(t) <= right + 0.5 {
        svg.line(x(t), top, x(t), bottom, stroke: "#ececec")
        svg.line(x(t), bottom, x(t), bottom + 4, stroke: "#666")
        if i % every == 0 { svg.text(labels[i], x: x(t), y: bottom + 16, anchor: .middle, size: 11, fill: "#444") }
    }
    for (i, b) in bars.enumerated() {
        let y = top + gap + rowTops[i] + (rowHeights[i] - barHeight - gap) / 2
        let lines = wrapped[i]
        for (k, line) in lines.enumerated() {
            let baseline = y + barHeight / 2 + 4 + (Double(k) - Double(lines.count - 1) / 2) * 13
            svg.text(line, x: left - 6, y: baseline, anchor: .end, size: 11.5, fill: "#222")
        }
        guard b.value.isFinite else {
            svg.text("n/a", x: left + 4, y: y + barHeight / 2 + 4, size: 11, fill: "#888")
            continue
        }
        let end = min(max(x(b.value), left), right)
        svg.rect(left, y, end - left, barHeight, fill: b.style.color, opacity: 0.9, title: "\(b.label): \(b.valueLabel ?? compactNumber(b.value))")
        svg.text(b.valueLabel ?? compactNumber(b.value), x: end + 4, y: y + barHeight / 2 + 4, size: 11, fill: "#333")
    }
    svg.line(left, top, left, bottom, stroke: "#666")
    svg.line(left, bottom, right, bottom, stroke: "#666")
    svg.text(axis.label, x: (left + right) / 2, y: bottom + 34, anchor: .middle, size: 12, fill: "#333")
    return svg.render(title: title)
}

/// `text` in at most `maxLines` lines of `width` pixels, broken at spaces (the last line
/// shortened with an ellipsis if the text still does not fit).
func wrapLabel(_ text: String, width: Double, size: Double, maxLines: Int = 2) -> [String] {
    var lines: [String] = []
    var words = text.split(separator: " ").map(String.init)[...]
    while !words.isEmpty && lines.count < maxLines - 1 {
        var line = words.removeFirst()
        while let next = words.first, estimatedTextWidth(line + " " + next, size: size) <= width {
            line += " " + next
            words.removeFirst()
        }
        lines.append(truncated(line, toWidth: width, size: size))
    }
    if !words.isEmpty { lines.append(truncated(words.joined(separator: " "), toWidth: width, size: size)) }
    return lines.isEmpty ? [text] : lines
}

/// Five-number summary of a sample (whiskers at min and max: with a handful of corruption
/// kinds per severity there are too few points to call any of them an outlier).
struct BoxStats {
    var minimum, lowerQuartile, median, upperQuartile, maximum: Double
    var count: Int

    init?(_ values: [Double]) {
        let v = values.filter(\.isFinite).sorted()
        guard !v.isEmpty else { return nil }
        func quantile(_ q: Double) -> Double {
            let h = q * Double(v.count - 1), i = Int(h), f = h - Double(i)
            return i + 1 < v.count ? v[i] + f * (v[i + 1] - v[i]) : v[i]
        }
        (minimum, lowerQuartile, median, upperQuartile, maximum) = (v[0], quantile(0.25), quantile(0.5), quantile(0.75), v[v.count - 1])
        count = v.count
    }
}

/// Grouped box plot: one group per category (e.g. shift severity), one box per series in
/// each group, in the series' colour.
func boxPlotChart(title: String, categories: [String], xLabel: String, y: AxisSpec,
                  series: [(name: String, style: SeriesStyle, boxes: [BoxStats?])], width: Double = 560,
                  height: Double = 300) -> String {
    let entries = series.map { LegendEntry(label: $0.name, style: $0.style, isLine: false) }
    let legend = LegendLayout(entries, width: width - 20, maxColumns: 4)
    var svg = SVGWriter(width: width, height: height + legend.height)
    let xAxis = AxisSpec(label: xLabel, domain: (0, Double(max(categories.count, 1))), ticks: [])
    let frame = PlotFrame(width: width, height: height + legend.height, x: xAxis, y: y, extraBottom: legend.height)
    frame.drawAxes(into: &svg, title: title, xGrid: false)
    let groupWidth = frame.plotWidth / Double(max(categories.count, 1))
    let boxWidth = min(22, groupWidth * 0.8 / Double(max(series.count, 1)))
    for (c, name) in categories.enumerated() {
        let center = frame.left + (Double(c) + 0.5) * groupWidth
        svg.text(name, x: center, y: frame.bottom + 16, anchor: .middle, size: PlotFrame.tickSize, fill: "#444")
        if c > 0 { svg.line(frame.left + Double(c) * groupWidth, frame.top, frame.left + Double(c) * groupWidth, frame.bottom, stroke: "#f0f0f0") }
        for (s, item) in series.enumerated() {
            guard c < item.boxes.count, let b = item.boxes[c] else { continue }
            let x0 = center - Double(series.count) * boxWidth / 2 + Double(s) * boxWidth
            let mid = x0 + boxWidth / 2
            let (yMin, yQ1, yMed, yQ3, yMax) = (frame.clampY(frame.y(b.minimum)), frame.clampY(frame.y(b.lowerQuartile)),
                                                frame.clampY(frame.y(b.median)), frame.clampY(frame.y(b.upperQuartile)),
                                                frame.clampY(frame.y(b.maximum)))
            svg.line(mid, yMax, mid, yQ3, stroke: item.style.color, width: 1.3)
            svg.line(mid, yQ1, mid, yMin, stroke: item.style.color, width: 1.3)
            svg.line(mid - boxWidth * 0.25, yMax, mid + boxWidth * 0.25, yMax, stroke: item.style.color, width: 1.3)
            svg.line(mid - boxWidth * 0.25, yMin, mid + boxWidth * 0.25, yMin, stroke: item.style.color, width: 1.3)
            let tip = "\(item.name), \(name): median \(compactNumber(b.median)) (min \(compactNumber(b.minimum)), max \(compactNumber(b.maximum)); \(b.count) kinds)"
            svg.rect(x0 + 1, yQ3, boxWidth - 2, max(yQ1 - yQ3, 1), fill: item.style.color, opacity: 0.35,
                     stroke: item.style.color, strokeWidth: 1.3, title: tip)
            svg.line(x0 + 1, yMed, x0 + boxWidth - 1, yMed, stroke: "#111", width: 2)
        }
    }
    legend.draw(into: &svg, x: 10, y: frame.bottom + 42)
    return svg.render(title: title)
}
