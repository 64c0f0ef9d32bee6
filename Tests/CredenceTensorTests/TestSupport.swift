import Testing
@testable import CredenceTensor

/// Slow, obviously-correct reference implementations the tests compare the kernels with.
/// They are written independently of the library (own broadcasting rule, own index
/// arithmetic, Double accumulation) so that a shared mistake cannot make a test pass.
enum Reference {
    /// NumPy broadcast shape, or nil.
    static func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int]? {
        let rank = Swift.max(a.count, b.count)
        let pa = [Int](repeating: 1, count: rank - a.count) + a
        let pb = [Int](repeating: 1, count: rank - b.count) + b
        var out: [Int] = []
        for (x, y) in zip(pa, pb) {
            if x == y { out.append(x) } else if x == 1 { out.append(y) } else if y == 1 { out.append(x) } else { return nil }
        }
        return out
    }

    /// Row-major multi-index of flat position `flat` in `shape`.
    static func multiIndex(_ flat: Int, in shape: [Int]) -> [Int] {
        var rest = flat
        var index = [Int](repeating: 0, count: shape.count)
        for d in stride(from: shape.count - 1, through: 0, by: -1) {
            index[d] = rest % shape[d]
            rest /= shape[d]
        }
        return index
    }

    static func flatIndex(_ index: [Int], in shape: [Int]) -> Int {
        zip(index, shape).reduce(0) { $0 * $1.1 + $1.0 }
    }

    /// The flat position in a tensor of `shape` that broadcasts to output position `outIndex`.
    static func sourcePosition(_ outIndex: [Int], from shape: [Int]) -> Int {
        let lead = outIndex.count - shape.count
        let index = shape.indices.map { shape[$0] == 1 ? 0 : outIndex[lead + $0] }
        return flatIndex(index, in: shape)
    }

    /// Tensor broadcast to `target` by explicit indexing.
    static func broadcast(_ t: Tensor, to target: [Int]) -> Tensor {
        let v = t.values
        let n = target.reduce(1, *)
        return Tensor(shape: target, values: (0..<n).map { v[sourcePosition(multiIndex($0, in: target), from: t.shape)] })
    }

    static func binary(_ a: Tensor, _ b: Tensor, _ f: (Float, Float) -> Float) -> Tensor {
        let shape = broadcastShape(a.shape, b.shape)!
        let ea = broadcast(a, to: shape).values, eb = broadcast(b, to: shape).values
        return Tensor(shape: shape, values: zip(ea, eb).map(f))
    }

    /// op(A)·op(B) with a Double triple loop.
    static func matmul(_ a: Tensor, _ b: Tensor, transposeLeft: Bool = false, transposeRight: Bool = false) -> Tensor {
        let av = a.values, bv = b.values
        let m = transposeLeft ? a.shape[1] : a.shape[0], k = transposeLeft ? a.shape[0] : a.shape[1]
        let n = transposeRight ? b.shape[0] : b.shape[1]
        // Row i of op(A) and column j of op(B), each laid out contiguously in Double.
        var rowsA = [Double](repeating: 0, count: m * k), columnsB = [Double](repeating: 0, count: n * k)
        for i in 0..<m { for p in 0..<k { rowsA[i * k + p] = Double(transposeLeft ? av[p * a.shape[1] + i] : av[i * a.shape[1] + p]) } }
        for j in 0..<n { for p in 0..<k { columnsB[j * k + p] = Double(transposeRight ? bv[j * b.shape[1] + p] : bv[p * b.shape[1] + j]) } }
        var out = [Float](repeating: 0, count: m * n)
        rowsA.withUnsafeBufferPointer { ra in
            columnsB.withUnsafeBufferPointer { cb in
                for i in 0..<m {
                    for j in 0..<n {
                        var s = 0.0
                        for p in 0..<k { s += ra[i * k + p] * cb[j * k + p] }
                        out[i * n + j] = Float(s)
                    }
                }
            }
        }
        return Tensor(shape: [m, n], values: out)
    }

    /// Output axis i is input axis `axes[i]`.
    static func permute(_ t: Tensor, _ axes: [Int]) -> Tensor {
        let v = t.values
        let outShape = axes.map { t.shape[$0] }
        return Tensor(shape: outShape, values: (0..<t.count).map { o in
            let outIndex = multiIndex(o, in: outShape)
            var inIndex = [Int](repeating: 0, count: t.rank)
            for (i, a) in axes.enumerated() { inIndex[a] = outIndex[i] }
            return v[flatIndex(inIndex, in: t.shape)]
        })
    }

    enum Kind { case sum, mean, max }

    /// Reduction over `axes` (keepDims: true layout), accumulating in Double; max propagates NaN.
    static func reduce(_ t: Tensor, axes: [Int], _ kind: Kind) -> Tensor {
        let v = t.values
        var outShape = t.shape
        for a in axes { outShape[a] = 1 }
        let n = outShape.reduce(1, *)
        var acc = [Double](repeating: kind == .max ? -.infinity : 0, count: n)
        var counts = [Int](repeating: 0, count: n)
        for i in 0..<t.count {
            var index = multiIndex(i, in: t.shape)
            for a in axes { index[a] = 0 }
            let o = flatIndex(index, in: outShape)
            let x = Double(v[i])
            switch kind {
            case .sum, .mean: acc[o] += x
            case .max: if x.isNaN || acc[o].isNaN { acc[o] = .nan } else { acc[o] = Swift.max(acc[o], x) }
            }
            counts[o] += 1
        }
        if kind == .mean { for o in 0..<n { acc[o] /= Double(counts[o]) } }
        return Tensor(shape: outShape, values: acc.map { Float($0) })
    }
}

/// |actual − expected| ≤ absolute + relative·|expected| for every element (NaN matches NaN,
/// infinities must match exactly).
func expectClose(_ actual: Tensor, _ expected: Tensor, absolute: Float = 1e-5, relative: Float = 1e-5,
                 _ what: String = "", sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.shape == expected.shape, "\(what): shape \(actual.shape) vs \(expected.shape)", sourceLocation: sourceLocation)
    guard actual.shape == expected.shape else { return }
    expectClose(actual.values, expected.values, absolute: absolute, relative: relative, what, sourceLocation: sourceLocation)
}

func expectClose(_ actual: [Float], _ expected: [Float], absolute: Float = 1e-5, relative: Float = 1e-5,
                 _ what: String = "", sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.count == expected.count, "\(what): \(actual.count) vs \(expected.count) elements", sourceLocation: sourceLocation)
    for (i, (a, e)) in zip(actual, expected).enumerated() {
        let ok: Bool
        if e.isNaN { ok = a.isNaN } else if e.isInfinite { ok = a == e } else { ok = Swift.abs(a - e) <= absolute + relative * Swift.abs(e) }
        if !ok {
            Issue.record("\(what): element \(i) is \(a), expected \(e)", sourceLocation: sourceLocation)
            return
        }
    }
}

extension Tensor {
    /// Distinct values spaced `spacing` apart in random order (no ties, so max/argmax and
    /// finite differences with ε < spacing/2 never cross a kink). Values are
    /// `(k + 0.5)·spacing − count·spacing/2`, never exactly 0.
    static func distinctInput(_ shape: [Int], seed: UInt64, spacing: Float = 0.1) -> Tensor {
        var rng = RandomGenerator(seed: seed)
        let n = shape.reduce(1, *)
        let order = rng.permutation(n)
        return Tensor(shape: shape, values: order.map { (Float($0) + 0.5) * spacing - Float(n) * spacing / 2 })
    }

    /// Strictly positive random input in [low, low + scale·|N(0,1)|].
    static func positiveInput(_ shape: [Int], seed: UInt64, low: Float = 0.5) -> Tensor {
        testInput(shape, seed: seed).map { Swift.abs($0) + low }
    }
}
