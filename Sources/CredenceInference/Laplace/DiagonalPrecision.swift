import CredenceTensor
import Foundation

/// P = s·diag(h) + diag(δ): one precision per weight. log det, solves and samples are O(n).
public struct DiagonalPrecision: StructuredPrecision {
    public var structure: HessianStructure { .diagonal }
    /// The curvature diagonal h (unscaled).
    public let curvature: [Double]
    public let groups: [Range<Int>]
    /// Dense-layer blocks of the subset (empty for a subnetwork selection).
    public let blocks: [ParameterBlock]
    public let prior: PriorPrecision
    public let curvatureScale: Double
    /// diag(P).
    public let precision: [Double]

    public init(curvature: [Double], groups: [Range<Int>], blocks: [ParameterBlock] = [], prior: PriorPrecision,
                curvatureScale: Double = 1) throws {
        self.curvature = curvature
        self.groups = groups
        self.blocks = blocks
        self.prior = prior
        self.curvatureScale = curvatureScale
        let d = prior.expanded(groups: groups, dimension: curvature.count)
        precision = zip(curvature, d).map { curvatureScale * Swift.max($0, 0) + $1 }
        try checkPrior(prior, curvatureScale)
    }

    public var dimension: Int { curvature.count }

    public func with(prior: PriorPrecision, curvatureScale: Double) throws -> DiagonalPrecision {
        try DiagonalPrecision(curvature: curvature, groups: groups, blocks: blocks, prior: prior, curvatureScale: curvatureScale)
    }

    public func logDeterminantFunction(curvatureScale s: Double) throws -> (PriorPrecision) throws -> Double {
        let h = curvature, groups = self.groups
        return { prior in
            try prior.validate(groupCount: groups.count)
            var total = 0.0
            for (g, r) in groups.enumerated() {
                let d = prior.value(group: g)
                for i in r { total += Foundation.log(s * Swift.max(h[i], 0) + d) }
            }
            return total
        }
    }

    public var logDeterminant: Double { precision.reduce(0) { $0 + Foundation.log($1) } }

    public func solve(_ v: [Double]) throws -> [Double] { zip(v, precision).map { $0 / $1 } }

    public func sample(rng: inout RandomGenerator) -> [Double] {
        precision.map { Double(rng.normalFloat()) / $0.squareRoot() }
    }

    public var marginalVariances: [Double] { precision.map { 1 / $0 } }

    public func inverseQuadraticForm(_ j: OutputJacobians) throws -> [Double] {
        let b = j.exampleCount, k = j.outputCount
        var out = [Double](repeating: 0, count: b * k * k)
        guard j.selection == nil, !blocks.isEmpty, !j.layers.isEmpty else {
            // Σ_kk' = Σ_i J_ki J_k'i / pᵢ on the dense rows.
            let dense = j.dense().values, n = dimension
            for e in 0..<b {
                for k1 in 0..<k {
                    for k2 in 0...k1 {
                        var s = 0.0
                        let r1 = (e * k + k1) * n, r2 = (e * k + k2) * n
                        for i in 0..<n where dense[r1 + i] != 0 { s += Double(dense[r1 + i]) * Double(dense[r2 + i]) / precision[i] }
                        out[(e * k + k1) * k + k2] = s
                        out[(e * k + k2) * k + k1] = s
                    }
                }
            }
            return out
        }
        var blockIndex = 0
        for layer in j.layers {
            let din = layer.inputs.shape[1], dout = layer.outputGradients.shape[2]
            let w = blocks[blockIndex]; blockIndex += 1
            // s[e, o] = Σᵢ a²[e, i] / P[o, i]  (+ 1/P_b[o]): one GEMM.
            var variances = Tensor(uninitializedShape: [dout, din])
            variances.withUnsafeMutableBufferPointer { v in for t in 0..<(dout * din) { v[t] = Float(1 / precision[w.range.lowerBound + t]) } }
            let squares = layer.inputs.map { $0 * $0 }
            var s = try squares.matmul(variances, transposeRight: true).values.map(Double.init)
            if layer.hasBias {
                let bias = blocks[blockIndex]; blockIndex += 1
                for e in 0..<b { for o in 0..<dout { s[e * dout + o] += 1 / precision[bias.range.lowerBound + o] } }
            }
            layer.outputGradients.withUnsafeBufferPointer { g in
                for e in 0..<b {
                    for k1 in 0..<k {
                        for k2 in 0...k1 {
                            var t = 0.0
                            for o in 0..<dout {
                                t += Double(g[(e * k + k1) * dout + o]) * Double(g[(e * k + k2) * dout + o]) * s[e * dout + o]
                            }
                            out[(e * k + k1) * k + k2] += t
                            if k1 != k2 { out[(e * k + k2) * k + k1] += t }
                        }
                    }
                }
            }
        }
        return out
    }

    public func denseMatrix() throws -> DenseMatrix { DenseMatrix(diagonal: precision) }

    public var storedFloatCount: Int { curvature.count }

    public func archiveTensors() -> [(name: String, value: Tensor)] {
        [("curvature.diagonal", Tensor(curvature.map(Float.init)))]
    }
}
