import CredenceInference
import CredenceTensor
import Foundation

/// Auto-PGD (Croce & Hein 2020), the step-size-free PGD of AutoAttack: APGD-CE
/// (`loss: .crossEntropy`), APGD-DLR (`.dlr`) and the targeted APGD-T (`.targetedDLR`, run
/// once per target: the 2nd, 3rd, … most likely classes of the clean input).
///
/// From a random start on the ε-sphere, step size η = 2ε per example; each step goes to
/// z = P(x + η·sign ∇) (L∞; L2: along ∇/‖∇‖) and then to P(x + α(z − x) + (1 − α)(x − x_prev))
/// with momentum α = 0.75 (1 on the first step). At checkpoints — after 22 % of the steps, then
/// intervals shrinking by 3 % of the steps down to 6 % — an example's η is halved and it
/// restarts from its best point when its loss rose in at most ρ = 75 % of the steps since the
/// last checkpoint, or when its η was not halved there and its best loss has not improved
/// since. As in AutoAttack's code (and torchattacks' port), a run returns, per example, the
/// first point that was misclassified, else the point of highest loss; restarts and targets
/// run only on the examples still classified correctly.
///
/// ```swift
/// let apgd = APGD(norm: .linf, epsilon: 0.1, loss: .dlr)
/// let adversarial = try apgd.perturb(images, labels: labels, target: AttackTarget(posterior: map), rng: &rng)
/// ```
public struct APGD: Sendable {
    public var norm: AttackNorm
    public var epsilon: Float
    public var steps: Int
    public var restarts: Int
    public var loss: AttackLoss
    /// APGD-T: how many targets are tried (AutoAttack: 9, every other class of CIFAR-10).
    public var targetClasses: Int
    /// ρ, the fraction of rising steps below which the step size is halved.
    public var rho: Float
    /// The valid input range (pixels: 0…1).
    public var inputRange: ClosedRange<Float>

    public init(norm: AttackNorm = .linf, epsilon: Float, steps: Int = 100, restarts: Int = 1, loss: AttackLoss = .crossEntropy,
                targetClasses: Int = 9, rho: Float = 0.75, inputRange: ClosedRange<Float> = 0...1) {
        self.norm = norm
        self.epsilon = epsilon
        self.steps = steps
        self.restarts = restarts
        self.loss = loss
        self.targetClasses = targetClasses
        self.rho = rho
        self.inputRange = inputRange
    }

    /// Steps after which the first checkpoint comes, the smallest interval, and by how much
    /// the interval shrinks at each checkpoint (AutoAttack: 22 %, 6 %, 3 % of the steps).
    var checkpointSchedule: (first: Int, minimum: Int, decrease: Int) {
        (Swift.max(Int(0.22 * Double(steps)), 1), Swift.max(Int(0.06 * Double(steps)), 1), Swift.max(Int(0.03 * Double(steps)), 1))
    }

    func validate(classes: Int) throws {
        guard epsilon >= 0, epsilon.isFinite else { throw InferenceError.invalidOption("the attack's ε is \(epsilon); it must be ≥ 0") }
        guard steps >= 1, restarts >= 1, targetClasses >= 1 else {
            throw InferenceError.invalidOption("APGD needs steps, restarts and target classes ≥ 1 (got \(steps), \(restarts), \(targetClasses))")
        }
        guard rho > 0, rho <= 1 else { throw InferenceError.invalidOption("APGD's ρ is \(rho); it must be in (0, 1]") }
        guard loss != .targetedLogitDifference else { throw InferenceError.invalidOption("APGD ascends the ce, dlr or dlr-targeted loss") }
        try loss.validate(classes: classes)
    }

    /// Adversarial versions of `inputs` [N, …] for `labels` against `target`.
    public func perturb(_ inputs: Tensor, labels: [Int32], target: AttackTarget,
                        rng: inout RandomGenerator) throws -> Tensor {
        let n = try exampleCount(inputs, labels: labels)
        guard n > 0 else { return inputs }
        let clean = try target.evaluate(inputs, labels: labels, rng: &rng)
        let classes = clean.logProbabilities.shape.last ?? 1
        try validate(classes: classes)
        var robust = zip(clean.predictions, labels).map { $0 == $1 }
        var adversarial = inputs
        // APGD-T's targets: by rank in the clean input's predictive, 2nd most likely first.
        let ranked: [[Int32]] = loss == .targetedDLR ? rankedClasses(clean.logProbabilities, classes: classes) : []
        let runs = loss == .targetedDLR ? Array(1...Swift.min(targetClasses, classes - 1)) : [0]
        for rank in runs {
            for _ in 0..<restarts {
                let remaining = robust.indices.filter { robust[$0] }
                guard !remaining.isEmpty else { return adversarial }
                let targets = loss == .targetedDLR ? remaining.map { ranked[$0][rank] } : nil
                let run = try singleRun(try inputs.selectingRows(remaining), labels: remaining.map { labels[$0] }, targets: targets,
                                        target: target, rng: &rng)
                for (k, i) in remaining.enumerated() {
                    if run.fooled[k] { robust[i] = false }
                    try adversarial.setRows([i], from: run.fooled[k] ? run.firstAdversarial.row(k) : run.best.row(k))
                }
            }
        }
        return adversarial
    }

    /// One run from a random start: the highest-loss point per example, the first
    /// misclassified one (or the highest-loss one where none was), which examples were
    /// misclassified at some step, and the best losses.
    func singleRun(_ x: Tensor, labels: [Int32], targets: [Int32]?, target: AttackTarget,
                   rng: inout RandomGenerator) throws -> (best: Tensor, firstAdversarial: Tensor, fooled: [Bool], bestLoss: [Double]) {
        let m = labels.count, perRow = x.count / Swift.max(m, 1)
        var current = randomStart(around: x, perRow: perRow, rng: &rng)
        var evaluation = try target.evaluate(current, labels: labels, loss: loss, targets: targets, rng: &rng)
        var gradient = evaluation.gradient
        var correct = zip(evaluation.predictions, labels).map { $0 == $1 }
        var best = current, firstAdversarial = current, bestGradient = gradient
        var bestLoss = evaluation.loss
        var stepSize = [Float](repeating: 2 * epsilon, count: m)
        var previous = current
        var (interval, minimum, decrease) = checkpointSchedule
        var sinceCheckpoint = 0
        // Losses of the steps since the last checkpoint, preceded by the one before them.
        var recent: [[Double]] = [evaluation.loss]
        var bestAtLastCheckpoint = bestLoss
        var halvedAtLastCheckpoint = [Bool](repeating: true, count: m)
        for step in 0..<steps {
            let alpha: Float = step > 0 ? 0.75 : 1
            let next = momentumStep(from: current, previous: previous, along: gradient, stepSize: stepSize, alpha: alpha,
                                    clean: x, perRow: perRow)
            previous = current
            current = next
            evaluation = try target.evaluate(current, labels: labels, loss: loss, targets: targets, rng: &rng)
            gradient = evaluation.gradient
            let predictions = evaluation.predictions
            for i in 0..<m {
                if predictions[i] != labels[i] {
                    if correct[i] { try firstAdversarial.setRows([i], from: current.row(i)) }
                    correct[i] = false
                }
                if evaluation.loss[i] > bestLoss[i] {
                    bestLoss[i] = evaluation.loss[i]
                    try best.setRows([i], from: current.row(i))
                    try bestGradient.setRows([i], from: gradient.row(i))
                }
            }
            recent.append(evaluation.loss)
            sinceCheckpoint += 1
            guard sinceCheckpoint == interval else { continue }
            for i in 0..<m {
                let rises = (1..<recent.count).filter { recent[$0][i] > recent[$0 - 1][i] }.count
                let oscillating = Float(rises) <= Float(interval) * rho
                let stalled = !halvedAtLastCheckpoint[i] && bestAtLastCheckpoint[i] >= bestLoss[i]
                halvedAtLastCheckpoint[i] = oscillating || stalled
                if halvedAtLastCheckpoint[i] {
                    stepSize[i] /= 2
                    try current.setRows([i], from: best.row(i))
                    try gradient.setRows([i], from: bestGradient.row(i))
                }
            }
            bestAtLastCheckpoint = bestLoss
            recent = [recent.last!]
            sinceCheckpoint = 0
            interval = Swift.max(interval - decrease, minimum)
        }
        for i in 0..<m where correct[i] { try firstAdversarial.setRows([i], from: best.row(i)) }
        return (best, firstAdversarial, correct.map { !$0 }, bestLoss)
    }

    /// z = P(x + η·d) with d = sign g (L∞) or g/‖g‖ (L2), then P(x + α(z − x) + (1 − α)(x − x_prev)),
    /// P the projection onto the ε-ball around `clean` and the input range (per example).
    func momentumStep(from x: Tensor, previous: Tensor, along g: Tensor, stepSize: [Float], alpha: Float,
                      clean: Tensor, perRow: Int) -> Tensor {
        var z = x
        z.withUnsafeMutableBufferPointer { o in
            g.withUnsafeBufferPointer { gv in
                for (i, start) in stride(from: 0, to: o.count, by: Swift.max(perRow, 1)).enumerated() {
                    let r = start..<(start + perRow)
                    switch norm {
                    case .linf:
                        for j in r { o[j] += stepSize[i] * (gv[j] > 0 ? 1 : gv[j] < 0 ? -1 : 0) }
                    case .l2:
                        let length = r.reduce(0.0) { $0 + Double(gv[$1]) * Double(gv[$1]) }.squareRoot()
                        let scale = stepSize[i] / Float(length + 1e-12)
                        for j in r { o[j] += scale * gv[j] }
                    }
                }
            }
        }
        z = Projection(norm: norm, epsilon: epsilon, inputRange: inputRange).project(z, around: clean, perRow: perRow)
        var next = x
        next.withUnsafeMutableBufferPointer { o in
            z.withUnsafeBufferPointer { zv in
                previous.withUnsafeBufferPointer { p in
                    for j in o.indices { o[j] = o[j] + alpha * (zv[j] - o[j]) + (1 - alpha) * (o[j] - p[j]) }
                }
            }
        }
        return Projection(norm: norm, epsilon: epsilon, inputRange: inputRange).project(next, around: clean, perRow: perRow)
    }

    /// AutoAttack's start: a point at L∞ distance exactly ε (uniform noise scaled to ε by its
    /// largest entry) or on the L2 sphere (a Gaussian direction), clipped to the range.
    func randomStart(around clean: Tensor, perRow: Int, rng: inout RandomGenerator) -> Tensor {
        var out = clean
        out.withUnsafeMutableBufferPointer { o in
            for start in stride(from: 0, to: o.count, by: Swift.max(perRow, 1)) {
                let t: [Float] = norm == .linf ? (0..<perRow).map { _ in 2 * Float(rng.uniformDouble()) - 1 } : (0..<perRow).map { _ in rng.normalFloat() }
                let size = norm == .linf ? (t.map(abs).max() ?? 0) : t.reduce(0) { $0 + $1 * $1 }.squareRoot()
                for (k, v) in t.enumerated() {
                    o[start + k] = Swift.min(Swift.max(o[start + k] + epsilon * v / (size + 1e-12), inputRange.lowerBound), inputRange.upperBound)
                }
            }
        }
        return out
    }
}

/// The nearest point of the ε-ball (L∞: exact; L2: radial) around each clean example, then
/// clipped to the input range — PGD's and APGD's projection.
struct Projection {
    var norm: AttackNorm
    var epsilon: Float
    var inputRange: ClosedRange<Float>

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
}
