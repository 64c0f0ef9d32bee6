import Foundation

// The closed set of differentiable primitives. Each has one pullback; everything else
// (losses, layers, softplus-based parameterisations) is composed from these.

// MARK: - Broadcasting arithmetic

extension Variable {
    public static func + (a: Variable, b: Variable) throws -> Variable {
        let y = try a.value.broadcasting(.add, b.value)
        let sa = a.shape, sb = b.shape
        return record(y, inputs: [a, b]) { g in [g.summed(toShape: sa), g.summed(toShape: sb)] }
    }

    public static func - (a: Variable, b: Variable) throws -> Variable {
        let y = try a.value.broadcasting(.subtract, b.value)
        let sa = a.shape, sb = b.shape
        return record(y, inputs: [a, b]) { g in [g.summed(toShape: sa), (-g).summed(toShape: sb)] }
    }

    public static func * (a: Variable, b: Variable) throws -> Variable {
        let y = try a.value.broadcasting(.multiply, b.value)
        let av = a.value, bv = b.value, ta = a.isTracked, tb = b.isTracked
        return record(y, inputs: [a, b]) { g in
            [ta ? (try! g * bv).summed(toShape: av.shape) : nil,
             tb ? (try! g * av).summed(toShape: bv.shape) : nil]
        }
    }

    public static func / (a: Variable, b: Variable) throws -> Variable {
        let y = try a.value.broadcasting(.divide, b.value)
        let av = a.value, bv = b.value, tb = b.isTracked
        return record(y, inputs: [a, b]) { g in
            let ga = (try! g / bv).summed(toShape: av.shape)
            // d(a/b)/db = -a/b² = -y/b
            let gb: Tensor? = tb ? (try! (try! g * y) / bv).map { -$0 }.summed(toShape: bv.shape) : nil
            return [ga, gb]
        }
    }

    /// `a * s` for a constant scalar.
    public static func * (a: Variable, s: Float) -> Variable {
        unary(a, a.value * s) { g in g * s }
    }

    /// `a + s` for a constant scalar.
    public static func + (a: Variable, s: Float) -> Variable {
        unary(a, a.value + s) { g in g }
    }

    public static prefix func - (a: Variable) -> Variable { a * -1 }
}

// MARK: - Unary math

extension Variable {
    public func exp() -> Variable {
        let y = value.exp()
        return Variable.unary(self, y) { g in g.zipMap(y) { $0 * $1 } }
    }

    public func log() -> Variable {
        let x = value
        return Variable.unary(self, x.log()) { g in g.zipMap(x) { $0 / $1 } }
    }

    public func sqrt() -> Variable {
        let y = value.sqrt()
        return Variable.unary(self, y) { g in g.zipMap(y) { $0 * 0.5 / $1 } }
    }

    public func tanh() -> Variable {
        let y = value.tanh()
        return Variable.unary(self, y) { g in g.zipMap(y) { $0 * (1 - $1 * $1) } }
    }

    public func sigmoid() -> Variable {
        let y = value.sigmoid()
        return Variable.unary(self, y) { g in g.zipMap(y) { $0 * $1 * (1 - $1) } }
    }

    public func relu() -> Variable {
        let y = value.relu()
        return Variable.unary(self, y) { g in g.zipMap(y) { gv, yv in yv > 0 ? gv : 0 } }
    }

    /// log(1 + eˣ); its derivative is σ(x).
    public func softplus() -> Variable {
        let x = value
        return Variable.unary(self, x.softplus()) { g in g.zipMap(x) { $0 * Tensor.sigmoid($1) } }
    }

    /// x·Φ(x) with Φ the standard normal CDF (exact form).
    public func gelu() -> Variable {
        let x = value
        return Variable.unary(self, x.gelu()) { g in
            g.zipMap(x) { gv, xv in
                let cdf = 0.5 * (1 + Foundation.erf(xv * 0.70710678118654752))
                let pdf = 0.39894228040143268 * Foundation.exp(-0.5 * xv * xv)
                return gv * (cdf + xv * pdf)
            }
        }
    }

    public func abs() -> Variable {
        let x = value
        return Variable.unary(self, x.abs()) { g in g.zipMap(x) { gv, xv in xv > 0 ? gv : (xv < 0 ? -gv : 0) } }
    }

    /// Clamp to [lo, hi]; the gradient passes only where the input is strictly inside.
    public func clamped(min lo: Float, max hi: Float) -> Variable {
        let x = value
        return Variable.unary(self, x.clamped(min: lo, max: hi)) { g in
            g.zipMap(x) { gv, xv in xv > lo && xv < hi ? gv : 0 }
        }
    }

    /// `condition ? a : b` elementwise (condition nonzero = true; not differentiated).
    public static func select(_ condition: Tensor, _ a: Variable, _ b: Variable) throws -> Variable {
        let y = try Tensor.select(condition, a.value, b.value)
        let sa = a.shape, sb = b.shape, zero = Tensor(0)
        return record(y, inputs: [a, b]) { g in
            [(try! Tensor.select(condition, g, zero)).summed(toShape: sa),
             (try! Tensor.select(condition, zero, g)).summed(toShape: sb)]
        }
    }
}

// MARK: - Linear algebra

extension Variable {
    /// `op(self) · op(other)` for rank-2 operands.
    public func matmul(_ other: Variable, transposeLeft: Bool = false, transposeRight: Bool = false) throws -> Variable {
        let a = value, b = other.value
        let y = try a.matmul(b, transposeLeft: transposeLeft, transposeRight: transposeRight)
        let ta = isTracked, tb = other.isTracked, otherID = other.id
        return Variable.record(y, inputs: [self, other]) { [weak tape = other.tape] g in
            let (ga, gb) = Variable.productGradients(g, a, b, transposeLeft: transposeLeft, transposeRight: transposeRight,
                                                     left: ta, right: tb, rightNode: otherID, tape: tape)
            return [ga, gb]
        }
    }

    /// The pullback of C = op(A)·op(B) for its tracked operands: dA = G·Bᵀ, dB = Aᵀ·G, adjusted
    /// for the transposes. Weights are usually windows of the flat parameter vector: dB is
    /// written straight into the tape's flat gradient buffer when the tape offers it.
    static func productGradients(_ g: Tensor, _ a: Tensor, _ b: Tensor, transposeLeft: Bool, transposeRight: Bool,
                                 left ta: Bool, right tb: Bool, rightNode: Int, tape: Tape?) -> (Tensor?, Tensor?) {
        var ga: Tensor?, gb: Tensor?
        if ta {
            ga = transposeLeft ? try! b.matmul(g, transposeLeft: transposeRight, transposeRight: true)
                               : try! g.matmul(b, transposeRight: !transposeRight)
        }
        if tb {
            let (destination, zeroed) = gradientBuffer(tape, node: rightNode, shape: b.shape)
            if transposeRight {
                g.matmulUnchecked(a, transposeLeft: true, transposeRight: transposeLeft, into: destination, accumulating: zeroed)
            } else {
                a.matmulUnchecked(g, transposeLeft: !transposeLeft, transposeRight: false, into: destination, accumulating: zeroed)
            }
            gb = destination
        }
        return (ga, gb)
    }

    /// Where a pullback writes `node`'s gradient: its window of the tape's flat gradient buffer
    /// when the tape offers one, else a new tensor — and whether it holds zeros already (a
    /// window of a buffer handed to `Tape.writeGradient(of:intoZeroed:)`), so it may be added to.
    static func gradientBuffer(_ tape: Tape?, node: Int, shape: [Int]) -> (buffer: Tensor, zeroed: Bool) {
        tape?.gradientDestination(node: node, shape: shape) ?? (Tensor(uninitializedShape: shape), false)
    }

    /// x·Wᵀ + b, a dense layer's output: `x.matmul(weight, transposeRight: true) + bias` in one
    /// recorded operation, with the same numbers — the bias row is added in place to the
    /// product, and its gradient (G's column sums, row after row, as `summed(toShape:)` adds
    /// them) goes straight into the tape's flat gradient buffer like the weight's. For small
    /// layers (the networks HMC samples) the separate broadcast, its tape record and their
    /// shape bookkeeping cost more than the arithmetic.
    public func affine(weight: Variable, bias: Variable) throws -> Variable {
        let x = value, w = weight.value
        var y = try x.matmul(w, transposeRight: true)
        let (rows, width) = (y.shape[0], y.shape[1])
        guard bias.shape == [width] else {
            throw TensorError.shapeMismatch(operation: "affine", shapes: [y.shape, bias.shape], expected: "a bias of shape [\(width)]")
        }
        let b = bias.value
        y.withUnsafeMutableBufferPointer { out in
            Broadcasting.addRow(b.storage.pointer + b.offset, toEachRowOf: out.baseAddress!, rows: rows, width: width)
        }
        let tx = isTracked, tw = weight.isTracked, tb = bias.isTracked
        let (weightID, biasID) = (weight.id, bias.id)
        return Variable.record(y, inputs: [self, weight, bias]) { [weak tape = weight.tape ?? bias.tape] g in
            let (gx, gw) = Variable.productGradients(g, x, w, transposeLeft: false, transposeRight: true,
                                                     left: tx, right: tw, rightNode: weightID, tape: tape)
            var gb: Tensor?
            if tb {
                let destination = Variable.gradientBuffer(tape, node: biasID, shape: [width]).buffer
                // Written through its storage: the destination may be a window of the flat buffer.
                Broadcasting.sumRows(of: g.storage.pointer + g.offset, rows: rows, width: width,
                                     into: destination.storage.pointer + destination.offset)
                gb = destination
            }
            return [gx, gw, gb]
        }
    }
}

// MARK: - Reductions

extension Variable {
    public func sum(axes: [Int]? = nil, keepDims: Bool = false) throws -> Variable {
        let y = try value.sum(axes: axes, keepDims: keepDims)
        let s = shape, kept = try value.sum(axes: axes, keepDims: true).shape
        return Variable.unary(self, y) { g in (try! g.reshaped(kept)).expanded(to: s) }
    }

    public func mean(axes: [Int]? = nil, keepDims: Bool = false) throws -> Variable {
        let y = try value.mean(axes: axes, keepDims: keepDims)
        let s = shape, kept = try value.sum(axes: axes, keepDims: true).shape
        let scale = Float(kept.reduce(1, *)) / Float(Swift.max(value.count, 1))
        return Variable.unary(self, y) { g in (try! g.reshaped(kept)).expanded(to: s) * scale }
    }

    /// Maximum along `axes`; the gradient goes to every position equal to the maximum.
    public func max(axes: [Int]? = nil, keepDims: Bool = false) throws -> Variable {
        let y = try value.max(axes: axes, keepDims: keepDims)
        let x = value, kept = try value.max(axes: axes, keepDims: true)
        return Variable.unary(self, y) { g in
            let gk = (try! g.reshaped(kept.shape)).expanded(to: x.shape)
            let mk = kept.expanded(to: x.shape)
            var out = Tensor(uninitializedShape: x.shape)
            out.withUnsafeMutableBufferPointer { o in
                x.withUnsafeBufferPointer { xv in
                    gk.withUnsafeBufferPointer { gv in
                        mk.withUnsafeBufferPointer { mv in
                            for i in 0..<o.count { o[i] = xv[i] == mv[i] ? gv[i] : 0 }
                        }
                    }
                }
            }
            return out
        }
    }

    /// log Σ exp over the last axis (drops it).
    public func logSumExp() -> Variable {
        let y = value.logSumExpLastAxis()
        let p = value.softmaxLastAxis(), n = shape.last ?? 1
        return Variable.unary(self, y) { g in
            var out = p
            out.withUnsafeMutableBufferPointer { o in
                g.withUnsafeBufferPointer { gv in
                    for r in 0..<gv.count { for j in 0..<n { o[r * n + j] *= gv[r] } }
                }
            }
            return out
        }
    }

    /// Softmax over the last axis.
    public func softmax() -> Variable {
        let y = value.softmaxLastAxis(), n = shape.last ?? 1
        return Variable.unary(self, y) { g in
            // dx = y ⊙ (g − Σ g⊙y)
            var out = Tensor(uninitializedShape: y.shape)
            out.withUnsafeMutableBufferPointer { o in
                y.withUnsafeBufferPointer { yv in
                    g.withUnsafeBufferPointer { gv in
                        for r in 0..<(yv.count / Swift.max(n, 1)) {
                            var dot: Float = 0
                            for j in 0..<n { dot += gv[r * n + j] * yv[r * n + j] }
                            for j in 0..<n { o[r * n + j] = yv[r * n + j] * (gv[r * n + j] - dot) }
                        }
                    }
                }
            }
            return out
        }
    }

    /// Log-softmax over the last axis.
    public func logSoftmax() -> Variable {
        let y = value.logSoftmaxLastAxis(), n = shape.last ?? 1
        return Variable.unary(self, y) { g in
            // dx = g − softmax · Σ g
            var out = Tensor(uninitializedShape: y.shape)
            out.withUnsafeMutableBufferPointer { o in
                y.withUnsafeBufferPointer { yv in
                    g.withUnsafeBufferPointer { gv in
                        for r in 0..<(yv.count / Swift.max(n, 1)) {
                            var total: Float = 0
                            for j in 0..<n { total += gv[r * n + j] }
                            for j in 0..<n { o[r * n + j] = gv[r * n + j] - Foundation.exp(yv[r * n + j]) * total }
                        }
                    }
                }
            }
            return out
        }
    }
}

// MARK: - Shape

extension Variable {
    public func reshaped(_ newShape: [Int]) throws -> Variable {
        let y = try value.reshaped(newShape), s = shape
        return Variable.unary(self, y) { g in try! g.reshaped(s) }
    }

    public func permuted(_ axes: [Int]) throws -> Variable {
        let y = try value.permuted(axes)
        var inverse = [Int](repeating: 0, count: axes.count)
        for (i, a) in axes.enumerated() { inverse[a] = i }
        return Variable.unary(self, y) { g in try! g.permuted(inverse) }
    }

    public func transposed() throws -> Variable { try permuted([1, 0]) }

    public func slice(axis: Int, _ range: Range<Int>) throws -> Variable {
        let y = try value.slice(axis: axis, range)
        let a = axis < 0 ? axis + value.rank : axis, s = shape
        return Variable.unary(self, y) { g in g.embedded(in: s, axis: a, at: range) }
    }

    public static func concatenate(_ parts: [Variable], axis: Int) throws -> Variable {
        let y = try Tensor.concatenate(parts.map(\.value), axis: axis)
        let a = axis < 0 ? axis + y.rank : axis
        let sizes = parts.map { $0.shape[a] }
        return record(y, inputs: parts) { g in
            var start = 0
            return sizes.map { n in
                defer { start += n }
                return try! g.slice(axis: a, start..<(start + n))
            }
        }
    }

    /// Element `[i, indices[i]]` of each row of a [N, C] variable → [N].
    public func gatherColumns(_ indices: [Int32]) throws -> Variable {
        let y = try value.gatherColumns(indices), s = shape
        return Variable.unary(self, y) { g in
            var out = Tensor(shape: s, repeating: 0)
            out.withUnsafeMutableBufferPointer { o in
                g.withUnsafeBufferPointer { gv in
                    for i in 0..<s[0] { o[i * s[1] + Int(indices[i])] = gv[i] }
                }
            }
            return out
        }
    }
}
