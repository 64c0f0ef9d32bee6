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

    /// The loss per example at `inputs` [N, …] and its gradient with respect to the inputs
    /// (rows independent: example i's gradient is row i). `labels` are the classes whose
    /// probability the loss measures (the true class, or a target class).
    public func lossAndInputGradient(_ inputs: Tensor, labels: [Int32],
                                     rng: inout RandomGenerator) throws -> (loss: [Double], gradient: Tensor) {
        let n = inputs.shape.first ?? 0
        guard labels.count == n else {
            throw InferenceError.invalidOption("an attack needs one label per input: \(labels.count) labels for \(n) inputs")
        }
        let count = posterior.sampleCount(requested: eotSamples)
        let perRow = inputs.count / Swift.max(n, 1)
        // Per example, in log space so confident samples keep their gradients: the running
        // maximum m of log pₖ, s = Σₖ e^(log pₖ − m) and g = Σₖ e^(log pₖ − m) ∇log pₖ (rescaled
        // when m grows) give the model average's −log p̄ = −(m + log s − log K) and its gradient
        // −g/s; the mean sample loss sums −log pₖ and −∇log pₖ.
        var maximum = [Double](repeating: -.infinity, count: n), total = [Double](repeating: 0, count: n)
        var gradient = Tensor(shape: inputs.shape, repeating: 0)
        for s in 0..<count {
            let network = try posterior.sample(s, of: count, rng: &rng)
            let tape = Tape()
            let x = tape.variable(inputs)
            let logProbabilities = try network(x).logSoftmax().gatherColumns(labels)
            let g = tape.gradients(of: try logProbabilities.sum())[x]
            let logP = logProbabilities.value.values
            gradient.withUnsafeMutableBufferPointer { acc in
                g.withUnsafeBufferPointer { gs in
                    for i in 0..<n {
                        let rows = (i * perRow)..<((i + 1) * perRow)
                        switch loss {
                        case .meanSampleLoss:
                            total[i] -= Double(logP[i])
                            for j in rows { acc[j] -= gs[j] }
                        case .bayesModelAverage:
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
        }
        switch loss {
        case .meanSampleLoss:
            return (total.map { $0 / Double(count) }, gradient * (1 / Float(count)))
        case .bayesModelAverage:
            gradient.withUnsafeMutableBufferPointer { acc in
                for i in 0..<n {
                    let scale = Float(-1 / total[i])
                    for j in (i * perRow)..<((i + 1) * perRow) { acc[j] *= scale }
                }
            }
            let losses = (0..<n).map { -(maximum[$0] + Foundation.log(total[$0]) - Foundation.log(Double(count))) }
            return (losses, gradient)
        }
    }
}
