import Foundation

public enum ReductionKind: Sendable { case sum, mean, max }

extension Tensor {
    func normalizedAxis(_ axis: Int, operation: String) throws -> Int {
        let a = axis < 0 ? axis + rank : axis
        guard a >= 0, a < rank else {
            throw TensorError.invalidArgument(operation: operation, message: "axis \(axis) out of range for shape \(shape)")
        }
        return a
    }

    /// Reduces one (already normalised) axis.
    func reduceAxis(_ axis: Int, keepDim: Bool, kind: ReductionKind) -> Tensor {
        let outer = shape[..<axis].reduce(1, *), n = shape[axis], inner = shape[(axis + 1)...].reduce(1, *)
        var outShape = shape
        if keepDim { outShape[axis] = 1 } else { outShape.remove(at: axis) }
        let out = Tensor(shape: outShape, repeating: kind == .max ? -.infinity : 0)
        let src = storage.pointer + offset, dst = out.storage.pointer
        if kind == .max {
            for o in 0..<outer {
                let d = dst + o * inner
                for j in 0..<n {
                    let s = src + (o * n + j) * inner
                    for i in 0..<inner { let v = s[i]; let cur = d[i]; d[i] = v > cur || v.isNaN ? v : cur }
                }
            }
            return out
        }
        // Sum and mean accumulate in Double: a running Float total loses ~n·2⁻²⁴ relative.
        let scale = kind == .mean ? 1 / Double(n) : 1
        if inner == 1 {
            // Contiguous runs (a loss's mean over [N, 1], a reduced axis of size 1): one total
            // per run, the same additions in the same order as below without its per-run set-up.
            for o in 0..<outer {
                let s = src + o * n
                var total = 0.0
                for j in 0..<n { total += Double(s[j]) }
                dst[o] = Float(total * scale)
            }
            return out
        }
        let acc = UnsafeMutablePointer<Double>.allocate(capacity: inner)
        defer { acc.deallocate() }
        for o in 0..<outer {
            acc.initialize(repeating: 0, count: inner)
            for j in 0..<n {
                let s = src + (o * n + j) * inner
                for i in 0..<inner { acc[i] += Double(s[i]) }
            }
            let d = dst + o * inner
            for i in 0..<inner { d[i] = Float(acc[i] * scale) }
        }
        return out
    }

    /// Sum over `axes` (all axes when nil).
    public func sum(axes: [Int]? = nil, keepDims: Bool = false) throws -> Tensor {
        try reduce(axes: axes, keepDims: keepDims, kind: .sum, operation: "sum")
    }
    public func mean(axes: [Int]? = nil, keepDims: Bool = false) throws -> Tensor {
        try reduce(axes: axes, keepDims: keepDims, kind: .mean, operation: "mean")
    }
    public func max(axes: [Int]? = nil, keepDims: Bool = false) throws -> Tensor {
        try reduce(axes: axes, keepDims: keepDims, kind: .max, operation: "max")
    }

    func reduce(axes: [Int]?, keepDims: Bool, kind: ReductionKind, operation: String) throws -> Tensor {
        let list = try (axes ?? Array(0..<rank)).map { try normalizedAxis($0, operation: operation) }
        guard Set(list).count == list.count else {
            throw TensorError.invalidArgument(operation: operation, message: "repeated axis in \(axes ?? [])")
        }
        if list.isEmpty { return self }
        var result = self
        for a in list.sorted(by: >) { result = result.reduceAxis(a, keepDim: true, kind: kind) }
        if keepDims { return result }
        let kept = shape.indices.filter { !list.contains($0) }.map { shape[$0] }
        return try result.reshaped(kept)
    }

    /// The sum of all elements in double precision.
    public var sumOfElements: Double {
        withUnsafeBufferPointer { p in p.reduce(0.0) { $0 + Double($1) } }
    }

    /// Index of the largest element along the last axis, for each row.
    public func argmaxLastAxis() -> [Int] {
        let n = shape.last ?? 1, rows = count / Swift.max(n, 1)
        let src = storage.pointer + offset
        return (0..<rows).map { r in
            var best = 0
            for j in 1..<Swift.max(n, 1) where src[r * n + j] > src[r * n + best] { best = j }
            return best
        }
    }
}

// MARK: - Softmax family (fused and numerically stable, along the last axis)

extension Tensor {
    /// log Σ exp along the last axis (max-shifted). Output drops the last axis.
    public func logSumExpLastAxis() -> Tensor {
        let n = shape.last ?? 1, rows = count / Swift.max(n, 1)
        let out = Tensor(uninitializedShape: Array(shape.dropLast()))
        let src = storage.pointer + offset, dst = out.storage.pointer
        for r in 0..<rows {
            let row = src + r * n
            var m = -Float.infinity
            for j in 0..<n { let v = row[j]; if v > m || v.isNaN { m = v } }   // NaN wins
            if !m.isFinite { dst[r] = m; continue }
            var s: Float = 0
            for j in 0..<n { s += Foundation.exp(row[j] - m) }
            dst[r] = m + Foundation.log(s)
        }
        return out
    }

    /// Softmax along the last axis.
    public func softmaxLastAxis() -> Tensor {
        let n = shape.last ?? 1, rows = count / Swift.max(n, 1)
        let out = Tensor(uninitializedShape: shape)
        let src = storage.pointer + offset, dst = out.storage.pointer
        for r in 0..<rows {
            let row = src + r * n, o = dst + r * n
            var m = -Float.infinity
            for j in 0..<n { m = Swift.max(m, row[j]) }
            var s: Float = 0
            for j in 0..<n { let e = Foundation.exp(row[j] - m); o[j] = e; s += e }
            let inv = 1 / s
            for j in 0..<n { o[j] *= inv }
        }
        return out
    }

    /// Log-softmax along the last axis: (x − max) − log Σ exp(x − max).
    public func logSoftmaxLastAxis() -> Tensor {
        let n = shape.last ?? 1, rows = count / Swift.max(n, 1)
        let out = Tensor(uninitializedShape: shape)
        let src = storage.pointer + offset, dst = out.storage.pointer
        for r in 0..<rows {
            let row = src + r * n, o = dst + r * n
            var m = -Float.infinity
            for j in 0..<n { let v = row[j]; if v > m || v.isNaN { m = v } }
            if !m.isFinite { for j in 0..<n { o[j] = row[j] - m }; continue }
            var s: Float = 0
            for j in 0..<n { s += Foundation.exp(row[j] - m) }
            let logS = Foundation.log(s)
            for j in 0..<n { o[j] = (row[j] - m) - logS }
        }
        return out
    }
}
