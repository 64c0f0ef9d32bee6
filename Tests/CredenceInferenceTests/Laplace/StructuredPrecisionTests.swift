@testable import CredenceInference
import CredenceTensor
import Foundation
import Testing

/// The structured-matrix algebra (log det, solve, sample, marginal variances, GLM quadratic
/// form, prior search log det) of every structure against dense reference computations.
///
/// Fixture: two dense layers 4→3 and 3→2 with biases (n = 12 + 3 + 6 + 2 = 23 weights),
/// a layerwise prior with four different precisions, and curvature scale 1.7.
@Suite struct StructuredPrecisionTests {
    static let blocks = [
        ParameterBlock(range: 0..<12, layer: 0, outputs: 3, inputs: 4),
        ParameterBlock(range: 12..<15, layer: 0, outputs: 3, inputs: nil),
        ParameterBlock(range: 15..<21, layer: 2, outputs: 2, inputs: 3),
        ParameterBlock(range: 21..<23, layer: 2, outputs: 2, inputs: nil),
    ]
    static var groups: [Range<Int>] { blocks.map(\.range) }
    static let n = 23
    static let prior = PriorPrecision(values: [0.5, 2, 1.25, 3])
    static let scale = 1.7

    static func make(_ structure: HessianStructure) throws -> any StructuredPrecision {
        var rng = RandomGenerator(seed: 7)
        switch structure {
        case .diagonal:
            let h = (0..<n).map { _ in Double(rng.uniformFloat()) * 3 }
            return try DiagonalPrecision(curvature: h, groups: groups, blocks: blocks, prior: prior, curvatureScale: scale)
        case .full:
            let h = LaplaceReference.randomPSD(n, rank: 15, rng: &rng)  // rank-deficient: the prior makes P definite
            return try FullPrecision(curvature: DenseMatrix(rows: n, columns: n, values: h), groups: groups, prior: prior,
                                     curvatureScale: scale)
        case .kronecker:
            let factors = blocks.map { b in
                KroneckerFactors(g: DenseMatrix(rows: b.outputs, columns: b.outputs,
                                                values: LaplaceReference.randomPSD(b.outputs, rank: 4, rng: &rng)),
                                 a: b.inputs.map { DenseMatrix(rows: $0, columns: $0, values: LaplaceReference.randomPSD($0, rank: 6, rng: &rng)) })
            }
            return try KroneckerPrecision(factors: factors, blocks: blocks, prior: prior, curvatureScale: scale)
        case .lowRank:
            let h = DenseMatrix(rows: n, columns: n, values: LaplaceReference.randomPSD(n, rank: 30, rng: &rng))
            let (values, vectors) = try h.largestEigenpairs(5)
            return try LowRankPrecision(eigenvalues: values, eigenvectors: vectors, groups: groups, prior: prior, curvatureScale: scale)
        }
    }

    /// Dense reference P built independently of the structure's factorization.
    static func referencePrecision(_ p: any StructuredPrecision) throws -> [Double] { try p.denseMatrix().values }

    @Test(arguments: HessianStructure.allCases)
    func logDeterminantAndSolveMatchDense(_ structure: HessianStructure) throws {
        let p = try Self.make(structure)
        let dense = try Self.referencePrecision(p)
        let (refLogDet, refInverse) = LaplaceReference.inverse(dense, Self.n)
        #expect(abs(p.logDeterminant - refLogDet) <= 1e-9 * max(1, abs(refLogDet)), "\(structure): log det \(p.logDeterminant) vs \(refLogDet)")
        var rng = RandomGenerator(seed: 3)
        let v = (0..<Self.n).map { _ in Double(rng.normalFloat()) }
        let x = try p.solve(v)
        expectLaplaceClose(x, LaplaceReference.multiply(refInverse, v, Self.n, Self.n, 1), absolute: 1e-10, relative: 1e-8, "\(structure) solve")
        let variances = (0..<Self.n).map { refInverse[$0 * Self.n + $0] }
        expectLaplaceClose(p.marginalVariances, variances, relative: 1e-8, "\(structure) marginal variances")
    }

    /// The prior-search log det (reusing H's decomposition) equals refactorizing with the new prior.
    @Test(arguments: HessianStructure.allCases)
    func logDeterminantFunctionMatchesRefactorizing(_ structure: HessianStructure) throws {
        let p = try Self.make(structure)
        for (prior, scale) in [(PriorPrecision(0.3), 1.0), (PriorPrecision(values: [4, 0.1, 2, 7]), 0.6), (PriorPrecision(25), 2.5)] {
            let f = try p.logDeterminantFunction(curvatureScale: scale)
            let refLogDet = LaplaceReference.inverse(try p.with(prior: prior, curvatureScale: scale).denseMatrix().values, Self.n).logDeterminant
            let fast = try f(prior)
            #expect(abs(fast - refLogDet) <= 1e-8 * max(1, abs(refLogDet)), "\(structure) prior \(prior.values) scale \(scale): \(fast) vs \(refLogDet)")
        }
    }

    /// The sample covariance of 20,000 draws matches P⁻¹: every entry within 5 standard errors,
    /// se(Σ̂ᵢⱼ) = √((ΣᵢᵢΣⱼⱼ + Σᵢⱼ²)/M) for Gaussian data, and the sample mean within 5 se of 0.
    @Test(arguments: HessianStructure.allCases)
    func sampleCovarianceMatchesInverse(_ structure: HessianStructure) throws {
        let p = try Self.make(structure)
        let n = Self.n, m = 20_000
        let sigma = LaplaceReference.inverse(try Self.referencePrecision(p), n).inverse
        var rng = RandomGenerator(seed: 11)
        var sum = [Double](repeating: 0, count: n), outer = [Double](repeating: 0, count: n * n)
        for _ in 0..<m {
            let z = p.sample(rng: &rng)
            for i in 0..<n { sum[i] += z[i]; for j in 0...i { outer[i * n + j] += z[i] * z[j] } }
        }
        var worst = 0.0
        for i in 0..<n {
            #expect(abs(sum[i] / Double(m)) <= 5 * (sigma[i * n + i] / Double(m)).squareRoot(), "\(structure): mean[\(i)] = \(sum[i] / Double(m))")
            for j in 0...i {
                let estimate = outer[i * n + j] / Double(m)
                let se = ((sigma[i * n + i] * sigma[j * n + j] + sigma[i * n + j] * sigma[i * n + j]) / Double(m)).squareRoot()
                worst = max(worst, abs(estimate - sigma[i * n + j]) / se)
            }
        }
        #expect(worst <= 5, "\(structure): worst sample-covariance entry is \(worst) standard errors off")
    }

    /// Jₙ P⁻¹ Jₙᵀ from factored Jacobians equals the dense J P⁻¹ Jᵀ.
    @Test(arguments: HessianStructure.allCases)
    func inverseQuadraticFormMatchesDense(_ structure: HessianStructure) throws {
        let p = try Self.make(structure)
        let j = Self.jacobians(examples: 3, outputs: 2)
        let n = Self.n, b = 3, k = 2
        let sigma = LaplaceReference.inverse(try Self.referencePrecision(p), n).inverse
        let dense = j.dense().values.map(Double.init)
        var reference = [Double](repeating: 0, count: b * k * k)
        for e in 0..<b {
            for k1 in 0..<k {
                let row1 = Array(dense[((e * k + k1) * n)..<((e * k + k1 + 1) * n)])
                let t = LaplaceReference.multiply(row1, sigma, 1, n, n)
                for k2 in 0..<k {
                    var s = 0.0
                    for i in 0..<n { s += t[i] * dense[(e * k + k2) * n + i] }
                    reference[(e * k + k1) * k + k2] = s
                }
            }
        }
        // Float Jacobians and single-precision GEMMs inside: 1e-5 relative.
        expectLaplaceClose(try p.inverseQuadraticForm(j), reference, absolute: 1e-7, relative: 1e-5, "\(structure) JP⁻¹Jᵀ")
    }

    static func jacobians(examples b: Int, outputs k: Int) -> OutputJacobians {
        var rng = RandomGenerator(seed: 5)
        let layers = [(4, 3), (3, 2)].map { din, dout in
            OutputJacobians.Layer(inputs: Tensor.randomNormal(shape: [b, din], rng: &rng),
                                  outputGradients: Tensor.randomNormal(shape: [b, k, dout], rng: &rng), hasBias: true)
        }
        return OutputJacobians(exampleCount: b, outputCount: k, layers: layers)
    }

    /// The dense expansion of factored Jacobians: ∂f_k/∂W[o, i] = g_k[o]·a[i], ∂f_k/∂b[o] = g_k[o].
    @Test func denseJacobianLayout() {
        let j = Self.jacobians(examples: 2, outputs: 2)
        let d = j.dense()
        #expect(d.shape == [2, 2, 23])
        let a0 = j.layers[0].inputs, g0 = j.layers[0].outputGradients, g1 = j.layers[1].outputGradients, a1 = j.layers[1].inputs
        #expect(d[1, 0, 2 * 4 + 3] == g0[1, 0, 2] * a0[1, 3])
        #expect(d[1, 1, 12 + 1] == g0[1, 1, 1])
        #expect(d[0, 1, 15 + 1 * 3 + 2] == g1[0, 1, 1] * a1[0, 2])
        #expect(d[0, 0, 21] == g1[0, 0, 0])
        // A selection keeps the chosen coordinates in order.
        var selected = j
        selected.selection = [3, 13, 22]
        let s = selected.dense()
        #expect(s.shape == [2, 2, 3])
        #expect(s[1, 0, 0] == d[1, 0, 3] && s[1, 0, 1] == d[1, 0, 13] && s[0, 1, 2] == d[0, 1, 22])
    }

    /// The full structure's factored one-layer path (M[o, o'] = ãᵀΣ[o, o']ã) equals the dense J Σ Jᵀ.
    @Test(arguments: [true, false])
    func fullSingleLayerQuadraticFormMatchesDense(_ bias: Bool) throws {
        var rng = RandomGenerator(seed: 12)
        let (din, dout, b, k) = (4, 3, 5, 3)
        let n = dout * din + (bias ? dout : 0)
        var blocks = [ParameterBlock(range: 0..<(dout * din), layer: 0, outputs: dout, inputs: din)]
        if bias { blocks.append(ParameterBlock(range: (dout * din)..<n, layer: 0, outputs: dout, inputs: nil)) }
        let h = DenseMatrix(rows: n, columns: n, values: LaplaceReference.randomPSD(n, rank: 9, rng: &rng))
        let p = try FullPrecision(curvature: h, groups: blocks.map(\.range), blocks: blocks, prior: PriorPrecision(0.8), curvatureScale: 1.3)
        let layer = OutputJacobians.Layer(inputs: Tensor.randomNormal(shape: [b, din], rng: &rng),
                                          outputGradients: Tensor.randomNormal(shape: [b, k, dout], rng: &rng), hasBias: bias)
        let j = OutputJacobians(exampleCount: b, outputCount: k, layers: [layer])
        let factored = try p.inverseQuadraticForm(j)
        let generic = try p.inverseQuadraticFormBySolving(j)
        expectLaplaceClose(factored, generic, absolute: 1e-6, relative: 1e-5, "factored vs solved (bias \(bias))")
    }
}
