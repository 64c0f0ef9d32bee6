import CredenceInference
import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation

/// What an attack ascends when the model is a posterior (expectation over transformation,
/// Athalye et al. 2018, over posterior samples).
public enum EOTLoss: String, Codable, Sendable, CaseIterable {
    /// −log of the Bayesian model average, −log (1/K) Σₖ p(y | x, θₖ): the loss of the
    /// predictive the posterior answers with.
    case bayesModelAverage = "bayes-model-average"
    /// (1/K) Σₖ −log p(y | x, θₖ): the mean of the samples' own losses.
    case meanSampleLoss = "mean-sample-loss"
}

/// The model an attack sees: a posterior, attacked through `eotSamples` of its samples per
/// gradient — drawn afresh at every step for a stochastic posterior (EOT), all of them for a
/// deterministic one (an ensemble's members, a point network). Gradients are accumulated
/// sample by sample, so a posterior of a hundred networks is attacked without holding them
/// all at once.
public struct AttackTarget {
    public var posterior: any Posterior
    /// K, the samples per gradient (a deterministic posterior uses all of its own).
    public var eotSamples: Int
    public var loss: EOTLoss

    public init(posterior: any Posterior, eotSamples: Int = 1, loss: EOTLoss = .bayesModelAverage) {
        self.posterior = posterior
        self.eotSamples = eotSamples
        self.loss = loss
    }

    /// Whether a fresh draw gives other networks: then one step's gradient is a Monte-Carlo
    /// estimate and an attack without EOT (K = 1) is weak.
    public var isStochastic: Bool { posterior.sampleCount(requested: 2) != posterior.sampleCount(requested: 1) }

    /// What `evaluate` measured at a batch of inputs.
    public struct Evaluation {
        /// The loss per example.
        public var loss: [Double]
        /// Its gradient with respect to the inputs (rows independent: example i's is row i).
        public var gradient: Tensor
        /// [N, C] log-probabilities of the model average of the samples used (one sample: its own).
        public var logProbabilities: Tensor

        /// The class each example is predicted as (the model average's most probable).
        public var predictions: [Int32] { mostLikelyClasses(logProbabilities) }
    }

    /// The loss per example at `inputs` [N, …] and its gradient with respect to the inputs.
    /// `labels` are the classes the loss measures (the true class, or a target class in
    /// targeted cross-entropy PGD); `targets` the target class of each example for the
    /// targeted DLR loss.
    ///
    /// With the model average's loss over K > 1 samples, cross-entropy takes one pass over the
    /// samples (its gradient needs only the label's weights, rescaled as the samples come);
    /// the DLR losses, which depend on the ranking of the averaged log-probabilities, take two
    /// — one to average them, one for the gradient with the now-known coefficients, over the
    /// same samples (redrawn from the same generator state) — still one sample in memory at a time.
    public func evaluate(_ inputs: Tensor, labels: [Int32], loss kind: AttackLoss = .crossEntropy, targets: [Int32]? = nil,
                         rng: inout RandomGenerator) throws -> Evaluation {
        let n = try exampleCount(inputs, labels: labels)
        if kind.isTargeted {
            guard let targets, targets.count == n else {
                throw InferenceError.invalidOption("the \(kind.rawValue) loss needs one target class per input: \(targets?.count ?? 0) for \(n)")
            }
        }
        let count = posterior.sampleCount(requested: eotSamples)
        if count > 1, loss == .bayesModelAverage {
            return kind == .crossEntropy ? try averageCrossEntropy(inputs, labels: labels, count: count, rng: &rng)
                : try averageLoss(inputs, labels: labels, loss: kind, targets: targets, count: count, rng: &rng)
        }
        return try meanSampleLoss(inputs, labels: labels, loss: kind, targets: targets, count: count, rng: &rng)
    }

    /// [N, C] log-probabilities of the model average of `eotSamples` samples at `inputs`, with
    /// no gradient: what a score-based (black-box) attack queries.
    public func logProbabilities(_ inputs: Tensor, rng: inout RandomGenerator) throws -> Tensor {
        let count = posterior.sampleCount(requested: eotSamples)
        var average = LogMeanExp()
        for s in 0..<count {
            average.add(try posterior.sample(s, of: count, rng: &rng).outputs(inputs).logSoftmaxLastAxis())
        }
        return average.value
    }

    /// The class each example is predicted as by the model average of `eotSamples` samples.
    public func predictions(_ inputs: Tensor, rng: inout RandomGenerator) throws -> [Int32] {
        mostLikelyClasses(try logProbabilities(inputs, rng: &rng))
    }

    /// The loss per example and its input gradient (`evaluate` without the log-probabilities).
    public func lossAndInputGradient(_ inputs: Tensor, labels: [Int32],
                                     rng: inout RandomGenerator) throws -> (loss: [Double], gradient: Tensor) {
        let e = try evaluate(inputs, labels: labels, rng: &rng)
        return (e.loss, e.gradient)
    }

    /// Sample `s` of `count` run on a fresh tape at `inputs`: the tape, the inputs' variable and
    /// the log-probabilities.
    func logProbabilitiesOnTape(sample s: Int, of count: Int, inputs: Tensor,
                                rng: inout RandomGenerator) throws -> (tape: Tape, x: Variable, logP: Variable) {
        let network = try posterior.sample(s, of: count, rng: &rng)
        let tape = Tape()
        let x = tape.variable(inputs)
        return (tape, x, try network(x).logSoftmax())
    }

    /// ∇ₓ loss; zeros when the loss does not depend on x on the tape (a network that quantises
    /// or otherwise detaches its inputs — gradient masking the checks should see, not a crash).
    static func inputGradient(of loss: Variable, tape: Tape, x: Variable) -> Tensor {
        loss.isTracked ? tape.gradients(of: loss)[x] : Tensor(shape: x.value.shape, repeating: 0)
    }

    /// ∂loss/∂z for every row of `logProbabilities` [N, C], and the losses.
    func coefficients(_ logProbabilities: Tensor, labels: [Int32], loss kind: AttackLoss,
                      targets: [Int32]?) throws -> (loss: [Double], coefficients: Tensor) {
        let c = logProbabilities.shape.last ?? 1, n = labels.count
        try kind.validate(classes: c)
        var coefficients = Tensor(uninitializedShape: [n, c])
        var losses = [Double](repeating: 0, count: n)
        logProbabilities.withUnsafeBufferPointer { z in
            coefficients.withUnsafeMutableBufferPointer { g in
                for i in 0..<n {
                    losses[i] = kind.evaluate(UnsafeBufferPointer(rebasing: z[(i * c)..<((i + 1) * c)]), label: Int(labels[i]),
                                              target: Int(targets?[i] ?? 0), gradient: UnsafeMutableBufferPointer(rebasing: g[(i * c)..<((i + 1) * c)]))
                }
            }
        }
        return (losses, coefficients)
    }

    /// Each sample's own loss, averaged (one sample: the loss of the network itself).
    func meanSampleLoss(_ inputs: Tensor, labels: [Int32], loss kind: AttackLoss, targets: [Int32]?, count: Int,
                        rng: inout RandomGenerator) throws -> Evaluation {
        var total = [Double](repeating: 0, count: labels.count)
        var gradient = Tensor(shape: inputs.shape, repeating: 0)
        var average = LogMeanExp()
        for s in 0..<count {
            let (tape, x, logP) = try logProbabilitiesOnTape(sample: s, of: count, inputs: inputs, rng: &rng)
            let (losses, coefficients) = try self.coefficients(logP.value, labels: labels, loss: kind, targets: targets)
            gradient.addInPlace(Self.inputGradient(of: try (logP * Variable(constant: coefficients)).sum(), tape: tape, x: x), scale: 1 / Float(count))
            for i in total.indices { total[i] += losses[i] / Double(count) }
            average.add(logP.value)
        }
        return Evaluation(loss: total, gradient: gradient, logProbabilities: average.value)
    }

    /// The model average's cross-entropy in one pass. Per example, in log space so confident
    /// samples keep their gradients: the running maximum m of log pₖ(y), s = Σₖ e^(log pₖ − m)
    /// and g = Σₖ e^(log pₖ − m) ∇log pₖ (rescaled when m grows) give −log p̄ = −(m + log s −
    /// log K) and its gradient −g/s.
    func averageCrossEntropy(_ inputs: Tensor, labels: [Int32], count: Int, rng: inout RandomGenerator) throws -> Evaluation {
        let n = labels.count
        let perRow = inputs.count / Swift.max(n, 1)
        var maximum = [Double](repeating: -.infinity, count: n), total = [Double](repeating: 0, count: n)
        var gradient = Tensor(shape: inputs.shape, repeating: 0)
        var average = LogMeanExp()
        for s in 0..<count {
            let (tape, x, all) = try logProbabilitiesOnTape(sample: s, of: count, inputs: inputs, rng: &rng)
            let logProbabilities = try all.gatherColumns(labels)
            let g = Self.inputGradient(of: try logProbabilities.sum(), tape: tape, x: x)
            average.add(all.value)
            let logP = logProbabilities.value.values
            gradient.withUnsafeMutableBufferPointer { acc in
                g.withUnsafeBufferPointer { gs in
                    for i in 0..<n {
                        let rows = (i * perRow)..<((i + 1) * perRow)
                        let l = Double(logP[i])
                        if l > maximum[i] {
                            let rescale = maximum[i] == -.infinity ? 0 : Foundation.exp(maximum[i] - l)
                            total[i] *= rescale
                            for j in rows { acc[j] *= Float(rescale) }
                            maximum[i] = l
                        }
                        let weight = Foundation.exp(l - maximum[i])
                        total[i] += weight
                        for j in rows { acc[j] += Float(weight) * gs[j] }
                    }
                }
            }
        }
        gradient.withUnsafeMutableBufferPointer { acc in
            for i in 0..<n {
                let scale = Float(-1 / total[i])
                for j in (i * perRow)..<((i + 1) * perRow) { acc[j] *= scale }
            }
        }
        let losses = (0..<n).map { -(maximum[$0] + Foundation.log(total[$0]) - Foundation.log(Double(count))) }
        return Evaluation(loss: losses, gradient: gradient, logProbabilities: average.value)
    }

    /// The model average's loss for any `AttackLoss`, in two passes over the same samples:
    /// log p̄ first; then, with a = ∂loss/∂log p̄ known, ∇ₓ loss = Σₖ ∇ₓ Σ_c a_c (pₖ_c / (K p̄_c)) log pₖ_c.
    func averageLoss(_ inputs: Tensor, labels: [Int32], loss kind: AttackLoss, targets: [Int32]?, count: Int,
                     rng: inout RandomGenerator) throws -> Evaluation {
        let start = rng
        let logMean = try logProbabilities(inputs, rng: &rng)
        let (losses, coefficients) = try self.coefficients(logMean, labels: labels, loss: kind, targets: targets)
        rng = start
        var gradient = Tensor(shape: inputs.shape, repeating: 0)
        for s in 0..<count {
            let (tape, x, logP) = try logProbabilitiesOnTape(sample: s, of: count, inputs: inputs, rng: &rng)
            var weights = coefficients
            weights.withUnsafeMutableBufferPointer { w in
                logP.value.withUnsafeBufferPointer { l in
                    logMean.withUnsafeBufferPointer { m in
                        for j in w.indices { w[j] *= Float(Foundation.exp(Double(l[j]) - Double(m[j]))) / Float(count) }
                    }
                }
            }
            gradient.addInPlace(Self.inputGradient(of: try (logP * Variable(constant: weights)).sum(), tape: tape, x: x))
        }
        return Evaluation(loss: losses, gradient: gradient, logProbabilities: logMean)
    }
}

/// The most probable class of every row of [N, C] (log-)probabilities (the first on ties).
func mostLikelyClasses(_ scores: Tensor) -> [Int32] {
    let c = Swift.max(scores.shape.last ?? 1, 1)
    return scores.withUnsafeBufferPointer { p in
        (0..<(p.count / c)).map { i in
            var best = 0
            for k in 1..<c where p[i * c + k] > p[i * c + best] { best = k }
            return Int32(best)
        }
    }
}

/// log of the mean of e^v over the tensors added, elementwise, in log space (a running
/// maximum per element, the sum of e^(v − max) rescaled when it grows).
struct LogMeanExp {
    private var maximum: [Double] = [], sum: [Double] = [], shape: [Int] = [], count = 0

    mutating func add(_ values: Tensor) {
        if count == 0 {
            shape = values.shape
            maximum = values.values.map(Double.init)
            sum = [Double](repeating: 1, count: values.count)
        } else {
            values.withUnsafeBufferPointer { v in
                for j in v.indices {
                    let x = Double(v[j])
                    if x > maximum[j] {
                        sum[j] = sum[j] * Foundation.exp(maximum[j] - x) + 1
                        maximum[j] = x
                    } else {
                        sum[j] += Foundation.exp(x - maximum[j])
                    }
                }
            }
        }
        count += 1
    }

    var value: Tensor {
        let logCount = Foundation.log(Double(Swift.max(count, 1)))
        return Tensor(shape: shape, values: zip(maximum, sum).map { Float($0 + Foundation.log($1) - logCount) })
    }
}
