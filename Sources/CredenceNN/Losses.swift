import CredenceTensor
import Foundation

/// Loss functions, composed from differentiable primitives (the heteroscedastic Gaussian NLL
/// of a whole head is one primitive of its own, for speed). Each returns the mean over the
/// batch as a scalar variable.
public enum Loss {
    /// Softmax cross-entropy, −(1/N) Σᵢ [(1−ε) log pᵢ,yᵢ + (ε/C) Σ_c log pᵢ,c] with
    /// label smoothing ε (0 = plain cross-entropy; PyTorch's `label_smoothing`).
    ///
    /// - Parameters:
    ///   - logits: [N, C] unnormalised scores.
    ///   - labels: N class indices in 0..<C.
    public static func softmaxCrossEntropy(logits: Variable, labels: [Int32], labelSmoothing: Float = 0) throws -> Variable {
        guard logits.shape.count == 2, logits.shape[0] == labels.count else {
            throw TensorError.shapeMismatch(operation: "softmaxCrossEntropy", shapes: [logits.shape, [labels.count]],
                                            expected: "logits [N, C] and N labels")
        }
        guard labelSmoothing >= 0, labelSmoothing < 1 else {
            throw TensorError.invalidArgument(operation: "softmaxCrossEntropy", message: "label smoothing must be in [0, 1), got \(labelSmoothing)")
        }
        let logp = logits.logSoftmax()
        let picked = try logp.gatherColumns(labels).mean()
        if labelSmoothing == 0 { return -picked }
        let uniform = try logp.mean()  // mean over N and C = (1/N) Σ (1/C) Σ_c
        return -(try picked * (1 - labelSmoothing) + uniform * labelSmoothing)
    }

    /// Gaussian negative log-likelihood with a predicted variance (heteroscedastic
    /// regression): (1/N) Σ ½[log 2π + log σ² + (y − μ)²/σ²], averaged over outputs. For a
    /// network's [N, 2D] head, `gaussianNegativeLogLikelihood(output:targets:)` is the same loss
    /// as one primitive (what training uses).
    public static func gaussianNegativeLogLikelihood(mean: Variable, variance: Variable, targets: Tensor) throws -> Variable {
        guard mean.shape == targets.shape, variance.shape == targets.shape else {
            throw TensorError.shapeMismatch(operation: "gaussianNegativeLogLikelihood",
                                            shapes: [mean.shape, variance.shape, targets.shape],
                                            expected: "mean, variance and targets of one shape")
        }
        let residual = try mean - Variable(constant: targets)
        let perElement = try variance.log() + (residual * residual) / variance
        return (try perElement.mean()) * 0.5 + Float(0.5 * Foundation.log(2 * Double.pi))
    }

    /// The Gaussian negative log-likelihood of a [N, 2D] heteroscedastic head — D means, then D
    /// raw variances σ² = softplus(raw) + `minimumVariance` — as one primitive:
    /// (1/N·D) Σ ½[log 2π + log σ² + (y − μ)²/σ²], equal to `meanAndVariance` followed by
    /// `gaussianNegativeLogLikelihood(mean:variance:targets:)` up to rounding (FastMath's exp and
    /// log, relative error ≤ 3e-7; the sum in eight float lanes added in Double). One pullback:
    /// ∂/∂μ = (μ − y)/σ², ∂/∂raw = ½(1/σ² − (y − μ)²/σ⁴)·sigmoid(raw), each over N·D. The
    /// composed form's dozen tape operations were a third of the gradient of the small
    /// regression networks HMC samples.
    ///
    /// - Parameters:
    ///   - output: [N, 2D]: D means followed by D raw variances.
    ///   - targets: [N, D].
    public static func gaussianNegativeLogLikelihood(output: Variable, targets: Tensor, minimumVariance: Float = 1e-6) throws -> Variable {
        guard output.shape.count == 2, output.shape[1] % 2 == 0, targets.shape == [output.shape[0], output.shape[1] / 2] else {
            throw TensorError.shapeMismatch(operation: "gaussianNegativeLogLikelihood", shapes: [output.shape, targets.shape],
                                            expected: "an output [N, 2·D] (D means, D raw variances) and targets [N, D]")
        }
        guard minimumVariance > 0 else {
            throw TensorError.invalidArgument(operation: "gaussianNegativeLogLikelihood", message: "the minimum variance must be > 0, got \(minimumVariance)")
        }
        let (n, d) = (output.shape[0], output.shape[1] / 2)
        let count = n * d, perElement = Float(0.5 / Double(max(count, 1)))
        // Contiguous runs (so that the passes vectorise): the means, the raw variances turned
        // into their softplus in place, the sigmoids, and (y − μ)²/σ² per element.
        var scratch = [Float](repeating: 0, count: 4 * count)
        var unitGradient: Tensor? = output.isTracked ? Tensor(uninitializedShape: output.shape) : nil
        let total = scratch.withUnsafeMutableBufferPointer { buffer in
            let means = buffer.baseAddress!, softplus = means + count, sigmoid = softplus + count, scaledSquares = sigmoid + count
            output.value.withUnsafeBufferPointer { o in
                for i in 0..<n {
                    for j in 0..<d { means[i * d + j] = o[i * 2 * d + j]; softplus[i * d + j] = o[i * 2 * d + d + j] }
                }
            }
            FastMath.softplusAndSigmoid(UnsafeBufferPointer(start: softplus, count: count), softplus: UnsafeMutableBufferPointer(start: softplus, count: count),
                                        sigmoid: UnsafeMutableBufferPointer(start: sigmoid, count: count))
            targets.withUnsafeBufferPointer { y in
                for k in 0..<count {
                    let residual = means[k] - y[k]
                    let precision = 1 / (softplus[k] + minimumVariance)
                    scaledSquares[k] = residual * residual * precision
                    // ∂/∂μ and ∂/∂raw for an upstream 1, written over `means` and `sigmoid` (not read again).
                    means[k] = perElement * 2 * residual * precision
                    sigmoid[k] = perElement * (1 - scaledSquares[k]) * precision * sigmoid[k]
                }
            }
            if unitGradient != nil {
                unitGradient!.withUnsafeMutableBufferPointer { g in
                    for i in 0..<n {
                        for j in 0..<d { g[i * 2 * d + j] = means[i * d + j]; g[i * 2 * d + d + j] = sigmoid[i * d + j] }
                    }
                }
            }
            return FastMath.sum(count) { k in FastMath.log(softplus[k] + minimumVariance) + scaledSquares[k] }
        }
        let value = Float(0.5 * total / Double(max(count, 1)) + 0.5 * Foundation.log(2 * Double.pi))
        let gradient = unitGradient
        return Variable.record(Tensor(value), inputs: [output]) { g in [g.scalar == 1 ? gradient : gradient.map { $0 * g.scalar }] }
    }

    /// Splits a [N, 2D] network output into a mean [N, D] and a positive variance
    /// softplus(raw) + `minimumVariance` [N, D] — the usual heteroscedastic head.
    public static func meanAndVariance(_ output: Variable, minimumVariance: Float = 1e-6) throws -> (mean: Variable, variance: Variable) {
        guard output.shape.count == 2, output.shape[1] % 2 == 0 else {
            throw TensorError.shapeMismatch(operation: "meanAndVariance", shapes: [output.shape],
                                            expected: "[N, 2·D]: D means followed by D raw variances")
        }
        let d = output.shape[1] / 2
        return (try output.slice(axis: 1, 0..<d), try output.slice(axis: 1, d..<(2 * d)).softplus() + minimumVariance)
    }

    /// Mean squared error (1/N·D) Σ (ŷ − y)².
    public static func meanSquaredError(predictions: Variable, targets: Tensor) throws -> Variable {
        guard predictions.shape == targets.shape else {
            throw TensorError.shapeMismatch(operation: "meanSquaredError", shapes: [predictions.shape, targets.shape],
                                            expected: "predictions and targets of one shape")
        }
        let r = try predictions - Variable(constant: targets)
        return try (r * r).mean()
    }
}
