import Foundation

/// One axis of a chart: its title (with units), scale kind, domain and ticks.
struct AxisSpec {
    var label: String
    var kind: ChartScale.Kind = .linear
    var domain: (Double, Double)
    var tickCount = 5
    /// Explicit tick values (default: the scale's nice ticks).
    var ticks: [Double]? = nil
    /// Custom tick labels (default: the scale's formatting).
    var format: ((Double) -> String)? = nil

    /// An axis whose domain is `values` widened to nice ticks (log: to powers of ten);
    /// `includeZero` keeps 0 in a linear domain (bars, counts).
    static func fitting(_ values: [Double], label: String, kind: ChartScale.Kind = .linear,
                        includeZero: Bool = false, tickCount: Int = 5) -> AxisSpec {
        let finite = values.filter { $0.isFinite && (kind == .linear || $0 > 0) }
        var lo = finite.min() ?? 0, hi = finite.max() ?? 1
        if kind == .log {
            let (a, b) = niceLogDomain(lo, hi)
            return AxisSpec(label: label, kind: .log, domain: (a, b), tickCount: tickCount)
        }
        if includeZero { lo = min(lo, 0); hi = max(hi, 0) }
        return AxisSpec(label: label, domain: niceDomain(lo, hi, count: tickCount), tickCount: tickCount)
    }
}

/// Colour, dash and marker of one method: the same in every chart of the report.
struct SeriesStyle: Equatable {
    enum Marker: CaseIterable { case circle, square, triangle, diamond }
    var color: String
    var dash: String?
    var marker: Marker
}

/// One legend row: a swatch (line + marker, or a filled square) and its label.
struct LegendEntry {
    var label: String
    var style: SeriesStyle
    var isLine = true
}

/// The plotting rectangle of a chart with its two scales, and the code that draws axes,
/// grid lines, ticks and axis titles around it. Margins grow to fit the tick labels, so
/// labels are never clipped.
struct PlotFrame {
    let x: ChartScale
    let y: ChartScale
    let xAxis: AxisSpec
    let yAxis: AxisSpec
    let left: Double, right: Double, top: Double, bottom: Double
    static let tickSize = 11.0

    /// A frame inside a `width × height` chart whose top `titleHeight` pixels hold the title
    /// and whose bottom `extraBottom` pixels are left free (legend).
    init(width: Double, height: Double, x xAxis: AxisSpec, y yAxis: AxisSpec, titleHeight: Double = 24,
         extraBottom: Double = 0, rightMargin: Double = 14) {
        let probeY = ChartScale(yAxis.kind, domain: yAxis.domain, range: (1, 0))
        let yTicks = yAxis.ticks ?? probeY.ticks(count: yAxis.tickCount)
        let widest = yTicks.map { estimatedTextWidth(Self.label(yAxis, probeY, $0, yTicks), size: Self.tickSize) }.max() ?? 20
        left = 8 + (yAxis.label.isEmpty ? 0 : 18) + widest + 8
        right = width - rightMargin
        top = titleHeight + 8
        bottom = height - extraBottom - (xAxis.label.isEmpty ? 22 : 40)
        self.xAxis = xAxis
        self.yAxis = yAxis
        x = ChartScale(xAxis.kind, domain: xAxis.domain, range: (left, right))
        y = ChartScale(yAxis.kind, domain: yAxis.domain, range: (bottom, top))
    }

    /// A frame occupying exactly the rectangle `left…right × top…bottom` (for stacked panels
    /// that must share their x positions).
    init(x xAxis: AxisSpec, y yAxis: AxisSpec, left: Double, right: Double, top: Double, bottom: Double) {
        (self.left, self.right, self.top, self.bottom) = (left, right, top, bottom)
        self.xAxis = xAxis
        self.yAxis = yAxis
        x = ChartScale(xAxis.kind, domain: xAxis.domain, range: (left, right))
        y = ChartScale(yAxis.kind, domain: yAxis.domain, range: (bottom, top))
    }

    private static func label(_ axis: AxisSpec, _ scale: ChartScale, _ v: Double, _ ticks: [Double]) -> String {
        axis.format?(v) ?? scale.tickLabel(v, among: ticks)
    }

    var plotWidth: Double { right - left }
    var plotHeight: Double { bottom - top }

    /// Clamps a pixel to the plotting rectangle (lines that leave the domain stay inside).
    func clampX(_ px: Double) -> Double { min(max(px, left), right) }
    func clampY(_ py: Double) -> Double { min(max(py, top), bottom) }

    /// Title, light grid, ticks with labels, axis titles and the frame.
    func drawAxes(into svg: inout SVGWriter, title: String?, xGrid: Bool = true, yGrid: Bool = true,
                  xTickLabels: Bool = true) {
        if let title { svg.text(truncated(title, toWidth: svg.width - 12, size: 13), x: 6, y: 17, size: 13, weight: "600") }
        svg.rect(left, top, plotWidth, plotHeight, fill: "#ffffff", stroke: "#d0d0d0")
        let xTicks = xAxis.ticks ?? x.ticks(count: xAxis.tickCount)
        let yTicks = yAxis.ticks ?? y.ticks(count: yAxis.tickCount)
        // x labels: skip some when they would overlap.
        let labels = xTicks.map { Self.label(xAxis, x, $0, xTicks) }
        let widest = labels.map { estimatedTextWidth($0, size: Self.tickSize) }.max() ?? 0
        let spacing = xTicks.count > 1 ? abs(x(xTicks[1]) - x(xTicks[0])) : .infinity
        let every = max(1, Int(Foundation.ceil((widest + 6) / max(spacing, 1))))
        for (i, t) in xTicks.enumerated() {
            let px = x(t)
            guard px >= left - 0.5 && px <= right + 0.5 else { continue }
            if xGrid { svg.line(px, top, px, bottom, stroke: "#ececec") }
            svg.line(px, bottom, px, bottom + 4, stroke: "#666")
            if xTickLabels && i % every == 0 { svg.text(labels[i], x: px, y: bottom + 16, anchor: .middle, size: Self.tickSize, fill: "#444") }
        }
        for t in yTicks {
            let py = y(t)
            guard py >= top - 0.5 && py <= bottom + 0.5 else { continue }
            if yGrid { svg.line(left, py, right, py, stroke: "#ececec") }
            svg.line(left - 4, py, left, py, stroke: "#666")
            svg.text(Self.label(yAxis, y, t, yTicks), x: left - 7, y: py + 4, anchor: .end, size: Self.tickSize, fill: "#444")
        }
        svg.rect(left, top, plotWidth, plotHeight, fill: "none", stroke: "#9a9a9a")
        if !xAxis.label.isEmpty {
            svg.text(xAxis.label, x: (left + right) / 2, y: bottom + 34, anchor: .middle, size: 12, fill: "#333")
        }
        if !yAxis.label.isEmpty {
            svg.text(yAxis.label, x: 14, y: (top + bottom) / 2, anchor: .middle, size: 12, fill: "#333", rotate: -90)
        }
    }
}

/// Draws a marker of `style` centred at (x, y).
func drawMarker(_ style: SeriesStyle, x: Double, y: Double, size: Double = 3.6, into svg: inout SVGWriter) {
    guard x.isFinite, y.isFinite else { return }
    let c = style.color
    switch style.marker {
    case .circle: svg.circle(x, y, r: size, fill: c, stroke: "#fff")
    case .square: svg.rect(x - size, y - size, 2 * size, 2 * size, fill: c, stroke: "#fff")
    case .triangle:
        svg.raw("<polygon points=\"\(svgNumber(x)),\(svgNumber(y - size * 1.2)) \(svgNumber(x + size * 1.1)),\(svgNumber(y + size * 0.9)) \(svgNumber(x - size * 1.1)),\(svgNumber(y + size * 0.9))\" fill=\"\(escapeHTML(c))\" stroke=\"#fff\"/>")
    case .diamond:
        let s = size * 1.25
        svg.raw("<polygon points=\"\(svgNumber(x)),\(svgNumber(y - s)) \(svgNumber(x + s)),\(svgNumber(y)) \(svgNumber(x)),\(svgNumber(y + s)) \(svgNumber(x - s)),\(svgNumber(y))\" fill=\"\(escapeHTML(c))\" stroke=\"#fff\"/>")
    }
}

/// Legend rows laid out in as many equal columns as fit `width`; returns the height used.
struct LegendLayout {
    static let rowHeight = 18.0
    let entries: [LegendEntry]
    let columns: Int
    let columnWidth: Double

    init(_ entries: [LegendEntry], width: Double, maxColumns: Int = 4) {
        self.entries = entries
        let widest = (entries.map { estimatedTextWidth($0.label, size: 11.5) }.max() ?? 40) + 34
        columns = max(1, min(maxColumns, entries.count, Int(width / widest)))
        columnWidth = width / Double(columns)
    }

    var height: Double { entries.isEmpty ? 0 : Double((entries.count + columns - 1) / columns) * Self.rowHeight + 6 }

    /// Draws the legend with its top-left corner at (x, y).
    func draw(into svg: inout SVGWriter, x: Double, y: Double) {
        for (i, e) in entries.enumerated() {
            let cx = x + Double(i % columns) * columnWidth, cy = y + Double(i / columns) * Self.rowHeight + 10
            drawSwatch(e, x: cx, y: cy, into: &svg)
            svg.text(truncated(e.label, toWidth: columnWidth - 32, size: 11.5), x: cx + 28, y: cy + 4, size: 11.5, fill: "#222")
        }
    }
}

/// A boxed legend in a corner of the plotting rectangle (for charts whose corner is empty,
/// such as ROC curves at the bottom right).
func drawInsetLegend(_ entries: [LegendEntry], frame: PlotFrame, corner: (bottom: Bool, right: Bool),
                     into svg: inout SVGWriter) {
    guard !entries.isEmpty else { return }
    let maxWidth = frame.plotWidth - 16
    let w = min(maxWidth, (entries.map { estimatedTextWidth($0.label, size: 11) }.max() ?? 40) + 40)
    let h = Double(entries.count) * 16 + 8
    let x0 = corner.right ? frame.right - w - 6 : frame.left + 6
    let y0 = corner.bottom ? frame.bottom - h - 6 : frame.top + 6
    svg.rect(x0, y0, w, h, fill: "#ffffff", opacity: 0.88, stroke: "#cccccc")
    for (i, e) in entries.enumerated() {
        let cy = y0 + 12 + Double(i) * 16
        drawSwatch(e, x: x0 + 6, y: cy, into: &svg)
        svg.text(truncated(e.label, toWidth: w - 36, size: 11), x: x0 + 32, y: cy + 4, size: 11, fill: "#222")
    }
}

private func drawSwatch(_ e: LegendEntry, x: Double, y: Double, into svg: inout SVGWriter) {
    if e.isLine {
        svg.line(x, y, x + 22, y, stroke: e.style.color, width: 2.5, dash: e.style.dash)
        drawMarker(e.style, x: x + 11, y: y, size: 3.2, into: &svg)
    } else {
        svg.rect(x + 4, y - 6, 14, 12, fill: e.style.color, stroke: "#555", strokeWidth: 0.5)
    }
}
