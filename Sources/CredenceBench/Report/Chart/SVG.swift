import Foundation

/// Escapes text for HTML and XML content and attribute values: `& < > " '` become entities.
/// Everything a user can name (suite labels, data set and OOD set names, settings) passes
/// through here before it reaches the page, so a label like `<script>` renders as text.
func escapeHTML(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for ch in text.unicodeScalars {
        switch ch {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        // Control characters are not allowed in XML 1.0; drop them rather than break the SVG.
        case _ where ch.value < 0x20 && ch != "\n" && ch != "\t": continue
        default: out.unicodeScalars.append(ch)
        }
    }
    return out
}

/// A coordinate or length for an SVG attribute: at most two decimals, no trailing zeros,
/// never `nan` (a non-finite value becomes 0 so the document stays well formed).
func svgNumber(_ v: Double) -> String {
    guard v.isFinite else { return "0" }
    let r = (v * 100).rounded() / 100
    if r == r.rounded() { return String(Int(r)) }
    var s = String(format: "%.2f", r)
    while s.hasSuffix("0") { s.removeLast() }
    return s
}

/// How text is anchored horizontally at its x coordinate.
enum TextAnchor: String { case start, middle, end }

/// A tiny SVG builder: elements are appended as strings; attribute values and text are
/// escaped here, so chart code never concatenates raw user text into markup.
struct SVGWriter {
    let width: Double
    let height: Double
    private(set) var elements: [String] = []

    init(width: Double, height: Double) {
        self.width = width
        self.height = height
    }

    mutating func raw(_ markup: String) { elements.append(markup) }

    mutating func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, stroke: String,
                       width: Double = 1, dash: String? = nil, opacity: Double? = nil) {
        var a = "<line x1=\"\(svgNumber(x1))\" y1=\"\(svgNumber(y1))\" x2=\"\(svgNumber(x2))\" y2=\"\(svgNumber(y2))\""
        a += " stroke=\"\(escapeHTML(stroke))\" stroke-width=\"\(svgNumber(width))\""
        if let dash { a += " stroke-dasharray=\"\(dash)\"" }
        if let opacity { a += " stroke-opacity=\"\(svgNumber(opacity))\"" }
        elements.append(a + "/>")
    }

    mutating func rect(_ x: Double, _ y: Double, _ w: Double, _ h: Double, fill: String,
                       opacity: Double? = nil, stroke: String? = nil, strokeWidth: Double = 1,
                       title: String? = nil, className: String? = nil) {
        var a = "<rect x=\"\(svgNumber(x))\" y=\"\(svgNumber(y))\" width=\"\(svgNumber(max(w, 0)))\" height=\"\(svgNumber(max(h, 0)))\""
        a += " fill=\"\(escapeHTML(fill))\""
        if let opacity { a += " fill-opacity=\"\(svgNumber(opacity))\"" }
        if let stroke { a += " stroke=\"\(escapeHTML(stroke))\" stroke-width=\"\(svgNumber(strokeWidth))\"" }
        if let className { a += " class=\"\(escapeHTML(className))\"" }
        if let title { elements.append(a + "><title>\(escapeHTML(title))</title></rect>") } else { elements.append(a + "/>") }
    }

    mutating func circle(_ cx: Double, _ cy: Double, r: Double, fill: String, stroke: String? = nil) {
        var a = "<circle cx=\"\(svgNumber(cx))\" cy=\"\(svgNumber(cy))\" r=\"\(svgNumber(r))\" fill=\"\(escapeHTML(fill))\""
        if let stroke { a += " stroke=\"\(escapeHTML(stroke))\"" }
        elements.append(a + "/>")
    }

    /// A polyline through `points` (non-finite points split the line into pieces).
    mutating func polyline(_ points: [(Double, Double)], stroke: String, width: Double = 2, dash: String? = nil,
                           title: String? = nil) {
        var pieces: [[(Double, Double)]] = [[]]
        for p in points {
            if p.0.isFinite && p.1.isFinite { pieces[pieces.count - 1].append(p) } else if !pieces[pieces.count - 1].isEmpty { pieces.append([]) }
        }
        for piece in pieces where piece.count >= 2 {
            let d = piece.map { "\(svgNumber($0.0)),\(svgNumber($0.1))" }.joined(separator: " ")
            var a = "<polyline points=\"\(d)\" fill=\"none\" stroke=\"\(escapeHTML(stroke))\" stroke-width=\"\(svgNumber(width))\""
            a += " stroke-linejoin=\"round\" stroke-linecap=\"round\""
            if let dash { a += " stroke-dasharray=\"\(dash)\"" }
            if let title { elements.append(a + "><title>\(escapeHTML(title))</title></polyline>") } else { elements.append(a + "/>") }
        }
    }

    /// A closed, filled polygon.
    mutating func polygon(_ points: [(Double, Double)], fill: String, opacity: Double) {
        guard points.count >= 3, points.allSatisfy({ $0.0.isFinite && $0.1.isFinite }) else { return }
        let d = points.map { "\(svgNumber($0.0)),\(svgNumber($0.1))" }.joined(separator: " ")
        elements.append("<polygon points=\"\(d)\" fill=\"\(escapeHTML(fill))\" fill-opacity=\"\(svgNumber(opacity))\" stroke=\"none\"/>")
    }

    mutating func text(_ string: String, x: Double, y: Double, anchor: TextAnchor = .start, size: Double = 12,
                       weight: String? = nil, fill: String = "#222", rotate: Double? = nil, baseline: String? = nil) {
        var a = "<text x=\"\(svgNumber(x))\" y=\"\(svgNumber(y))\" font-size=\"\(svgNumber(size))\" fill=\"\(escapeHTML(fill))\""
        if anchor != .start { a += " text-anchor=\"\(anchor.rawValue)\"" }
        if let weight { a += " font-weight=\"\(weight)\"" }
        if let baseline { a += " dominant-baseline=\"\(baseline)\"" }
        if let rotate { a += " transform=\"rotate(\(svgNumber(rotate)) \(svgNumber(x)) \(svgNumber(y)))\"" }
        elements.append(a + ">\(escapeHTML(string))</text>")
    }

    /// The finished `<svg>` element: scales to its container (viewBox), with an accessible title.
    func render(title: String, className: String = "chart") -> String {
        // No xmlns: inline SVG in HTML5 gets its namespace from the parser, and the page
        // must not contain a single URL.
        var s = "<svg class=\"\(escapeHTML(className))\" viewBox=\"0 0 \(svgNumber(width)) \(svgNumber(height))\""
        // Scales with its container, but not beyond 1.3× its drawn size (text stays proportionate).
        s += " width=\"\(svgNumber(width))\" height=\"\(svgNumber(height))\" style=\"max-width:\(svgNumber(width * 1.3))px\" role=\"img\" font-family=\"system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif\">"
        s += "<title>\(escapeHTML(title))</title>"
        s += elements.joined(separator: "\n")
        return s + "</svg>"
    }
}

/// Rough width of `text` in pixels at `size`, from DejaVu Sans advance widths (the widest of
/// the usual sans-serif fallbacks, so layouts made with it do not overflow in narrower fonts).
func estimatedTextWidth(_ text: String, size: Double) -> Double {
    var units = 0.0
    for ch in text {
        switch ch {
        case "i", "l", "j", ".", ",", ":", ";", "'", "|", "!": units += 0.29
        case "f", "t", "r", "(", ")", "[", "]", " ", "-", "/": units += 0.40
        case "m", "w", "M", "W", "%", "@", "—": units += 0.98
        case "–": units += 0.5
        case _ where ch.isUppercase: units += 0.72
        case _ where ch.isNumber: units += 0.64
        default: units += 0.62
        }
    }
    return units * size
}

/// `text` shortened with an ellipsis to fit `width` pixels at `size`.
func truncated(_ text: String, toWidth width: Double, size: Double) -> String {
    guard estimatedTextWidth(text, size: size) > width else { return text }
    var t = text
    while !t.isEmpty && estimatedTextWidth(t + "…", size: size) > width { t.removeLast() }
    return t + "…"
}
