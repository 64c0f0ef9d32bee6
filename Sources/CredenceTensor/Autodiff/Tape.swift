/// Records differentiable operations for one reverse-mode pass.
///
/// Every primitive on `Variable` appends a node with its pullback (the vector–Jacobian
/// product). `gradients(of:)` runs the pullbacks in reverse order. A tape belongs to one
/// thread; data-parallel training uses one tape per worker.
///
/// ```swift
/// let tape = Tape()
/// let x = tape.variable(Tensor([1, 2, 3]))
/// let y = try (x * x).sum()
/// let g = tape.gradients(of: y)[x]   // 2x = [2, 4, 6]
/// ```
public final class Tape {
    /// How a node passes its output gradient to its inputs.
    @usableFromInline enum Backward {
        /// A leaf: nothing upstream.
        case leaf
        /// One contribution per input (nil = no gradient for that input).
        case pullback(inputs: [Int], (Tensor) -> [Tensor?])
        /// A contiguous window of input `parent`: the gradient is added at `offset`
        /// (this is how a layer's weights receive gradient inside the flat vector).
        case segment(parent: Int, offset: Int)
    }

    @usableFromInline var backward: [Backward] = []
    @usableFromInline var shapes: [[Int]] = []

    public init() {}

    /// Number of recorded nodes.
    public var nodeCount: Int { backward.count }

    /// A leaf to differentiate with respect to (parameters, inputs).
    public func variable(_ value: Tensor) -> Variable {
        Variable(value: value, tape: self, id: append(.leaf, shape: value.shape))
    }

    @usableFromInline func append(_ b: Backward, shape: [Int]) -> Int {
        backward.append(b)
        shapes.append(shape)
        return backward.count - 1
    }

    /// Reverse pass from `output` (seeded with ones, or with `seed` for a
    /// vector–Jacobian product of a non-scalar output).
    public func gradients(of output: Variable, seed: Tensor? = nil) -> Gradients {
        precondition(output.tape === self, "gradients(of:) needs a variable recorded on this tape")
        precondition(seed == nil || seed!.shape == output.value.shape,
                     "gradient seed of shape \(seed!.shape) for an output of shape \(output.value.shape)")
        var grads = [Tensor?](repeating: nil, count: backward.count)
        grads[output.id] = seed ?? Tensor(shape: output.value.shape, repeating: 1)
        // Parents of segments (the flat parameter vector) start uninitialised; each
        // window is copied in on its first write and the never-written gaps are zeroed
        // when the parent's turn comes. Saves a memset and an add over all parameters.
        var written: [Int: [Range<Int>]] = [:]
        for i in stride(from: output.id, through: 0, by: -1) {
            if let ranges = written.removeValue(forKey: i) { Self.zeroGaps(&grads[i]!, written: ranges) }
            guard let g = grads[i] else { continue }
            switch backward[i] {
            case .leaf:
                continue
            case let .pullback(inputs, pullback):
                let contributions = pullback(g)
                for (input, c) in zip(inputs, contributions) {
                    guard let c else { continue }
                    if let ranges = written.removeValue(forKey: input) { Self.zeroGaps(&grads[input]!, written: ranges) }
                    Self.accumulate(&grads[input], c)
                }
            case let .segment(parent, offset):
                let window = offset..<(offset + g.count)
                if grads[parent] == nil {
                    grads[parent] = Tensor(uninitializedShape: shapes[parent])
                    written[parent] = []
                }
                var ranges = written[parent]
                let fresh = ranges.map { r in !r.contains { $0.overlaps(window) } } ?? false
                if ranges != nil && !fresh {  // overlapping windows: fill the gaps, then accumulate
                    Self.zeroGaps(&grads[parent]!, written: ranges!)
                    ranges = nil
                    written[parent] = nil
                }
                grads[parent]!.withUnsafeMutableBufferPointer { dst in
                    g.withUnsafeBufferPointer { src in
                        let d = dst.baseAddress! + offset
                        if fresh { d.update(from: src.baseAddress!, count: src.count) }
                        else { for j in 0..<src.count { d[j] += src[j] } }
                    }
                }
                if fresh { written[parent]!.append(window) }
            }
        }
        for (i, ranges) in written { Self.zeroGaps(&grads[i]!, written: ranges) }
        return Gradients(values: grads, shapes: shapes)
    }

    /// Zeroes every element of `t` outside the (disjoint) `written` ranges.
    static func zeroGaps(_ t: inout Tensor, written: [Range<Int>]) {
        t.withUnsafeMutableBufferPointer { p in
            var next = 0
            for r in written.sorted(by: { $0.lowerBound < $1.lowerBound }) {
                if r.lowerBound > next { (p.baseAddress! + next).initialize(repeating: 0, count: r.lowerBound - next) }
                next = Swift.max(next, r.upperBound)
            }
            if next < p.count { (p.baseAddress! + next).initialize(repeating: 0, count: p.count - next) }
        }
    }

    static func accumulate(_ slot: inout Tensor?, _ c: Tensor) {
        if slot == nil { slot = c } else { slot!.addInPlace(c) }
    }
}

/// Gradients from one reverse pass, looked up by the variable they belong to.
public struct Gradients {
    var values: [Tensor?]
    let shapes: [[Int]]

    /// The gradient of the output with respect to `v` (zeros when `v` does not affect it).
    public subscript(_ v: Variable) -> Tensor {
        guard v.id >= 0, v.id < values.count else { return Tensor(shape: v.value.shape, repeating: 0) }
        return values[v.id] ?? Tensor(shape: shapes[v.id], repeating: 0)
    }
}
