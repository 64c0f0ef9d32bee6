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
        let pad = outShape.count - small.count
        guard pad >= 0, let first = small.firstIndex(where: { $0 != 1 }), let last = small.lastIndex(where: { $0 != 1 }) else { return nil }
        // (Indices into `small`; the output's axis is `pad` further. No arrays: this runs for every broadcast.)
        var middle = 1
        for i in first...last {
            guard small[i] == outShape[pad + i] else { return nil }
            middle *= small[i]
        }
        var outer = 1, inner = 1
        for i in 0..<(pad + first) { outer *= outShape[i] }
        for i in (pad + last + 1)..<outShape.count { inner *= outShape[i] }
        return (outer, middle, inner)
    }

    /// Widths from which `addRow` and `sumRows` walk the matrix row by row. Below it the
    /// eight-column blocks go down the rows with the bias (or sum) block held in a register —
    /// faster for the narrow layers HMC samples (16–50 units); at 64 and above that walk's
    /// power-of-two strides fall into a few cache sets (64×512: 1.0 ns an element against
    /// 0.21 row by row; 10,000×512: 2.4 against 0.46).
    static let rowByRowWidth = 64

    /// matrix[r, j] += row[j] for every one of `rows` rows of `width` (a bias added to a
    /// layer's output), eight columns at a time in SIMD registers (a plain nested loop
    /// re-checked its pointers for overlap on every row, which cost more than the adds).
    static func addRow(_ row: UnsafePointer<Float>, toEachRowOf matrix: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
        if width >= rowByRowWidth {
            for r in 0..<rows { accumulate(row, into: matrix + r * width, count: width) }
            return
        }
        let blocked = width & ~7
        var j = 0
        while j < blocked {
            let b = UnsafeRawPointer(row + j).loadUnaligned(as: SIMD8<Float>.self)
            for r in 0..<rows {
                let at = UnsafeMutableRawPointer(matrix + r * width + j)
                at.storeBytes(of: at.loadUnaligned(as: SIMD8<Float>.self) + b, as: SIMD8<Float>.self)
            }
            j += 8
        }
        for c in blocked..<width {
            let b = row[c]
            for r in 0..<rows { matrix[r * width + c] += b }
        }
    }

    /// sums[j] = Σ_r matrix[r, j], each column added row after row from 0 (a bias's
    /// gradient; the same additions in the same order whichever way the matrix is walked),
    /// eight columns at a time in SIMD registers.
    static func sumRows(of matrix: UnsafePointer<Float>, rows: Int, width: Int, into sums: UnsafeMutablePointer<Float>) {
        if width >= rowByRowWidth {
            sums.initialize(repeating: 0, count: width)
            for r in 0..<rows { accumulate(matrix + r * width, into: sums, count: width) }
            return
        }
        let blocked = width & ~7
        var j = 0
        while j < blocked {
            var total = SIMD8<Float>()
            for r in 0..<rows { total += UnsafeRawPointer(matrix + r * width + j).loadUnaligned(as: SIMD8<Float>.self) }
            UnsafeMutableRawPointer(sums + j).storeBytes(of: total, as: SIMD8<Float>.self)
            j += 8
        }
        for c in blocked..<width {
            var total: Float = 0
            for r in 0..<rows { total += matrix[r * width + c] }
            sums[c] = total
        }
    }

    /// target[j] += source[j] for j in 0..<count, eight at a time in SIMD registers.
    @inline(__always) static func accumulate(_ source: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>, count: Int) {
        let blocked = count & ~7
        var j = 0
        while j < blocked {
            let at = UnsafeMutableRawPointer(target + j)
            at.storeBytes(of: at.loadUnaligned(as: SIMD8<Float>.self) + UnsafeRawPointer(source + j).loadUnaligned(as: SIMD8<Float>.self),
                          as: SIMD8<Float>.self)
            j &+= 8
        }
        while j < count { target[j] += source[j]; j &+= 1 }
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
        let rank = shape.count, pad = rank - target.count
        // Fast path: target is a suffix (e.g. a bias): sum over leading rows. (Checked without
        // arrays: this runs in every broadcasting pullback.)
        let lead = target.firstIndex(where: { $0 != 1 }).map { $0 + pad } ?? rank
        var isSuffix = true
        for i in lead..<rank where target[i - pad] != shape[i] { isSuffix = false; break }
        if isSuffix {
            var inner = 1
            for i in lead..<rank { inner *= shape[i] }
            let outer = count / Swift.max(inner, 1)
            let out = Tensor(uninitializedShape: target)
            Broadcasting.sumRows(of: storage.pointer + offset, rows: outer, width: inner, into: out.storage.pointer)
            return out
        }
        var result = self
        for axis in 0..<rank where (axis < pad ? 1 : target[axis - pad]) == 1 && shape[axis] != 1 {
            result = result.reduceAxis(axis, keepDim: true, kind: .sum)
        }
        return (try? result.reshaped(target)) ?? result
    }
}
