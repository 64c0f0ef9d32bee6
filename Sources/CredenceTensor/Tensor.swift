import Foundation

/// A dense, row-major Float32 array with copy-on-write storage.
///
/// A `Tensor` is a value: copies share storage until one is mutated. A tensor may be a
/// contiguous window (`offset`, `count`) into a larger storage — this is how a model's
/// layers see their weights inside one flat parameter vector without copying.
///
/// ```swift
/// let a = Tensor(shape: [2, 2], values: [1, 2, 3, 4])
/// let b = try a.matmul(a, transposeRight: true)   // a · aᵀ
/// print(b.values)   // [5, 11, 11, 25]
/// ```
public struct Tensor: @unchecked Sendable {
    @usableFromInline var storage: TensorStorage
    @usableFromInline var offset: Int
    /// The extent of each axis; `[]` is a scalar.
    public let shape: [Int]
    /// Number of elements (product of `shape`).
    public let count: Int

    /// An uninitialised tensor: every element must be written before it is read.
    @inlinable public init(uninitializedShape shape: [Int]) {
        let n = shape.reduce(1, *)
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in shape \(shape)")
        storage = TensorStorage(capacity: n)
        offset = 0
        self.shape = shape
        count = n
    }

    /// A tensor with every element equal to `value`.
    @inlinable public init(shape: [Int], repeating value: Float = 0) {
        self.init(uninitializedShape: shape)
        storage.pointer.initialize(repeating: value, count: count)
    }

    /// A tensor holding `values` in row-major order. `values.count` must equal the
    /// product of `shape` (use `init(shape:checkedValues:)` for untrusted input).
    public init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count,
                     "Tensor(shape: \(shape)) needs \(shape.reduce(1, *)) values, got \(values.count)")
        self.init(uninitializedShape: shape)
        values.withUnsafeBufferPointer { src in
            storage.pointer.update(from: src.baseAddress!, count: values.count)
        }
    }

    /// Like `init(shape:values:)` but throws instead of trapping on a count mismatch.
    public init(shape: [Int], checkedValues values: [Float]) throws {
        guard shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, *) == values.count else {
            throw TensorError.invalidArgument(
                operation: "Tensor(shape:values:)",
                message: "shape \(shape) holds \(shape.reduce(1, *)) elements but \(values.count) values were given")
        }
        self.init(shape: shape, values: values)
    }

    /// A scalar (rank-0) tensor.
    public init(_ scalar: Float) { self.init(shape: [], repeating: scalar) }

    /// A 1-D tensor.
    public init(_ values: [Float]) { self.init(shape: [values.count], values: values) }

    /// The first elements of `storage`, as many as `shape` holds, as a tensor (no copy): how a
    /// file's mapped floats become a tensor.
    public init(viewing storage: TensorStorage, shape: [Int]) {
        precondition(shape.reduce(1, *) <= storage.capacity, "shape \(shape) needs more than the storage's \(storage.capacity) floats")
        self.init(storage: storage, offset: 0, shape: shape)
    }

    /// A view of `count` elements of `storage` starting at `offset` (no copy).
    @usableFromInline init(storage: TensorStorage, offset: Int, shape: [Int]) {
        self.storage = storage
        self.offset = offset
        self.shape = shape
        count = shape.reduce(1, *)
    }

    /// Number of axes.
    @inlinable public var rank: Int { shape.count }

    /// The elements in row-major order.
    public var values: [Float] {
        withUnsafeBufferPointer { Array($0) }
    }

    /// The single element of a one-element tensor.
    public var scalar: Float {
        precondition(count == 1, "scalar needs a one-element tensor, shape is \(shape)")
        return storage.pointer[offset]
    }

    @inlinable public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: storage.pointer + offset, count: count))
    }

    /// Mutable access; copies the storage first if it is shared (copy-on-write).
    @inlinable public mutating func withUnsafeMutableBufferPointer<R>(
        _ body: (UnsafeMutableBufferPointer<Float>) throws -> R
    ) rethrows -> R {
        if !isKnownUniquelyReferenced(&storage) || offset != 0 || storage.capacity != count {
            let fresh = TensorStorage(capacity: count)
            fresh.pointer.update(from: storage.pointer + offset, count: count)
            storage = fresh
            offset = 0
        }
        return try body(UnsafeMutableBufferPointer(start: storage.pointer, count: count))
    }

    /// Element access by multi-index (slow; for tests and small tensors).
    public subscript(_ index: Int...) -> Float {
        get { storage.pointer[offset + flatIndex(index)] }
        set {
            let i = flatIndex(index)
            withUnsafeMutableBufferPointer { $0[i] = newValue }
        }
    }

    @usableFromInline func flatIndex(_ index: [Int]) -> Int {
        precondition(index.count == shape.count, "index \(index) has wrong rank for shape \(shape)")
        var flat = 0
        for (i, d) in zip(index, shape) {
            precondition(i >= 0 && i < d, "index \(index) out of range for shape \(shape)")
            flat = flat * d + i
        }
        return flat
    }

    /// The same elements with a new shape of equal element count (no copy).
    /// One dimension may be -1 and is inferred.
    public func reshaped(_ newShape: [Int]) throws -> Tensor {
        let resolved = try Tensor.resolveShape(newShape, count: count, from: shape)
        return Tensor(storage: storage, offset: offset, shape: resolved)
    }

    static func resolveShape(_ newShape: [Int], count: Int, from oldShape: [Int]? = nil) throws -> [Int] {
        var shape = newShape
        let unknown = shape.indices.filter { shape[$0] == -1 }
        let known = shape.filter { $0 != -1 }.reduce(1, *)
        if unknown.count == 1, known > 0, count % known == 0 {
            shape[unknown[0]] = count / known
        }
        guard unknown.count <= 1, shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, *) == count else {
            throw TensorError.shapeMismatch(operation: "reshape", shapes: (oldShape.map { [$0] } ?? []) + [newShape],
                                            expected: "the new shape must hold exactly \(count) elements")
        }
        return shape
    }

    /// A contiguous window of a rank-1 tensor reinterpreted with `shape` (no copy).
    /// This is how layers see their weights inside the flat parameter vector.
    public func segment(offset start: Int, shape newShape: [Int]) throws -> Tensor {
        let n = newShape.reduce(1, *)
        guard start >= 0, newShape.allSatisfy({ $0 >= 0 }), start + n <= count else {
            throw TensorError.invalidArgument(
                operation: "segment", message: "window \(newShape) at offset \(start) (\(start)..<\(start + n)) does not fit in \(count) elements")
        }
        return Tensor(storage: storage, offset: offset + start, shape: newShape)
    }

    /// Rows `range` of the first axis (no copy).
    public func rows(_ range: Range<Int>) throws -> Tensor {
        guard rank >= 1, range.lowerBound >= 0, range.upperBound <= shape[0] else {
            throw TensorError.invalidArgument(operation: "rows", message: "rows \(range) out of 0..<\(shape.first ?? 0) for shape \(shape)")
        }
        let rowSize = shape.dropFirst().reduce(1, *)
        var s = shape; s[0] = range.count
        return Tensor(storage: storage, offset: offset + range.lowerBound * rowSize, shape: s)
    }

    /// True when every element is finite (no NaN or ±Inf).
    public var isFinite: Bool {
        withUnsafeBufferPointer { p in
            var bad = false
            for v in p where !v.isFinite { bad = true; break }
            return !bad
        }
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let shown = values.prefix(8).map { String(format: "%.4g", $0) }.joined(separator: ", ")
        return "Tensor(shape: \(shape), values: [\(shown)\(count > 8 ? ", ..." : "")])"
    }
}

extension Tensor: Equatable {
    public static func == (a: Tensor, b: Tensor) -> Bool { a.shape == b.shape && a.values == b.values }
}

public extension Tensor {
    static func zeros(_ shape: [Int]) -> Tensor { Tensor(shape: shape, repeating: 0) }
    static func ones(_ shape: [Int]) -> Tensor { Tensor(shape: shape, repeating: 1) }

    static func randomUniform(shape: [Int], lower: Float = 0, upper: Float = 1,
                              rng: inout RandomGenerator) -> Tensor {
        var t = Tensor(uninitializedShape: shape)
        let width = upper - lower
        t.withUnsafeMutableBufferPointer { p in
            for i in p.indices { p[i] = lower + width * rng.uniformFloat() }
        }
        return t
    }

    static func randomNormal(shape: [Int], mean: Float = 0, standardDeviation: Float = 1,
                             rng: inout RandomGenerator) -> Tensor {
        var t = Tensor(uninitializedShape: shape)
        t.withUnsafeMutableBufferPointer { p in
            for i in p.indices { p[i] = mean + standardDeviation * rng.normalFloat() }
        }
        return t
    }

    /// Elements equal to 1 with probability `p`, else 0.
    static func randomBernoulli(shape: [Int], probability p: Float, rng: inout RandomGenerator) -> Tensor {
        var t = Tensor(uninitializedShape: shape)
        t.withUnsafeMutableBufferPointer { b in
            for i in b.indices { b[i] = rng.uniformFloat() < p ? 1 : 0 }
        }
        return t
    }

    /// An inverted-dropout mask: each element is `1/keep` with probability `keep ≈ 1−rate`,
    /// else 0, so `x * mask` keeps the expectation of `x` (see `DropoutNoise`).
    static func dropoutMask(shape: [Int], rate: Float, rng: inout RandomGenerator) throws -> Tensor {
        let noise = try DropoutNoise(rate: rate, operation: "dropoutMask", rng: &rng)
        var t = Tensor(uninitializedShape: shape)
        t.withUnsafeMutableBufferPointer { noise.apply(to: nil, into: $0.baseAddress!, count: $0.count) }
        return t
    }
}
