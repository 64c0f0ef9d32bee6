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
        var gradient = Tensor(shape: inputs.shape, repeating: 0)
        // Mean-sample loss: Σₖ −log pₖ and Σₖ ∇(−log pₖ). BMA: Σₖ pₖ and Σₖ ∇pₖ, then
        // −log(Σpₖ/K) with gradient −Σ∇pₖ / Σpₖ, row by row.
        var accumulated = [Double](repeating: 0, count: n)
        for s in 0..<count {
            let network = try posterior.sample(s, of: count, rng: &rng)
            let tape = Tape()
            let x = tape.variable(inputs)
            let probabilities = try network(x).softmax().gatherColumns(labels)
            let perExample: Variable
            switch loss {
            case .meanSampleLoss: perExample = -(probabilities.clamped(min: 1e-30, max: 1).log())
            case .bayesModelAverage: perExample = probabilities
            }
            let g = tape.gradients(of: try perExample.sum())[x]
            gradient.addInPlace(g)
            for (i, v) in perExample.value.values.enumerated() { accumulated[i] += Double(v) }
        }
        switch loss {
        case .meanSampleLoss:
            return (accumulated.map { $0 / Double(count) }, gradient * (1 / Float(count)))
        case .bayesModelAverage:
            let perRow = inputs.count / Swift.max(n, 1)
            gradient.withUnsafeMutableBufferPointer { g in
                for i in 0..<n {
                    let scale = Float(-1 / Swift.max(accumulated[i], 1e-30))
                    for j in (i * perRow)..<((i + 1) * perRow) { g[j] *= scale }
                }
            }
            return (accumulated.map { -Foundation.log(Swift.max($0 / Double(count), 1e-30)) }, gradient)
        }
    }
}
