extension Tensor {
    /// Permutes axes: output axis i is input axis `axes[i]`.
    public func permuted(_ axes: [Int]) throws -> Tensor {
        guard axes.count == rank, Set(axes) == Set(0..<rank) else {
            throw TensorError.invalidArgument(operation: "permute", message: "\(axes) is not a permutation of the \(rank) axes of \(shape)")
        }
        if axes == Array(0..<rank) { return self }
        let outShape = axes.map { shape[$0] }
        let out = Tensor(uninitializedShape: outShape)
        if rank == 2 {
            let r = shape[0], c = shape[1]
            let src = storage.pointer + offset, dst = out.storage.pointer
            // Blocked transpose for cache friendliness.
            let bs = 32
            for i0 in stride(from: 0, to: r, by: bs) {
                for j0 in stride(from: 0, to: c, by: bs) {
                    for i in i0..<Swift.min(i0 + bs, r) {
                        for j in j0..<Swift.min(j0 + bs, c) { dst[j * r + i] = src[i * c + j] }
                    }
                }
            }
            return out
        }
        var inStrides = [Int](repeating: 1, count: rank)
        for i in stride(from: rank - 2, through: 0, by: -1) { inStrides[i] = inStrides[i + 1] * shape[i + 1] }
        let st = axes.map { inStrides[$0] }
        let src = storage.pointer + offset, dst = out.storage.pointer
        var index = [Int](repeating: 0, count: rank)
        for o in 0..<out.count {
            var s = 0
            for d in 0..<rank { s += index[d] * st[d] }
            dst[o] = src[s]
            var d = rank - 1
            while d >= 0 {
                index[d] += 1
                if index[d] < outShape[d] { break }
                index[d] = 0
                d -= 1
            }
        }
        return out
    }

    /// Transpose of a rank-2 tensor.
    public func transposed() throws -> Tensor {
        guard rank == 2 else {
            throw TensorError.invalidArgument(operation: "transpose", message: "needs rank 2, shape is \(shape); use permuted(_:)")
        }
        return try permuted([1, 0])
    }

    /// Elements `range` along `axis`.
    public func slice(axis: Int, _ range: Range<Int>) throws -> Tensor {
        let a = try normalizedAxis(axis, operation: "slice")
        guard range.lowerBound >= 0, range.upperBound <= shape[a] else {
            throw TensorError.invalidArgument(operation: "slice", message: "range \(range) out of 0..<\(shape[a]) on axis \(a) of \(shape)")
        }
        if a == 0 { return try rows(range) }
        let outer = shape[..<a].reduce(1, *), inner = shape[(a + 1)...].reduce(1, *)
        var outShape = shape; outShape[a] = range.count
        let out = Tensor(uninitializedShape: outShape)
        let src = storage.pointer + offset, dst = out.storage.pointer
        let block = range.count * inner, full = shape[a] * inner
        Self.copyBlocks(outer, of: block, from: src + range.lowerBound * inner, stride: full, to: dst, stride: block)
        return out
    }

    /// The inverse of `slice`: a zero tensor of `shape` holding `self` at `range` along `axis`
    /// (the slice's gradient).
    public func embedded(in shape: [Int], axis: Int, at range: Range<Int>) -> Tensor {
        let outer = shape[..<axis].reduce(1, *), inner = shape[(axis + 1)...].reduce(1, *)
        let block = range.count * inner
        precondition(count == outer * block && range.upperBound <= shape[axis],
                     "embedded: \(self.shape) does not fill \(range) of axis \(axis) of \(shape)")
        let out = Tensor(shape: shape, repeating: 0)
        Self.copyBlocks(outer, of: block, from: storage.pointer + offset, stride: block,
                        to: out.storage.pointer + range.lowerBound * inner, stride: shape[axis] * inner)
        return out
    }

    /// Copies `count` blocks of `block` elements between strided positions. Blocks of a few
    /// elements (a column of [N, 2]) are copied element by element: a `memmove` call per
    /// element cost more than the copy.
    static func copyBlocks(_ count: Int, of block: Int, from src: UnsafePointer<Float>, stride sourceStride: Int,
                           to dst: UnsafeMutablePointer<Float>, stride destinationStride: Int) {
        if block < 16 {
            for o in 0..<count {
                let s = src + o * sourceStride, d = dst + o * destinationStride
                for i in 0..<block { d[i] = s[i] }
            }
        } else {
            for o in 0..<count { (dst + o * destinationStride).update(from: src + o * sourceStride, count: block) }
        }
    }

    /// Concatenates tensors along `axis`; other dimensions must agree.
    public static func concatenate(_ parts: [Tensor], axis: Int) throws -> Tensor {
        guard let first = parts.first else {
            throw TensorError.invalidArgument(operation: "concatenate", message: "needs at least one tensor")
        }
        let a = try first.normalizedAxis(axis, operation: "concatenate")
        for p in parts where p.rank != first.rank || p.shape.indices.contains(where: { $0 != a && p.shape[$0] != first.shape[$0] }) {
            throw TensorError.shapeMismatch(operation: "concatenate", shapes: parts.map(\.shape),
                                            expected: "all dimensions except axis \(a) must agree")
        }
        var outShape = first.shape
        outShape[a] = parts.reduce(0) { $0 + $1.shape[a] }
        let out = Tensor(uninitializedShape: outShape)
        let outer = first.shape[..<a].reduce(1, *), inner = first.shape[(a + 1)...].reduce(1, *)
        let full = outShape[a] * inner
        let dst = out.storage.pointer
        var start = 0
        for p in parts {
            let block = p.shape[a] * inner
            let src = p.storage.pointer + p.offset
            copyBlocks(outer, of: block, from: src, stride: block, to: dst + start, stride: full)
            start += block
        }
        return out
    }

    /// For a [N, C] tensor, element `[i, indices[i]]` of each row → [N].
    public func gatherColumns(_ indices: [Int32]) throws -> Tensor {
        guard rank == 2, indices.count == shape[0] else {
            throw TensorError.shapeMismatch(operation: "gather", shapes: [shape, [indices.count]],
                                            expected: "a [N, C] tensor and N indices")
        }
        let c = shape[1]
        if let bad = indices.first(where: { $0 < 0 || Int($0) >= c }) {
            throw TensorError.invalidArgument(operation: "gather", message: "index \(bad) out of range 0..<\(c) for shape \(shape)")
        }
        let out = Tensor(uninitializedShape: [shape[0]])
        let src = storage.pointer + offset, dst = out.storage.pointer
        for i in 0..<shape[0] { dst[i] = src[i * c + Int(indices[i])] }
        return out
    }

    /// Rows of the first axis in the order given (e.g. a mini-batch).
    public func selectingRows(_ indices: [Int]) throws -> Tensor {
        guard rank >= 1 else { throw TensorError.invalidArgument(operation: "selectingRows", message: "needs rank ≥ 1") }
        if let bad = indices.first(where: { $0 < 0 || $0 >= shape[0] }) {
            throw TensorError.invalidArgument(operation: "selectingRows", message: "row \(bad) out of range 0..<\(shape[0])")
        }
        let rowSize = count / Swift.max(shape[0], 1)
        var s = shape; s[0] = indices.count
        let out = Tensor(uninitializedShape: s)
        let src = storage.pointer + offset, dst = out.storage.pointer
        for (i, r) in indices.enumerated() { (dst + i * rowSize).update(from: src + r * rowSize, count: rowSize) }
        return out
    }

    /// Row `i` of the first axis, keeping the shape after it ([1, …]).
    public func row(_ i: Int) throws -> Tensor { try rows(i..<(i + 1)) }

    /// Replaces the rows `indices` of the first axis by the rows of `values`, in order.
    public mutating func setRows(_ indices: [Int], from values: Tensor) throws {
        guard rank >= 1 else { throw TensorError.invalidArgument(operation: "setRows", message: "needs rank ≥ 1") }
        let rowSize = count / Swift.max(shape[0], 1)
        if let bad = indices.first(where: { $0 < 0 || $0 >= shape[0] }) {
            throw TensorError.invalidArgument(operation: "setRows", message: "row \(bad) out of range 0..<\(shape[0])")
        }
        guard values.count == indices.count * rowSize else {
            throw TensorError.invalidArgument(operation: "setRows", message: "\(indices.count) rows of \(rowSize) values need \(indices.count * rowSize) values, got \(values.count)")
        }
        withUnsafeMutableBufferPointer { o in
            values.withUnsafeBufferPointer { v in
                for (k, i) in indices.enumerated() { (o.baseAddress! + i * rowSize).update(from: v.baseAddress! + k * rowSize, count: rowSize) }
            }
        }
    }

    /// One-hot rows: [N] labels → [N, classCount].
    public static func oneHot(_ labels: [Int32], classCount: Int) throws -> Tensor {
        guard classCount >= 0 else {
            throw TensorError.invalidArgument(operation: "oneHot", message: "classCount must be ≥ 0, got \(classCount)")
        }
        if let bad = labels.first(where: { $0 < 0 || Int($0) >= classCount }) {
            throw TensorError.invalidArgument(operation: "oneHot", message: "label \(bad) out of range 0..<\(classCount)")
        }
        var out = Tensor(shape: [labels.count, classCount], repeating: 0)
        out.withUnsafeMutableBufferPointer { p in
            for (i, y) in labels.enumerated() { p[i * classCount + Int(y)] = 1 }
        }
        return out
    }
}
