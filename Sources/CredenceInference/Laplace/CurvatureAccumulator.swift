import CredenceTensor
import Foundation

/// Sums the generalized Gauss–Newton H = Σₙ Σⱼ (Jₙᵀlₙⱼ)(Jₙᵀlₙⱼ)ᵀ of a subset over batches,
/// in the form its structure needs, from factored backpropagations (`OutputJacobians`
/// seeded with the likelihood's Hessian square root, R columns per example):
///
/// - diagonal: H_W[o, i] = Σₙ (Σⱼ gₙⱼₒ²)·aₙᵢ², H_b[o] = Σₙ Σⱼ gₙⱼₒ² (one GEMM per layer).
/// - kronecker: G = Σₙ Σⱼ gₙⱼgₙⱼᵀ, A = Σₙ aₙaₙᵀ, A divided by N at the end (laplace-torch).
/// - full / low-rank: the dense matrix. For one whole layer, in blocks: with ã = (a, 1) and
///   Γₙ = Σⱼ gₙⱼgₙⱼᵀ, block (o, o') = Σₙ Γₙ[o, o'] ãₙãₙᵀ — a symmetric rank-B update per pair
///   o ≤ o' (R times cheaper than forming Jacobian rows; for the last layer Γₙ = Λₙ). Other
///   subsets form the rows Jₙᵀlₙⱼ and add MᵀM. Float partial sums are flushed into a Double
///   matrix every `flushInterval` examples.
struct CurvatureAccumulator {
    enum Storage {
        case diagonal([Double])
        case kronecker(g: [DenseMatrix], a: [DenseMatrix])
        case dense(DenseMatrix)
    }

    let structure: HessianStructure
    let subset: LaplaceSubset
    var storage: Storage
    /// Examples seen.
    var examples = 0
    /// Pending Float blocks of the layer-block dense path, [pairs, D̃, D̃] (upper triangles).
    var pending: Tensor?
    var pendingExamples = 0
    static let flushInterval = 16_384

    init(structure: HessianStructure, subset: LaplaceSubset) {
        self.structure = structure
        self.subset = subset
        switch structure {
        case .diagonal:
            storage = .diagonal([Double](repeating: 0, count: subset.layerCoordinateCount))
        case .kronecker:
            let shapes = subset.blocks.filter { !$0.isBias }
            storage = .kronecker(g: shapes.map { DenseMatrix(rows: $0.outputs, columns: $0.outputs) },
                                 a: shapes.map { DenseMatrix(rows: $0.inputs!, columns: $0.inputs!) })
        case .full, .lowRank:
            storage = .dense(DenseMatrix(rows: subset.dimension, columns: subset.dimension))
        }
    }

    /// Whether the dense path uses per-pair blocks: one whole dense layer, no selection, and
    /// blocks wide enough (≥ 16 inputs) that one symmetric rank update per output pair is not
    /// dominated by call overhead.
    var usesLayerBlocks: Bool {
        subset.selection == nil && subset.layers.count == 1 && !subset.usesPerExampleJacobians
            && (subset.blocks.first?.inputs ?? 0) >= 16
    }

    mutating func add(_ factors: OutputJacobians) throws {
        let b = factors.exampleCount, r = factors.outputCount
        examples += b
        switch storage {
        case var .diagonal(h):
            storage = .diagonal([])  // leave `h` uniquely referenced (no copy per batch)
            if let rows = factors.rows {
                let n = rows.shape[2]
                rows.withUnsafeBufferPointer { p in for t in 0..<(b * r) { for c in 0..<n { h[c] += Double(p[t * n + c] * p[t * n + c]) } } }
            }
            var offset = 0
            for layer in factors.layers {
                let din = layer.inputs.shape[1], dout = layer.outputGradients.shape[2]
                var g2 = Tensor(uninitializedShape: [b, dout])
                g2.withUnsafeMutableBufferPointer { dst in
                    layer.outputGradients.withUnsafeBufferPointer { g in
                        for e in 0..<b {
                            for o in 0..<dout {
                                var s: Float = 0
                                for j in 0..<r { let x = g[(e * r + j) * dout + o]; s += x * x }
                                dst[e * dout + o] = s
                            }
                        }
                    }
                }
                let w = try g2.matmul(layer.inputs.map { $0 * $0 }, transposeLeft: true)  // [out, in]
                w.withUnsafeBufferPointer { p in for t in 0..<(dout * din) { h[offset + t] += Double(p[t]) } }
                offset += dout * din
                if layer.hasBias {
                    g2.withUnsafeBufferPointer { p in for e in 0..<b { for o in 0..<dout { h[offset + o] += Double(p[e * dout + o]) } } }
                    offset += dout
                }
            }
            storage = .diagonal(h)
        case .kronecker(var gs, var as_):
            storage = .kronecker(g: [], a: [])
            for (t, layer) in factors.layers.enumerated() {
                let dout = layer.outputGradients.shape[2]
                let g = try layer.outputGradients.reshaped([b * r, dout])
                let gg = try g.matmul(g, transposeLeft: true), aa = try layer.inputs.matmul(layer.inputs, transposeLeft: true)
                gg.withUnsafeBufferPointer { p in for i in 0..<p.count { gs[t].values[i] += Double(p[i]) } }
                aa.withUnsafeBufferPointer { p in for i in 0..<p.count { as_[t].values[i] += Double(p[i]) } }
            }
            storage = .kronecker(g: gs, a: as_)
        case var .dense(h):
            storage = .dense(DenseMatrix(rows: 0, columns: 0))
            if usesLayerBlocks {
                addLayerBlocks(factors.layers[0], examples: b, seeds: r)
                pendingExamples += b
                if pendingExamples >= Self.flushInterval { flush(into: &h) }
            } else {
                let n = subset.dimension
                let rows = try factors.dense().reshaped([b * r, n])
                let mm = try rows.matmul(rows, transposeLeft: true)
                mm.withUnsafeBufferPointer { p in for i in 0..<(n * n) { h.values[i] += Double(p[i]) } }
            }
            storage = .dense(h)
        }
    }

    /// Adds Σₙ Γₙ[o, o'] ãₙãₙᵀ to the pending block of each pair o ≤ o'.
    private mutating func addLayerBlocks(_ layer: OutputJacobians.Layer, examples b: Int, seeds r: Int) {
        let din = layer.inputs.shape[1], dout = layer.outputGradients.shape[2]
        let width = din + (layer.hasBias ? 1 : 0)
        let pairs = dout * (dout + 1) / 2
        if pending == nil { pending = Tensor(shape: [pairs, width, width], repeating: 0) }
        // Γₙ in Double, then the augmented inputs ã.
        var gamma = [Double](repeating: 0, count: b * dout * dout)
        layer.outputGradients.withUnsafeBufferPointer { g in
            for e in 0..<b {
                for j in 0..<r {
                    let row = (e * r + j) * dout
                    for o in 0..<dout {
                        let x = Double(g[row + o])
                        if x == 0 { continue }
                        for o2 in o..<dout { gamma[(e * dout + o) * dout + o2] += x * Double(g[row + o2]) }
                    }
                }
            }
        }
        var augmented = [Float](repeating: 1, count: b * width)
        layer.inputs.withUnsafeBufferPointer { a in
            for e in 0..<b { for i in 0..<din { augmented[e * width + i] = a[e * din + i] } }
        }
        var pairList: [(Int, Int)] = []
        for o in 0..<dout { for o2 in o..<dout { pairList.append((o, o2)) } }
        let chunks = Parallel.ranges(pairs, parts: Parallel.workerCount)
        pending!.withUnsafeMutableBufferPointer { bp in
            nonisolated(unsafe) let blocks = bp.baseAddress!
            augmented.withUnsafeBufferPointer { ap in
                nonisolated(unsafe) let a = ap.baseAddress!
                Parallel.forEach(chunks.count) { c in
                    var scaled = [Float](repeating: 0, count: b * width)
                    for p in chunks[c] {
                        let (o, o2) = pairList[p]
                        let dst = blocks + p * width * width
                        // Σₙ wₙ ãₙãₙᵀ as (√w⁺ ã)ᵀ(√w⁺ ã) − (√w⁻ ã)ᵀ(√w⁻ ã): two symmetric rank updates.
                        for sign in [Float(1), -1] {
                            var any = false
                            for e in 0..<b {
                                let w = gamma[(e * dout + o) * dout + o2] * Double(sign)
                                let s = w > 0 ? Float(w.squareRoot()) : 0
                                if s != 0 { any = true }
                                for i in 0..<width { scaled[e * width + i] = s * a[e * width + i] }
                            }
                            if any {
                                scaled.withUnsafeBufferPointer { sp in
                                    LAPACK.symmetricRankUpdate(n: width, k: b, alpha: sign, a: sp.baseAddress!, lda: width,
                                                               beta: 1, c: dst, ldc: width)
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Moves the pending Float blocks into the Double matrix (subset coordinates: W row-major, then b).
    private mutating func flush(into h: inout DenseMatrix) {
        guard let blocks = pending, pendingExamples > 0 else { return }
        let block = subset.blocks[0]
        let din = block.inputs!, dout = block.outputs, width = blocks.shape[1], n = h.columns
        func coordinate(_ o: Int, _ i: Int) -> Int { i < din ? o * din + i : dout * din + o }
        blocks.withUnsafeBufferPointer { p in
            var index = 0
            for o in 0..<dout {
                for o2 in o..<dout {
                    let src = index * width * width
                    for i in 0..<width {
                        for i2 in i..<width {
                            let v = Double(p[src + i * width + i2])
                            let r1 = coordinate(o, i), c1 = coordinate(o2, i2)
                            let r2 = coordinate(o, i2), c2 = coordinate(o2, i)
                            h.values[r1 * n + c1] += v
                            h.values[c1 * n + r1] = h.values[r1 * n + c1]
                            // For o == o2 the entry (i2, i) is the mirror just written.
                            if i != i2 && o != o2 {
                                h.values[r2 * n + c2] += v
                                h.values[c2 * n + r2] = h.values[r2 * n + c2]
                            }
                        }
                    }
                    index += 1
                }
            }
        }
        pending = Tensor(shape: blocks.shape, repeating: 0)
        pendingExamples = 0
    }

    /// The accumulated curvature as a structured precision with `prior` and `scale`.
    /// `forSearch`: the value will only serve the prior search, then `with(prior:curvatureScale:)`
    /// (a full curvature then skips its first Cholesky factorization).
    mutating func precision(prior: PriorPrecision, curvatureScale: Double, rank: Int,
                            forSearch: Bool = false) throws -> any StructuredPrecision {
        guard examples > 0 else { throw LaplaceError.invalidValue("no data was seen: the curvature is empty") }
        switch storage {
        case let .diagonal(h):
            let values = subset.selection.map { $0.map { h[$0] } } ?? h
            return try DiagonalPrecision(curvature: values, groups: subset.groups,
                                         blocks: subset.factoredBlocks, prior: prior,
                                         curvatureScale: curvatureScale)
        case let .kronecker(gs, as_):
            var factors: [KroneckerFactors] = []
            var layer = 0
            for block in subset.blocks {
                if block.isBias {
                    factors.append(KroneckerFactors(g: gs[layer - 1], a: nil))
                } else {
                    var a = as_[layer]
                    for i in a.values.indices { a.values[i] /= Double(examples) }
                    factors.append(KroneckerFactors(g: gs[layer], a: a))
                    layer += 1
                }
            }
            return try KroneckerPrecision(factors: factors, blocks: subset.blocks, prior: prior, curvatureScale: curvatureScale)
        case var .dense(h):
            if usesLayerBlocks { flush(into: &h); storage = .dense(h) }
            if structure == .lowRank {
                let k = Swift.min(rank, h.rows)
                let (values, vectors) = try h.largestEigenpairs(k)
                return try LowRankPrecision(eigenvalues: values, eigenvectors: vectors, groups: subset.groups, prior: prior,
                                            curvatureScale: curvatureScale)
            }
            return try FullPrecision(curvature: h, groups: subset.groups, blocks: subset.factoredBlocks,
                                     prior: prior, curvatureScale: curvatureScale, factorize: !forSearch)
        }
    }
}
