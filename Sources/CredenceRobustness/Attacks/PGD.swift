import CredenceInference
import CredenceNN
import CredenceTensor
import Foundation

/// Projected gradient descent on the loss (Madry et al. 2018) — and, with one step of size ε
/// from the clean input, FGSM (Goodfellow et al. 2015; the fast gradient method for L2); with
/// `momentum`, the momentum iterative method MIM (Dong et al. 2018).
///
/// Each step moves along the sign of the input gradient (L∞) or its per-example unit direction
/// (L2), then projects onto the ε-ball around the clean input and the valid input range. MIM
/// steps along g_t = μ·g_{t−1} + ∇/mean|∇| (per example) instead of ∇. Untargeted attacks
/// ascend the loss of the true class (cross-entropy, or DLR); targeted ones descend the
/// cross-entropy of the target class, or ascend the targeted DLR loss. With `restarts` > 1
/// (or `randomStart`), each example keeps the run that fooled the model — else the one with
/// the highest loss.
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
    public var loss: AttackLoss
    /// MIM's decay μ of the accumulated gradient (0: plain PGD).
    public var momentum: Float
    /// Stop attacking an example once the model misclassifies it (for a targeted attack: once
    /// it predicts the target), keeping that point — the same or a stronger result for less
    /// work. Only for deterministic targets: a stochastic posterior's K-sample prediction is
    /// noisy, so it is attacked for every step.
    public var stopWhenFooled: Bool

    public init(norm: AttackNorm = .linf, epsilon: Float, steps: Int = 10, stepSize: Float? = nil, randomStart: Bool = true,
                restarts: Int = 1, targets: [Int32]? = nil, inputRange: ClosedRange<Float> = 0...1,
                loss: AttackLoss = .crossEntropy, momentum: Float = 0, stopWhenFooled: Bool = true) {
        self.stopWhenFooled = stopWhenFooled
        self.loss = loss
        self.momentum = momentum
        self.norm = norm
        self.epsilon = epsilon
        self.steps = steps
        self.stepSize = stepSize ?? 2.5 * epsilon / Float(Swift.max(steps, 1))
        self.randomStart = randomStart
        self.restarts = restarts
        self.targets = targets
        self.inputRange = inputRange
    }

    /// FGSM: one step of size ε from the clean input (the L2 variant: the fast gradient method),
    /// every example stepped (misclassified ones too, as the definition has it).
    public static func fgsm(norm: AttackNorm = .linf, epsilon: Float, inputRange: ClosedRange<Float> = 0...1) -> PGD {
        PGD(norm: norm, epsilon: epsilon, steps: 1, stepSize: epsilon, randomStart: false, restarts: 1, inputRange: inputRange,
            stopWhenFooled: false)
    }

    /// MIM as torchattacks' MIFGSM: μ = 1, no random start, step ε/steps by default.
    public static func mim(norm: AttackNorm = .linf, epsilon: Float, steps: Int = 10, stepSize: Float? = nil, decay: Float = 1,
                           inputRange: ClosedRange<Float> = 0...1) -> PGD {
        PGD(norm: norm, epsilon: epsilon, steps: steps, stepSize: stepSize ?? epsilon / Float(Swift.max(steps, 1)), randomStart: false,
            inputRange: inputRange, momentum: decay)
    }

    func validate(count: Int) throws {
        guard epsilon >= 0, epsilon.isFinite else { throw InferenceError.invalidOption("the attack's ε is \(epsilon); it must be ≥ 0") }
        guard steps >= 1, restarts >= 1, stepSize >= 0, stepSize > 0 || epsilon == 0, stepSize.isFinite else {
            throw InferenceError.invalidOption("an attack needs steps ≥ 1, restarts ≥ 1 and a step size > 0 (got \(steps), \(restarts), \(stepSize))")
        }
        try checkTargets(targets, count: count)
        guard momentum >= 0, momentum.isFinite else { throw InferenceError.invalidOption("MIM's momentum is \(momentum); it must be ≥ 0") }
        switch (loss, targets) {
        case (.dlr, .some): throw InferenceError.invalidOption("a targeted attack uses the cross-entropy or the targeted DLR loss, not the untargeted DLR")
        case (let targeted, nil) where targeted.isTargeted: throw InferenceError.invalidOption("the \(targeted.rawValue) loss needs target classes")
        default: break
        }
    }

    /// Adversarial versions of `inputs` [N, …] for `labels` against `target`.
    public func perturb(_ inputs: Tensor, labels: [Int32], target: AttackTarget,
                        rng: inout RandomGenerator) throws -> Tensor {
        let n = inputs.shape.first ?? 0
        try validate(count: n)
        // Targeted cross-entropy descends the target's loss; every other loss is ascended.
        let descends = targets != nil && loss == .crossEntropy
        let classes = descends ? targets! : labels, sign: Float = descends ? -1 : 1
        let perRow = inputs.count / Swift.max(n, 1)
        var best = inputs
        var bestLoss = [Double](repeating: -.infinity, count: n)
        var bestFooled = [Bool](repeating: false, count: n)
        let stopsEarly = stopWhenFooled && !target.isStochastic
        for _ in 0..<restarts {
            var x = randomStart ? randomPoint(around: inputs, rng: &rng) : inputs
            var accumulated: Tensor?
            // The examples still attacked (all, unless fooled ones stop), and their rows of x, the clean inputs and g.
            var active = Array(0..<n)
            for _ in 0..<steps {
                let whole = active.count == n
                var xa = whole ? x : try x.selectingRows(active), clean = whole ? inputs : try inputs.selectingRows(active)
                let evaluation = try target.evaluate(xa, labels: active.map { classes[$0] }, loss: loss,
                                                     targets: targets.map { t in active.map { t[$0] } }, rng: &rng)
                var direction = evaluation.gradient * sign
                if stopsEarly {
                    let predicted = evaluation.predictions
                    let kept = active.indices.filter { k in
                        targets == nil ? predicted[k] == labels[active[k]] : predicted[k] != targets![active[k]]
                    }
                    if kept.count < active.count {
                        active = kept.map { active[$0] }
                        guard !active.isEmpty else { break }
                        xa = try xa.selectingRows(kept)
                        clean = try clean.selectingRows(kept)
                        direction = try direction.selectingRows(kept)
                        accumulated = try accumulated?.selectingRows(kept)
                    }
                }
                if momentum > 0 {
                    direction = Self.meanAbsoluteNormalized(direction, perRow: perRow)
                    if let previous = accumulated { direction.addInPlace(previous, scale: momentum) }
                    accumulated = direction
                }
                xa = project(step(xa, along: direction, perRow: perRow), around: clean, perRow: perRow)
                if active.count == n { x = xa } else { try x.setRows(active, from: xa) }
            }
            // One run is its own answer; of several keep, per example, one that fools the model, else the highest loss.
            guard restarts > 1 else { return x }
            let reached = try target.evaluate(x, labels: classes, loss: loss, targets: targets, rng: &rng)
            let predicted = reached.predictions
            for i in 0..<n {
                let fooled = targets == nil ? predicted[i] != labels[i] : predicted[i] == targets![i]
                let score = Double(sign) * reached.loss[i]
                if (fooled && !bestFooled[i]) || (fooled == bestFooled[i] && score > bestLoss[i]) {
                    bestFooled[i] = fooled
                    bestLoss[i] = score
                    try best.setRows([i], from: x.row(i))
                }
            }
        }
        return best
    }

    /// g / mean|g| per example (rows of `perRow`); a zero row stays zero.
    static func meanAbsoluteNormalized(_ g: Tensor, perRow: Int) -> Tensor {
        var out = g
        out.withUnsafeMutableBufferPointer { o in
            for start in stride(from: 0, to: o.count, by: Swift.max(perRow, 1)) {
                let r = start..<(start + perRow)
                let mean = r.reduce(0.0) { $0 + Double(abs(o[$1])) } / Double(perRow)
                guard mean > 0 else { continue }
                for j in r { o[j] = Float(Double(o[j]) / mean) }
            }
        }
        return out
    }

    /// x + α·sign(g) (L∞), or x + α·g/‖g‖₂ per example (L2).
    func step(_ x: Tensor, along g: Tensor, perRow: Int) -> Tensor {
        steepestAscentStep(x, along: g, stepSize: stepSize, norm: norm, perRow: perRow)
    }

    /// The point of the ε-ball around `clean` (per example) and the input range nearest `x`
    /// for L∞ (exact); for L2 the radial projection onto the ball, then the clip to the range.
    func project(_ x: Tensor, around clean: Tensor, perRow: Int) -> Tensor {
        Projection(norm: norm, epsilon: epsilon, inputRange: inputRange).project(x, around: clean, perRow: perRow)
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
                addRandomL2Offsets(o, radius: epsilon, perRow: perRow, rng: &rng)
            }
        }
        return project(out, around: clean, perRow: perRow)
    }
}

/// x + α·sign(g) (L∞), or x + α·g/‖g‖₂ per example (L2, the length in Double so that tiny
/// gradients' squares do not underflow; a row whose gradient is zero stays) — the steepest
/// ascent step of PGD and of adversarial training's inner attack.
func steepestAscentStep(_ x: Tensor, along g: Tensor, stepSize alpha: Float, norm: AttackNorm, perRow: Int) -> Tensor {
    var out = x
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
                    let scale = Float(Double(alpha) / length)
                    for j in r { o[j] += scale * gv[j] }
                }
            }
        }
    }
    return out
}

/// Adds to each row of `perRow` values a uniformly random direction at a radius u·`radius`,
/// u ~ U(0, 1) — a random point of the L2 ball around it (torchattacks' PGDL2 start).
func addRandomL2Offsets(_ values: UnsafeMutableBufferPointer<Float>, radius: Float, perRow: Int, rng: inout RandomGenerator) {
    for start in stride(from: 0, to: values.count, by: Swift.max(perRow, 1)) {
        let direction = (0..<perRow).map { _ in rng.normalFloat() }
        let length = direction.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let r = radius * Float(rng.uniformDouble())
        for (k, d) in direction.enumerated() { values[start + k] += length > 0 ? r * d / length : 0 }
    }
}
