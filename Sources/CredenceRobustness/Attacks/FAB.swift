import CredenceInference
import CredenceTensor
import Foundation

/// FAB-T, the targeted fast adaptive boundary attack (Croce & Hein 2020, "Minimally distorted
/// adversarial examples with a fast adaptive boundary attack"), as AutoAttack's standard
/// version runs it: for each target — the clean input's 2nd, 3rd, … most likely class — the
/// examples still robust walk towards the decision boundary between their class y and the
/// target t. Each step linearises g = z_t − z_y at the current point x (z: log-probabilities;
/// for a point network, the logits up to a shift that cancels), projects both x and the clean
/// input x₀ onto the hyperplane {g(x) + ∇g·(u − x) = 0} within the input range (the smallest
/// step in the attack's norm: `FAB.projection`), and moves to the convex combination
/// (1−α)(x + η·d) + α(x₀ + η·d₀), α = min(‖d‖/(‖d‖ + ‖d₀‖), α_max), overshooting by η; once a
/// point is misclassified it is kept if it is the closest so far and the walk steps back to
/// x₀ + β(x − x₀). An example counts as fooled when its closest misclassified point lies
/// within ε; the others keep their clean input. No random start (AutoAttack: one restart).
///
/// ```swift
/// let fab = FAB(norm: .linf, epsilon: 0.1)
/// let adversarial = try fab.perturb(images, labels: labels, target: AttackTarget(posterior: map), rng: &rng)
/// ```
public struct FAB: Sendable {
    public var norm: AttackNorm
    /// The budget an example must be fooled within.
    public var epsilon: Float
    /// Steps per target (AutoAttack: 100).
    public var steps: Int
    /// Targets tried, by rank in the clean predictive (AutoAttack: 9).
    public var targetClasses: Int
    /// α_max, the largest pull towards the clean input per step (0.1).
    public var maximumAlpha: Float
    /// η, the overshoot past the linearised boundary (1.05).
    public var overshoot: Float
    /// β, the step back towards the clean input after a success (0.9).
    public var backStep: Float
    public var inputRange: ClosedRange<Float>

    public init(norm: AttackNorm = .linf, epsilon: Float, steps: Int = 100, targetClasses: Int = 9, maximumAlpha: Float = 0.1,
                overshoot: Float = 1.05, backStep: Float = 0.9, inputRange: ClosedRange<Float> = 0...1) {
        self.norm = norm
        self.epsilon = epsilon
        self.steps = steps
        self.targetClasses = targetClasses
        self.maximumAlpha = maximumAlpha
        self.overshoot = overshoot
        self.backStep = backStep
        self.inputRange = inputRange
    }

    /// Adversarial versions of `inputs` [N, …] for `labels` against `target`.
    public func perturb(_ inputs: Tensor, labels: [Int32], target: AttackTarget, rng: inout RandomGenerator) throws -> Tensor {
        let n = try exampleCount(inputs, labels: labels)
        guard steps >= 1, targetClasses >= 1, epsilon >= 0, maximumAlpha >= 0, overshoot > 0, backStep > 0 else {
            throw InferenceError.invalidOption("FAB needs steps and target classes ≥ 1, ε ≥ 0, α_max ≥ 0, η > 0 and β > 0")
        }
        guard n > 0 else { return inputs }
        let clean = try target.logProbabilities(inputs, rng: &rng)
        let classes = clean.shape.last ?? 1
        guard classes >= 2 else { return inputs }
        var robust = zip(mostLikelyClasses(clean), labels).map { $0 == $1 }
        let ranked = rankedClasses(clean, classes: classes)
        var adversarial = inputs
        for rank in 1...Swift.min(targetClasses, classes - 1) {
            let remaining = robust.indices.filter { robust[$0] }
            guard !remaining.isEmpty else { break }
            let run = try walk(try inputs.selectingRows(remaining), labels: remaining.map { labels[$0] },
                               targets: remaining.map { ranked[$0][rank] }, target: target, rng: &rng)
            for (k, i) in remaining.enumerated() where run.distance[k] <= epsilon {
                robust[i] = false
                try adversarial.setRows([i], from: run.closest.row(k))
            }
        }
        return adversarial
    }

    /// One walk per example towards its target's boundary: the closest misclassified point
    /// found (the clean input where none was) and its distance (∞ where none was).
    func walk(_ x0: Tensor, labels: [Int32], targets: [Int32], target: AttackTarget,
              rng: inout RandomGenerator) throws -> (closest: Tensor, distance: [Float]) {
        let m = labels.count, width = x0.count / Swift.max(m, 1)
        let origin = x0.values
        var x = origin, closest = origin
        var distance = [Float](repeating: .infinity, count: m)
        for _ in 0..<steps {
            let at = try target.evaluate(Tensor(shape: x0.shape, values: x), labels: labels, loss: .targetedLogitDifference,
                                         targets: targets, rng: &rng)
            let gradient = at.gradient.values
            for i in 0..<m {
                let row = (i * width)..<((i + 1) * width)
                let w = gradient[row]
                // The hyperplane w·u = b through the linearised boundary: w·x − g(x).
                var wx = 0.0, wx0 = 0.0
                for j in row { wx += Double(gradient[j]) * Double(x[j]); wx0 += Double(gradient[j]) * Double(origin[j]) }
                let b = wx - at.loss[i]
                let d = projection(x[row], w, missing: b - wx), d0 = projection(origin[row], w, missing: b - wx0)
                let a = Swift.max(length(d), 1e-8), a0 = Swift.max(length(d0), 1e-8)
                let alpha = Swift.min(Swift.max(a / (a + a0), 0), maximumAlpha)
                for (k, j) in row.enumerated() {
                    let moved = (x[j] + overshoot * d[k]) * (1 - alpha) + (origin[j] + overshoot * d0[k]) * alpha
                    x[j] = Swift.min(Swift.max(moved, inputRange.lowerBound), inputRange.upperBound)
                }
            }
            let predicted = try target.predictions(Tensor(shape: x0.shape, values: x), rng: &rng)
            for i in 0..<m where predicted[i] != labels[i] {
                let row = (i * width)..<((i + 1) * width)
                let t = length(zip(x[row], origin[row]).map { $0 - $1 })
                if t < distance[i] {
                    distance[i] = t
                    closest.replaceSubrange(row, with: x[row])
                }
                for j in row { x[j] = origin[j] + (x[j] - origin[j]) * backStep }
            }
        }
        return (Tensor(shape: x0.shape, values: closest), distance)
    }

    /// The attack's norm of `v`.
    func length<C: Collection>(_ v: C) -> Float where C.Element == Float {
        switch norm {
        case .linf: return v.reduce(0) { Swift.max($0, abs($1)) }
        case .l2: return Float(v.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot())
        }
    }

    /// The smallest step d (in the attack's norm) from `point` that changes w·point by `missing`
    /// while point + d stays in the input range: u = point + d on the hyperplane
    /// w·u = w·point + missing, or — when the range does not reach it — the corner of the range
    /// that comes closest. Each coordinate moves towards the side that helps, by
    /// min(λ·rᵢ, roomᵢ) with rᵢ = 1 (L∞) or |wᵢ| (L2: the KKT solution); the gain is piecewise
    /// linear in λ, so sorting the breakpoints roomᵢ/rᵢ finds λ exactly.
    func projection(_ point: ArraySlice<Float>, _ w: ArraySlice<Float>, missing: Double) -> [Float] {
        let count = point.count
        var d = [Float](repeating: 0, count: count)
        guard missing != 0, missing.isFinite else { return d }
        let direction: Double = missing > 0 ? 1 : -1, needed = abs(missing)
        var breakpoints: [(at: Double, index: Int)] = []
        breakpoints.reserveCapacity(count)
        var slope = 0.0
        var rate = [Double](repeating: 0, count: count), room = [Double](repeating: 0, count: count)
        for (k, (p, wk)) in zip(point, w).enumerated() where wk != 0 {
            let up = direction * Double(wk) > 0  // moving coordinate k up helps
            room[k] = Swift.max(0, up ? Double(inputRange.upperBound) - Double(p) : Double(p) - Double(inputRange.lowerBound))
            rate[k] = norm == .linf ? 1 : abs(Double(wk))
            guard room[k] > 0 else { continue }
            slope += abs(Double(wk)) * rate[k]
            breakpoints.append((room[k] / rate[k], k))
        }
        breakpoints.sort { $0.at < $1.at }
        var lambda = 0.0, gained = 0.0, reached = false
        for breakpoint in breakpoints {
            let further = slope * (breakpoint.at - lambda)
            if gained + further >= needed {
                lambda += (needed - gained) / slope
                reached = true
                break
            }
            gained += further
            lambda = breakpoint.at
            slope -= abs(Double(w[w.startIndex + breakpoint.index])) * rate[breakpoint.index]
        }
        for (k, wk) in w.enumerated() where wk != 0 && room[k] > 0 {
            let step = reached ? Swift.min(lambda * rate[k], room[k]) : room[k]
            let up = direction * Double(wk) > 0
            d[k] = Float(up ? step : -step)
        }
        return d
    }
}

extension FAB: Attack {}

/// Per example, its classes from most to least likely.
func rankedClasses(_ logProbabilities: Tensor, classes: Int) -> [[Int32]] {
    let values = logProbabilities.values
    return (0..<(values.count / classes)).map { i in
        (0..<classes).sorted { values[i * classes + $0] > values[i * classes + $1] }.map(Int32.init)
    }
}
