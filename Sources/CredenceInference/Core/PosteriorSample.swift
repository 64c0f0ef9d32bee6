import CredenceMetrics
import CredenceNN
import CredenceTensor

/// One sample of a posterior as a network, callable on new inputs and on the tape so that
/// ∇ₓ and ∇θ flow through it (EOT attacks, adversarial training of a BNN, randomized
/// smoothing and distillation consume only this): f(x; θₛ, εₛ)·τ, with θₛ the sampled
/// parameters, εₛ the sample's fixed randomness (MC dropout's masks — counter-based, so
/// the same on every call with inputs of the same shape) and τ an output scale (1/T of
/// temperature scaling).
///
/// ```swift
/// var rng = RandomGenerator(seed: 0)
/// let count = posterior.sampleCount(requested: 32)
/// for s in 0..<count {                                   // streamed: one network at a time
///     let network = try posterior.sample(s, of: count, rng: &rng)
///     let tape = Tape(); let x = tape.variable(inputs)
///     let loss = try Loss.softmaxCrossEntropy(logits: network(x), labels: labels)
///     let inputGradient = tape.gradients(of: loss)[x]
/// }
/// ```
public struct PosteriorSample {
    public let model: any NetworkModel
    public let parameters: Tensor
    /// `.eval`, or `.mcSample` for a network kept stochastic (dropout on).
    public let mode: ForwardMode
    /// The sample's randomness (dropout masks).
    public let noise: RandomGenerator
    /// Multiplies the outputs (logits), e.g. 1/T; nil for none.
    public let outputScale: Float?

    public init(model: any NetworkModel, parameters: Tensor, mode: ForwardMode = .eval,
                noise: RandomGenerator = RandomGenerator(seed: 0), outputScale: Float? = nil) {
        self.model = model
        self.parameters = parameters
        self.mode = mode
        self.noise = noise
        self.outputScale = outputScale
    }

    /// The outputs on the tape. Pass `parameters` as a variable to differentiate with
    /// respect to them (it must hold this sample's values for the sample's meaning to hold).
    public func callAsFunction(_ x: Variable, parameters theta: Variable? = nil) throws -> Variable {
        var context = ForwardContext(mode: mode, rng: noise)
        let output = try model(x, parameters: theta ?? Variable(constant: parameters), context: &context)
        return outputScale.map { output * $0 } ?? output
    }

    /// The outputs for many inputs, off the tape (what `callAsFunction` gives on the same
    /// batch); a deterministic network's in chunks spread over the worker threads.
    public func outputs(_ x: Tensor) throws -> Tensor {
        var out = mode.isStochastic ? try model.predict(x, parameters: parameters, mode: mode, rng: noise)
            : try model.predictBatched(x, parameters: parameters)
        if let s = outputScale { out = out * s }
        return out
    }
}

extension Posterior {
    /// The predictive built from the samples alone, p(y|x) ≈ (1/S) Σₛ p(y | fₛ(x)) — what
    /// every method's `predictive` equals in distribution (the fast paths are tested against it).
    public func samplePredictive(_ inputs: Tensor, samples: Int, rng: inout RandomGenerator) throws -> Predictive {
        guard samples >= 1 else { throw InferenceError.invalidOption("samples must be ≥ 1, got \(samples)") }
        let count = sampleCount(requested: samples)
        var outputs: [Tensor] = []
        for s in 0..<count { outputs.append(try sample(s, of: count, rng: &rng).outputs(inputs)) }
        return try makePredictive(stacking: outputs, task: task)
    }
}
