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

    /// State of the reverse pass in progress (a tape runs one pass at a time, on one thread).
    var grads: [Tensor?] = []
    /// Windows already holding their final values, per parent of segments. Parents of
    /// segments (the flat parameter vector) start uninitialised; each window is copied
    /// in (or written in place, see `gradientDestination`) once, and the never-written
    /// gaps are zeroed when the parent's turn comes — no memset and no add over all
    /// parameters per step.
    var written: [Int: [Range<Int>]] = [:]
    /// Segment nodes whose gradient a pullback writes straight into the parent's buffer.
    var claimed: Set<Int> = []
    /// Nodes whose gradient buffer the tape allocated itself (flat parents), so it may be
    /// written in place even while views of it exist.
    var owned: Set<Int> = []
    /// Flat gradient buffers handed in already zeroed (`writeGradient(of:intoZeroed:)`), by
    /// leaf, for the next pass; during a pass, the leaves whose buffer came from there.
    var zeroedBuffers: [Int: Tensor] = [:]
    var zeroFilled: Set<Int> = []

    /// In the next `gradients(of:)`, `leaf`'s gradient goes into `buffer`, whose every element
    /// is 0 — typically the previous step's gradient, cleared by the optimizer as it read it
    /// (`Optimizer.update(_:gradientParts:clearingThem:)`). Weight-gradient products then add
    /// into their windows instead of OpenBLAS clearing each first (β = 1: a pass over the
    /// window less — 18 % of a 784×512 layer's weight-gradient product with 64 examples), and
    /// the unwritten gaps need no zeroing. The gradient returned for `leaf` is then `buffer`'s
    /// storage, written in place: the caller hands over a buffer nothing else reads.
    public func writeGradient(of leaf: Variable, intoZeroed buffer: Tensor) {
        precondition(leaf.tape === self, "writeGradient(of:intoZeroed:) needs a variable recorded on this tape")
        guard case .leaf = backward[leaf.id] else { preconditionFailure("writeGradient(of:intoZeroed:) needs a leaf, e.g. the flat parameters") }
        precondition(buffer.shape == shapes[leaf.id], "a zeroed gradient buffer of shape \(buffer.shape) for a leaf of shape \(shapes[leaf.id])")
        zeroedBuffers[leaf.id] = buffer
    }

    /// Reverse pass from `output` (seeded with ones, or with `seed` for a
    /// vector–Jacobian product of a non-scalar output).
    public func gradients(of output: Variable, seed: Tensor? = nil) -> Gradients {
        precondition(output.tape === self, "gradients(of:) needs a variable recorded on this tape")
        precondition(seed == nil || seed!.shape == output.value.shape,
                     "gradient seed of shape \(seed!.shape) for an output of shape \(output.value.shape)")
        grads = [Tensor?](repeating: nil, count: backward.count)
        written = [:]
        claimed = []
        owned = []
        zeroFilled = []
        defer { grads = []; written = [:]; claimed = []; owned = []; zeroedBuffers = [:]; zeroFilled = [] }
        grads[output.id] = seed ?? Tensor(shape: output.value.shape, repeating: 1)
        for i in stride(from: output.id, through: 0, by: -1) {
            finishWindows(of: i)
            guard let g = grads[i] else { continue }
            switch backward[i] {
            case .leaf:
                continue
            case let .pullback(inputs, pullback):
                let contributions = pullback(g)
                for (input, c) in zip(inputs, contributions) {
                    guard let c else { continue }
                    accumulate(c, into: input)
                }
            case let .segment(parent, offset):
                let window = offset..<(offset + g.count)
                // A claimed window already holds this segment's whole gradient: g is a view of it.
                if claimed.contains(i) { continue }
                if grads[parent] == nil { allocateFlatBuffer(parent) }
                let fresh = written[parent].map { r in !r.contains { $0.overlaps(window) } } ?? false
                if fresh {
                    copy(g, into: parent, at: offset, add: false)
                    written[parent]!.append(window)
                } else if owned.contains(parent) {  // overlapping windows: accumulate
                    finishWindows(of: parent)
                    copy(g, into: parent, at: offset, add: true)
                } else {  // the parent's gradient is an ordinary tensor (it was used directly first)
                    grads[parent]!.withUnsafeMutableBufferPointer { d in
                        g.withUnsafeBufferPointer { src in for j in 0..<src.count { d[offset + j] += src[j] } }
                    }
                }
            }
        }
        for i in Array(written.keys) { finishWindows(of: i) }
        return Gradients(values: grads, shapes: shapes)
    }

    /// A place for a pullback to write the gradient of `input` directly, when `input` is a
    /// segment (a layer's weights) whose window of the flat gradient is still unwritten:
    /// a view into the parent's gradient buffer, or nil (then return a fresh tensor as usual).
    /// Writing there saves copying every weight gradient into the flat buffer.
    /// The pullback must then return exactly that view as the input's contribution.
    public func gradientDestination(for input: Variable) -> Tensor? {
        guard input.tape === self else { return nil }
        return gradientDestination(node: input.id, shape: input.shape)?.buffer
    }

    /// The view, and whether it holds zeros already (its parent's buffer came from
    /// `writeGradient(of:intoZeroed:)`): then the pullback may add into it.
    func gradientDestination(node id: Int, shape: [Int]) -> (buffer: Tensor, zeroed: Bool)? {
        guard id >= 0, id < backward.count, grads.count == backward.count,
              grads[id] == nil, !claimed.contains(id),
              case let .segment(parent, offset) = backward[id] else { return nil }
        if grads[parent] == nil { allocateFlatBuffer(parent) }
        let window = offset..<(offset + shape.reduce(1, *))
        guard let ranges = written[parent], !ranges.contains(where: { $0.overlaps(window) }),
              let buffer = grads[parent] else { return nil }
        written[parent]!.append(window)
        claimed.insert(id)
        return (Tensor(storage: buffer.storage, offset: buffer.offset + offset, shape: shape), zeroFilled.contains(parent))
    }

    func allocateFlatBuffer(_ i: Int) {
        if let zeroed = zeroedBuffers.removeValue(forKey: i) {
            grads[i] = zeroed
            zeroFilled.insert(i)
        } else {
            grads[i] = Tensor(uninitializedShape: shapes[i])
        }
        written[i] = []
        owned.insert(i)
    }

    /// Zeroes the unwritten gaps of `i`'s gradient buffer (unless it came zeroed) and leaves
    /// tracking mode, so it can be read or accumulated into as an ordinary tensor.
    func finishWindows(of i: Int) {
        guard let ranges = written.removeValue(forKey: i), let buffer = grads[i] else { return }
        if zeroFilled.contains(i) { return }
        Self.zeroGaps(buffer.storage.pointer + buffer.offset, count: buffer.count, written: ranges)
    }

    /// Writes into a flat buffer the tape allocated (`owned`). Raw access on purpose: views handed out
    /// by `gradientDestination` share its storage, and copy-on-write would duplicate it.
    func copy(_ g: Tensor, into parent: Int, at offset: Int, add: Bool) {
        let buffer = grads[parent]!
        let d = buffer.storage.pointer + buffer.offset + offset
        g.withUnsafeBufferPointer { src in
            if add { for j in 0..<src.count { d[j] += src[j] } } else { d.update(from: src.baseAddress!, count: src.count) }
        }
    }

    /// Zeroes every element of `p[0..<count]` outside the (disjoint) `written` ranges.
    static func zeroGaps(_ p: UnsafeMutablePointer<Float>, count: Int, written: [Range<Int>]) {
        var next = 0
        for r in written.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if r.lowerBound > next { (p + next).initialize(repeating: 0, count: r.lowerBound - next) }
            next = Swift.max(next, r.upperBound)
        }
        if next < count { (p + next).initialize(repeating: 0, count: count - next) }
    }

    /// Adds a contribution to node `i`'s gradient. Buffers the tape owns (a parent's flat
    /// buffer, views of it handed out by `gradientDestination`) are added to in place;
    /// anything else goes through copy-on-write, since pullbacks may return shared tensors.
    func accumulate(_ c: Tensor, into i: Int) {
        guard let existing = grads[i] else { grads[i] = c; return }
        if claimed.contains(i) || owned.contains(i) {
            finishWindows(of: i)
            let d = existing.storage.pointer + existing.offset
            c.withUnsafeBufferPointer { src in for j in 0..<src.count { d[j] += src[j] } }
        } else {
            grads[i]!.addInPlace(c)
        }
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
