import CredenceTensor

/// How a layer whose weights are random — a mean-field Gaussian q(W) = N(μ, σ²) per weight
/// and bias — turns them into outputs on a batch. All three give the same distribution of
/// each example's output; they differ in how the examples of a batch are correlated, and so
/// in the variance of the gradient estimate (`MeanFieldVI`, Variational/).
public enum WeightNoiseEstimator: String, CaseIterable, Codable, Sendable {
    /// One weight draw W = μ + σ ⊙ ε per pass, shared by the whole batch (Blundell et al. 2015).
    case reparameterization
    /// Pre-activations drawn from their exact Gaussian, independently per example: mean x·μ,
    /// variance x²·σ² (Kingma, Salimans & Welling 2015).
    case localReparameterization = "local-reparameterization"
    /// One ΔW = σ ⊙ ε per pass, decorrelated per example by random signs: x·μ + ((x ⊙ s)·ΔW) ⊙ r
    /// with s, r uniform on {−1, +1} per example (Wen et al. 2018).
    case flipout
}

/// A layer that can run with Gaussian random weights (`Dense`, `Conv2D`): given the means
/// μ (one tensor per entry of `parameterShapes`) and its *layer noise* — per parameter, what
/// `estimator` needs of the weights' randomness (`WeightNoiseEstimator.layerNoise`): one draw
/// of their deviation from the mean ΔW = σ ⊙ ε for plain reparameterization and Flipout, the
/// variance σ² for local reparameterization — it draws its outputs, taking the rest of the
/// noise (Flipout's signs, the local pre-activation noise) from `context.rng`. Gradients flow
/// to μ, the layer noise and x on the tape.
///
/// So the worker shards of one step can share one weight draw, as one mini-batch does in both
/// papers, and ΔW or σ² is formed once per step rather than on every shard's tape
/// (`VariationalNetwork`'s `.layerNoise` coordinates). The `standardDeviation:` form below
/// draws ε itself on every pass.
public protocol GaussianWeightLayer: Layer {
    func forward(_ x: Variable, mean: [Variable], layerNoise: [Variable], estimator: WeightNoiseEstimator,
                 context: inout ForwardContext) throws -> Variable
}

extension WeightNoiseEstimator {
    /// What a layer takes for a parameter with standard deviation σ and standard-normal draw ε:
    /// σ ⊙ ε, or σ² for local reparameterization (which draws per example and ignores ε).
    @inlinable public func layerNoise(standardDeviation sigma: Float, draw epsilon: Float) -> Float {
        self == .localReparameterization ? sigma * sigma : sigma * epsilon
    }

    /// ∂(layer noise)/∂σ: ε, or 2σ for local reparameterization.
    @inlinable public func layerNoiseDerivative(standardDeviation sigma: Float, draw epsilon: Float) -> Float {
        self == .localReparameterization ? 2 * sigma : epsilon
    }

    /// Whether the layer noise needs a standard-normal draw per parameter.
    public var drawsWeights: Bool { self != .localReparameterization }
}

extension GaussianWeightLayer {
    /// The layer with standard deviations σ: its noise σ ⊙ ε (ε ~ N(0, I) drawn from
    /// `context.rng` on every call) or σ², on the tape, so gradients reach σ.
    public func forward(_ x: Variable, mean: [Variable], standardDeviation sigma: [Variable], estimator: WeightNoiseEstimator,
                        context: inout ForwardContext) throws -> Variable {
        let noise = try sigma.map { s in
            estimator.drawsWeights ? try s * Variable(constant: Tensor.normalNoise(shape: s.shape, rng: &context.rng)) : try s * s
        }
        return try forward(x, mean: mean, layerNoise: noise, estimator: estimator, context: &context)
    }

    /// The layer run with the weights θ = μ + ΔW of one draw.
    func forwardWithSampledWeights(_ x: Variable, mean: [Variable], deviation: [Variable], context: inout ForwardContext) throws -> Variable {
        try forward(x, parameters: zip(mean, deviation).map { try $0 + $1 }, context: &context)
    }
}

/// √(v + floor): the floor keeps the square root's gradient finite where the variance of a
/// pre-activation is zero (an input row of zeros into a layer without bias).
private let varianceFloor: Float = 1e-12

/// Signs ±1 with probability ½ each (`FastMath.fillRandomSigns`).
func randomSigns(_ shape: [Int], rng: inout RandomGenerator) -> Tensor {
    var t = Tensor(uninitializedShape: shape)
    t.withUnsafeMutableBufferPointer { FastMath.fillRandomSigns($0, rng: &rng) }
    return t
}

extension Dense: GaussianWeightLayer {
    /// - `.localReparameterization`: y = x·μ_Wᵀ + μ_b + √(x²·(σ_W²)ᵀ + σ_b²) ⊙ ξ, ξ ~ N(0, I) [B, out].
    /// - `.flipout`: y = x·μ_Wᵀ + μ_b + ΔW_b + ((x ⊙ s)·ΔW_Wᵀ) ⊙ r, s [B, in] and r [B, out]
    ///   random signs.
    public func forward(_ x: Variable, mean: [Variable], layerNoise noise: [Variable], estimator: WeightNoiseEstimator,
                        context: inout ForwardContext) throws -> Variable {
        guard x.shape.count == 2, x.shape[1] == inputs else {
            throw ModelError.inputShape(layer: "Dense(\(inputs)→\(outputs))", got: x.shape, expected: "[batch, \(inputs)]")
        }
        let batch = x.shape[0]
        switch estimator {
        case .reparameterization:
            return try forwardWithSampledWeights(x, mean: mean, deviation: noise, context: &context)
        case .localReparameterization:
            let squares = try x * x
            let m = useBias ? try x.affine(weight: mean[0], bias: mean[1]) : try x.matmul(mean[0], transposeRight: true)
            let v = useBias ? try squares.affine(weight: noise[0], bias: noise[1]) : try squares.matmul(noise[0], transposeRight: true)
            let xi = Tensor.normalNoise(shape: [batch, outputs], rng: &context.rng)
            return try m + (v + varianceFloor).sqrt() * Variable(constant: xi)
        case .flipout:
            let y = useBias ? try x.affine(weight: mean[0], bias: try mean[1] + noise[1]) : try x.matmul(mean[0], transposeRight: true)
            let s = randomSigns([batch, inputs], rng: &context.rng), r = randomSigns([batch, outputs], rng: &context.rng)
            let perturbation = try (x * Variable(constant: s)).matmul(noise[0], transposeRight: true) * Variable(constant: r)
            return try y + perturbation
        }
    }
}

extension Conv2D: GaussianWeightLayer {
    /// As `Dense`'s, with convolutions for the products: local reparameterization draws each
    /// output element from N(conv(x, μ), conv(x², σ²)); Flipout's signs are per example and
    /// channel (s [B, C_in, 1, 1], r [B, C_out, 1, 1]), shared over positions, as in Wen et al.
    public func forward(_ x: Variable, mean: [Variable], layerNoise noise: [Variable], estimator: WeightNoiseEstimator,
                        context: inout ForwardContext) throws -> Variable {
        let batch = x.shape.first ?? 0
        let stride = (self.stride, self.stride), padding = (self.padding, self.padding)
        switch estimator {
        case .reparameterization:
            return try forwardWithSampledWeights(x, mean: mean, deviation: noise, context: &context)
        case .localReparameterization:
            let m = try x.conv2d(weight: mean[0], bias: useBias ? mean[1] : nil, stride: stride, padding: padding)
            let v = try (x * x).conv2d(weight: noise[0], bias: useBias ? noise[1] : nil, stride: stride, padding: padding)
            let xi = Tensor.normalNoise(shape: m.shape, rng: &context.rng)
            return try m + (v + varianceFloor).sqrt() * Variable(constant: xi)
        case .flipout:
            let bias = try useBias ? mean[1] + noise[1] : nil
            let y = try x.conv2d(weight: mean[0], bias: bias, stride: stride, padding: padding)
            let s = randomSigns([batch, inChannels, 1, 1], rng: &context.rng)
            let r = randomSigns([batch, outChannels, 1, 1], rng: &context.rng)
            let perturbation = try (x * Variable(constant: s)).conv2d(weight: noise[0], stride: stride, padding: padding)
                * Variable(constant: r)
            return try y + perturbation
        }
    }
}
