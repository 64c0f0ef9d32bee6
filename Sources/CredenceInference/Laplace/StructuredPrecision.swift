import CredenceTensor
import Foundation

/// One parameter tensor of a Laplace subset, in subset coordinates: a dense layer's
/// weight W [outputs, inputs] (row-major, `inputs != nil`) or its bias [outputs].
public struct ParameterBlock: Equatable, Sendable, Codable {
    /// Coordinates of the block in the subset vector.
    public var range: Range<Int>
    /// Index of the model layer that owns it.
    public var layer: Int
    public var outputs: Int
    /// Inputs of a weight matrix; nil for a bias.
    public var inputs: Int?
    public var isBias: Bool { inputs == nil }
    public init(range: Range<Int>, layer: Int, outputs: Int, inputs: Int?) {
        self.range = range
        self.layer = layer
        self.outputs = outputs
        self.inputs = inputs
    }
}

/// The Gaussian prior precision P₀ = diag(δ) over the subset: one δ for all weights
/// (scalar) or one per parameter group (layerwise).
public struct PriorPrecision: Equatable, Sendable {
    /// One value (scalar) or one per group.
    public var values: [Double]

    public init(_ scalar: Double) { values = [scalar] }
    public init(values: [Double]) { self.values = values }

    public var isScalar: Bool { values.count == 1 }

    /// δ of group `g`.
    public func value(group g: Int) -> Double { isScalar ? values[0] : values[g] }

    /// The per-coordinate precisions for `groups`.
    public func expanded(groups: [Range<Int>], dimension: Int) -> [Double] {
        var d = [Double](repeating: values[0], count: dimension)
        if !isScalar { for (g, r) in groups.enumerated() { for i in r { d[i] = values[g] } } }
        return d
    }

    /// Throws unless this prior fits `groupCount` groups and is positive and finite.
    func validate(groupCount: Int) throws {
        guard values.count == 1 || values.count == groupCount else {
            throw LaplaceError.invalidValue("a prior precision needs 1 value or one per parameter group (\(groupCount)), got \(values.count)")
        }
        guard values.allSatisfy({ $0 > 0 && $0.isFinite }) else {
            throw LaplaceError.invalidValue("prior precisions must be finite and > 0, got \(values)")
        }
    }
}

/// Per-example Jacobians ∂f_k/∂θ of the K network outputs with respect to the subset, in
/// the factored form dense layers give them: for a layer with input a and output-gradient
/// g_k (the backpropagated seed e_k), ∂f_k/∂W = g_k aᵀ and ∂f_k/∂b = g_k. Structures use
/// the factors directly (KFAC and diagonal never form a Jacobian row); `dense()` expands
/// them for the others.
public struct OutputJacobians {
    public struct Layer {
        /// Layer inputs a, [B, inputs].
        public var inputs: Tensor
        /// Output gradients g, [B, K, outputs].
        public var outputGradients: Tensor
        public var hasBias: Bool
        public init(inputs: Tensor, outputGradients: Tensor, hasBias: Bool) {
            self.inputs = inputs
            self.outputGradients = outputGradients
            self.hasBias = hasBias
        }
        var coordinateCount: Int { inputs.shape[1] * outputGradients.shape[2] + (hasBias ? outputGradients.shape[2] : 0) }
    }

    public var exampleCount: Int
    public var outputCount: Int
    /// The subset's dense layers, in order (their coordinates concatenated: W row-major, then b).
    public var layers: [Layer]
    /// Subset coordinates as positions in the concatenated layer coordinates (subnetworks); nil = all.
    public var selection: [Int]?
    /// Jacobian rows [B, K, n] in subset coordinates, for subsets with non-dense layers (`layers` is then empty).
    public var rows: Tensor?

    public init(exampleCount: Int, outputCount: Int, layers: [Layer], selection: [Int]? = nil) {
        self.exampleCount = exampleCount
        self.outputCount = outputCount
        self.layers = layers
        self.selection = selection
    }

    /// Jacobians given as rows [B, K, n].
    public init(rows: Tensor) {
        exampleCount = rows.shape[0]
        outputCount = rows.shape[1]
        layers = []
        self.rows = rows
    }

    /// Number of subset coordinates.
    public var dimension: Int { rows?.shape[2] ?? selection?.count ?? layers.reduce(0) { $0 + $1.coordinateCount } }

    /// The Jacobians as a [B, K, n] tensor in subset coordinates.
    public func dense() -> Tensor {
        if let rows { return rows }
        let b = exampleCount, k = outputCount
        let full = layers.reduce(0) { $0 + $1.coordinateCount }
        var out = Tensor(shape: [b, k, dimension], repeating: 0)
        // Map each concatenated coordinate to its subset position (or -1).
        var position = [Int](repeating: -1, count: full)
        if let selection { for (s, c) in selection.enumerated() { position[c] = s } } else { for c in 0..<full { position[c] = c } }
        out.withUnsafeMutableBufferPointer { o in
            var base = 0
            for layer in layers {
                let din = layer.inputs.shape[1], dout = layer.outputGradients.shape[2]
                layer.inputs.withUnsafeBufferPointer { a in
                    layer.outputGradients.withUnsafeBufferPointer { g in
                        let n = dimension
                        for e in 0..<b {
                            for kk in 0..<k {
                                let row = (e * k + kk) * n
                                for oo in 0..<dout {
                                    let gv = g[(e * k + kk) * dout + oo]
                                    if gv == 0 { continue }
                                    for i in 0..<din {
                                        let p = position[base + oo * din + i]
                                        if p >= 0 { o[row + p] = gv * a[e * din + i] }
                                    }
                                    if layer.hasBias {
                                        let p = position[base + dout * din + oo]
                                        if p >= 0 { o[row + p] = gv }
                                    }
                                }
                            }
                        }
                    }
                }
                base += layer.coordinateCount
            }
        }
        return out
    }
}

/// A posterior precision P = s·H + P₀ in one structure — the curvature H of the negative
/// log-likelihood (generalized Gauss–Newton) times a likelihood scale s (1/σ² for Gaussian
/// noise, 1/T for a temperature), plus a diagonal prior precision — with the algebra the
/// Laplace posterior needs. The posterior code only calls these methods, so it never
/// branches on the structure (laplace-torch's `Kron`/`KronDecomposed` design).
///
/// Every conforming value is factorized when built, so `logDeterminant`, `solve`,
/// `sample` and `inverseQuadraticForm` cost no more than the structure allows.
public protocol StructuredPrecision {
    var structure: HessianStructure { get }
    /// Number of weights n.
    var dimension: Int { get }
    /// The parameter groups a layerwise prior refers to (ranges of subset coordinates).
    var groups: [Range<Int>] { get }
    var prior: PriorPrecision { get }
    /// The likelihood scale s multiplying the curvature.
    var curvatureScale: Double { get }

    /// The same curvature with another prior and scale (refactorized).
    func with(prior: PriorPrecision, curvatureScale: Double) throws -> Self
    /// A function prior ↦ log det(s·H + P₀) that reuses the decomposition of H (O(number of
    /// eigenvalues) per call for the eigen-decomposed structures): the marginal-likelihood
    /// search calls it many times.
    func logDeterminantFunction(curvatureScale: Double) throws -> (PriorPrecision) throws -> Double
    /// log det P.
    var logDeterminant: Double { get }
    /// P⁻¹ v.
    func solve(_ v: [Double]) throws -> [Double]
    /// One draw z ~ N(0, P⁻¹).
    func sample(rng: inout RandomGenerator) -> [Double]
    /// diag(P⁻¹).
    var marginalVariances: [Double] { get }
    /// Jₙ P⁻¹ Jₙᵀ for each example: [B·K·K] row-major (the GLM predictive's logit covariance).
    func inverseQuadraticForm(_ jacobians: OutputJacobians) throws -> [Double]
    /// P as a dense matrix (tests and small problems).
    func denseMatrix() throws -> DenseMatrix
    /// Floats the curvature occupies in an archive.
    var storedFloatCount: Int { get }
    /// The tensors (curvature factors) that rebuild this value with `settings`.
    func archiveTensors() -> [(name: String, value: Tensor)]
}

extension StructuredPrecision {
    /// The generic Jₙ P⁻¹ Jₙᵀ through K solves per example (structures override it with
    /// cheaper forms).
    func inverseQuadraticFormBySolving(_ jacobians: OutputJacobians) throws -> [Double] {
        let j = jacobians.dense()
        let b = jacobians.exampleCount, k = jacobians.outputCount, n = dimension
        var out = [Double](repeating: 0, count: b * k * k)
        let values = j.values
        for e in 0..<b {
            let rows = (0..<k).map { kk in (0..<n).map { Double(values[(e * k + kk) * n + $0]) } }
            for kk in 0..<k {
                let x = try solve(rows[kk])
                for k2 in 0...kk {
                    var s = 0.0
                    for i in 0..<n { s += rows[k2][i] * x[i] }
                    out[(e * k + kk) * k + k2] = s
                    out[(e * k + k2) * k + kk] = s
                }
            }
        }
        return out
    }

    /// Throws unless the prior fits this precision's groups.
    func checkPrior(_ prior: PriorPrecision, _ scale: Double) throws {
        try prior.validate(groupCount: groups.count)
        guard scale > 0, scale.isFinite else { throw LaplaceError.invalidValue("the curvature scale must be finite and > 0, got \(scale)") }
    }
}

/// Builds a structured precision back from archived tensors.
func restorePrecision(structure: HessianStructure, tensors: (String) throws -> Tensor, groups: [Range<Int>],
                      blocks: [ParameterBlock], prior: PriorPrecision, curvatureScale: Double) throws -> any StructuredPrecision {
    switch structure {
    case .diagonal:
        return try DiagonalPrecision(curvature: tensors("curvature.diagonal").values.map(Double.init), groups: groups,
                                     blocks: blocks, prior: prior, curvatureScale: curvatureScale)
    case .full:
        let h = try tensors("curvature.full")
        return try FullPrecision(curvature: DenseMatrix(h), groups: groups, blocks: blocks, prior: prior, curvatureScale: curvatureScale)
    case .kronecker:
        return try KroneckerPrecision(archived: tensors, blocks: blocks, prior: prior, curvatureScale: curvatureScale)
    case .lowRank:
        let u = try tensors("curvature.eigenvectors"), l = try tensors("curvature.eigenvalues")
        return try LowRankPrecision(eigenvalues: l.values.map(Double.init), eigenvectors: u, groups: groups,
                                    prior: prior, curvatureScale: curvatureScale)
    }
}
