import CredenceTensor

/// Per-column standardisation `z = (x − μ) / σ`, fitted on one set and applied to others.
///
/// `μ` and `σ` are the column means and population standard deviations (divisor N, as
/// scikit-learn's `StandardScaler`) of a `[N, D]` tensor, computed in Double. A
/// constant column gets `σ = 1`, so it maps to 0 instead of NaN. Fit on the training
/// set only, then apply the same statistics to validation and test sets.
///
/// ```swift
/// let scaler = Standardization(fitting: train.inputs)
/// let testInputs = scaler.apply(test.inputs)
/// let original = scaler.invert(scaler.apply(train.inputs))   // ≈ train.inputs
/// ```
public struct Standardization: Equatable, Sendable {
    /// Column means μ.
    public var mean: [Float]
    /// Column standard deviations σ (1 for constant columns).
    public var standardDeviation: [Float]

    public init(mean: [Float], standardDeviation: [Float]) {
        precondition(mean.count == standardDeviation.count, "Standardization: mean and σ differ in length")
        self.mean = mean
        self.standardDeviation = standardDeviation
    }

    /// Fits μ and σ to the columns of `data` (`[N, D]`, N ≥ 1).
    public init(fitting data: Tensor) {
        precondition(data.rank == 2 && data.shape[0] > 0, "Standardization needs a non-empty [N, D] tensor, got \(data.shape)")
        let n = data.shape[0], d = data.shape[1]
        var sum = [Double](repeating: 0, count: d)
        var sumSquares = [Double](repeating: 0, count: d)
        data.withUnsafeBufferPointer { p in
            for i in 0..<n {
                for j in 0..<d { sum[j] += Double(p[i * d + j]) }
            }
            for j in 0..<d { sum[j] /= Double(n) }
            for i in 0..<n {
                for j in 0..<d {
                    let r = Double(p[i * d + j]) - sum[j]
                    sumSquares[j] += r * r
                }
            }
        }
        mean = sum.map(Float.init)
        standardDeviation = sumSquares.map { s in
            let sd = (s / Double(n)).squareRoot()
            return sd > 1e-12 ? Float(sd) : 1
        }
    }

    /// `(x − μ) / σ` column by column; `x` is `[N, D]` with the fitted D.
    public func apply(_ x: Tensor) -> Tensor { transform(x, forward: true) }

    /// `x · σ + μ` column by column — undoes `apply` (e.g. for predicted targets).
    public func invert(_ x: Tensor) -> Tensor { transform(x, forward: false) }

    private func transform(_ x: Tensor, forward: Bool) -> Tensor {
        let d = mean.count
        precondition(x.rank == 2 && x.shape[1] == d, "Standardization fitted to \(d) columns cannot transform shape \(x.shape)")
        var out = Tensor(uninitializedShape: x.shape)
        x.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<x.shape[0] {
                    for j in 0..<d {
                        let v = src[i * d + j]
                        dst[i * d + j] = forward ? (v - mean[j]) / standardDeviation[j] : v * standardDeviation[j] + mean[j]
                    }
                }
            }
        }
        return out
    }
}
