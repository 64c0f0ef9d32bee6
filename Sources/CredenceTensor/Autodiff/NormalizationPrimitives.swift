import Foundation

// Batch normalization with batch statistics (training mode) as one primitive with one
// fused pullback. Evaluation mode (running statistics) is an affine map per channel and is
// composed from the broadcasting primitives by the layer.

/// Per-channel statistics of one batch-normalization pass: the batch mean and the biased
/// (divide-by-m) variance over the m = N·H·W values of each channel.
public struct BatchNormStatistics: Sendable {
    /// Values per channel (N for [N, C], N·H·W for [N, C, H, W]).
    public var count: Int
    public var mean: Tensor
    /// Biased variance (1/m) Σ (x − mean)², the one the batch is normalised with.
    public var variance: Tensor

    public init(count: Int, mean: Tensor, variance: Tensor) {
        self.count = count
        self.mean = mean
        self.variance = variance
    }
}

extension Variable {
    /// Batch normalization of `x` ([N, C] or [N, C, d₁, …]) with its own batch statistics:
    ///
    ///     x̂ = (x − μ_c) / √(σ²_c + ε),   y = γ_c · x̂ + β_c,
    ///
    /// μ_c and σ²_c the mean and biased variance of channel c over the batch and spatial
    /// axes (m values), as PyTorch's `BatchNorm1d/2d` in training mode (Ioffe & Szegedy 2015).
    /// Statistics are one pass of shifted sums and sums of squares, each row summed in eight
    /// `Float` lanes and the rows in Double.
    /// Pullback, per channel:
    /// dβ = Σ dy, dγ = Σ dy·x̂, dx = γ / (m √(σ² + ε)) · (m·dy − dβ − x̂·dγ).
    ///
    /// - Parameters:
    ///   - weight: γ, shape [C]; bias: β, shape [C].
    /// - Returns: y, and the batch statistics (for a running-average update).
    /// - Throws: when x has rank < 2, an empty batch, or γ/β are not [C].
    ///
    /// ```swift
    /// let (y, stats) = try x.batchNormalized(weight: gamma, bias: beta, epsilon: 1e-5)
    /// ```
    public func batchNormalized(weight: Variable, bias: Variable, epsilon: Float) throws
        -> (output: Variable, statistics: BatchNormStatistics) {
        let s = shape
        guard s.count >= 2, s[0] > 0 else {
            throw TensorError.invalidArgument(operation: "batchNormalized", message: "needs [N, C, …] with N ≥ 1, got \(s)")
        }
        let n = s[0], c = s[1], plane = s.dropFirst(2).reduce(1, *), m = n * plane
        guard weight.shape == [c], bias.shape == [c] else {
            throw TensorError.invalidArgument(operation: "batchNormalized", message: "needs weight and bias of shape [\(c)], got \(weight.shape) and \(bias.shape)")
        }
        var mean = Tensor(uninitializedShape: [c]), variance = Tensor(uninitializedShape: [c])
        var inverseStd = [Float](repeating: 0, count: c)
        var y = Tensor(uninitializedShape: s)
        let gamma = weight.value.values, beta = bias.value.values
        let x = value
        x.withUnsafeBufferPointer { x in
            mean.withUnsafeMutableBufferPointer { mu in
                variance.withUnsafeMutableBufferPointer { v in
                    for ch in 0..<c {
                        // One pass: sums of x − K and (x − K)² with K the channel's first value
                        // (a shift near the mean keeps the variance's cancellation small).
                        let shift = x[ch * plane]
                        var sum = 0.0, squares = 0.0
                        for b in 0..<n {
                            let row = x.baseAddress! + (b * c + ch) * plane
                            let (s1, s2) = FastMath.sumAndSumOfSquares(plane) { row[$0] - shift }
                            sum += s1
                            squares += s2
                        }
                        let centred = sum / Double(m)
                        let biasedVariance = Swift.max(squares / Double(m) - centred * centred, 0)
                        mu[ch] = Float(Double(shift) + centred)
                        v[ch] = Float(biasedVariance)
                        inverseStd[ch] = Float(1 / (biasedVariance + Double(epsilon)).squareRoot())
                    }
                }
            }
            y.withUnsafeMutableBufferPointer { out in
                for b in 0..<n {
                    for ch in 0..<c {
                        let base = (b * c + ch) * plane
                        let scale = gamma[ch] * inverseStd[ch], shift = beta[ch] - mean[ch] * scale
                        for p in 0..<plane { out[base + p] = x[base + p] * scale + shift }
                    }
                }
            }
        }
        let statistics = BatchNormStatistics(count: m, mean: mean, variance: variance)
        let means = mean.values
        let tx = isTracked, tw = weight.isTracked, tb = bias.isTracked
        // The pullback captures tensors only (capturing Variables would make the tape own itself),
        // and recomputes x̂ = (x − μ)·s from x rather than keeping a second activation-sized tensor.
        let output = Variable.record(y, inputs: [self, weight, bias]) { g in
            var dBeta = [Double](repeating: 0, count: c), dGamma = [Double](repeating: 0, count: c)
            g.withUnsafeBufferPointer { dy in
                x.withUnsafeBufferPointer { x in
                    for b in 0..<n {
                        for ch in 0..<c {
                            let base = (b * c + ch) * plane, mu = means[ch]
                            let (sb, sg) = FastMath.sums(plane) { (dy[base + $0], dy[base + $0] * (x[base + $0] - mu)) }
                            dBeta[ch] += sb
                            dGamma[ch] += sg
                        }
                    }
                }
            }
            for ch in 0..<c { dGamma[ch] *= Double(inverseStd[ch]) }
            var dx: Tensor?
            if tx {
                // dx = γs/m · (m·dy − dβ − x̂·dγ) = a·dy + b·x + c per channel.
                var grad = Tensor(uninitializedShape: s)
                grad.withUnsafeMutableBufferPointer { out in
                    g.withUnsafeBufferPointer { dy in
                        x.withUnsafeBufferPointer { x in
                            for ch in 0..<c {
                                let scale = gamma[ch] * inverseStd[ch] / Float(m), inv = inverseStd[ch]
                                let db = Float(dBeta[ch]), dg = Float(dGamma[ch])
                                let a = scale * Float(m), bx = -scale * inv * dg, c0 = -scale * db + scale * inv * dg * means[ch]
                                for b in 0..<n {
                                    let base = (b * c + ch) * plane
                                    for p in 0..<plane { out[base + p] = a * dy[base + p] + bx * x[base + p] + c0 }
                                }
                            }
                        }
                    }
                }
                dx = grad
            }
            return [dx, tw ? Tensor(dGamma.map(Float.init)) : nil, tb ? Tensor(dBeta.map(Float.init)) : nil]
        }
        return (output, statistics)
    }
}

extension Variable {
    /// Layer normalization (Ba et al. 2016) of `x` over its trailing axes of `weight`'s shape
    /// (PyTorch's `nn.LayerNorm(normalized_shape)`; D values per row):
    ///
    ///     x̂ = (x − μ_r) / √(σ²_r + ε),   y = γ ⊙ x̂ + β,
    ///
    /// μ_r and σ²_r the mean and biased variance of row r's D values; γ, β elementwise over
    /// the D positions. Pullback, per row with g = γ ⊙ dy:
    /// dx = (g − mean(g) − x̂·mean(g ⊙ x̂)) / √(σ² + ε), dγ = Σ_r dy ⊙ x̂, dβ = Σ_r dy.
    ///
    /// - Throws: unless γ and β have the shape of `x`'s trailing axes.
    ///
    /// ```swift
    /// let y = try x.layerNormalized(weight: gamma, bias: beta, epsilon: 1e-5)   // x [N, T, 64], γ [64]
    /// ```
    public func layerNormalized(weight: Variable, bias: Variable, epsilon: Float) throws -> Variable {
        let d = weight.value.count, s = shape, total = value.count
        guard d > 0, total > 0, bias.shape == weight.shape, s.count >= weight.shape.count, Array(s.suffix(weight.shape.count)) == weight.shape else {
            throw TensorError.invalidArgument(operation: "layerNormalized",
                                              message: "needs weight and bias shaped as the input's trailing axes; got \(weight.shape), \(bias.shape) for \(s)")
        }
        let rows = total / d
        var y = Tensor(uninitializedShape: s)
        var means = [Float](repeating: 0, count: rows), inverseStd = [Float](repeating: 0, count: rows)
        let gamma = weight.value.values, beta = bias.value.values
        let x = value
        x.withUnsafeBufferPointer { x in
            y.withUnsafeMutableBufferPointer { out in
                for r in 0..<rows {
                    let row = x.baseAddress! + r * d, shift = row[0]
                    let (s1, s2) = FastMath.sumAndSumOfSquares(d) { row[$0] - shift }
                    let centred = s1 / Double(d)
                    let variance = Swift.max(s2 / Double(d) - centred * centred, 0)
                    let mean = Float(Double(shift) + centred), inv = Float(1 / (variance + Double(epsilon)).squareRoot())
                    means[r] = mean
                    inverseStd[r] = inv
                    for i in 0..<d { out[r * d + i] = (row[i] - mean) * inv * gamma[i] + beta[i] }
                }
            }
        }
        let tx = isTracked, tw = weight.isTracked, tb = bias.isTracked
        return Variable.record(y, inputs: [self, weight, bias]) { g in
            var dGamma = [Double](repeating: 0, count: d), dBeta = [Double](repeating: 0, count: d)
            var dx: Tensor? = tx ? Tensor(uninitializedShape: s) : nil
            g.withUnsafeBufferPointer { dy in
                x.withUnsafeBufferPointer { x in
                    var scaled = [Float](repeating: 0, count: d), normalized = [Float](repeating: 0, count: d)
                    for r in 0..<rows {
                        let base = r * d, mean = means[r], inv = inverseStd[r]
                        for i in 0..<d {
                            normalized[i] = (x[base + i] - mean) * inv
                            scaled[i] = gamma[i] * dy[base + i]
                            dGamma[i] += Double(dy[base + i] * normalized[i])
                            dBeta[i] += Double(dy[base + i])
                        }
                        guard tx else { continue }
                        let (sg, sgx) = FastMath.sums(d) { (scaled[$0], scaled[$0] * normalized[$0]) }
                        let meanG = Float(sg / Double(d)), meanGX = Float(sgx / Double(d))
                        dx!.withUnsafeMutableBufferPointer { out in
                            for i in 0..<d { out[base + i] = (scaled[i] - meanG - normalized[i] * meanGX) * inv }
                        }
                    }
                }
            }
            return [dx, tw ? Tensor(shape: weight.shape, values: dGamma.map(Float.init)) : nil,
                    tb ? Tensor(shape: bias.shape, values: dBeta.map(Float.init)) : nil]
        }
    }
}
