import CredenceInference
import CredenceTensor
import Foundation

/// The Square attack (Andriushchenko et al. 2020), score-based black box: it only queries the
/// model's predictive (the model average of `eotSamples` samples for a posterior), never a
/// gradient — the check that robustness is not gradient masking.
///
/// It minimises the margin z_y − max_{i≠y} z_i of the log-probabilities (targeted: max_{i≠t} z_i
/// − z_t) by random search: each query changes one square window of side s (its area a fraction
/// p of the image, p shrinking on the schedule of the paper's code from `initialFraction`) and
/// keeps the change when the margin falls. L∞: the window moves by ±2ε per channel from the best
/// point and is projected back; the start is vertical stripes of ±ε. L2: the window gets a
/// centred pattern of nested rectangles with mass moved from a second window, keeping the
/// perturbation on the ε-sphere. As in the reference code (and torchattacks' port), a query's
/// window and signs are shared by the examples of a batch (L2: signs per example), and an
/// example stops once misclassified. Inputs [N, C, H, W] (or [N, H, W]); L∞ also takes
/// vectors [N, D], with windows of 1 × k.
public struct Square: Sendable {
    public var norm: AttackNorm
    public var epsilon: Float
    /// Queries per example (AutoAttack: 5000).
    public var queries: Int
    public var restarts: Int
    /// p at the start of the schedule (0.8 in AutoAttack).
    public var initialFraction: Float
    /// Attack toward these classes (one per example) instead of away from the true ones.
    public var targets: [Int32]?
    public var inputRange: ClosedRange<Float>

    public init(norm: AttackNorm = .linf, epsilon: Float, queries: Int = 5000, restarts: Int = 1, initialFraction: Float = 0.8,
                targets: [Int32]? = nil, inputRange: ClosedRange<Float> = 0...1) {
        self.norm = norm
        self.epsilon = epsilon
        self.queries = queries
        self.restarts = restarts
        self.initialFraction = initialFraction
        self.targets = targets
        self.inputRange = inputRange
    }

    /// p at query `i`: halved at 10, 50, 200, 500, 1000, 2000, 4000, 6000 and 8000 of 10,000
    /// (the schedule rescaled to `queries`).
    func fraction(atQuery i: Int) -> Float {
        let t = Int(Double(i) / Double(queries) * 10_000)
        let halvings = [10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000].filter { t > $0 }.count
        return initialFraction / Float(1 << halvings)
    }

    /// (channels, height, width) of one example.
    static func geometry(_ shape: [Int]) throws -> (c: Int, h: Int, w: Int) {
        let example = Array(shape.dropFirst())
        switch example.count {
        case 1: return (1, 1, example[0])
        case 2: return (1, example[0], example[1])
        case 3: return (example[0], example[1], example[2])
        default: throw InferenceError.invalidOption("the Square attack takes images [N, C, H, W] or vectors [N, D]; got inputs \(shape)")
        }
    }

    /// Adversarial versions of `inputs` for `labels` against `target`.
    public func perturb(_ inputs: Tensor, labels: [Int32], target: AttackTarget,
                        rng: inout RandomGenerator) throws -> Tensor {
        let n = try exampleCount(inputs, labels: labels)
        guard epsilon >= 0, epsilon.isFinite, queries >= 1, restarts >= 1, initialFraction > 0, initialFraction <= 1 else {
            throw InferenceError.invalidOption("Square needs ε ≥ 0, queries and restarts ≥ 1 and an initial fraction in (0, 1] (got \(epsilon), \(queries), \(restarts), \(initialFraction))")
        }
        try checkTargets(targets, count: n)
        let geometry = try Self.geometry(inputs.shape)
        if norm == .l2, geometry.h < 5 || geometry.w < 5 {
            throw InferenceError.invalidOption("the L2 Square attack needs images at least 5 × 5; got inputs \(inputs.shape) (use L∞)")
        }
        let classes = targets ?? labels
        var adversarial = inputs
        var fooled = [Bool](repeating: false, count: n)
        for _ in 0..<restarts {
            let remaining = fooled.indices.filter { !fooled[$0] }
            guard !remaining.isEmpty else { break }
            let run = try singleRun(try inputs.selectingRows(remaining), classes: remaining.map { classes[$0] }, geometry: geometry,
                                    target: target, rng: &rng)
            try adversarial.setRows(remaining, from: run.best)
            for (k, i) in remaining.enumerated() where run.margins[k] <= 0 { fooled[i] = true }
        }
        return adversarial
    }

    /// One run: the best point per example and its margin.
    func singleRun(_ x: Tensor, classes: [Int32], geometry g: (c: Int, h: Int, w: Int), target: AttackTarget,
                   rng: inout RandomGenerator) throws -> (best: Tensor, margins: [Float]) {
        let m = classes.count, size = g.c * g.h * g.w
        let clean = x.values
        var best = norm == .linf ? stripes(clean, count: m, g, rng: &rng) : rectangles(clean, count: m, g, rng: &rng)
        var margin = scoreMargins(try target.logProbabilities(Tensor(shape: x.shape, values: best), rng: &rng), classes: classes, targeted: targets != nil)
        for query in 0..<queries {
            let active = margin.indices.filter { margin[$0] > 0 }
            guard !active.isEmpty else { break }
            let p = fraction(atQuery: query)
            var candidate = [Float](repeating: 0, count: active.count * size)
            if norm == .linf {
                proposeLinf(best, clean, active: active, into: &candidate, p: p, g, rng: &rng)
            } else {
                proposeL2(best, clean, active: active, into: &candidate, p: p, g, rng: &rng)
            }
            let shape = [active.count] + Array(x.shape.dropFirst())
            let proposed = scoreMargins(try target.logProbabilities(Tensor(shape: shape, values: candidate), rng: &rng),
                                   classes: active.map { classes[$0] }, targeted: targets != nil)
            for (k, i) in active.enumerated() where proposed[k] < margin[i] || proposed[k] <= 0 {
                margin[i] = proposed[k]
                for j in 0..<size { best[i * size + j] = candidate[k * size + j] }
            }
        }
        return (Tensor(shape: x.shape, values: best), margin)
    }

    func clip(_ v: Float, around c: Float) -> Float {
        Swift.min(Swift.max(Swift.min(Swift.max(v, c - epsilon), c + epsilon), inputRange.lowerBound), inputRange.upperBound)
    }

    func clip(_ v: Float) -> Float { Swift.min(Swift.max(v, inputRange.lowerBound), inputRange.upperBound) }

    /// L∞ start: x + ε·(±1 per example, channel and column), clipped to the range.
    func stripes(_ clean: [Float], count: Int, _ g: (c: Int, h: Int, w: Int), rng: inout RandomGenerator) -> [Float] {
        var out = clean
        let size = g.c * g.h * g.w
        for i in 0..<count {
            for ch in 0..<g.c {
                for col in 0..<g.w {
                    let sign: Float = rng.next() & 1 == 0 ? -1 : 1
                    for row in 0..<g.h {
                        let j = i * size + (ch * g.h + row) * g.w + col
                        out[j] = clip(clean[j] + epsilon * sign)
                    }
                }
            }
        }
        return out
    }

    /// Window sides for a fraction p of an example's area: s × s (s = round √(p·H·W), at least
    /// `minimum`, at most the image), or for vectors 1 × round(p·D).
    func window(_ p: Float, _ g: (c: Int, h: Int, w: Int), minimum: Int = 1) -> (h: Int, w: Int) {
        if g.h == 1 { return (1, Swift.min(Swift.max(Int((p * Float(g.w)).rounded()), minimum), g.w)) }
        let s = Swift.min(Swift.max(Int((p * Float(g.h * g.w)).squareRoot().rounded()), minimum), Swift.min(g.h, g.w))
        return (s, s)
    }

    func proposeLinf(_ best: [Float], _ clean: [Float], active: [Int], into candidate: inout [Float], p: Float,
                     _ g: (c: Int, h: Int, w: Int), rng: inout RandomGenerator) {
        let size = g.c * g.h * g.w
        let (sh, sw) = window(p, g)
        let top = Int(rng.next() % UInt64(g.h - sh + 1)), left = Int(rng.next() % UInt64(g.w - sw + 1))
        let signs: [Float] = (0..<g.c).map { _ in rng.next() & 1 == 0 ? -1 : 1 }
        for (k, i) in active.enumerated() {
            for j in 0..<size { candidate[k * size + j] = best[i * size + j] }
            for ch in 0..<g.c {
                for row in top..<(top + sh) {
                    for col in left..<(left + sw) {
                        let j = (ch * g.h + row) * g.w + col
                        candidate[k * size + j] = clip(best[i * size + j] + 2 * epsilon * signs[ch], around: clean[i * size + j])
                    }
                }
            }
        }
    }

    /// A unit-norm s × s pattern of nested rectangles around the centre, one half positive and
    /// the other negative, transposed with probability ½ (the paper's η).
    func pattern(_ s: Int, rng: inout RandomGenerator) -> [Float] {
        func rectangles(_ rows: Int, _ cols: Int) -> [Float] {
            var d = [Float](repeating: 0, count: rows * cols)
            let rc = rows / 2 + 1, cc = cols / 2 + 1
            var corner = (rc - 1, cc - 1)
            for k in 0..<Swift.max(rc, cc) {
                let r0 = Swift.max(corner.0, 0), r1 = Swift.min(corner.0 + 2 * k + 1, rows)
                let c0 = Swift.max(corner.1, 0), c1 = Swift.min(corner.1 + 2 * k + 1, cols)
                if r0 < r1, c0 < c1 {
                    for r in r0..<r1 { for c in c0..<c1 { d[r * cols + c] += 1 / Float((k + 1) * (k + 1)) } }
                }
                corner = (corner.0 - 1, corner.1 - 1)
            }
            let norm = d.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return d.map { $0 / norm }
        }
        let upper = rectangles(s / 2, s), lower = rectangles(s - s / 2, s)
        var d = upper + lower.map { -$0 }
        let norm = d.reduce(0) { $0 + $1 * $1 }.squareRoot()
        d = d.map { $0 / norm }
        guard rng.next() & 1 == 1 else { return d }
        return (0..<(s * s)).map { k in d[(k % s) * s + k / s] }
    }

    /// L2 start: a 5 × 5 grid of the patterns with random signs per example and channel,
    /// scaled to ‖δ‖ = ε, clipped to the range.
    func rectangles(_ clean: [Float], count: Int, _ g: (c: Int, h: Int, w: Int), rng: inout RandomGenerator) -> [Float] {
        let size = g.c * g.h * g.w, s = g.h / 5, start = (g.h - s * 5) / 2
        var out = clean
        for i in 0..<count {
            var delta = [Float](repeating: 0, count: size)
            var top = start
            for _ in 0..<(g.h / s) {
                var left = start
                for _ in 0..<(g.w / s) {
                    let eta = pattern(s, rng: &rng)
                    for ch in 0..<g.c {
                        let sign: Float = rng.next() & 1 == 0 ? -1 : 1
                        for r in 0..<s where top + r < g.h {
                            for c in 0..<s where left + c < g.w { delta[(ch * g.h + top + r) * g.w + left + c] += eta[r * s + c] * sign }
                        }
                    }
                    left += s
                }
                top += s
            }
            let norm = delta.reduce(0) { $0 + $1 * $1 }.squareRoot() + 1e-12
            for j in 0..<size { out[i * size + j] = clip(clean[i * size + j] + delta[j] / norm * epsilon) }
        }
        return out
    }

    func proposeL2(_ best: [Float], _ clean: [Float], active: [Int], into candidate: inout [Float], p: Float,
                   _ g: (c: Int, h: Int, w: Int), rng: inout RandomGenerator) {
        let size = g.c * g.h * g.w, plane = g.h * g.w
        var s = window(p, g, minimum: 3).h
        if s % 2 == 0 { s = Swift.min(s + 1, Swift.min(g.h, g.w)) }
        let span = { (limit: Int) in UInt64(limit - s + 1) }
        let (top, left) = (Int(rng.next() % span(g.h)), Int(rng.next() % span(g.w)))
        let (top2, left2) = (Int(rng.next() % span(g.h)), Int(rng.next() % span(g.w)))
        let eta = pattern(s, rng: &rng)
        let inFirst = { (r: Int, c: Int) in r >= top && r < top + s && c >= left && c < left + s }
        let inSecond = { (r: Int, c: Int) in r >= top2 && r < top2 + s && c >= left2 && c < left2 + s }
        for (k, i) in active.enumerated() {
            var delta = (0..<size).map { best[i * size + $0] - clean[i * size + $0] }
            let imageNorm = delta.reduce(0) { $0 + $1 * $1 }.squareRoot()
            var windowsNorm: Float = 0
            for ch in 0..<g.c {
                for r in 0..<g.h {
                    for c in 0..<g.w where inFirst(r, c) || inSecond(r, c) {
                        let v = delta[ch * plane + r * g.w + c]
                        windowsNorm += v * v
                    }
                }
            }
            windowsNorm = windowsNorm.squareRoot()
            for ch in 0..<g.c {
                let sign: Float = rng.next() & 1 == 0 ? -1 : 1
                var window = [Float](repeating: 0, count: s * s)
                var oldNorm: Float = 0
                for r in 0..<s { for c in 0..<s { let v = delta[ch * plane + (top + r) * g.w + left + c]; window[r * s + c] = v; oldNorm += v * v } }
                oldNorm = oldNorm.squareRoot()
                var fresh = (0..<(s * s)).map { eta[$0] * sign + window[$0] / (1e-12 + oldNorm) }
                let freshNorm = fresh.reduce(0) { $0 + $1 * $1 }.squareRoot()
                let budget = (Swift.max(epsilon * epsilon - imageNorm * imageNorm, 0) / Float(g.c) + windowsNorm * windowsNorm).squareRoot()
                fresh = fresh.map { $0 / (1e-12 + freshNorm) * budget }
                for r in 0..<s { for c in 0..<s { delta[ch * plane + (top2 + r) * g.w + left2 + c] = 0 } }
                for r in 0..<s { for c in 0..<s { delta[ch * plane + (top + r) * g.w + left + c] = fresh[r * s + c] } }
            }
            let norm = delta.reduce(0) { $0 + $1 * $1 }.squareRoot() + 1e-12
            for j in 0..<size { candidate[k * size + j] = clip(clean[i * size + j] + delta[j] / norm * epsilon) }
        }
    }
}

extension Square: Attack {}
