import CredenceInference
import CredenceTensor
import Foundation

/// ZOO (Chen et al. 2017), zeroth-order optimisation: coordinate-wise Adam on gradients estimated
/// by symmetric finite differences of the model's scores — a black-box attack that needs only
/// the predictive (the model average of the target's `eotSamples` samples).
///
/// Each step picks `coordinates` random input coordinates per example, queries the margin
/// z_y − max_{i≠y} z_i of the log-probabilities (targeted: max_{i≠t} z_i − z_t) at x ± h·eᵢ
/// for each — 2·`coordinates` queries per example, batched into one pass — and moves each chosen
/// coordinate by Adam on (f(x + h eᵢ) − f(x − h eᵢ))/2h with its own step count (ZOO-ADAM),
/// descending the margin; the perturbation is kept in the ε-ball (L∞: per coordinate; L2: by
/// radial projection) and the input range. An example stops once the margin is negative. As a
/// budgeted attack rather than Carlini–Wagner's penalty, the ε-ball replaces ZOO's distance term.
///
/// The difference step h must be larger than a quantising defence's grid to see through it
/// (the paper's 1e-4 sees a zero difference there, as gradient attacks see a zero gradient).
public struct ZOO: Sendable {
    public var norm: AttackNorm
    public var epsilon: Float
    public var steps: Int
    /// Coordinates estimated per step and example (ZOO: 128).
    public var coordinates: Int
    public var learningRate: Float
    /// h of the symmetric difference.
    public var differenceStep: Float
    public var targets: [Int32]?
    public var inputRange: ClosedRange<Float>

    public init(norm: AttackNorm = .linf, epsilon: Float, steps: Int = 100, coordinates: Int = 128, learningRate: Float = 0.01,
                differenceStep: Float = 1e-4, targets: [Int32]? = nil, inputRange: ClosedRange<Float> = 0...1) {
        self.norm = norm
        self.epsilon = epsilon
        self.steps = steps
        self.coordinates = coordinates
        self.learningRate = learningRate
        self.differenceStep = differenceStep
        self.targets = targets
        self.inputRange = inputRange
    }

    public func perturb(_ inputs: Tensor, labels: [Int32], target: AttackTarget,
                        rng: inout RandomGenerator) throws -> Tensor {
        let n = try exampleCount(inputs, labels: labels)
        guard epsilon >= 0, epsilon.isFinite, steps >= 1, coordinates >= 1, learningRate > 0, differenceStep > 0 else {
            throw InferenceError.invalidOption("ZOO needs ε ≥ 0, steps and coordinates ≥ 1, a learning rate and a difference step > 0 (got \(epsilon), \(steps), \(coordinates), \(learningRate), \(differenceStep))")
        }
        try checkTargets(targets, count: n)
        guard n > 0 else { return inputs }
        let classes = targets ?? labels
        let perRow = inputs.count / n, chosen = Swift.min(coordinates, perRow)
        let clean = inputs.values
        var x = clean
        var m = [Float](repeating: 0, count: n * perRow), v = m
        var stepsTaken = [Int](repeating: 0, count: n * perRow)
        let targeted = targets != nil
        var margin = scoreMargins(try target.logProbabilities(inputs, rng: &rng), classes: classes, targeted: targeted)
        let exampleShape = Array(inputs.shape.dropFirst())
        let (beta1, beta2): (Float, Float) = (0.9, 0.999)
        for _ in 0..<steps {
            let active = margin.indices.filter { margin[$0] > 0 }
            guard !active.isEmpty else { break }
            // Per active example, `chosen` coordinates and the 2·chosen probes x ± h·eᵢ.
            var picked: [[Int]] = []
            var probes = [Float](repeating: 0, count: active.count * 2 * chosen * perRow)
            for (k, i) in active.enumerated() {
                let coordinates = Array((0..<perRow).shuffled(using: &rng).prefix(chosen))
                picked.append(coordinates)
                for (c, j) in coordinates.enumerated() {
                    for (s, sign) in [Float(1), -1].enumerated() {
                        let base = ((k * chosen + c) * 2 + s) * perRow
                        for d in 0..<perRow { probes[base + d] = x[i * perRow + d] }
                        probes[base + j] += sign * differenceStep
                    }
                }
            }
            let probeClasses = active.flatMap { i in [Int32](repeating: classes[i], count: 2 * chosen) }
            let scores = scoreMargins(try target.logProbabilities(Tensor(shape: [probes.count / perRow] + exampleShape, values: probes),
                                                                  rng: &rng), classes: probeClasses, targeted: targeted)
            for (k, i) in active.enumerated() {
                for (c, j) in picked[k].enumerated() {
                    let g = (scores[(k * chosen + c) * 2] - scores[(k * chosen + c) * 2 + 1]) / (2 * differenceStep)
                    let at = i * perRow + j
                    stepsTaken[at] += 1
                    m[at] = beta1 * m[at] + (1 - beta1) * g
                    v[at] = beta2 * v[at] + (1 - beta2) * g * g
                    let t = Float(stepsTaken[at])
                    let mHat = m[at] / (1 - Foundation.pow(beta1, t)), vHat = v[at] / (1 - Foundation.pow(beta2, t))
                    x[at] -= learningRate * mHat / (Swift.max(vHat, 0).squareRoot() + 1e-8)
                }
                project(&x, clean: clean, example: i, perRow: perRow)
            }
            let current = try Tensor(shape: inputs.shape, values: x).selectingRows(active)
            let now = scoreMargins(try target.logProbabilities(current, rng: &rng), classes: active.map { classes[$0] }, targeted: targeted)
            for (k, i) in active.enumerated() { margin[i] = now[k] }
        }
        return Tensor(shape: inputs.shape, values: x)
    }

    /// Example `i` of `x` back into the ε-ball around its clean input and the range.
    func project(_ x: inout [Float], clean: [Float], example i: Int, perRow: Int) {
        let r = (i * perRow)..<((i + 1) * perRow)
        if norm == .l2 {
            let length = r.reduce(0.0) { $0 + Double(x[$1] - clean[$1]) * Double(x[$1] - clean[$1]) }.squareRoot()
            if length > Double(epsilon) {
                let scale = Float(Double(epsilon) / length)
                for j in r { x[j] = clean[j] + (x[j] - clean[j]) * scale }
            }
        }
        for j in r {
            if norm == .linf { x[j] = Swift.min(Swift.max(x[j], clean[j] - epsilon), clean[j] + epsilon) }
            x[j] = Swift.min(Swift.max(x[j], inputRange.lowerBound), inputRange.upperBound)
        }
    }
}

extension ZOO: Attack {}
