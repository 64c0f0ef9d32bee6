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
        for i in stride(from: output.id, through: 0, by: -1) {
            guard let g = grads[i] else { continue }
            switch backward[i] {
            case .leaf:
                continue
            case let .pullback(inputs, pullback):
                let contributions = pullback(g)
                for (input, c) in zip(inputs, contributions) {
                    guard let c else { continue }
                    Self.accumulate(&grads[input], c)
                }
            case let .segment(parent, offset):
                if grads[parent] == nil { grads[parent] = Tensor(shape: shapes[parent], repeating: 0) }
                let n = g.count
                grads[parent]!.withUnsafeMutableBufferPointer { dst in
                    g.withUnsafeBufferPointer { src in
                        let d = dst.baseAddress! + offset
                        for j in 0..<n { d[j] += src[j] }
                    }
                }
            }
        }
        return Gradients(values: grads, shapes: shapes)
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
