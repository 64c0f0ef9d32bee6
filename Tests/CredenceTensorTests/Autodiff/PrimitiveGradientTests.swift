import Testing
@testable import CredenceTensor

/// A finite-difference gradient check for every differentiable primitive on `Variable`.
/// Inputs avoid kinks (relu, abs, clamp, max ties) by more than the harness's ε = 1e-2.
@Suite struct PrimitiveGradientTests {
    let check = GradientCheck()

    // MARK: Broadcasting arithmetic

    /// Shape pairs covering every kernel path: equal shapes, bias row, outer product,
    /// scalar on either side, and a general two-sided broadcast.
    static let shapePairs: [ShapePair] = [
        ShapePair([2, 3], [2, 3]), ShapePair([3, 4], [4]), ShapePair([3, 1], [1, 4]),
        ShapePair([], [2, 3]), ShapePair([2, 3], []), ShapePair([2, 1, 3], [4, 1]), ShapePair([4], [3, 1]),
    ]

    @Test(arguments: shapePairs) func add(_ p: ShapePair) throws {
        try check.check("add \(p)", [.testInput(p.a, seed: 1), .testInput(p.b, seed: 2)]) { v in try v[0] + v[1] }
    }

    @Test(arguments: shapePairs) func subtract(_ p: ShapePair) throws {
        try check.check("subtract \(p)", [.testInput(p.a, seed: 3), .testInput(p.b, seed: 4)]) { v in try v[0] - v[1] }
    }

    @Test(arguments: shapePairs) func multiply(_ p: ShapePair) throws {
        try check.check("multiply \(p)", [.testInput(p.a, seed: 5), .testInput(p.b, seed: 6)]) { v in try v[0] * v[1] }
    }

    @Test(arguments: shapePairs) func divide(_ p: ShapePair) throws {
        // Divisors kept at |b| ≥ 0.7 so 1/b is smooth on the ε scale.
        try check.check("divide \(p)", [.testInput(p.a, seed: 7), .testInput(p.b, seed: 8, margin: 0.7)]) { v in try v[0] / v[1] }
    }

    @Test func arithmeticWithOneUntrackedOperand() throws {
        let c = Variable(constant: .testInput([4], seed: 9, margin: 0.7))
        try check.check("x * const", [.testInput([3, 4], seed: 10)]) { v in try v[0] * c }
        try check.check("const / x", [.testInput([3, 4], seed: 11, margin: 0.7)]) { v in try c / v[0] }
        try check.check("const - x", [.testInput([3, 4], seed: 12)]) { v in try c - v[0] }
    }

    @Test func scalarMultiplyAddAndNegate() throws {
        let x = Tensor.testInput([2, 3], seed: 13)
        try check.check("x * 2.5", [x]) { v in v[0] * 2.5 }
        try check.check("x + 1.5", [x]) { v in v[0] + 1.5 }
        try check.check("-x", [x]) { v in -v[0] }
    }

    // MARK: Unary math

    @Test func exp() throws {
        try check.check("exp", [.testInput([2, 3], seed: 20)]) { v in v[0].exp() }
    }

    @Test func log() throws {
        try check.check("log", [.positiveInput([2, 3], seed: 21)]) { v in v[0].log() }
    }

    @Test func sqrt() throws {
        try check.check("sqrt", [.positiveInput([2, 3], seed: 22)]) { v in v[0].sqrt() }
    }

    @Test func tanh() throws {
        try check.check("tanh", [.testInput([2, 3], seed: 23)]) { v in v[0].tanh() }
    }

    @Test func sigmoid() throws {
        try check.check("sigmoid", [.testInput([2, 3], seed: 24, scale: 3)]) { v in v[0].sigmoid() }
    }

    @Test func relu() throws {
        try check.check("relu", [.testInput([3, 4], seed: 25, margin: 0.1)]) { v in v[0].relu() }
    }

    @Test func softplus() throws {
        try check.check("softplus", [.testInput([3, 4], seed: 26, scale: 3)]) { v in v[0].softplus() }
    }

    @Test func gelu() throws {
        try check.check("gelu", [.testInput([3, 4], seed: 27, scale: 2)]) { v in v[0].gelu() }
    }

    @Test func abs() throws {
        try check.check("abs", [.testInput([3, 4], seed: 28, margin: 0.1)]) { v in v[0].abs() }
    }

    @Test func clamped() throws {
        // Values (k + 0.5)·0.1 − 1.2 sit 0.05 away from the bounds ±0.5, both inside and outside.
        let x = Tensor.distinctInput([4, 6], seed: 29)
        #expect(x.values.contains { $0 < -0.5 } && x.values.contains { $0 > 0.5 } && x.values.contains { Swift.abs($0) < 0.5 })
        try check.check("clamped", [x]) { v in v[0].clamped(min: -0.5, max: 0.5) }
    }

    @Test func select() throws {
        let condition = Tensor(shape: [2, 3], values: [1, 0, 0, 1, 1, 0])
        try check.check("select same shape", [.testInput([2, 3], seed: 30), .testInput([2, 3], seed: 31)]) { v in
            try Variable.select(condition, v[0], v[1])
        }
        // a broadcasts along rows, b is a scalar: their gradients are summed back down.
        try check.check("select broadcast", [.testInput([3], seed: 32), .testInput([], seed: 33)]) { v in
            try Variable.select(condition, v[0], v[1])
        }
    }

    // MARK: Linear algebra

    @Test(arguments: [(false, false), (false, true), (true, false), (true, true)])
    func matmul(_ transposeLeft: Bool, _ transposeRight: Bool) throws {
        let m = 3, k = 4, n = 2
        let a = Tensor.testInput(transposeLeft ? [k, m] : [m, k], seed: 40)
        let b = Tensor.testInput(transposeRight ? [n, k] : [k, n], seed: 41)
        try check.check("matmul tL \(transposeLeft) tR \(transposeRight)", [a, b]) { v in
            try v[0].matmul(v[1], transposeLeft: transposeLeft, transposeRight: transposeRight)
        }
    }

    @Test func matmulOfAVariableWithItself() throws {
        // x·xᵀ: both pullbacks land on the same variable and must accumulate.
        try check.check("x·xᵀ", [.testInput([3, 4], seed: 42)]) { v in try v[0].matmul(v[0], transposeRight: true) }
    }

    @Test func affine() throws {
        try check.check("x·Wᵀ + b", [.testInput([5, 4], seed: 43), .testInput([3, 4], seed: 44), .testInput([3], seed: 45)]) { v in
            try v[0].affine(weight: v[1], bias: v[2])
        }
    }

    /// The fused dense layer gives the numbers of the product and the broadcast add it
    /// replaces, bit for bit — with its weight and bias windows of one flat parameter vector
    /// (their gradients written straight into its buffer) and with a constant input.
    @Test(arguments: [true, false]) func affineEqualsMatmulPlusBias(_ inputTracked: Bool) throws {
        let x = Tensor.testInput([7, 5], seed: 46), theta = Tensor.testInput([3 * 5 + 3], seed: 47)
        func run(_ fused: Bool) throws -> (Tensor, Tensor, Tensor?) {
            let tape = Tape()
            let t = tape.variable(theta)
            let input = inputTracked ? tape.variable(x) : Variable(constant: x)
            let w = try t.segment(offset: 0, shape: [3, 5]), b = try t.segment(offset: 15, shape: [3])
            let y = fused ? try input.affine(weight: w, bias: b) : try input.matmul(w, transposeRight: true) + b
            let loss = try (y * y).sum()
            let gradients = tape.gradients(of: loss)
            return (y.value, gradients[t], inputTracked ? gradients[input] : nil)
        }
        let (fused, composed) = (try run(true), try run(false))
        #expect(fused.0 == composed.0)
        #expect(fused.1 == composed.1)
        #expect(fused.2 == composed.2)
        #expect(throws: TensorError.self) { try Variable(constant: x).affine(weight: Variable(constant: .testInput([3, 5], seed: 1)),
                                                                             bias: Variable(constant: .testInput([4], seed: 2))) }
    }

    // MARK: Reductions

    static let reductionCases: [ReductionCase] = [
        ReductionCase(axes: [0], keepDims: false), ReductionCase(axes: [1], keepDims: true),
        ReductionCase(axes: [2], keepDims: false), ReductionCase(axes: [-1], keepDims: true),
        ReductionCase(axes: [0, 2], keepDims: false), ReductionCase(axes: [2, 0], keepDims: true),
        ReductionCase(axes: nil, keepDims: false), ReductionCase(axes: nil, keepDims: true),
        ReductionCase(axes: [], keepDims: false),
    ]

    @Test(arguments: reductionCases) func sum(_ c: ReductionCase) throws {
        try check.check("sum \(c)", [.testInput([2, 3, 4], seed: 50)]) { v in try v[0].sum(axes: c.axes, keepDims: c.keepDims) }
    }

    @Test(arguments: reductionCases) func mean(_ c: ReductionCase) throws {
        try check.check("mean \(c)", [.testInput([2, 3, 4], seed: 51)]) { v in try v[0].mean(axes: c.axes, keepDims: c.keepDims) }
    }

    @Test(arguments: reductionCases) func max(_ c: ReductionCase) throws {
        try check.check("max \(c)", [.distinctInput([2, 3, 4], seed: 52)]) { v in try v[0].max(axes: c.axes, keepDims: c.keepDims) }
    }

    @Test func logSumExp() throws {
        try check.check("logSumExp rank 2", [.testInput([3, 5], seed: 53, scale: 2)]) { v in v[0].logSumExp() }
        try check.check("logSumExp rank 3", [.testInput([2, 2, 3], seed: 54, scale: 2)]) { v in v[0].logSumExp() }
        try check.check("logSumExp rank 1", [.testInput([4], seed: 55)]) { v in v[0].logSumExp() }
    }

    @Test func softmax() throws {
        try check.check("softmax", [.testInput([3, 5], seed: 56, scale: 2)]) { v in v[0].softmax() }
        try check.check("softmax rank 3", [.testInput([2, 2, 3], seed: 57)]) { v in v[0].softmax() }
    }

    @Test func logSoftmax() throws {
        try check.check("logSoftmax", [.testInput([3, 5], seed: 58, scale: 2)]) { v in v[0].logSoftmax() }
        try check.check("logSoftmax rank 3", [.testInput([2, 2, 3], seed: 59)]) { v in v[0].logSoftmax() }
    }

    // MARK: Shape

    @Test func reshaped() throws {
        // Followed by a broadcasting multiply so a wrong element order would change the result.
        let w = Variable(constant: .testInput([4, 3], seed: 60))
        try check.check("reshaped", [.testInput([2, 6], seed: 61)]) { v in try v[0].reshaped([4, -1]) * w }
    }

    @Test(arguments: [[0, 2, 1], [2, 0, 1], [1, 2, 0], [2, 1, 0], [0, 1, 2]])
    func permuted(_ axes: [Int]) throws {
        try check.check("permuted \(axes)", [.testInput([2, 3, 4], seed: 62)]) { v in try v[0].permuted(axes) }
    }

    @Test func transposed() throws {
        try check.check("transposed", [.testInput([3, 5], seed: 63)]) { v in try v[0].transposed() }
    }

    @Test(arguments: [(0, 1..<3), (1, 0..<2), (2, 1..<4), (-1, 3..<4), (1, 0..<3)])
    func slice(_ axis: Int, _ range: Range<Int>) throws {
        try check.check("slice axis \(axis) \(range)", [.testInput([3, 3, 4], seed: 64)]) { v in try v[0].slice(axis: axis, range) }
    }

    @Test(arguments: [0, 1, -1])
    func concatenate(_ axis: Int) throws {
        let a: [Int], b: [Int], c: [Int]
        switch axis {
        case 0: (a, b, c) = ([1, 3], [2, 3], [3, 3])
        default: (a, b, c) = ([3, 1], [3, 2], [3, 3])
        }
        try check.check("concatenate axis \(axis)", [.testInput(a, seed: 65), .testInput(b, seed: 66), .testInput(c, seed: 67)]) { v in
            try Variable.concatenate(v, axis: axis)
        }
    }

    @Test func concatenateAVariableWithItself() throws {
        try check.check("concatenate [x, x]", [.testInput([2, 3], seed: 68)]) { v in try Variable.concatenate([v[0], v[0]], axis: 1) }
    }

    @Test func gatherColumns() throws {
        try check.check("gatherColumns", [.testInput([4, 3], seed: 69)]) { v in try v[0].gatherColumns([2, 0, 1, 2]) }
    }

    @Test func segment() throws {
        // Two windows of one flat vector (overlapping at 4..<6), reshaped and combined.
        try check.check("segment", [.testInput([10], seed: 70)]) { v in
            let w = try v[0].segment(offset: 2, shape: [2, 2])
            let b = try v[0].segment(offset: 4, shape: [2])
            return try (w * w) + b
        }
    }

    @Test func inputsThatAreViews() throws {
        // Leaves whose values are windows of larger storages (offset ≠ 0) go through every
        // kernel's offset handling in both passes.
        let flat = Tensor.testInput([20], seed: 71)
        let a = try flat.segment(offset: 3, shape: [2, 3]), b = try flat.segment(offset: 11, shape: [3, 2])
        let bias = try flat.segment(offset: 17, shape: [2])
        try check.check("views: matmul + bias, softmax, max", [a, b, bias]) { v in
            let h = try v[0].matmul(v[1]) + v[2]
            return try h.softmax() + h.tanh().max(axes: [0], keepDims: true)
        }
    }

    // MARK: Composites (tape accumulation)

    @Test func variableUsedTwice() throws {
        let x = Tensor.testInput([2, 3], seed: 80)
        try check.check("x * x", [x]) { v in try v[0] * v[0] }
        try check.check("x + x", [x]) { v in try v[0] + v[0] }
        try check.check("x - x·x/x", [Tensor.testInput([2, 3], seed: 81, margin: 0.5)]) { v in try v[0] - (v[0] * v[0]) / v[0] }
        try check.check("exp(x)·tanh(x) + x", [x]) { v in try (v[0].exp() * v[0].tanh()) + v[0] }
    }

    @Test func twoLayerPerceptronWithCrossEntropy() throws {
        let labels: [Int32] = [0, 2, 1, 1]
        let inputs: [Tensor] = [
            .testInput([4, 3], seed: 90), .testInput([3, 5], seed: 91, scale: 0.7), .testInput([5], seed: 92, scale: 0.3),
            .testInput([5, 3], seed: 93, scale: 0.7), .testInput([3], seed: 94, scale: 0.3),
        ]
        let violation = try check.check("MLP cross-entropy", inputs) { v in
            let hidden = try (v[0].matmul(v[1]) + v[2]).tanh()
            let logits = try hidden.matmul(v[3]) + v[4]
            return try logits.logSoftmax().gatherColumns(labels).mean() * -1
        }
        #expect(violation <= 0)
    }
}

struct ShapePair: Sendable, CustomTestStringConvertible {
    let a: [Int], b: [Int]
    init(_ a: [Int], _ b: [Int]) { self.a = a; self.b = b }
    var testDescription: String { "\(a) ∘ \(b)" }
}

struct ReductionCase: Sendable, CustomTestStringConvertible {
    let axes: [Int]?
    let keepDims: Bool
    var testDescription: String { "axes \(axes.map { "\($0)" } ?? "all") keepDims \(keepDims)" }
}
