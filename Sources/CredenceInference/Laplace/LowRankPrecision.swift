import CredenceTensor
import Foundation

/// P = s·U Λ Uᵀ + D: the top-k eigenpairs (Λ, U) of the curvature plus a diagonal prior D
/// (Daxberger et al. 2021's low-rank Laplace).
///
/// Writing W = D^{-1/2} U (sΛ)^{1/2} = Q S Rᵀ (thin SVD through the k×k eigenproblem of
/// WᵀW), P = D^{1/2}(I + Q S² Qᵀ)D^{1/2}, so with c = S²/(1 + S²):
/// log det P = Σ log D + Σ log(1 + S²); P⁻¹ = D^{-1/2}(I − Q c Qᵀ)D^{-1/2};
/// z = D^{-1/2}(I − Q(1 − (1 + S²)^{-1/2})Qᵀ)ε ~ N(0, P⁻¹). Everything is O(n·k).
public struct LowRankPrecision: StructuredPrecision {
    public var structure: HessianStructure { .lowRank }
    /// Eigenvalues of the curvature, descending (k).
    public let eigenvalues: [Double]
    /// Orthonormal eigenvectors as columns, n × k.
    public let eigenvectors: DenseMatrix
    public let groups: [Range<Int>]
    public let prior: PriorPrecision
    public let curvatureScale: Double
    let diagonal: [Double]
    /// Q (n × r) and c = S²/(1+S²), S² (r).
    let q: DenseMatrix
    let squares: [Double]

    public init(eigenvalues: [Double], eigenvectors: Tensor, groups: [Range<Int>], prior: PriorPrecision,
                curvatureScale: Double = 1) throws {
        try self.init(eigenvalues: eigenvalues, eigenvectors: try DenseMatrix(eigenvectors), groups: groups,
                      prior: prior, curvatureScale: curvatureScale)
    }

    public init(eigenvalues: [Double], eigenvectors: DenseMatrix, groups: [Range<Int>], prior: PriorPrecision,
                curvatureScale: Double = 1) throws {
        guard eigenvectors.columns == eigenvalues.count else {
            throw LaplaceError.invalidValue("low-rank curvature: \(eigenvalues.count) eigenvalues but \(eigenvectors.columns) eigenvectors")
        }
        try prior.validate(groupCount: groups.count)
        self.eigenvalues = eigenvalues
        self.eigenvectors = eigenvectors
        self.groups = groups
        self.prior = prior
        self.curvatureScale = curvatureScale
        diagonal = prior.expanded(groups: groups, dimension: eigenvectors.rows)
        (q, squares) = try Self.decompose(eigenvalues, eigenvectors, diagonal: diagonal, scale: curvatureScale)
        try checkPrior(prior, curvatureScale)
    }

    /// W = D^{-1/2} U (sΛ)^{1/2}; WᵀW = R S² Rᵀ; Q = W R S⁻¹.
    static func decompose(_ values: [Double], _ u: DenseMatrix, diagonal d: [Double], scale s: Double) throws -> (DenseMatrix, [Double]) {
        let n = u.rows, k = u.columns
        var w = u
        for i in 0..<n {
            let r = 1 / d[i].squareRoot()
            for j in 0..<k { w.values[i * k + j] *= r * (s * Swift.max(values[j], 0)).squareRoot() }
        }
        let (s2, r) = try w.matmul(w, transposeLeft: true).symmetricEigendecomposition()
        let keep = (0..<k).filter { s2[$0] > 1e-12 * Swift.max(s2.last ?? 0, 1e-300) }
        var rs = DenseMatrix(rows: k, columns: keep.count)
        for (c, j) in keep.enumerated() { for i in 0..<k { rs[i, c] = r![i, j] / s2[j].squareRoot() } }
        return (try w.matmul(rs), keep.map { s2[$0] })
    }

    public var dimension: Int { eigenvectors.rows }
    public var rank: Int { eigenvalues.count }

    public func with(prior: PriorPrecision, curvatureScale: Double) throws -> LowRankPrecision {
        try LowRankPrecision(eigenvalues: eigenvalues, eigenvectors: eigenvectors, groups: groups, prior: prior,
                             curvatureScale: curvatureScale)
    }

    public func logDeterminantFunction(curvatureScale s: Double) throws -> (PriorPrecision) throws -> Double {
        let values = eigenvalues, u = eigenvectors, groups = self.groups, n = dimension
        return { prior in
            try prior.validate(groupCount: groups.count)
            if Set(prior.values).count == 1 {
                let d = prior.values[0]
                return values.reduce(0) { $0 + Foundation.log(s * Swift.max($1, 0) + d) } + Double(n - values.count) * Foundation.log(d)
            }
            let d = prior.expanded(groups: groups, dimension: n)
            let (_, s2) = try Self.decompose(values, u, diagonal: d, scale: s)
            return d.reduce(0) { $0 + Foundation.log($1) } + s2.reduce(0) { $0 + Foundation.log(1 + $1) }
        }
    }

    public var logDeterminant: Double {
        diagonal.reduce(0) { $0 + Foundation.log($1) } + squares.reduce(0) { $0 + Foundation.log(1 + $1) }
    }

    /// D^{-1/2}(I − Q diag(c) Qᵀ)D^{-1/2} v.
    func apply(_ v: [Double], coefficients c: [Double], scaleOut: Bool = true) -> [Double] {
        let n = dimension, r = c.count
        let x = (0..<n).map { v[$0] / diagonal[$0].squareRoot() }
        var t = [Double](repeating: 0, count: r)
        for i in 0..<n { for j in 0..<r { t[j] += q.values[i * r + j] * x[i] } }
        for j in 0..<r { t[j] *= c[j] }
        return (0..<n).map { i in
            var y = x[i]
            for j in 0..<r { y -= q.values[i * r + j] * t[j] }
            return y / diagonal[i].squareRoot()
        }
    }

    public func solve(_ v: [Double]) throws -> [Double] {
        apply(v, coefficients: squares.map { $0 / (1 + $0) })
    }

    public func sample(rng: inout RandomGenerator) -> [Double] {
        // apply() divides by √D on both sides; pre-multiply ε by √D so only D^{-1/2} remains.
        let e = diagonal.map { Double(rng.normalFloat()) * $0.squareRoot() }
        return apply(e, coefficients: squares.map { 1 - 1 / (1 + $0).squareRoot() })
    }

    public var marginalVariances: [Double] {
        let r = squares.count, c = squares.map { $0 / (1 + $0) }
        return (0..<dimension).map { i in
            var s = 1.0
            for j in 0..<r { s -= q.values[i * r + j] * q.values[i * r + j] * c[j] }
            return s / diagonal[i]
        }
    }

    public func inverseQuadraticForm(_ j: OutputJacobians) throws -> [Double] {
        let b = j.exampleCount, k = j.outputCount, n = dimension, r = squares.count
        var rows = try j.dense().reshaped([b * k, n])
        rows.withUnsafeMutableBufferPointer { p in
            for row in 0..<(b * k) { for i in 0..<n { p[row * n + i] /= Float(diagonal[i].squareRoot()) } }
        }
        let projected = try rows.matmul(q.tensor).values  // [B·K, r]
        let c = squares.map { $0 / (1 + $0) }
        var out = [Double](repeating: 0, count: b * k * k)
        rows.withUnsafeBufferPointer { jp in
            for e in 0..<b {
                for k1 in 0..<k {
                    for k2 in 0...k1 {
                        let r1 = e * k + k1, r2 = e * k + k2
                        var s = 0.0
                        for i in 0..<n { s += Double(jp[r1 * n + i]) * Double(jp[r2 * n + i]) }
                        for t in 0..<r { s -= Double(projected[r1 * r + t]) * Double(projected[r2 * r + t]) * c[t] }
                        out[r1 * k + k2] = s
                        out[r2 * k + k1] = s
                    }
                }
            }
        }
        return out
    }

    public func denseMatrix() throws -> DenseMatrix {
        let n = dimension, k = rank
        var p = DenseMatrix(diagonal: diagonal)
        for i in 0..<n {
            for j in 0..<n {
                var s = 0.0
                for t in 0..<k { s += eigenvectors[i, t] * eigenvalues[t] * eigenvectors[j, t] }
                p[i, j] += curvatureScale * s
            }
        }
        return p
    }

    public var storedFloatCount: Int { dimension * rank + rank }

    public func archiveTensors() -> [(name: String, value: Tensor)] {
        [("curvature.eigenvectors", eigenvectors.tensor), ("curvature.eigenvalues", Tensor(eigenvalues.map(Float.init)))]
    }
}
