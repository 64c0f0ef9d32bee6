import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation

/// The observation model p(y | f) of a network output f, with what the Laplace
/// approximation needs from it: the log-likelihood at θ̂ and a square root L of the
/// Hessian Λ = −∇²_f log p(y | f) = L Lᵀ, so the generalized Gauss–Newton is
/// Σₙ Jₙᵀ Λₙ Jₙ = Σₙ Σⱼ (Jₙᵀ lₙⱼ)(Jₙᵀ lₙⱼ)ᵀ (one backward pass per column j).
public enum LaplaceLikelihood: String, Codable, CaseIterable, Sendable {
    /// Softmax over K logits: Λ = diag(p) − ppᵀ, L = diag(√p) − p√pᵀ (column j: √pⱼ(eⱼ − p)).
    case categorical
    /// D outputs are means with one noise variance σ²; the curvature is computed for σ = 1 and scaled by 1/σ².
    case homoscedasticGaussian = "homoscedastic-gaussian"
    /// 2D outputs: D means and D raw variances (v = softplus(r) + 1e-6). Λ is the Fisher information,
    /// diag(1/v for means, (σ(r))²/(2v²) for raws) — the Gaussian NLL's Hessian is not positive.
    case heteroscedasticGaussian = "heteroscedastic-gaussian"

    /// Number of outputs whose uncertainty the GLM predictive reports (K logits, or D means).
    func predictedOutputs(_ k: Int) -> Int { self == .heteroscedasticGaussian ? k / 2 : k }

    /// L with Λ = L Lᵀ per example: [B, K, K] (row o = output, column j = square-root column).
    func hessianSquareRoot(_ f: Tensor) -> Tensor {
        let b = f.shape[0], k = f.shape[1]
        var l = Tensor(shape: [b, k, k], repeating: 0)
        f.withUnsafeBufferPointer { fp in
            l.withUnsafeMutableBufferPointer { lp in
                switch self {
                case .categorical:
                    var p = [Double](repeating: 0, count: k)
                    for e in 0..<b {
                        var m = -Double.infinity
                        for o in 0..<k { m = Swift.max(m, Double(fp[e * k + o])) }
                        var total = 0.0
                        for o in 0..<k { p[o] = Foundation.exp(Double(fp[e * k + o]) - m); total += p[o] }
                        for o in 0..<k { p[o] /= total }
                        for j in 0..<k {
                            let r = p[j].squareRoot()
                            for o in 0..<k { lp[(e * k + o) * k + j] = Float(r * ((o == j ? 1 : 0) - p[o])) }
                        }
                    }
                case .homoscedasticGaussian:
                    for e in 0..<b { for o in 0..<k { lp[(e * k + o) * k + o] = 1 } }
                case .heteroscedasticGaussian:
                    let d = k / 2
                    for e in 0..<b {
                        for o in 0..<d {
                            let raw = Double(fp[e * k + d + o])
                            let v = Self.softplus(raw) + 1e-6
                            lp[(e * k + o) * k + o] = Float(1 / v.squareRoot())
                            let slope = 1 / (1 + Foundation.exp(-raw))  // dv/dr
                            lp[(e * k + d + o) * k + d + o] = Float(slope / (2.0.squareRoot() * v))
                        }
                    }
                }
            }
        }
        return l
    }

    static func softplus(_ x: Double) -> Double { x > 30 ? x : Foundation.log1p(Foundation.exp(x)) }

    /// Σₙ log p(yₙ | fₙ) over the batch; for the homoscedastic Gaussian, the sum of squared
    /// residuals instead (the noise variance is applied later, when it is known).
    func batchStatistic(_ f: Tensor, batch: TrainingBatch) throws -> Double {
        let b = f.shape[0], k = f.shape[1]
        switch self {
        case .categorical:
            guard batch.labels.count == b else {
                throw LaplaceError.invalidValue("classification Laplace needs one label per example (\(b)), got \(batch.labels.count)")
            }
            return f.withUnsafeBufferPointer { fp in
                var total = 0.0
                for e in 0..<b {
                    var m = -Double.infinity
                    for o in 0..<k { m = Swift.max(m, Double(fp[e * k + o])) }
                    var s = 0.0
                    for o in 0..<k { s += Foundation.exp(Double(fp[e * k + o]) - m) }
                    total += Double(fp[e * k + Int(batch.labels[e])]) - m - Foundation.log(s)
                }
                return total
            }
        case .homoscedasticGaussian, .heteroscedasticGaussian:
            let d = self == .homoscedasticGaussian ? k : k / 2
            guard let y = batch.targets, y.shape == [b, d] else {
                throw LaplaceError.invalidValue("regression Laplace needs targets of shape [\(b), \(d)] for a network with \(k) outputs, got \(batch.targets?.shape ?? [])")
            }
            return f.withUnsafeBufferPointer { fp in
                y.withUnsafeBufferPointer { yp in
                    var total = 0.0
                    for e in 0..<b {
                        for o in 0..<d {
                            let r = Double(yp[e * d + o]) - Double(fp[e * k + o])
                            if self == .homoscedasticGaussian { total += r * r; continue }
                            let v = Self.softplus(Double(fp[e * k + d + o])) + 1e-6
                            total -= 0.5 * (Foundation.log(2 * Double.pi * v) + r * r / v)
                        }
                    }
                    return total
                }
            }
        }
    }
}
