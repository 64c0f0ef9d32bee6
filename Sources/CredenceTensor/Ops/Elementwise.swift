import Foundation

/// Binary elementwise operations with broadcasting.
public enum BinaryOperation: Sendable {
    case add, subtract, multiply, divide

    @inlinable func apply(_ a: Float, _ b: Float) -> Float {
        switch self {
        case .add: return a + b
        case .subtract: return a - b
        case .multiply: return a * b
        case .divide: return a / b
        }
    }
    var name: String {
        switch self {
        case .add: return "add"
        case .subtract: return "subtract"
        case .multiply: return "multiply"
        case .divide: return "divide"
        }
    }
}

@inline(__always)
func applyLoop(_ op: BinaryOperation, _ a: UnsafePointer<Float>, _ aStep: Int,
               _ b: UnsafePointer<Float>, _ bStep: Int, _ c: UnsafeMutablePointer<Float>, _ n: Int) {
    // Separate loops per case and stride so each vectorises.
    switch (op, aStep, bStep) {
    case (.add, 1, 1): for i in 0..<n { c[i] = a[i] + b[i] }
    case (.add, 1, 0): let s = b[0]; for i in 0..<n { c[i] = a[i] + s }
    case (.add, 0, 1): let s = a[0]; for i in 0..<n { c[i] = s + b[i] }
    case (.subtract, 1, 1): for i in 0..<n { c[i] = a[i] - b[i] }
    case (.subtract, 1, 0): let s = b[0]; for i in 0..<n { c[i] = a[i] - s }
    case (.subtract, 0, 1): let s = a[0]; for i in 0..<n { c[i] = s - b[i] }
    case (.multiply, 1, 1): for i in 0..<n { c[i] = a[i] * b[i] }
    case (.multiply, 1, 0): let s = b[0]; for i in 0..<n { c[i] = a[i] * s }
    case (.multiply, 0, 1): let s = a[0]; for i in 0..<n { c[i] = s * b[i] }
    case (.divide, 1, 1): for i in 0..<n { c[i] = a[i] / b[i] }
    case (.divide, 1, 0): let s = b[0]; for i in 0..<n { c[i] = a[i] / s }
    case (.divide, 0, 1): let s = a[0]; for i in 0..<n { c[i] = s / b[i] }
    default: for i in 0..<n { c[i] = op.apply(a[i * aStep], b[i * bStep]) }
    }
}

extension Tensor {
    /// Elementwise `op` with broadcasting; throws when the shapes are incompatible.
    public func broadcasting(_ op: BinaryOperation, _ other: Tensor) throws -> Tensor {
        guard let outShape = Broadcasting.shape(shape, other.shape) else {
            throw TensorError.shapeMismatch(operation: op.name, shapes: [shape, other.shape],
                                            expected: "dimensions must be equal or 1 (NumPy broadcasting)")
        }
        return binaryKernel(op, other, outShape: outShape)
    }

    func binaryKernel(_ op: BinaryOperation, _ other: Tensor, outShape: [Int]) -> Tensor {
        let out = Tensor(uninitializedShape: outShape)
        let n = out.count
        let dst = out.storage.pointer
        let a = storage.pointer + offset, b = other.storage.pointer + other.offset
        if count == n && other.count == n {
            applyLoop(op, a, 1, b, 1, dst, n)
        } else if other.count == 1 && count == n {
            applyLoop(op, a, 1, b, 0, dst, n)
        } else if count == 1 && other.count == n {
            applyLoop(op, a, 0, b, 1, dst, n)
        } else if count == n, let block = Broadcasting.middleBlock(other.shape, in: outShape) {
            Self.blockBroadcast(op, big: a, small: b, smallFirst: false, dst, block)
        } else if other.count == n, let block = Broadcasting.middleBlock(shape, in: outShape) {
            Self.blockBroadcast(op, big: b, small: a, smallFirst: true, dst, block)
        } else {
            let ea = expanded(to: outShape), eb = other.expanded(to: outShape)
            applyLoop(op, ea.storage.pointer + ea.offset, 1, eb.storage.pointer + eb.offset, 1, dst, n)
        }
        return out
    }

    /// `op` between `big` (the output's shape) and `small`, which varies along the middle block
    /// of `outer` × `middle` × `inner` elements only (`Broadcasting.middleBlock`); `smallFirst`:
    /// `small` is the left operand. With inner = 1 `small` repeats whole along the leading axes
    /// (a bias row); otherwise each of its elements is a scalar over an inner run (a [C, 1, 1]
    /// scale on [B, C, H, W]) — both without materialising the broadcast.
    static func blockBroadcast(_ op: BinaryOperation, big: UnsafeMutablePointer<Float>, small: UnsafeMutablePointer<Float>, smallFirst: Bool,
                               _ dst: UnsafeMutablePointer<Float>, _ block: (outer: Int, middle: Int, inner: Int)) {
        func run(_ at: Int, _ smallAt: Int, smallStep: Int, count: Int) {
            if smallFirst { applyLoop(op, small + smallAt, smallStep, big + at, 1, dst + at, count) }
            else { applyLoop(op, big + at, 1, small + smallAt, smallStep, dst + at, count) }
        }
        for o in 0..<block.outer {
            if block.inner == 1 {
                run(o * block.middle, 0, smallStep: 1, count: block.middle)
            } else {
                for c in 0..<block.middle { run((o * block.middle + c) * block.inner, c, smallStep: 0, count: block.inner) }
            }
        }
    }

    /// Applies `f` to every element (serial; `f` should be simple so the loop vectorises).
    @inlinable public func map(_ f: (Float) -> Float) -> Tensor {
        let out = Tensor(uninitializedShape: shape)
        let src = storage.pointer + offset, dst = out.storage.pointer
        for i in 0..<count { dst[i] = f(src[i]) }
        return out
    }

    /// Combines two same-shaped tensors elementwise.
    @inlinable public func zipMap(_ other: Tensor, _ f: (Float, Float) -> Float) -> Tensor {
        precondition(other.count == count, "zipMap needs equal element counts")
        let out = Tensor(uninitializedShape: shape)
        let a = storage.pointer + offset, b = other.storage.pointer + other.offset, dst = out.storage.pointer
        for i in 0..<count { dst[i] = f(a[i], b[i]) }
        return out
    }

    /// In-place `self += other` for equal shapes (used to accumulate gradients).
    public mutating func addInPlace(_ other: Tensor, scale: Float = 1) {
        precondition(other.count == count, "addInPlace needs equal element counts")
        let b = other.storage.pointer + other.offset
        withUnsafeMutableBufferPointer { a in
            if scale == 1 { for i in 0..<a.count { a[i] += b[i] } }
            else { for i in 0..<a.count { a[i] += scale * b[i] } }
        }
    }

    /// In-place multiplication by a scalar.
    public mutating func scaleInPlace(_ s: Float) {
        withUnsafeMutableBufferPointer { a in for i in 0..<a.count { a[i] *= s } }
    }

    public static func + (a: Tensor, b: Tensor) throws -> Tensor { try a.broadcasting(.add, b) }
    public static func - (a: Tensor, b: Tensor) throws -> Tensor { try a.broadcasting(.subtract, b) }
    public static func * (a: Tensor, b: Tensor) throws -> Tensor { try a.broadcasting(.multiply, b) }
    public static func / (a: Tensor, b: Tensor) throws -> Tensor { try a.broadcasting(.divide, b) }
    public static func * (a: Tensor, s: Float) -> Tensor { a.map { $0 * s } }
    public static func + (a: Tensor, s: Float) -> Tensor { a.map { $0 + s } }
    public static prefix func - (a: Tensor) -> Tensor { a.map { -$0 } }
}

// MARK: - Unary math (forward kernels; the differentiable versions live on `Variable`)

extension Tensor {
    public func exp() -> Tensor { map { Foundation.exp($0) } }
    public func log() -> Tensor { map { Foundation.log($0) } }
    /// √x; negative inputs give NaN like IEEE sqrt.
    public func sqrt() -> Tensor { map { $0 < 0 ? .nan : Swift.max($0, 0).squareRoot() } }
    public func tanh() -> Tensor { map { Foundation.tanh($0) } }
    public func sigmoid() -> Tensor { map { Tensor.sigmoid($0) } }
    public func relu() -> Tensor {
        let out = Tensor(uninitializedShape: shape)
        let src = storage.pointer + offset, dst = out.storage.pointer
        for i in 0..<count { let v = src[i]; dst[i] = v > 0 ? v : 0 }
        return out
    }
    /// log(1 + eˣ), computed stably.
    public func softplus() -> Tensor { map { Tensor.softplus($0) } }
    /// Gaussian error linear unit, x·Φ(x) (exact erf form, as PyTorch's default).
    public func gelu() -> Tensor { map { 0.5 * $0 * (1 + Foundation.erf($0 * 0.70710678118654752)) } }
    public func abs() -> Tensor { map { Swift.abs($0) } }
    public func clamped(min lo: Float, max hi: Float) -> Tensor { map { Swift.min(Swift.max($0, lo), hi) } }

    @inlinable static func sigmoid(_ x: Float) -> Float {
        x >= 0 ? 1 / (1 + Foundation.exp(-x)) : Foundation.exp(x) / (1 + Foundation.exp(x))
    }
    @inlinable static func softplus(_ x: Float) -> Float {
        Swift.max(x, 0) + Foundation.log1p(Foundation.exp(-Swift.abs(x)))
    }

    /// Elementwise select: `condition ? a : b` where `condition` is nonzero.
    /// All three broadcast to a common shape.
    public static func select(_ condition: Tensor, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        guard let s1 = Broadcasting.shape(condition.shape, a.shape), let s = Broadcasting.shape(s1, b.shape) else {
            throw TensorError.shapeMismatch(operation: "select", shapes: [condition.shape, a.shape, b.shape],
                                            expected: "condition, a and b must broadcast to one shape")
        }
        let c = condition.expanded(to: s), ea = a.expanded(to: s), eb = b.expanded(to: s)
        let out = Tensor(uninitializedShape: s)
        let pc = c.storage.pointer + c.offset, pa = ea.storage.pointer + ea.offset, pb = eb.storage.pointer + eb.offset
        let dst = out.storage.pointer
        for i in 0..<out.count { let x = pa[i], y = pb[i]; dst[i] = pc[i] != 0 ? x : y }
        return out
    }
}
