import CredenceTensor

/// Batch normalization (Ioffe & Szegedy 2015) with an affine map, as PyTorch's
/// `nn.BatchNorm1d` (over the features of [B, C] inputs) and `nn.BatchNorm2d` (over the
/// channels of [B, C, H, W] inputs) with their defaults: ε = 1e-5, momentum 0.1,
/// `affine=True`, `track_running_stats=True`.
///
/// - `.train`: y = γ (x − μ_B)/√(σ²_B + ε) + β with the batch's mean μ_B and biased variance
///   σ²_B per channel; the pass returns (μ_B, σ²_B, m) and `updatedBuffers` folds them in:
///   running_mean ← (1 − 0.1)·running_mean + 0.1·μ_B, running_var ← (1 − 0.1)·running_var +
///   0.1·σ²_B·m/(m − 1) (the unbiased variance), num_batches_tracked += 1.
/// - `.eval` and `.mcSample`: the same affine map with the running statistics (deterministic;
///   batch normalization draws no noise, so MC dropout still runs the prefix once).
///
/// Parameters "weight" (γ, ones) and "bias" (β, zeros) sit in the flat vector; buffers
/// "running_mean" (zeros), "running_var" (ones) and "num_batches_tracked" (0, a scalar; PyTorch
/// stores it as int64, Credence as Float32, exact up to 2²⁴ batches) are the model's.
///
/// ```swift
/// let spec = ModelSpec(inputShape: [4], layers: [.dense(inputs: 4, outputs: 8, bias: true),
///                                                .batchNorm1d(features: 8), .activation(.relu)])
/// ```
public struct BatchNorm: StatefulLayer {
    public let channels: Int
    /// True for 2-D (NCHW) inputs, false for [B, C] features.
    public let spatial: Bool
    public static let epsilon: Float = 1e-5
    public static let momentum: Float = 0.1

    public init(channels: Int, spatial: Bool) throws {
        guard channels > 0 else {
            throw ModelError.invalidSpecification("batch normalization needs at least one channel, got \(channels)")
        }
        self.channels = channels
        self.spatial = spatial
    }

    public var spec: LayerSpec { spatial ? .batchNorm2d(channels: channels) : .batchNorm1d(features: channels) }

    var name: String { spatial ? "BatchNorm2d(\(channels))" : "BatchNorm1d(\(channels))" }

    public var parameterShapes: [(name: String, shape: [Int])] { [("weight", [channels]), ("bias", [channels])] }

    public var bufferShapes: [(name: String, shape: [Int])] {
        [("running_mean", [channels]), ("running_var", [channels]), ("num_batches_tracked", [])]
    }

    public func initialParameters(rng: inout RandomGenerator) -> [Tensor] {
        [Tensor(shape: [channels], repeating: 1), Tensor(shape: [channels], repeating: 0)]
    }

    public func initialBuffers() -> [Tensor] {
        [Tensor(shape: [channels], repeating: 0), Tensor(shape: [channels], repeating: 1), Tensor(0)]
    }

    public func outputShape(for s: [Int]) throws -> [Int] {
        let fits = spatial ? (s.count == 3 && s[0] == channels) : s == [channels]
        guard fits else {
            throw ModelError.inputShape(layer: name, got: s, expected: spatial ? "[\(channels), height, width] per example"
                                                                               : "[\(channels)] per example")
        }
        return s
    }

    /// Runs with a fresh layer's buffers (`Sequential` passes the model's own instead).
    public func forward(_ x: Variable, parameters: [Variable], context: inout ForwardContext) throws -> Variable {
        try forward(x, parameters: parameters, buffers: initialBuffers(), context: &context).output
    }

    public func forward(_ x: Variable, parameters: [Variable], buffers: [Tensor],
                        context: inout ForwardContext) throws -> (output: Variable, statistics: BatchNormStatistics?) {
        guard x.shape.count == (spatial ? 4 : 2), x.shape[1] == channels else {
            throw ModelError.inputShape(layer: name, got: x.shape,
                                        expected: spatial ? "[batch, \(channels), height, width]" : "[batch, \(channels)]")
        }
        if context.mode == .train {
            let perChannel = x.shape.reduce(1, *) / channels
            guard perChannel > 1 else {  // PyTorch refuses this too: the variance of one value is 0/0 unbiased
                throw ModelError.inputShape(layer: name, got: x.shape,
                                            expected: "more than one value per channel in training mode (a batch of ≥ 2)")
            }
            let (y, statistics) = try x.batchNormalized(weight: parameters[0], bias: parameters[1], epsilon: Self.epsilon)
            return (y, statistics)
        }
        // y = x·s + (β − μ·s), s = γ/√(σ² + ε): composed from broadcasting primitives (∇ to x, γ, β).
        let inverseStd = Variable(constant: buffers[1].map { 1 / ($0 + Self.epsilon).squareRoot() })
        let scale = try parameters[0] * inverseStd
        let shift = try parameters[1] - scale * Variable(constant: buffers[0])
        let broadcastShape = spatial ? [channels, 1, 1] : [channels]
        return (try x * scale.reshaped(broadcastShape) + shift.reshaped(broadcastShape), nil)
    }

    public func updatedBuffers(_ buffers: [Tensor], with statistics: BatchNormStatistics) -> [Tensor] {
        let m = Self.momentum
        let correction = Float(statistics.count) / Float(Swift.max(statistics.count - 1, 1))
        let mean = buffers[0].zipMap(statistics.mean) { (1 - m) * $0 + m * $1 }
        let variance = buffers[1].zipMap(statistics.variance) { (1 - m) * $0 + m * ($1 * correction) }
        return [mean, variance, Tensor(buffers[2].scalar + 1)]
    }
}

extension BatchNormStatistics {
    /// The statistics of the union of two disjoint batches (Chan, Golub & LeVeque's pairwise
    /// update, in Double): n = nₐ + n_b, δ = μ_b − μₐ, μ = μₐ + δ·n_b/n,
    /// n·σ² = nₐσₐ² + n_bσ_b² + δ²·nₐn_b/n.
    public func merged(with other: BatchNormStatistics) -> BatchNormStatistics {
        let na = Double(count), nb = Double(other.count), n = na + nb
        var mean = self.mean, variance = self.variance
        let ma = self.mean.values, va = self.variance.values, mb = other.mean.values, vb = other.variance.values
        mean.withUnsafeMutableBufferPointer { mu in
            variance.withUnsafeMutableBufferPointer { v in
                for c in 0..<mu.count {
                    let delta = Double(mb[c]) - Double(ma[c])
                    mu[c] = Float(Double(ma[c]) + delta * nb / n)
                    v[c] = Float((na * Double(va[c]) + nb * Double(vb[c]) + delta * delta * na * nb / n) / n)
                }
            }
        }
        return BatchNormStatistics(count: count + other.count, mean: mean, variance: variance)
    }
}

/// Layer normalization (Ba et al. 2016) as PyTorch's `nn.LayerNorm(shape)` with its defaults
/// (ε = 1e-5, elementwise affine): each example's trailing axes `shape` are normalised by their
/// own mean and biased variance, then scaled by "weight" (γ, ones) and shifted by "bias" (β,
/// zeros), both of `shape`. The same in every mode; no running statistics.
public struct LayerNorm: Layer {
    public let shape: [Int]
    public static let epsilon: Float = 1e-5

    public init(shape: [Int]) throws {
        guard !shape.isEmpty, shape.allSatisfy({ $0 > 0 }) else {
            throw ModelError.invalidSpecification("layer normalization needs a non-empty shape of positive sizes, got \(shape)")
        }
        self.shape = shape
    }

    public var spec: LayerSpec { .layerNorm(shape: shape) }
    public var parameterShapes: [(name: String, shape: [Int])] { [("weight", shape), ("bias", shape)] }

    public func initialParameters(rng: inout RandomGenerator) -> [Tensor] {
        [Tensor(shape: shape, repeating: 1), Tensor(shape: shape, repeating: 0)]
    }

    public func outputShape(for s: [Int]) throws -> [Int] {
        guard s.count >= shape.count, Array(s.suffix(shape.count)) == shape else {
            throw ModelError.inputShape(layer: "LayerNorm(\(shape))", got: s, expected: "trailing axes \(shape)")
        }
        return s
    }

    public func forward(_ x: Variable, parameters: [Variable], context: inout ForwardContext) throws -> Variable {
        try x.layerNormalized(weight: parameters[0], bias: parameters[1], epsilon: Self.epsilon)
    }
}
