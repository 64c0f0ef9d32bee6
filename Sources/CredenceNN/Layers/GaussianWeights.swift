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
/// μ (one tensor per entry of `parameterShapes`) and the standard deviations σ (same shapes),
/// it draws its outputs with `estimator`, taking the noise from `context.rng`. Gradients flow
/// to μ and σ (and to x) on the tape.
///
/// `weightNoise` (ε per parameter tensor, N(0, 1), shapes as μ), when given, is the weight
/// draw of plain reparameterization and Flipout's ΔW = σ ⊙ ε — so the worker shards of one
/// step can share one draw, as one mini-batch does in both papers. Local reparameterization
/// draws per example and ignores it.
///
/// The default covers `.reparameterization` for any layer; `.localReparameterization` and
/// `.flipout` are the layer's own.
public protocol GaussianWeightLayer: Layer {
    func forward(_ x: Variable, mean: [Variable], standardDeviation: [Variable], weightNoise: [Tensor]?,
                 estimator: WeightNoiseEstimator, context: inout ForwardContext) throws -> Variable
}

extension GaussianWeightLayer {
    /// The layer with its noise drawn from `context.rng`.
    public func forward(_ x: Variable, mean: [Variable], standardDeviation: [Variable], estimator: WeightNoiseEstimator,
                        context: inout ForwardContext) throws -> Variable {
        try forward(x, mean: mean, standardDeviation: standardDeviation, weightNoise: nil, estimator: estimator, context: &context)
    }

    /// The layer run with one weight draw θ = μ + σ ⊙ ε, ε = `weightNoise` or ~ N(0, I).
    public func forwardWithSampledWeights(_ x: Variable, mean: [Variable], standardDeviation: [Variable], weightNoise: [Tensor]?,
                                          context: inout ForwardContext) throws -> Variable {
        let weights = try zip(mean, standardDeviation).enumerated().map { k, pair in
            try pair.0 + pair.1 * Variable(constant: noise(k, pair.0.shape, weightNoise, &context))
        }
        return try forward(x, parameters: weights, context: &context)
    }
}

/// ε for parameter tensor `k`: the given one, or a fresh draw.
private func noise(_ k: Int, _ shape: [Int], _ given: [Tensor]?, _ context: inout ForwardContext) -> Tensor {
    given?[k] ?? Tensor.normalNoise(shape: shape, rng: &context.rng)
}

/// √(v + floor): the floor keeps the square root's gradient finite where the variance of a
/// pre-activation is zero (an input row of zeros into a layer without bias).
private let varianceFloor: Float = 1e-12

/// Signs ±1 with probability ½ each.
private func randomSigns(_ shape: [Int], rng: inout RandomGenerator) -> Tensor {
    var t = Tensor(uninitializedShape: shape)
    t.withUnsafeMutableBufferPointer { p in
        var bits: UInt64 = 0
        for i in p.indices {
            if i % 64 == 0 { bits = rng.next() }
            p[i] = (bits >> UInt64(i % 64)) & 1 == 0 ? -1 : 1
        }
    }
    return t
}

extension Dense: GaussianWeightLayer {
    /// - `.localReparameterization`: y = x·μ_Wᵀ + μ_b + √(x²·(σ_W²)ᵀ + σ_b²) ⊙ ξ, ξ ~ N(0, I) [B, out].
    /// - `.flipout`: y = x·μ_Wᵀ + b + ((x ⊙ s)·ΔWᵀ) ⊙ r, ΔW = σ_W ⊙ ε, b = μ_b + σ_b ⊙ ε_b (one
    ///   draw per pass), s [B, in] and r [B, out] random signs.
    public func forward(_ x: Variable, mean: [Variable], standardDeviation sigma: [Variable], weightNoise: [Tensor]?,
                        estimator: WeightNoiseEstimator, context: inout ForwardContext) throws -> Variable {
        guard x.shape.count == 2, x.shape[1] == inputs else {
            throw ModelError.inputShape(layer: "Dense(\(inputs)→\(outputs))", got: x.shape, expected: "[batch, \(inputs)]")
        }
        let batch = x.shape[0]
        switch estimator {
        case .reparameterization:
            return try forwardWithSampledWeights(x, mean: mean, standardDeviation: sigma, weightNoise: weightNoise, context: &context)
        case .localReparameterization:
            var m = try x.matmul(mean[0], transposeRight: true)
            var v = try (x * x).matmul(sigma[0] * sigma[0], transposeRight: true)
            if useBias {
                m = try m + mean[1]
                v = try v + sigma[1] * sigma[1]
            }
            let xi = Tensor.normalNoise(shape: [batch, outputs], rng: &context.rng)
            return try m + (v + varianceFloor).sqrt() * Variable(constant: xi)
        case .flipout:
            let delta = try sigma[0] * Variable(constant: noise(0, [outputs, inputs], weightNoise, &context))
            var y = try x.matmul(mean[0], transposeRight: true)
            if useBias {
                y = try y + (mean[1] + sigma[1] * Variable(constant: noise(1, [outputs], weightNoise, &context)))
            }
            let s = randomSigns([batch, inputs], rng: &context.rng), r = randomSigns([batch, outputs], rng: &context.rng)
            let perturbation = try (x * Variable(constant: s)).matmul(delta, transposeRight: true) * Variable(constant: r)
            return try y + perturbation
        }
    }
}

extension Conv2D: GaussianWeightLayer {
    /// As `Dense`'s, with convolutions for the products: local reparameterization draws each
    /// output element from N(conv(x, μ), conv(x², σ²)); Flipout's signs are per example and
    /// channel (s [B, C_in, 1, 1], r [B, C_out, 1, 1]), shared over positions, as in Wen et al.
    public func forward(_ x: Variable, mean: [Variable], standardDeviation sigma: [Variable], weightNoise: [Tensor]?,
                        estimator: WeightNoiseEstimator, context: inout ForwardContext) throws -> Variable {
        let batch = x.shape.first ?? 0
        let stride = (self.stride, self.stride), padding = (self.padding, self.padding)
        switch estimator {
        case .reparameterization:
            return try forwardWithSampledWeights(x, mean: mean, standardDeviation: sigma, weightNoise: weightNoise, context: &context)
        case .localReparameterization:
            let m = try x.conv2d(weight: mean[0], bias: useBias ? mean[1] : nil, stride: stride, padding: padding)
            let v = try (x * x).conv2d(weight: sigma[0] * sigma[0], bias: useBias ? sigma[1] * sigma[1] : nil,
                                       stride: stride, padding: padding)
            let xi = Tensor.normalNoise(shape: m.shape, rng: &context.rng)
            return try m + (v + varianceFloor).sqrt() * Variable(constant: xi)
        case .flipout:
            let delta = try sigma[0] * Variable(constant: noise(0, sigma[0].shape, weightNoise, &context))
            let bias = try useBias
                ? mean[1] + sigma[1] * Variable(constant: noise(1, [outChannels], weightNoise, &context)) : nil
            let y = try x.conv2d(weight: mean[0], bias: bias, stride: stride, padding: padding)
            let s = randomSigns([batch, inChannels, 1, 1], rng: &context.rng)
            let r = randomSigns([batch, outChannels, 1, 1], rng: &context.rng)
            let perturbation = try (x * Variable(constant: s)).conv2d(weight: delta, stride: stride, padding: padding)
                * Variable(constant: r)
            return try y + perturbation
        }
    }
}
