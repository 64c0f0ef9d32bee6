import CredenceTensor
import Foundation

/// P = s·H + diag(δ) as a dense matrix, factorized P = L·Lᵀ (Cholesky, double precision).
///
/// log det P = 2 Σ log Lᵢᵢ; P⁻¹v by two triangular solves; z = L⁻ᵀε ~ N(0, P⁻¹).
/// For the prior search with one scalar δ the eigenvalues λ of H are computed once and
/// log det(s·H + δI) = Σ log(s·λᵢ + δ) costs O(n) per δ.
public struct FullPrecision: StructuredPrecision {
    public var structure: HessianStructure { .full }
    /// The curvature H (unscaled, symmetric).
    public let curvature: DenseMatrix
    public let groups: [Range<Int>]
    /// Dense-layer blocks of the subset (empty for a subnetwork selection): with one layer,
    /// GLM variances use the factored Jacobian (R× cheaper than Jacobian rows).
    public let blocks: [ParameterBlock]
    public let prior: PriorPrecision
    public let curvatureScale: Double
    /// Lower Cholesky factor of P.
    public var factor: DenseMatrix { factorStorage! }
    private let factorStorage: DenseMatrix?
    private let cache = Cache()

    /// Lazily computed values (guarded: a posterior may predict from several threads).
    final class Cache {
        let lock = NSLock()
        var covariance: Tensor?
        var augmentedCovariance: Tensor?
        var eigenvalues: [Double]?
    }

    /// - Parameter factorize: false defers the Cholesky factorization for a value that only
    ///   serves the prior search (`logDeterminantFunction`, then `with(prior:curvatureScale:)`);
    ///   its other members must not be used.
    public init(curvature: DenseMatrix, groups: [Range<Int>], blocks: [ParameterBlock] = [], prior: PriorPrecision,
                curvatureScale: Double = 1, factorize: Bool = true) throws {
        guard curvature.isSquare else {
            throw LaplaceError.invalidValue("a full curvature must be square, got \(curvature.rows)×\(curvature.columns)")
        }
        self.curvature = curvature
        self.groups = groups
        self.blocks = blocks
        self.prior = prior
        self.curvatureScale = curvatureScale
        try prior.validate(groupCount: groups.count)
        factorStorage = factorize
            ? try Self.precisionMatrix(curvature, scale: curvatureScale, prior: prior, groups: groups).choleskyFactor() : nil
        try checkPrior(prior, curvatureScale)
    }

    static func precisionMatrix(_ h: DenseMatrix, scale: Double, prior: PriorPrecision, groups: [Range<Int>]) -> DenseMatrix {
        var p = h
        if scale != 1 { for i in p.values.indices { p.values[i] *= scale } }
        p.addDiagonal(prior.expanded(groups: groups, dimension: h.rows))
        return p
    }

    public var dimension: Int { curvature.rows }

    public func with(prior: PriorPrecision, curvatureScale: Double) throws -> FullPrecision {
        let copy = try FullPrecision(curvature: curvature, groups: groups, blocks: blocks, prior: prior, curvatureScale: curvatureScale)
        copy.cache.eigenvalues = cache.eigenvalues
        return copy
    }

    /// Eigenvalues of H (computed once).
    func curvatureEigenvalues() throws -> [Double] {
        cache.lock.lock()
        defer { cache.lock.unlock() }
        if let e = cache.eigenvalues { return e }
        let e = try curvature.symmetricEigendecomposition(vectors: false).values.map { Swift.max($0, 0) }
        cache.eigenvalues = e
        return e
    }

    public func logDeterminantFunction(curvatureScale s: Double) throws -> (PriorPrecision) throws -> Double {
        let h = curvature, groups = self.groups
        return { [self] prior in
            try prior.validate(groupCount: groups.count)
            if prior.isScalar || Set(prior.values).count == 1 {
                let d = prior.values[0]
                return try curvatureEigenvalues().reduce(0) { $0 + Foundation.log(s * $1 + d) }
            }
            return try Self.precisionMatrix(h, scale: s, prior: prior, groups: groups).choleskyFactor().choleskyLogDeterminant
        }
    }

    public var logDeterminant: Double { factor.choleskyLogDeterminant }

    public func solve(_ v: [Double]) throws -> [Double] {
        try factor.choleskySolve(DenseMatrix(column: v)).values
    }

    public func sample(rng: inout RandomGenerator) -> [Double] {
        let e = (0..<dimension).map { _ in Double(rng.normalFloat()) }
        return try! factor.solveLowerTriangular(DenseMatrix(column: e), transpose: true).values
    }

    /// Σ = P⁻¹ in single precision (computed once, for the GLM predictive).
    func covariance() throws -> Tensor {
        cache.lock.lock()
        defer { cache.lock.unlock() }
        if let c = cache.covariance { return c }
        let c = try factor.choleskyInverse().tensor
        cache.covariance = c
        return c
    }

    public var marginalVariances: [Double] {
        (try! factor.choleskyInverse()).diagonal
    }

    public func inverseQuadraticForm(_ j: OutputJacobians) throws -> [Double] {
        if j.selection == nil, j.layers.count == 1, let w = blocks.first, !w.isBias,
           w.inputs == j.layers[0].inputs.shape[1], w.outputs == j.layers[0].outputGradients.shape[2],
           blocks.count == (j.layers[0].hasBias ? 2 : 1) {
            return try singleLayerQuadraticForm(j.layers[0], examples: j.exampleCount, outputs: j.outputCount)
        }
        let b = j.exampleCount, k = j.outputCount, n = dimension
        let rows = try j.dense().reshaped([b * k, n])
        let t = try rows.matmul(try covariance())  // [B·K, n] = J Σ
        var out = [Double](repeating: 0, count: b * k * k)
        t.withUnsafeBufferPointer { tp in
            rows.withUnsafeBufferPointer { jp in
                for e in 0..<b {
                    for k1 in 0..<k {
                        for k2 in 0...k1 {
                            var s = 0.0
                            let r1 = (e * k + k1) * n, r2 = (e * k + k2) * n
                            for i in 0..<n { s += Double(tp[r1 + i]) * Double(jp[r2 + i]) }
                            out[(e * k + k1) * k + k2] = s
                            out[(e * k + k2) * k + k1] = s
                        }
                    }
                }
            }
        }
        return out
    }

    /// Σ in the augmented order of one dense layer — coordinate (o, i) with i = inputs for
    /// the bias — so that row block o is contiguous (computed once).
    func augmentedCovariance(inputs din: Int, outputs dout: Int, bias: Bool) throws -> Tensor {
        cache.lock.lock()
        defer { cache.lock.unlock() }
        if let c = cache.augmentedCovariance { return c }
        let sigma = try factor.choleskyInverse().values, n = dimension
        let w = din + (bias ? 1 : 0), m = dout * w
        var out = Tensor(uninitializedShape: [m, m])
        var flat = [Int](repeating: 0, count: m)
        for o in 0..<dout { for i in 0..<w { flat[o * w + i] = i < din ? o * din + i : dout * din + o } }
        out.withUnsafeMutableBufferPointer { p in
            for r in 0..<m { let fr = flat[r] * n; for c in 0..<m { p[r * m + c] = Float(sigma[fr + flat[c]]) } }
        }
        cache.augmentedCovariance = out
        return out
    }

    /// Jₙ P⁻¹ Jₙᵀ for one dense layer from its factors: with ã = (a, 1) and
    /// Mₙ[o, o'] = ãₙᵀ Σ[o, o'] ãₙ (Σ's (o, o') block), Σ*ₙ[k, k'] = Σ_{o,o'} gₙₖ[o] gₙₖ'[o'] Mₙ[o, o'].
    /// One GEMM per o over the blocks o' ≥ o: B·n²/2 multiply-adds per batch instead of B·K·n².
    func singleLayerQuadraticForm(_ layer: OutputJacobians.Layer, examples b: Int, outputs k: Int) throws -> [Double] {
        let din = layer.inputs.shape[1], dout = layer.outputGradients.shape[2]
        let w = din + (layer.hasBias ? 1 : 0), m = dout * w
        let sigma = try augmentedCovariance(inputs: din, outputs: dout, bias: layer.hasBias)
        var augmented = [Float](repeating: 1, count: b * w)
        layer.inputs.withUnsafeBufferPointer { a in for e in 0..<b { for i in 0..<din { augmented[e * w + i] = a[e * din + i] } } }
        var blockForms = [Double](repeating: 0, count: b * dout * dout)  // M[e, o, o']
        var t = [Float](repeating: 0, count: b * m)
        sigma.withUnsafeBufferPointer { sp in
            augmented.withUnsafeBufferPointer { ap in
                for o in 0..<dout {
                    let width = (dout - o) * w
                    t.withUnsafeMutableBufferPointer { tp in
                        BLAS.sgemm(transA: false, transB: false, m: b, n: width, k: w, alpha: 1, a: ap.baseAddress!, lda: w,
                                   b: sp.baseAddress! + o * w * m + o * w, ldb: m, beta: 0, c: tp.baseAddress!, ldc: width)
                    }
                    for e in 0..<b {
                        for o2 in o..<dout {
                            var s = 0.0
                            let row = e * width + (o2 - o) * w
                            for i in 0..<w { s += Double(t[row + i]) * Double(ap[e * w + i]) }
                            blockForms[(e * dout + o) * dout + o2] = s
                            blockForms[(e * dout + o2) * dout + o] = s
                        }
                    }
                }
            }
        }
        var out = [Double](repeating: 0, count: b * k * k)
        layer.outputGradients.withUnsafeBufferPointer { g in
            var u = [Double](repeating: 0, count: dout)
            for e in 0..<b {
                for k1 in 0..<k {
                    // u = M gₖ₁, then Σ*[k1, k2] = gₖ₂ · u.
                    for o in 0..<dout {
                        var s = 0.0
                        for o2 in 0..<dout { s += blockForms[(e * dout + o) * dout + o2] * Double(g[(e * k + k1) * dout + o2]) }
                        u[o] = s
                    }
                    for k2 in 0...k1 {
                        var s = 0.0
                        for o in 0..<dout { s += Double(g[(e * k + k2) * dout + o]) * u[o] }
                        out[(e * k + k1) * k + k2] = s
                        out[(e * k + k2) * k + k1] = s
                    }
                }
            }
        }
        return out
    }

    public func denseMatrix() throws -> DenseMatrix {
        Self.precisionMatrix(curvature, scale: curvatureScale, prior: prior, groups: groups)
    }

    public var storedFloatCount: Int { dimension * dimension }

    public func archiveTensors() -> [(name: String, value: Tensor)] { [("curvature.full", curvature.tensor)] }
}
