/// NumPy broadcasting rules: shapes are right-aligned; each pair of dimensions must be
/// equal or one of them 1.
public enum Broadcasting {
    /// The broadcast shape of `a` and `b`, or nil when they are incompatible.
    public static func shape(_ a: [Int], _ b: [Int]) -> [Int]? {
        let r = Swift.max(a.count, b.count)
        var out = [Int](repeating: 1, count: r)
        for i in 0..<r {
            let da = i < r - a.count ? 1 : a[i - (r - a.count)]
            let db = i < r - b.count ? 1 : b[i - (r - b.count)]
            if da == db || db == 1 { out[i] = da } else if da == 1 { out[i] = db } else { return nil }
        }
        return out
    }

    /// When `small`, broadcast to `outShape`, varies along one contiguous block of axes only —
    /// equal to `outShape` there and 1 (or absent) before and after (a per-channel [C, 1, 1]
    /// against [B, C, H, W]; a bias [N] against [B, N], inner = 1) — the sizes of the three
    /// parts: `outer` × `middle` (= small's count) × `inner` elements; nil otherwise.
    static func middleBlock(_ small: [Int], in outShape: [Int]) -> (outer: Int, middle: Int, inner: Int)? {
        guard small.count <= outShape.count else { return nil }
        let padded = [Int](repeating: 1, count: outShape.count - small.count) + small
        guard let first = padded.firstIndex(where: { $0 != 1 }), let last = padded.lastIndex(where: { $0 != 1 }),
              Array(padded[first...last]) == Array(outShape[first...last]) else { return nil }
        return (outShape[..<first].reduce(1, *), padded[first...last].reduce(1, *), outShape[(last + 1)...].reduce(1, *))
    }

    /// Row-major strides of `shape` as seen from a broadcast output of rank `rank`
    /// (0 for broadcast dimensions).
    static func strides(of shape: [Int], inRank rank: Int) -> [Int] {
        var strides = [Int](repeating: 0, count: rank)
        var s = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            let o = i + rank - shape.count
            strides[o] = shape[i] == 1 ? 0 : s
            s *= shape[i]
        }
        return strides
    }
}

extension Tensor {
    /// Materialises `self` broadcast to `target` (which must be broadcast-compatible).
    func expanded(to target: [Int]) -> Tensor {
        if shape == target { return self }
        if count == 1 { return Tensor(shape: target, repeating: storage.pointer[offset]) }
        var out = Tensor(uninitializedShape: target)
        let rank = target.count
        let st = Broadcasting.strides(of: shape, inRank: rank)
        let inner = target.last ?? 1
        let innerStride = st.last ?? 0
        let outer = out.count / Swift.max(inner, 1)
        withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                var index = [Int](repeating: 0, count: rank)
                for o in 0..<outer {
                    var base = 0
                    for d in 0..<(rank - 1) { base += index[d] * st[d] }
                    let row = dst.baseAddress! + o * inner
                    if innerStride == 0 {
                        row.initialize(repeating: src[base], count: inner)
                    } else {
                        for j in 0..<inner { row[j] = src[base + j] }
                    }
                    var d = rank - 2
                    while d >= 0 {
                        index[d] += 1
                        if index[d] < target[d] { break }
                        index[d] = 0
                        d -= 1
                    }
                }
            }
        }
        return out
    }

    /// Sums `self` down to `target`, the inverse of broadcasting (used by every pullback
    /// of a broadcasting op).
    public func summed(toShape target: [Int]) -> Tensor {
        if shape == target { return self }
        let rank = shape.count
        let padded = [Int](repeating: 1, count: rank - target.count) + target
        // Fast path: target is a suffix (e.g. a bias): sum over leading rows.
        let lead = padded.firstIndex(where: { $0 != 1 }) ?? rank
        if Array(padded[lead...]) == Array(shape[lead...]) {
            let inner = padded[lead...].reduce(1, *)
            let outer = count / Swift.max(inner, 1)
            var out = Tensor(shape: target, repeating: 0)
            withUnsafeBufferPointer { src in
                out.withUnsafeMutableBufferPointer { dst in
                    for o in 0..<outer {
                        let row = src.baseAddress! + o * inner
                        for j in 0..<inner { dst[j] += row[j] }
                    }
                }
            }
            return out
        }
        var result = self
        for axis in 0..<rank where padded[axis] == 1 && shape[axis] != 1 {
            result = result.reduceAxis(axis, keepDim: true, kind: .sum)
        }
        return (try? result.reshaped(target)) ?? result
    }
}
