import Foundation

/// Maps data values to pixels along one axis, linearly or logarithmically, and chooses
/// readable ticks ("nice" steps of 1, 2 or 5 × 10ᵏ; powers of ten on log axes).
struct ChartScale {
    enum Kind { case linear, log }

    var kind: Kind
    /// Data interval (for `.log`, both ends > 0).
    var domain: (lower: Double, upper: Double)
    /// Pixel interval the domain maps to (may run backwards, as y axes do).
    var range: (start: Double, end: Double)

    init(_ kind: Kind = .linear, domain: (Double, Double), range: (Double, Double)) {
        self.kind = kind
        var lo = domain.0, hi = domain.1
        if !lo.isFinite || !hi.isFinite { (lo, hi) = (0, 1) }
        if kind == .log { lo = max(lo, 1e-300); hi = max(hi, lo * 10) }
        if lo == hi { (lo, hi) = kind == .log ? (lo / 10, hi * 10) : (lo - 1, hi + 1) }
        self.domain = (min(lo, hi), max(lo, hi))
        self.range = range
    }

    /// Pixel position of `value` (log scales clamp values ≤ 0 to the lower end).
    func callAsFunction(_ value: Double) -> Double {
        let t: Double
        switch kind {
        case .linear:
            t = (value - domain.lower) / (domain.upper - domain.lower)
        case .log:
            let v = value > 0 ? value : domain.lower
            t = (Foundation.log10(v) - Foundation.log10(domain.lower)) / (Foundation.log10(domain.upper) - Foundation.log10(domain.lower))
        }
        return range.start + t * (range.end - range.start)
    }

    /// About `count` ticks inside the domain.
    func ticks(count: Int = 5) -> [Double] {
        switch kind {
        case .linear: return niceTicks(domain.lower, domain.upper, count: count)
        case .log: return logTicks(domain.lower, domain.upper)
        }
    }

    /// A label for a tick of this scale.
    func tickLabel(_ value: Double, among ticks: [Double]) -> String {
        switch kind {
        case .linear:
            // One style per axis: all compact ("2.5k … 12.5k") once any tick needs it.
            if ticks.contains(where: { abs($0) >= 10_000 }) { return compactNumber(value) }
            let step = ticks.count > 1 ? abs(ticks[1] - ticks[0]) : abs(value)
            return formatTick(value, step: step)
        case .log:
            return compactNumber(value)
        }
    }
}

/// The step of 1, 2, 2.5 or 5 × 10ᵏ nearest to `rough`.
func niceStep(_ rough: Double) -> Double {
    guard rough > 0, rough.isFinite else { return 1 }
    let power = Foundation.pow(10, Foundation.floor(Foundation.log10(rough)))
    let f = rough / power
    let nice: Double = f < 1.5 ? 1 : f < 2.25 ? 2 : f < 3.5 ? 2.5 : f < 7.5 ? 5 : 10
    return nice * power
}

/// The domain widened outward to whole multiples of a nice step (for axes that start and end on a tick).
func niceDomain(_ lo: Double, _ hi: Double, count: Int = 5) -> (Double, Double) {
    guard lo.isFinite, hi.isFinite else { return (0, 1) }
    if lo == hi { return lo == 0 ? (0, 1) : (min(0, lo), max(0, lo) * 1.1 + (lo < 0 ? 1 : 0)) }
    let step = niceStep((hi - lo) / Double(max(count - 1, 1)))
    return (Foundation.floor(lo / step + 1e-9) * step, Foundation.ceil(hi / step - 1e-9) * step)
}

/// Multiples of a nice step within `[lo, hi]` (about `count` of them).
func niceTicks(_ lo: Double, _ hi: Double, count: Int = 5) -> [Double] {
    guard hi > lo, lo.isFinite, hi.isFinite else { return [lo] }
    let step = niceStep((hi - lo) / Double(max(count - 1, 1)))
    let first = Foundation.ceil(lo / step - 1e-9)
    var ticks: [Double] = []
    var k = first
    while k * step <= hi + step * 1e-9 && ticks.count < 50 {
        // Round away binary noise (0.6000000000000001 → 0.6) at two digits below the step.
        let digits = Foundation.pow(10, max(0, Foundation.ceil(-Foundation.log10(step))) + 2)
        let v = (k * step * digits).rounded() / digits
        ticks.append(abs(v) < step * 1e-9 ? 0 : v)
        k += 1
    }
    return ticks
}

/// Powers of ten within `[lo, hi]`; with fewer than three, the 2× and 5× values too.
func logTicks(_ lo: Double, _ hi: Double) -> [Double] {
    let a = Int(Foundation.floor(Foundation.log10(lo) - 1e-9)), b = Int(Foundation.ceil(Foundation.log10(hi) + 1e-9))
    var decades: [Double] = []
    for e in a...max(a, b) { decades.append(Foundation.pow(10, Double(e))) }
    let lower: Double = lo * (1 - 1e-9), upper: Double = hi * (1 + 1e-9)
    func inside(_ v: Double) -> Bool { v >= lower && v <= upper }
    var ticks = decades.filter(inside)
    if ticks.count < 3 {
        let dense: [Double] = decades.flatMap { (d: Double) -> [Double] in [d, 2 * d, 5 * d] }
        ticks = dense.filter(inside)
    }
    // Thin out a crowded axis (more than eight decades): every other power.
    while ticks.count > 8 { ticks = ticks.enumerated().filter { $0.offset % 2 == 0 }.map(\.element) }
    return ticks
}

/// The domain of a log axis widened to whole powers of ten (or 2/5 multiples for narrow ranges).
func niceLogDomain(_ lo: Double, _ hi: Double) -> (Double, Double) {
    let lo = lo > 0 && lo.isFinite ? lo : 1, hi = hi > 0 && hi.isFinite ? max(hi, lo) : lo * 10
    let candidates = (-12...15).flatMap { e -> [Double] in let p = Foundation.pow(10, Double(e)); return [p, 2 * p, 5 * p] }
    let down = candidates.last { $0 <= lo * (1 + 1e-9) } ?? lo
    let up = candidates.first { $0 >= hi * (1 - 1e-9) } ?? hi
    return up > down ? (down, up) : (down, down * 10)
}

/// A tick label with just enough decimals for `step` (0.25 → "0.25", 20 → "20").
func formatTick(_ value: Double, step: Double) -> String {
    let decimals = step > 0 ? max(0, min(6, Int(Foundation.ceil(-Foundation.log10(step) - 1e-9)))) : 2
    var adjusted = decimals
    // Steps such as 0.25 need one more decimal than their order of magnitude says.
    if step > 0 {
        let scaled = step * Foundation.pow(10, Double(decimals))
        if abs(scaled - scaled.rounded()) > 1e-6 { adjusted += 1 }
    }
    if abs(value) >= 10_000 { return compactNumber(value) }
    let s = String(format: "%.\(adjusted)f", value)
    return s == "-0" ? "0" : s.replacingOccurrences(of: "-", with: "−")
}

/// 1234 → "1.2k", 3e6 → "3M", 0.002 → "0.002": short labels for wide-ranging values.
func compactNumber(_ v: Double) -> String {
    guard v.isFinite else { return "—" }
    let a = abs(v)
    func trim(_ s: String) -> String {
        guard s.contains(".") else { return s }
        var t = s
        while t.hasSuffix("0") { t.removeLast() }
        if t.hasSuffix(".") { t.removeLast() }
        return t
    }
    let sign = v < 0 ? "−" : ""
    switch a {
    case 0: return "0"
    case 1e9...: return sign + trim(String(format: "%.1f", a / 1e9)) + "G"
    case 1e6...: return sign + trim(String(format: "%.1f", a / 1e6)) + "M"
    case 1e3...: return sign + trim(String(format: "%.1f", a / 1e3)) + "k"
    case 1...: return sign + trim(String(format: "%.2f", a))
    default:
        let decimals = min(8, Int(Foundation.ceil(-Foundation.log10(a))) + 1)
        return sign + trim(String(format: "%.\(decimals)f", a))
    }
}
