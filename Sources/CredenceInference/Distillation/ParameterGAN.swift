import CredenceNN
import CredenceTensor
import Foundation

/// A generator of parameter vectors trained adversarially against samples of a posterior —
/// the core of adversarial posterior distillation (Wang et al. 2018): G maps noise z ~ N(0, I)
/// to u = G(z), a critic D scores vectors, and the pair plays the Wasserstein GAN game (Arjovsky
/// et al. 2017): D maximises E D(u_real) − E D(G(z)) with its weights clipped to [−c, c] (a
/// Lipschitz bound without second derivatives), G minimises −E D(G(z)). At test time G alone
/// replaces the stored samples: a draw costs one small forward pass and the storage is G's
/// weights. Vectors are modelled standardised (`center`, `scale`, fixed from the first real
/// batch), so the critic sees O(1) coordinates whatever the parameters' scale.
public struct ParameterGAN {
    public let generator: Sequential
    public let critic: Sequential
    public var generatorParameters: Tensor
    public var criticParameters: Tensor
    var generatorOptimizer: Optimizer
    var criticOptimizer: Optimizer
    /// c: the critic's weights are clipped to [−c, c] after each of its steps.
    public let clip: Float
    /// Critic steps per generator step.
    public let criticSteps: Int
    /// Real vectors are modelled as (θ − center) / scale, coordinate by coordinate.
    public var center: Tensor?
    public var scale: Tensor?

    public var dimension: Int { generator.outputShape[0] }
    public var noiseDimension: Int { generator.inputShape[0] }

    public init(dimension: Int, noiseDimension: Int, hidden: [Int], learningRate: Float, clip: Float = 0.01,
                criticSteps: Int = 5, rng: inout RandomGenerator) throws {
        generator = try Sequential(.mlp(inputShape: [noiseDimension], hidden: hidden, outputs: dimension))
        critic = try Sequential(.mlp(inputShape: [dimension], hidden: hidden, outputs: 1))
        generatorParameters = generator.initialParameters(rng: &rng)
        criticParameters = critic.initialParameters(rng: &rng)
        criticParameters.withUnsafeMutableBufferPointer { w in for i in w.indices { w[i] = Swift.min(Swift.max(w[i], -clip), clip) } }
        // β₁ = 0.5, as GAN training commonly uses (momentum destabilises the critic's game).
        generatorOptimizer = .adam(learningRate: .constant(learningRate), beta1: 0.5, beta2: 0.9, parameterCount: generatorParameters.count)
        criticOptimizer = .adam(learningRate: .constant(learningRate), beta1: 0.5, beta2: 0.9, parameterCount: criticParameters.count)
        self.clip = clip
        self.criticSteps = criticSteps
    }

    /// One round on a batch of real parameter vectors [B, dimension]: `criticSteps` critic steps,
    /// each against B fresh generated vectors, then one generator step. Returns the critic's
    /// estimate of the Wasserstein distance, E D(real) − E D(fake), before the generator step.
    @discardableResult
    public mutating func train(real theta: Tensor, rng: inout RandomGenerator) throws -> Double {
        if center == nil { standardise(from: theta) }
        let real = try standardised(theta)
        let b = real.shape[0]
        var distance = 0.0
        for _ in 0..<criticSteps {
            let fake = try generate(count: b, rng: &rng, standardised: true)
            let tape = Tape()
            let w = tape.variable(criticParameters)
            var context = ForwardContext(mode: .train, rng: rng)
            let realScore = try critic(Variable(constant: real), parameters: w, context: &context).mean()
            let fakeScore = try critic(Variable(constant: fake), parameters: w, context: &context).mean()
            let loss = try fakeScore - realScore
            distance = -Double(loss.value.scalar)
            criticOptimizer.update(&criticParameters, gradient: tape.gradients(of: loss)[w])
            let c = clip
            criticParameters.withUnsafeMutableBufferPointer { w in for i in w.indices { w[i] = Swift.min(Swift.max(w[i], -c), c) } }
        }
        let tape = Tape()
        let phi = tape.variable(generatorParameters)
        var context = ForwardContext(mode: .train, rng: rng)
        let fake = try generator(Variable(constant: Self.noise(count: b, dimension: noiseDimension, rng: &rng)), parameters: phi, context: &context)
        let loss = try critic(fake, parameters: Variable(constant: criticParameters), context: &context).mean() * -1
        generatorOptimizer.update(&generatorParameters, gradient: tape.gradients(of: loss)[phi])
        return distance
    }

    /// `count` generated vectors [count, dimension], in the parameters' own units (or
    /// standardised).
    public func generate(count: Int, rng: inout RandomGenerator, standardised: Bool = false) throws -> Tensor {
        try Self.generate(count: count, generator: generator, parameters: generatorParameters,
                          center: standardised ? nil : center, scale: standardised ? nil : scale, rng: &rng)
    }

    /// `count` vectors [count, d] from a generator with these parameters: center + scale ⊙ G(z)
    /// (G(z) itself without a standardisation) — what the GAN and the posterior it leaves draw.
    static func generate(count: Int, generator: Sequential, parameters: Tensor, center: Tensor?, scale: Tensor?,
                         rng: inout RandomGenerator) throws -> Tensor {
        let u = try generator.predict(noise(count: count, dimension: generator.inputShape[0], rng: &rng), parameters: parameters)
        guard let center, let scale else { return u }
        var theta = u
        let d = center.count
        center.withUnsafeBufferPointer { m in
            scale.withUnsafeBufferPointer { s in
                theta.withUnsafeMutableBufferPointer { t in
                    for i in t.indices { t[i] = m[i % d] + s[i % d] * t[i] }
                }
            }
        }
        return theta
    }

    static func noise(count: Int, dimension: Int, rng: inout RandomGenerator) -> Tensor {
        Tensor(shape: [count, dimension], values: (0..<(count * dimension)).map { _ in rng.normalFloat() })
    }

    /// Fixes the standardisation at `theta`'s per-coordinate mean and standard deviation (floored
    /// at 1e-3 of the largest, so a coordinate that never moved is not blown up).
    mutating func standardise(from theta: Tensor) {
        let b = theta.shape[0], d = dimension
        var mean = [Double](repeating: 0, count: d), square = [Double](repeating: 0, count: d)
        theta.withUnsafeBufferPointer { t in
            for r in 0..<b { for j in 0..<d { let v = Double(t[r * d + j]); mean[j] += v; square[j] += v * v } }
        }
        var sd = (0..<d).map { j -> Double in
            let m = mean[j] / Double(b)
            return Swift.max(square[j] / Double(b) - m * m, 0).squareRoot()
        }
        let floor = Swift.max((sd.max() ?? 0) * 1e-3, 1e-12)
        sd = sd.map { Swift.max($0, floor) }
        center = Tensor(shape: [d], values: mean.map { Float($0 / Double(b)) })
        scale = Tensor(shape: [d], values: sd.map(Float.init))
    }

    func standardised(_ theta: Tensor) throws -> Tensor {
        guard theta.rank == 2, theta.shape[1] == dimension else {
            throw InferenceError.invalidOption("real parameter vectors must be [B, \(dimension)], got \(theta.shape)")
        }
        var u = theta
        let d = dimension
        center!.withUnsafeBufferPointer { m in
            scale!.withUnsafeBufferPointer { s in
                u.withUnsafeMutableBufferPointer { t in for i in t.indices { t[i] = (t[i] - m[i % d]) / s[i % d] } }
            }
        }
        return u
    }
}

extension ParameterGAN {
    /// Both networks' parameters and optimizer states and the standardisation, under `prefix`.
    func save(into file: inout SafeTensorsFile, prefix: String) throws {
        try file.embed(prefix: prefix + "generator.") { own in
            own["parameters"] = generatorParameters
            try generatorOptimizer.exportState().store(in: &own, path: "the generator's state")
        }
        try file.embed(prefix: prefix + "critic.") { own in
            own["parameters"] = criticParameters
            try criticOptimizer.exportState().store(in: &own, path: "the critic's state")
        }
        if let center, let scale {
            file[prefix + "center"] = center
            file[prefix + "scale"] = scale
        }
    }

    mutating func restore(from file: SafeTensorsFile, prefix: String, path: String) throws {
        let generatorPart = file.part(prefix: prefix + "generator."), criticPart = file.part(prefix: prefix + "critic.")
        generatorParameters = try generatorPart.required("parameters", shape: [generator.parameterCount], path: path)
        try generatorOptimizer.restore(from: generatorPart, path: path)
        criticParameters = try criticPart.required("parameters", shape: [critic.parameterCount], path: path)
        try criticOptimizer.restore(from: criticPart, path: path)
        if file[prefix + "center"] != nil {
            center = try file.required(prefix + "center", shape: [dimension], path: path)
            scale = try file.required(prefix + "scale", shape: [dimension], path: path)
        } else {
            (center, scale) = (nil, nil)
        }
    }
}
