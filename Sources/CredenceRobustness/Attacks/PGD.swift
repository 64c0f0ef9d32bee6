import CredenceInference
import CredenceNN
import CredenceTensor
import Foundation

/// The norm of an attack's perturbation budget.
public enum AttackNorm: String, Codable, Sendable, CaseIterable {
    case linf, l2
}

/// Projected gradient descent on the loss (Madry et al. 2018) — and, with one step of size ε
/// from the clean input, FGSM (Goodfellow et al. 2015; the fast gradient method for L2).
///
/// Each step moves along the sign of the input gradient (L∞) or its per-example unit direction
/// (L2), then projects onto the ε-ball around the clean input and the valid input range.
/// Untargeted attacks ascend the loss of the true class; targeted ones descend the loss of the
/// target class. With `restarts` > 1 (or `randomStart`), each example keeps the run that
/// fooled the model — else the one with the highest loss.
///
/// ```swift
/// let pgd = PGD(norm: .linf, epsilon: 0.1, steps: 10, stepSize: 0.025, randomStart: true)
/// let adversarial = try pgd.perturb(images, labels: labels, target: AttackTarget(posterior: map), rng: &rng)
/// ```
public struct PGD: Sendable {
    public var norm: AttackNorm
    public var epsilon: Float
    public var steps: Int
    /// α, the size of each step (in the norm's units).
    public var stepSize: Float
    /// Start from a uniform point of the ε-ball (L∞) / a random point of it (L2).
    public var randomStart: Bool
    public var restarts: Int
    /// Attack toward these classes (one per example) instead of away from the true ones.
    public var targets: [Int32]?
    /// The valid input range (pixels: 0…1).
    public var inputRange: ClosedRange<Float>

    public init(norm: AttackNorm = .linf, epsilon: Float, steps: Int = 10, stepSize: Float? = nil, randomStart: Bool = true,
                restarts: Int = 1, targets: [Int32]? = nil, inputRange: ClosedRange<Float> = 0...1) {
        self.norm = norm
        self.epsilon = epsilon
        self.steps = steps
        self.stepSize = stepSize ?? 2.5 * epsilon / Float(Swift.max(steps, 1))
        self.randomStart = randomStart
        self.restarts = restarts
        self.targets = targets
        self.inputRange = inputRange
    }

    /// FGSM: one step of size ε from the clean input (the L2 variant: the fast gradient method).
    public static func fgsm(norm: AttackNorm = .linf, epsilon: Float, inputRange: ClosedRange<Float> = 0...1) -> PGD {
        PGD(norm: norm, epsilon: epsilon, steps: 1, stepSize: epsilon, randomStart: false, restarts: 1, inputRange: inputRange)
    }

    func validate(count: Int) throws {
        guard epsilon >= 0, epsilon.isFinite else { throw InferenceError.invalidOption("the attack's ε is \(epsilon); it must be ≥ 0") }
        guard steps >= 1, restarts >= 1, stepSize >= 0, stepSize > 0 || epsilon == 0, stepSize.isFinite else {
            throw InferenceError.invalidOption("an attack needs steps ≥ 1, restarts ≥ 1 and a step size > 0 (got \(steps), \(restarts), \(stepSize))")
        }
        if let targets, targets.count != count {
            throw InferenceError.invalidOption("a targeted attack needs one target class per input: \(targets.count) for \(count)")
        }
    }

    /// Adversarial versions of `inputs` [N, …] for `labels` against `target`.
    public func perturb(_ inputs: Tensor, labels: [Int32], target: AttackTarget,
                        rng: inout RandomGenerator) throws -> Tensor {
        let n = inputs.shape.first ?? 0
        try validate(count: n)
        let classes = targets ?? labels, sign: Float = targets == nil ? 1 : -1
        let perRow = inputs.count / Swift.max(n, 1)
        var best = inputs
        var bestLoss = [Double](repeating: -.infinity, count: n)
        var bestFooled = [Bool](repeating: false, count: n)
        for _ in 0..<restarts {
            var x = randomStart ? randomPoint(around: inputs, rng: &rng) : inputs
            for _ in 0..<steps {
                let (_, gradient) = try target.lossAndInputGradient(x, labels: classes, rng: &rng)
                x = project(step(x, along: gradient * sign, perRow: perRow), around: inputs, perRow: perRow)
            }
            // Keep, per example, a run that fools the model, else the highest loss.
            let (loss, _) = try target.lossAndInputGradient(x, labels: classes, rng: &rng)
            let predictions = try target.posterior.predictive(x, samples: Swift.max(target.eotSamples, 1), rng: &rng)
                .meanProbabilities
            let k = predictions.count / Swift.max(n, 1)
            for i in 0..<n {
                let row = predictions[(i * k)..<((i + 1) * k)]
                let predicted = Int32(row.indices.max { row[$0] < row[$1] }! - i * k)
                let fooled = targets == nil ? predicted != labels[i] : predicted == classes[i]
                let score = Double(sign) * loss[i]
                if (fooled && !bestFooled[i]) || (fooled == bestFooled[i] && score > bestLoss[i]) {
                    bestFooled[i] = fooled
                    bestLoss[i] = score
                    best.withUnsafeMutableBufferPointer { b in
                        x.withUnsafeBufferPointer { xs in
                            for j in (i * perRow)..<((i + 1) * perRow) { b[j] = xs[j] }
                        }
                    }
                }
            }
        }
        return best
    }

    /// x + α·sign(g) (L∞), or x + α·g/‖g‖₂ per example (L2).
    func step(_ x: Tensor, along g: Tensor, perRow: Int) -> Tensor {
        var out = x
        let alpha = stepSize
        out.withUnsafeMutableBufferPointer { o in
            g.withUnsafeBufferPointer { gv in
                switch norm {
                case .linf:
                    for j in o.indices { o[j] += alpha * (gv[j] > 0 ? 1 : gv[j] < 0 ? -1 : 0) }
                case .l2:
                    for start in stride(from: 0, to: o.count, by: Swift.max(perRow, 1)) {
                        let r = start..<(start + perRow)
                        let length = r.reduce(0.0) { $0 + Double(gv[$1]) * Double(gv[$1]) }.squareRoot()
                        guard length > 0 else { continue }
                        let scale = alpha / Float(length)
                        for j in r { o[j] += scale * gv[j] }
                    }
                }
            }
        }
        return out
    }

    /// The point of the ε-ball around `clean` (per example) and the input range nearest `x`
    /// for L∞ (exact); for L2 the radial projection onto the ball, then the clip to the range.
    func project(_ x: Tensor, around clean: Tensor, perRow: Int) -> Tensor {
        var out = x
        let eps = epsilon, lo = inputRange.lowerBound, hi = inputRange.upperBound
        out.withUnsafeMutableBufferPointer { o in
            clean.withUnsafeBufferPointer { c in
                switch norm {
                case .linf:
                    for j in o.indices { o[j] = Swift.min(Swift.max(Swift.min(Swift.max(o[j], c[j] - eps), c[j] + eps), lo), hi) }
                case .l2:
                    for start in stride(from: 0, to: o.count, by: Swift.max(perRow, 1)) {
                        let r = start..<(start + perRow)
                        let length = r.reduce(0.0) { $0 + Double(o[$1] - c[$1]) * Double(o[$1] - c[$1]) }.squareRoot()
                        let scale = length > Double(eps) ? Float(Double(eps) / length) : 1
                        for j in r { o[j] = Swift.min(Swift.max(c[j] + (o[j] - c[j]) * scale, lo), hi) }
                    }
                }
            }
        }
        return out
    }

    /// A random start: uniform in the L∞ ball; for L2 a uniformly random direction with a
    /// radius ε·u, u ~ U(0, 1). Then projected into the input range.
    func randomPoint(around clean: Tensor, rng: inout RandomGenerator) -> Tensor {
        var out = clean
        let perRow = clean.count / Swift.max(clean.shape.first ?? 1, 1)
        out.withUnsafeMutableBufferPointer { o in
            switch norm {
            case .linf:
                for j in o.indices { o[j] += epsilon * (2 * Float(rng.uniformDouble()) - 1) }
            case .l2:
                for start in stride(from: 0, to: o.count, by: Swift.max(perRow, 1)) {
                    let direction = (0..<perRow).map { _ in rng.normalFloat() }
                    let length = direction.reduce(0) { $0 + $1 * $1 }.squareRoot()
                    let radius = epsilon * Float(rng.uniformDouble())
                    for (k, d) in direction.enumerated() { o[start + k] += length > 0 ? radius * d / length : 0 }
                }
            }
        }
        return project(out, around: clean, perRow: perRow)
    }
}
