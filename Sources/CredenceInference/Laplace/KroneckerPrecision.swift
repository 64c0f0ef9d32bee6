import CredenceTensor
import Foundation

/// The Kronecker factors of one parameter tensor's curvature block (KFAC, Martens & Grosse
/// 2015; Ritter et al. 2018), in laplace-torch's convention: a weight W [out, in] has
/// H_W ≈ G ⊗ A with G = Σₙ Σⱼ gₙⱼ gₙⱼᵀ (output-gradient factor, summed over examples and
/// Hessian square-root columns) and A = (1/N) Σₙ aₙ aₙᵀ (input factor, averaged); a bias
/// has the exact block H_b = G. (W is flattened row-major, so G is the left factor.)
public struct KroneckerFactors: Equatable, Sendable {
    public var g: DenseMatrix
    /// nil for a bias block.
    public var a: DenseMatrix?
    public init(g: DenseMatrix, a: DenseMatrix?) {
        self.g = g
        self.a = a
    }
}

/// P = blockdiag(s·G ⊗ A + δ I, s·G_b + δ_b I, ...) with each factor eigendecomposed,
/// G = Q_G Λ_G Q_Gᵀ, A = Q_A Λ_A Q_Aᵀ, so the prior is added exactly in the eigenbasis
/// (laplace-torch's `KronDecomposed` without damping):
/// P_W = (Q_G ⊗ Q_A)(s·Λ_G ⊗ Λ_A + δ)(Q_G ⊗ Q_A)ᵀ. log det, solves, samples and GLM
/// variances never form a Kronecker product.
public struct KroneckerPrecision: StructuredPrecision {
    struct Block {
        var factors: KroneckerFactors
        var gValues: [Double], gVectors: DenseMatrix, gVectorsF: Tensor
        var aValues: [Double], aVectors: DenseMatrix?, aVectorsF: Tensor?
        /// Eigenvalues of the unscaled block, λ_G[o]·λ_A[i] (row-major), or λ_G for a bias.
        var products: [Double]

        init(_ f: KroneckerFactors) throws {
            factors = f
            let (gl, gv) = try f.g.symmetricEigendecomposition()
            gValues = gl.map { Swift.max($0, 0) }
            gVectors = gv!
            gVectorsF = gv!.tensor
            if let a = f.a {
                let (al, av) = try a.symmetricEigendecomposition()
                aValues = al.map { Swift.max($0, 0) }
                aVectors = av!
                aVectorsF = av!.tensor
            } else {
                aValues = [1]
                aVectors = nil
                aVectorsF = nil
            }
            var p = [Double](); p.reserveCapacity(gValues.count * aValues.count)
            for g in gValues { for a in aValues { p.append(g * a) } }
            products = p
        }

        var outputs: Int { gValues.count }
        var inputs: Int { aValues.count }
    }

    public var structure: HessianStructure { .kronecker }
    public let blocks: [ParameterBlock]
    let decomposed: [Block]
    public let prior: PriorPrecision
    public let curvatureScale: Double
    /// Eigenvalues of P per block: s·λ_G[o]·λ_A[i] + δ.
    let eigenvalues: [[Double]]

    /// Eigendecomposes the factors (one per block of `blocks`, in order).
    public init(factors: [KroneckerFactors], blocks: [ParameterBlock], prior: PriorPrecision, curvatureScale: Double = 1) throws {
        guard factors.count == blocks.count else {
            throw LaplaceError.invalidValue("KFAC needs one factor pair per parameter block (\(blocks.count)), got \(factors.count)")
        }
        for (f, b) in zip(factors, blocks) where f.g.rows != b.outputs || f.a?.rows != b.inputs {
            throw LaplaceError.invalidValue("KFAC factors \(f.g.rows)×\(f.a?.rows ?? 0) do not fit block \(b.outputs)×\(b.inputs ?? 0)")
        }
        try self.init(decomposed: factors.map(Block.init), blocks: blocks, prior: prior, curvatureScale: curvatureScale)
    }

    init(decomposed: [Block], blocks: [ParameterBlock], prior: PriorPrecision, curvatureScale: Double) throws {
        self.blocks = blocks
        self.decomposed = decomposed
        self.prior = prior
        self.curvatureScale = curvatureScale
        eigenvalues = decomposed.enumerated().map { g, b in
            let d = prior.value(group: Swift.min(g, prior.values.count - 1))
            return b.products.map { curvatureScale * $0 + d }
        }
        try checkPrior(prior, curvatureScale)
    }

    init(archived tensors: (String) throws -> Tensor, blocks: [ParameterBlock], prior: PriorPrecision, curvatureScale: Double) throws {
        let factors = try blocks.indices.map { i in
            KroneckerFactors(g: try DenseMatrix(tensors("curvature.kron.\(i).g")),
                             a: blocks[i].isBias ? nil : try DenseMatrix(tensors("curvature.kron.\(i).a")))
        }
        try self.init(factors: factors, blocks: blocks, prior: prior, curvatureScale: curvatureScale)
    }

    public var dimension: Int { blocks.last?.range.upperBound ?? 0 }
    public var groups: [Range<Int>] { blocks.map(\.range) }

    public func with(prior: PriorPrecision, curvatureScale: Double) throws -> KroneckerPrecision {
        try KroneckerPrecision(decomposed: decomposed, blocks: blocks, prior: prior, curvatureScale: curvatureScale)
    }

    public func logDeterminantFunction(curvatureScale s: Double) throws -> (PriorPrecision) throws -> Double {
        let products = decomposed.map(\.products), count = blocks.count
        return { prior in
            try prior.validate(groupCount: count)
            var total = 0.0
            for (g, p) in products.enumerated() {
                let d = prior.value(group: g)
                for x in p { total += Foundation.log(s * x + d) }
            }
            return total
        }
    }

    public var logDeterminant: Double { eigenvalues.reduce(0) { $0 + $1.reduce(0) { $0 + Foundation.log($1) } } }

    /// Applies Q (D^power) Qᵀ to each block of `v`.
    func applyInEigenbasis(_ v: [Double], power: Double) throws -> [Double] {
        var out = [Double](repeating: 0, count: dimension)
        for (i, (block, b)) in zip(blocks, decomposed).enumerated() {
            let rows = b.outputs, cols = b.inputs
            var m = DenseMatrix(rows: rows, columns: cols, values: Array(v[block.range]))
            m = try b.gVectors.matmul(m, transposeLeft: true)
            if let qa = b.aVectors { m = try m.matmul(qa) }
            for t in m.values.indices { m.values[t] *= Foundation.pow(eigenvalues[i][t], power) }
            m = try b.gVectors.matmul(m)
            if let qa = b.aVectors { m = try m.matmul(qa, transposeRight: true) }
            for (t, x) in m.values.enumerated() { out[block.range.lowerBound + t] = x }
        }
        return out
    }

    public func solve(_ v: [Double]) throws -> [Double] { try applyInEigenbasis(v, power: -1) }

    public func sample(rng: inout RandomGenerator) -> [Double] {
        let e = (0..<dimension).map { _ in Double(rng.normalFloat()) }
        return try! applyInEigenbasis(e, power: -0.5)  // Q D^{-1/2} ε: covariance Q D⁻¹ Qᵀ
    }

    public var marginalVariances: [Double] {
        var out = [Double](repeating: 0, count: dimension)
        for (i, (block, b)) in zip(blocks, decomposed).enumerated() {
            let rows = b.outputs, cols = b.inputs
            // (Q_G∘Q_G) D⁻¹ (Q_A∘Q_A)ᵀ
            let g2 = DenseMatrix(rows: rows, columns: rows, values: b.gVectors.values.map { $0 * $0 })
            let inv = DenseMatrix(rows: rows, columns: cols, values: eigenvalues[i].map { 1 / $0 })
            var m = try! g2.matmul(inv)
            if let qa = b.aVectors {
                m = try! m.matmul(DenseMatrix(rows: cols, columns: cols, values: qa.values.map { $0 * $0 }), transposeRight: true)
            }
            for (t, x) in m.values.enumerated() { out[block.range.lowerBound + t] = x }
        }
        return out
    }

    public func inverseQuadraticForm(_ j: OutputJacobians) throws -> [Double] {
        guard j.selection == nil else {
            throw LaplaceError.illegalCombination("KFAC curvature cannot be restricted to a subnetwork selection")
        }
        let b = j.exampleCount, k = j.outputCount
        var out = [Double](repeating: 0, count: b * k * k)
        var blockIndex = 0
        for layer in j.layers {
            let din = layer.inputs.shape[1], dout = layer.outputGradients.shape[2]
            let w = decomposed[blockIndex], wEig = eigenvalues[blockIndex]
            blockIndex += 1
            guard w.outputs == dout, w.inputs == din else {
                throw LaplaceError.invalidValue("Jacobian layer \(dout)×\(din) does not match KFAC block \(w.outputs)×\(w.inputs)")
            }
            // ψ = Q_Aᵀ a per example; s[e, o] = Σᵢ ψᵢ² / D[o, i].
            let psi = try layer.inputs.matmul(w.aVectorsF!)
            let inverse = Tensor(shape: [dout, din], values: wEig.map { Float(1 / $0) })
            var s = try psi.map { $0 * $0 }.matmul(inverse, transposeRight: true).values.map(Double.init)
            let g = try layer.outputGradients.reshaped([b * k, dout])
            let u = try g.matmul(w.gVectorsF).values  // uₖ = Q_Gᵀ gₖ
            accumulate(&out, u: u, weights: s, b: b, k: k, dout: dout, perExample: true)
            if layer.hasBias {
                let bias = decomposed[blockIndex], bEig = eigenvalues[blockIndex]
                blockIndex += 1
                let ub = try g.matmul(bias.gVectorsF).values
                s = bEig.map { 1 / $0 }
                accumulate(&out, u: ub, weights: s, b: b, k: k, dout: dout, perExample: false)
            }
        }
        return out
    }

    /// out[e, k1, k2] += Σ_o u[e, k1, o]·u[e, k2, o]·w[(e,) o].
    private func accumulate(_ out: inout [Double], u: [Float], weights w: [Double], b: Int, k: Int, dout: Int, perExample: Bool) {
        for e in 0..<b {
            let wBase = perExample ? e * dout : 0
            for k1 in 0..<k {
                let r1 = (e * k + k1) * dout
                for k2 in 0...k1 {
                    let r2 = (e * k + k2) * dout
                    var t = 0.0
                    for o in 0..<dout { t += Double(u[r1 + o]) * Double(u[r2 + o]) * w[wBase + o] }
                    out[(e * k + k1) * k + k2] += t
                    if k1 != k2 { out[(e * k + k2) * k + k1] += t }
                }
            }
        }
    }

    public func denseMatrix() throws -> DenseMatrix {
        var p = DenseMatrix(rows: dimension, columns: dimension)
        for (i, (block, b)) in zip(blocks, decomposed).enumerated() {
            let d = prior.value(group: i)
            let g = b.factors.g, a = b.factors.a ?? DenseMatrix(rows: 1, columns: 1, values: [1])
            let cols = a.rows
            for o1 in 0..<g.rows {
                for o2 in 0..<g.rows {
                    for i1 in 0..<cols {
                        for i2 in 0..<cols {
                            let r = block.range.lowerBound + o1 * cols + i1, c = block.range.lowerBound + o2 * cols + i2
                            p[r, c] = curvatureScale * g[o1, o2] * a[i1, i2] + (r == c ? d : 0)
                        }
                    }
                }
            }
        }
        return p
    }

    public var storedFloatCount: Int { decomposed.reduce(0) { $0 + $1.outputs * $1.outputs + ($1.aVectors == nil ? 0 : $1.inputs * $1.inputs) } }

    public func archiveTensors() -> [(name: String, value: Tensor)] {
        var out: [(name: String, value: Tensor)] = []
        for (i, b) in decomposed.enumerated() {
            out.append(("curvature.kron.\(i).g", b.factors.g.tensor))
            if let a = b.factors.a { out.append(("curvature.kron.\(i).a", a.tensor)) }
        }
        return out
    }
}
