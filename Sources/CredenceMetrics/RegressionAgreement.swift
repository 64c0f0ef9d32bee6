import CredenceTensor
import Foundation

/// How closely an approximate posterior's regression predictive follows a reference one (HMC's):
/// the 1-Wasserstein distance between the two predictive distributions of y, per input and
/// output, averaged — W₁(F, G) = ∫₀¹ |F⁻¹(u) − G⁻¹(u)| du, in the targets' units. It is the
/// regression score of the NeurIPS 2021 approximate-inference competition (Wilson et al. 2022,
/// which estimated it from 1,000 predictive draws per input); here it is computed from the
/// mixtures themselves, without draws, from each one's `quantileCellMeans` (K = `cells`
/// equal-probability slices): W₁ of the two K-point measures, (1/K) Σₖ |mₖ − m'ₖ|. That equals
/// the exact W₁ whenever F⁻¹ − G⁻¹ keeps its sign within each slice — always for two Gaussians
/// with one mean (the crossing is the median, a slice edge) or one variance (no crossing) — and
/// is never larger (Jensen).
public struct RegressionAgreement: Codable, Sendable, Equatable {
    /// W₁ between the two predictives averaged over inputs and outputs (the predictives' units).
    public var meanWassersteinDistance: Double
    /// Inputs compared.
    public var examples: Int

    /// Equal-probability slices of each predictive when none are given.
    public static let defaultCells = 64

    /// - Throws: `MetricsError` unless both are regression predictives over the same inputs and
    ///   outputs, and `cells` ≥ 1.
    public init(_ predictive: Predictive, reference: Predictive, cells: Int = defaultCells) throws {
        guard predictive.task == .regression, reference.task == .regression else {
            throw MetricsError.wrongTask(metric: "regression agreement", expected: "regression", found: "classification")
        }
        guard predictive.exampleCount == reference.exampleCount, predictive.outputCount == reference.outputCount else {
            throw MetricsError.invalidShape(name: "the predictive compared with the reference", shape: [predictive.exampleCount, predictive.outputCount],
                                            expected: "the reference's \(reference.exampleCount) inputs × \(reference.outputCount) outputs")
        }
        try self.init(cellMeans: try predictive.quantileCellMeans(cells: cells), reference: try reference.quantileCellMeans(cells: cells),
                      cells: cells, outputs: reference.outputCount)
    }

    /// From two predictives' `quantileCellMeans`, [N, D, K] row-major each (as a run record keeps
    /// them for a small test set).
    ///
    /// - Throws: `MetricsError` unless both hold the same whole number of rows of `outputs` × `cells`.
    public init(cellMeans p: [Double], reference q: [Double], cells: Int, outputs: Int) throws {
        let row = cells * outputs
        guard cells >= 1, outputs >= 1, !q.isEmpty, q.count % row == 0, p.count == q.count else {
            throw MetricsError.invalidShape(name: "the quantile-cell means compared with the reference", shape: [p.count],
                                            expected: "the reference's \(q.count) values, rows of \(outputs) outputs × \(cells) cells")
        }
        var total = 0.0
        for i in q.indices { total += Swift.abs(p[i] - q[i]) }
        meanWassersteinDistance = total / Double(q.count)
        examples = q.count / row
    }
}

extension Predictive {
    /// The mean of y within each of `cells` equal-probability slices of the predictive,
    /// mₖ = K ∫_{k/K}^{(k+1)/K} F⁻¹(u) du for k = 0..<K, per example and output: [N, D, K]
    /// row-major. F is the mixture (1/S) Σₛ 𝒩(μₛ, σₛ²); its quantiles at the slice edges are
    /// found by Newton's method inside a bisection bracket (to |F(q) − u| ≤ 1e-13), and each
    /// slice's mean from the mixture's partial expectations, Σₛ [μₛ Φ(zₛ) − σₛ φ(zₛ)]/S at the
    /// edges, so no draws are made. A variance of 0 is read as σ = 10⁻⁹ times the example's
    /// spread (a point mass, to within that). The means average to E[y]; with many slices they
    /// trace the quantile function. Examples are split over the worker threads.
    ///
    /// - Throws: `MetricsError` for a classification predictive or `cells` < 1.
    public func quantileCellMeans(cells: Int) throws -> [Double] {
        try require(.regression, for: "quantileCellMeans")
        guard cells >= 1 else { throw MetricsError.invalidArgument(name: "cells", message: "need ≥ 1 slice, got \(cells)") }
        let (s, n, d) = (sampleCount, exampleCount, outputCount)
        var out = [Double](repeating: 0, count: n * d * cells)
        let meanValues = means!.values, varianceValues = variances!.values
        out.withUnsafeMutableBufferPointer { o in
            let base = o.baseAddress!
            Parallel.forEachRange(n * d) { _, range in
                var mixture = GaussianMixture(count: s)
                for row in range {
                    let (i, j) = (row / d, row % d)
                    mixture.load(means: meanValues, variances: varianceValues, example: i, output: j, examples: n, outputs: d)
                    mixture.cellMeans(cells: cells, into: base + row * cells)
                }
            }
        }
        return out
    }
}

/// One example's predictive for one output, (1/S) Σₛ 𝒩(μₛ, σₛ²), with what its quantiles and
/// partial expectations need; reused across examples.
struct GaussianMixture {
    var mu: [Double], sigma: [Double]

    init(count: Int) {
        mu = [Double](repeating: 0, count: count)
        sigma = [Double](repeating: 0, count: count)
    }

    /// Component s from `means[s, i, j]` and `variances[s, i, j]` ([S, N, D] row-major).
    mutating func load(means: [Float], variances: [Float], example i: Int, output j: Int, examples n: Int, outputs d: Int) {
        var spread = 0.0
        for c in mu.indices {
            let k = (c * n + i) * d + j
            mu[c] = Double(means[k])
            sigma[c] = Double(Swift.max(variances[k], 0)).squareRoot()
            spread = Swift.max(spread, Swift.abs(mu[c]) + sigma[c])
        }
        let floor = 1e-9 * Swift.max(spread, Double.leastNormalMagnitude)
        for c in sigma.indices where sigma[c] < floor { sigma[c] = floor }
    }

    /// F(x), F'(x) and ∫_{−∞}^{x} y dF(y) = (1/S) Σₛ [μₛ Φ(zₛ) − σₛ φ(zₛ)], in one pass.
    func evaluate(at x: Double) -> (cdf: Double, density: Double, partialExpectation: Double) {
        var cdf = 0.0, density = 0.0, expectation = 0.0
        for c in mu.indices {
            let z = (x - mu[c]) / sigma[c]
            let below = 0.5 * Foundation.erfc(-z * 0.7071067811865476), bell = 0.3989422804014327 * Foundation.exp(-0.5 * z * z)
            cdf += below
            density += bell / sigma[c]
            expectation += mu[c] * below - sigma[c] * bell
        }
        let count = Double(mu.count)
        return (cdf / count, density / count, expectation / count)
    }

    /// F⁻¹(u) for u ∈ (0, 1), searched in (lo, hi) where F(lo) ≤ u ≤ F(hi) from `guess`, with
    /// F's density and partial expectation there.
    func quantile(_ u: Double, above lo: Double, below hi: Double,
                  guess: Double) -> (x: Double, density: Double, partialExpectation: Double) {
        var (lo, hi) = (lo, hi)
        var x = Swift.min(Swift.max(guess, lo), hi)
        var point = evaluate(at: x)
        for _ in 0..<200 {
            let residual = point.cdf - u
            if Swift.abs(residual) <= 1e-13 { break }
            if residual < 0 { lo = x } else { hi = x }
            if hi - lo <= 1e-14 * Swift.max(Swift.abs(lo), Swift.abs(hi)) { break }
            let newton = x - residual / point.density
            // Newton's step when it stays inside the bracket, else bisection.
            x = point.density > 0 && newton > lo && newton < hi ? newton : 0.5 * (lo + hi)
            point = evaluate(at: x)
        }
        return (x, point.density, point.partialExpectation)
    }

    /// The K slice means into `out[0..<K]`.
    func cellMeans(cells: Int, into out: UnsafeMutablePointer<Double>) {
        let count = Double(mu.count)
        let mean = mu.reduce(0, +) / count
        guard cells > 1 else { out[0] = mean; return }
        var secondMoment = 0.0
        for c in mu.indices { secondMoment += mu[c] * mu[c] + sigma[c] * sigma[c] }
        let scale = Swift.max(secondMoment / count - mean * mean, 0).squareRoot()
        var lower = Double.infinity, upper = -Double.infinity
        for c in mu.indices {
            lower = Swift.min(lower, mu[c] - 40 * sigma[c])
            upper = Swift.max(upper, mu[c] + 40 * sigma[c])
        }
        var previous = (x: lower, density: 0.0, partialExpectation: 0.0)
        for k in 1..<cells {
            let u = Double(k) / Double(cells)
            // The first edge starts from the moment-matched Gaussian's quantile, the others one
            // Newton step (of 1/K in u) past the edge before.
            let guess = k == 1 || !(previous.density > 0) ? mean + scale * standardNormalQuantile(u)
                : previous.x + 1 / (Double(cells) * previous.density)
            let edge = quantile(u, above: previous.x, below: upper, guess: guess)
            out[k - 1] = (edge.partialExpectation - previous.partialExpectation) * Double(cells)
            previous = edge
        }
        out[cells - 1] = (mean - previous.partialExpectation) * Double(cells)
    }
}
