import CredenceData
import CredenceInference
import CredenceNN
import CredenceTensor
import Foundation

/// Shared harness: 2-D Bayesian logistic regression whose exact posterior mean and
/// covariance are integrated numerically on a grid — the reference that SWAG and Laplace
/// posteriors are compared with.
///
/// Model: p(y = 1 | x, w) = σ(w·x), w ∈ ℝ² (no bias), prior w ~ 𝒩(0, α⁻¹ I). Credence
/// classifies with a softmax over C logits and trains every parameter, so the model is
/// written as a network with exactly two parameters whose logits are (0, w·x): a 1×1
/// convolution (2 input channels → 1, no bias; weight [1, 2, 1, 1] = (w₁, w₂)) over a
/// 2-channel 1×2 "image" whose first column is zero and whose second column is x, then
/// `flatten`. Softmax over (0, w·x) is σ(w·x), so the network's parameter vector *is* w.
///
/// Training objective (what `fitPosterior` minimises): mean cross-entropy + (λ/2)‖w‖² with
/// coupled weight decay λ = α/N, i.e. −(1/N) log p(w | data) + const.
///
/// ```swift
/// let problem = LogisticGridProblem.standard
/// problem.mean          // exact posterior mean [2]
/// problem.covariance    // exact posterior covariance, row-major 2 × 2
/// ```
struct LogisticGridProblem {
    /// logits (0, w·x) from inputs [N, 2, 1, 2]; two parameters.
    static let spec = ModelSpec(inputShape: [2, 1, 2], layers: [
        .conv2d(inChannels: 2, outChannels: 1, kernel: 1, stride: 1, padding: 0, bias: false), .flatten,
    ])

    /// The shared instance: 60 points, two unit-variance Gaussian classes at ±(0.5, 0.5)
    /// (logistic regression is then well specified, true w = (1, 1)), α = 1. With N = 60 the
    /// posterior is visibly skewed: its mean lies ≈ 0.23 posterior standard deviations from the
    /// mode, and the Laplace covariance is ≈ 5% narrower than the exact one.
    static let standard = LogisticGridProblem(count: 60, classMean: (0.5, 0.5), priorPrecision: 1, seed: 7)

    /// Raw inputs x (N × 2, row-major) and labels y ∈ {0, 1}.
    let points: [Double]
    let labels: [Int32]
    /// α, the prior precision on w.
    let priorPrecision: Double
    /// The dataset in the network's input layout [N, 2, 1, 2] (see the type's comment).
    let dataset: InMemoryDataset
    let model: Sequential
    /// The posterior mode ŵ (Newton's method, Double).
    let map: [Double]
    /// The Hessian of −log p(w | data) at ŵ, Σₙ σₙ(1−σₙ) xₙxₙᵀ + αI, row-major 2 × 2 (the
    /// Laplace approximation's precision).
    let mapHessian: [Double]
    /// Exact posterior mean E[w] and covariance Cov[w] (row-major 2 × 2) from the grid.
    let mean: [Double]
    let covariance: [Double]
    /// Grid used: `gridSize` × `gridSize` cell centres over ŵ ± 8 Laplace standard deviations.
    let gridSize: Int

    var count: Int { labels.count }
    /// Coupled weight decay λ = α/N that makes the training objective the negative log posterior / N.
    var weightDecay: Float { Float(priorPrecision / Double(count)) }
    /// Posterior standard deviations √Cov[w]ᵢᵢ.
    var standardDeviations: [Double] { [covariance[0].squareRoot(), covariance[3].squareRoot()] }
    /// The mode as the network's parameter vector.
    var mapParameters: Tensor { Tensor([Float(map[0]), Float(map[1])]) }

    init(count: Int, classMean: (Double, Double), priorPrecision: Double, seed: UInt64, gridSize: Int = 400) {
        var rng = RandomGenerator(seed: seed)
        var points: [Double] = [], labels: [Int32] = [], images: [Float] = []
        for i in 0..<count {
            // Float inputs, so the grid (Double) and the network (Float) see identical data.
            let label = Int32(i % 2), sign: Double = label == 1 ? 1 : -1
            let x1 = Float(sign * classMean.0) + rng.normalFloat(), x2 = Float(sign * classMean.1) + rng.normalFloat()
            points += [Double(x1), Double(x2)]
            labels.append(label)
            images += [0, x1, 0, x2]  // channel 0: (0, x₁); channel 1: (0, x₂)
        }
        self.points = points
        self.labels = labels
        self.priorPrecision = priorPrecision
        self.gridSize = gridSize
        dataset = try! InMemoryDataset(name: "logistic-grid", inputs: Tensor(shape: [count, 2, 1, 2], values: images),
                                       labels: labels, classCount: 2)
        model = try! Sequential(Self.spec)

        // Mode by Newton's method on the (strictly convex) negative log posterior.
        var w = [0.0, 0.0], hessian = [0.0, 0.0, 0.0, 0.0]
        for _ in 0..<50 {
            var g = [priorPrecision * w[0], priorPrecision * w[1]]
            hessian = [priorPrecision, 0, 0, priorPrecision]
            for n in 0..<count {
                let x = (points[2 * n], points[2 * n + 1])
                let p = Self.sigmoid(w[0] * x.0 + w[1] * x.1), r = p - Double(labels[n])
                g[0] += r * x.0; g[1] += r * x.1
                let c = p * (1 - p)
                hessian[0] += c * x.0 * x.0; hessian[1] += c * x.0 * x.1; hessian[3] += c * x.1 * x.1
            }
            hessian[2] = hessian[1]
            let step = Self.solve2(hessian, g)
            w[0] -= step[0]; w[1] -= step[1]
            if abs(step[0]) + abs(step[1]) < 1e-14 { break }
        }
        map = w
        mapHessian = hessian

        // Integrate the unnormalised posterior on the grid (cell centres; the integrand is
        // negligible at the edges, checked below, so the midpoint rule converges fast).
        let laplace = Self.inverse2(hessian)
        let half = [8 * laplace[0].squareRoot(), 8 * laplace[3].squareRoot()]
        let h = [2 * half[0] / Double(gridSize), 2 * half[1] / Double(gridSize)]
        var logDensity = [Double](repeating: 0, count: gridSize * gridSize)
        for i in 0..<gridSize {
            let a = w[0] - half[0] + (Double(i) + 0.5) * h[0]
            for j in 0..<gridSize {
                let b = w[1] - half[1] + (Double(j) + 0.5) * h[1]
                logDensity[i * gridSize + j] = Self.logPosterior(a, b, points: points, labels: labels, alpha: priorPrecision)
            }
        }
        let top = logDensity.max()!
        // Moments of the offsets from ŵ (no cancellation in E[w²] − E[w]²).
        var z = 0.0, m = [0.0, 0.0], s = [0.0, 0.0, 0.0], edge = 0.0
        for i in 0..<gridSize {
            let a = -half[0] + (Double(i) + 0.5) * h[0]
            for j in 0..<gridSize {
                let b = -half[1] + (Double(j) + 0.5) * h[1]
                let p = Foundation.exp(logDensity[i * gridSize + j] - top)
                if i == 0 || j == 0 || i == gridSize - 1 || j == gridSize - 1 { edge = Swift.max(edge, p) }
                z += p; m[0] += p * a; m[1] += p * b
                s[0] += p * a * a; s[1] += p * a * b; s[2] += p * b * b
            }
        }
        // The box is ŵ ± 8 Laplace standard deviations, not 6: the posterior's tail away from
        // the origin is heavier than the Laplace Gaussian's (at ±6 the edge density was 1.6e-5
        // of the peak). Requiring < 1e-6 at the edge bounds the cut-off mass near 1e-7.
        precondition(edge < 1e-6, "the grid cuts off posterior mass (edge density \(edge) of the peak)")
        let offset = [m[0] / z, m[1] / z]
        mean = [w[0] + offset[0], w[1] + offset[1]]
        let c01 = s[1] / z - offset[0] * offset[1]
        covariance = [s[0] / z - offset[0] * offset[0], c01, c01, s[2] / z - offset[1] * offset[1]]
    }

    /// log p(w | data) + const = Σₙ log σ(±w·xₙ) − (α/2)‖w‖².
    static func logPosterior(_ w0: Double, _ w1: Double, points: [Double], labels: [Int32], alpha: Double) -> Double {
        var total = -0.5 * alpha * (w0 * w0 + w1 * w1)
        for n in 0..<labels.count {
            let z = w0 * points[2 * n] + w1 * points[2 * n + 1]
            total += logSigmoid(labels[n] == 1 ? z : -z)
        }
        return total
    }

    /// log σ(z), stable for large |z|.
    static func logSigmoid(_ z: Double) -> Double { z >= 0 ? -Foundation.log1p(Foundation.exp(-z)) : z - Foundation.log1p(Foundation.exp(z)) }
    static func sigmoid(_ z: Double) -> Double { 1 / (1 + Foundation.exp(-z)) }

    /// Inverse of a row-major 2 × 2 matrix.
    static func inverse2(_ a: [Double]) -> [Double] {
        let det = a[0] * a[3] - a[1] * a[2]
        return [a[3] / det, -a[1] / det, -a[2] / det, a[0] / det]
    }

    /// A⁻¹ b for a row-major 2 × 2 A.
    static func solve2(_ a: [Double], _ b: [Double]) -> [Double] {
        let inv = inverse2(a)
        return [inv[0] * b[0] + inv[1] * b[1], inv[2] * b[0] + inv[3] * b[1]]
    }

    /// √((m − E[w])ᵀ Cov[w]⁻¹ (m − E[w])): how many posterior standard deviations `m` is
    /// from the exact posterior mean.
    func mahalanobisDistanceFromMean(_ m: [Double]) -> Double {
        let d = [m[0] - mean[0], m[1] - mean[1]]
        let s = Self.solve2(covariance, d)
        return (d[0] * s[0] + d[1] * s[1]).squareRoot()
    }
}
