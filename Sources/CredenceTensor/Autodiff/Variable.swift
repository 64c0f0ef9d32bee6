/// A tensor inside a differentiable computation.
///
/// A `Variable` with a tape records every primitive applied to it; one without a tape
/// (`Variable(constant:)`) runs the same code with no recording — forward passes are
/// written once and serve both training and inference.
public struct Variable {
    public let value: Tensor
    public let tape: Tape?
    /// Node index on `tape`; -1 for constants.
    public let id: Int

    init(value: Tensor, tape: Tape?, id: Int) {
        self.value = value
        self.tape = tape
        self.id = id
    }

    /// A value that takes no gradient.
    public init(constant value: Tensor) { self.init(value: value, tape: nil, id: -1) }

    public var shape: [Int] { value.shape }
    public var isTracked: Bool { tape != nil }

    /// Records a primitive whose result is `value` with the given inputs and pullback.
    /// The pullback receives the output gradient and returns one gradient per input,
    /// shaped like that input (nil to skip). Nothing is recorded when no input is tracked.
    public static func record(_ value: Tensor, inputs: [Variable], pullback: @escaping (Tensor) -> [Tensor?]) -> Variable {
        guard let tape = inputs.first(where: { $0.tape != nil })?.tape else { return Variable(constant: value) }
        precondition(inputs.allSatisfy { $0.tape == nil || $0.tape === tape }, "variables from two different tapes were combined")
        let tracked = inputs.map { $0.tape != nil }
        let id = tape.append(.pullback(inputs: inputs.map(\.id), { g in
            let contributions = pullback(g)
            return zip(tracked, contributions).map { $0 ? $1 : nil }
        }), shape: value.shape)
        return Variable(value: value, tape: tape, id: id)
    }

    /// Records a unary primitive.
    @inlinable static func unary(_ x: Variable, _ value: Tensor, _ pullback: @escaping (Tensor) -> Tensor) -> Variable {
        record(value, inputs: [x]) { g in [pullback(g)] }
    }

    /// A contiguous window of a rank-1 variable, reshaped (no copy). Its gradient is
    /// added into the parent's gradient at `offset`.
    public func segment(offset: Int, shape: [Int]) throws -> Variable {
        let v = try value.segment(offset: offset, shape: shape)
        guard let tape else { return Variable(constant: v) }
        return Variable(value: v, tape: tape, id: tape.append(.segment(parent: id, offset: offset), shape: shape))
    }
}
