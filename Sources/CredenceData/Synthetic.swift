import CredenceTensor
import Foundation

/// Toy data sets generated from a seeded generator: the embedded default that needs no files.
///
/// Classification sets assign class `i mod K` to example `i`, so every class has
/// `count / K` examples (±1) and any prefix is balanced; inputs are `[N, 2]` (blobs:
/// `[N, dimension]`). The same generator state gives the same set, bit for bit.
///
/// ```swift
/// var rng = RandomGenerator(seed: 0)
/// let moons = SyntheticData.twoMoons(count: 1000, rng: &rng)   // inputs [1000, 2], 2 classes
/// ```
public enum SyntheticData {
    /// Two interleaving half circles (after scikit-learn's `make_moons`).
    ///
    /// With `t ~ U[0, π]` drawn per example (scikit-learn spaces `t` evenly instead;
    /// random `t` makes train and test sets independent samples):
    /// class 0 is `(cos t, sin t)`, class 1 is `(1 − cos t, 0.5 − sin t)`, and each
    /// coordinate gets independent `N(0, noise²)` noise.
    public static func twoMoons(count: Int, noise: Float = 0.1, rng: inout RandomGenerator) -> InMemoryDataset {
        var x = [Float](repeating: 0, count: 2 * count)
        var labels = [Int32](repeating: 0, count: count)
        for i in 0..<count {
            let t = Float.pi * rng.uniformFloat()
            let inner = i % 2 == 1
            let (a, b) = inner ? (1 - cos(t), 0.5 - sin(t)) : (cos(t), sin(t))
            x[2 * i] = a + noise * rng.normalFloat()
            x[2 * i + 1] = b + noise * rng.normalFloat()
            labels[i] = inner ? 1 : 0
        }
        return try! InMemoryDataset(name: "two-moons", inputs: Tensor(shape: [count, 2], values: x),
                                    labels: labels, classCount: 2)
    }

    /// `classCount` interleaved spiral arms (after the CS231n spiral data).
    ///
    /// For arm `k` and `u ~ U[0, 1)`: radius `r = u`, angle
    /// `θ = 2πk/K + 4u + noise·ε` with `ε ~ N(0, 1)`; the point is `r·(cos θ, sin θ)`.
    public static func spirals(count: Int, classCount: Int = 3, noise: Float = 0.2,
                               rng: inout RandomGenerator) -> InMemoryDataset {
        precondition(classCount >= 1, "spirals needs at least one arm")
        var x = [Float](repeating: 0, count: 2 * count)
        var labels = [Int32](repeating: 0, count: count)
        for i in 0..<count {
            let k = i % classCount
            let u = rng.uniformFloat()
            let theta = 2 * Float.pi * Float(k) / Float(classCount) + 4 * u + noise * rng.normalFloat()
            x[2 * i] = u * cos(theta)
            x[2 * i + 1] = u * sin(theta)
            labels[i] = Int32(k)
        }
        return try! InMemoryDataset(name: "spirals", inputs: Tensor(shape: [count, 2], values: x),
                                    labels: labels, classCount: classCount)
    }

    /// `classCount` centres drawn uniformly from `box` in every coordinate (scikit-learn's
    /// `make_blobs` default box is −10...10). Draw them once and share them between the
    /// training and test sets.
    public static func blobCenters(classCount: Int, dimension: Int = 2, box: ClosedRange<Float> = -10...10,
                                   rng: inout RandomGenerator) -> [[Float]] {
        (0..<classCount).map { _ in
            (0..<dimension).map { _ in box.lowerBound + (box.upperBound - box.lowerBound) * rng.uniformFloat() }
        }
    }

    /// Isotropic Gaussian blobs: example `i` of class `k = i mod K` is
    /// `centers[k] + standardDeviation · ε`, `ε ~ N(0, I)`.
    public static func blobs(count: Int, centers: [[Float]], standardDeviation: Float = 1,
                             rng: inout RandomGenerator) -> InMemoryDataset {
        precondition(!centers.isEmpty, "blobs needs at least one centre")
        let d = centers[0].count
        precondition(centers.allSatisfy { $0.count == d }, "blob centres must share one dimension")
        var x = [Float](repeating: 0, count: d * count)
        var labels = [Int32](repeating: 0, count: count)
        for i in 0..<count {
            let k = i % centers.count
            for j in 0..<d { x[d * i + j] = centers[k][j] + standardDeviation * rng.normalFloat() }
            labels[i] = Int32(k)
        }
        return try! InMemoryDataset(name: "blobs", inputs: Tensor(shape: [count, d], values: x),
                                    labels: labels, classCount: centers.count)
    }

    /// The divisor applied to the cubic regression targets: max |x³| on [−4, 4].
    public static let cubicTargetScale: Float = 64

    /// Noise standard deviation of the cubic set at `x`, before scaling:
    /// `σ(x) = 0.75 · (1 + |x|)` (0.75 at 0, 3 at |x| = 3 — the classic homoscedastic
    /// value of Hernández-Lobato & Adams 2015 — and 3.75 at |x| = 4).
    public static func cubicNoiseStandardDeviation(_ x: Float) -> Float { 0.75 * (1 + abs(x)) }

    /// 1-D heteroscedastic regression, the "cubic" toy of the BNN literature.
    ///
    /// `x ~ U(inputRange)` (default [−4, 4]) and
    /// `y = (x³ + σ(x)·ε) / 64` with `ε ~ N(0, 1)` and `σ(x) = 0.75·(1 + |x|)`
    /// (`cubicNoiseStandardDeviation`), so targets lie in about [−1.2, 1.2]. Inputs
    /// `[N, 1]`, targets `[N, 1]`. Widen `inputRange` to probe epistemic uncertainty
    /// outside the training interval.
    public static func cubicRegression(count: Int, inputRange: ClosedRange<Float> = -4...4,
                                       rng: inout RandomGenerator) -> InMemoryDataset {
        var x = [Float](repeating: 0, count: count)
        var y = [Float](repeating: 0, count: count)
        let width = inputRange.upperBound - inputRange.lowerBound
        for i in 0..<count {
            let xi = inputRange.lowerBound + width * rng.uniformFloat()
            x[i] = xi
            y[i] = (xi * xi * xi + cubicNoiseStandardDeviation(xi) * rng.normalFloat()) / cubicTargetScale
        }
        return try! InMemoryDataset(name: "regression-1d", inputs: Tensor(shape: [count, 1], values: x),
                                    targets: Tensor(shape: [count, 1], values: y))
    }
}
