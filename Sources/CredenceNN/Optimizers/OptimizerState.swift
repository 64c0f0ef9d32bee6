import CredenceTensor

/// Everything an `Optimizer` carries from one step to the next: the step count (which the
/// learning-rate schedule and Adam's bias correction continue from) and each transform's
/// state vectors, named `"optimizer.<transform index>.<state name>"` — e.g. `"optimizer.0.m"`,
/// `"optimizer.0.v"` for Adam, `"optimizer.1.velocity"` for momentum after weight decay.
///
/// The names cannot clash with parameter names (`"1.weight"`), so a checkpoint stores the
/// state next to the parameters in one file (`Checkpoint.optimizerState`).
///
/// ```swift
/// let state = optimizer.exportState()             // after k steps
/// var resumed = Optimizer.adam(learningRate: .constant(1e-3), parameterCount: n)
/// try resumed.importState(state)                  // continues exactly as `optimizer` would
/// ```
public struct OptimizerState: Equatable, Sendable {
    /// The prefix of every optimizer state tensor name.
    public static let tensorPrefix = "optimizer."

    /// Updates applied so far.
    public var step: Int
    /// The transform chain that produced the state, by type name
    /// (e.g. `["ScaleByAdam", "ScaleByLearningRate"]`); importing checks it.
    public var transforms: [String]
    /// State vectors by name, each rank 1 with one element per parameter.
    public var tensors: [String: Tensor]

    public init(step: Int, transforms: [String], tensors: [String: Tensor]) {
        self.step = step
        self.transforms = transforms
        self.tensors = tensors
    }

    /// `"optimizer.<transform>.<state>"`.
    public static func tensorName(transform: Int, state: String) -> String {
        "\(tensorPrefix)\(transform).\(state)"
    }

    /// The transform index and state name of `"optimizer.<index>.<state>"`; nil for other names.
    public static func parseTensorName(_ name: String) -> (transform: Int, state: String)? {
        guard name.hasPrefix(tensorPrefix) else { return nil }
        let rest = name.dropFirst(tensorPrefix.count)
        guard let dot = rest.firstIndex(of: "."), let index = Int(rest[..<dot]), index >= 0 else { return nil }
        let state = String(rest[rest.index(after: dot)...])
        return state.isEmpty ? nil : (index, state)
    }

    /// Tensor names ordered by transform index, then state name (a stable file order).
    public var orderedNames: [String] {
        tensors.keys.sorted { a, b in
            let pa = Self.parseTensorName(a), pb = Self.parseTensorName(b)
            switch (pa, pb) {
            case let (x?, y?): return (x.transform, x.state) < (y.transform, y.state)
            case (nil, .some): return false
            case (.some, nil): return true
            case (nil, nil): return a < b
            }
        }
    }
}

/// Why optimizer state could not be imported. The optimizer is unchanged when one is thrown.
public enum OptimizerStateError: Error, CustomStringConvertible, Equatable {
    /// The state comes from a different chain of transforms (other optimizer, weight decay or clipping).
    case transformMismatch(expected: [String], found: [String])
    /// State vectors the optimizer's transforms need are absent.
    case missingState(names: [String])
    /// State vectors no transform of the optimizer has a place for.
    case unexpectedState(names: [String])
    /// A state vector of the wrong shape (the state belongs to a model of another size).
    case stateShape(name: String, expected: [Int], found: [Int])
    /// A negative step count.
    case invalidStep(Int)

    public var description: String {
        let hint = "restore it into an optimizer built with the same settings it was saved with (optimizer kind, momentum, weight decay, gradient clipping, model size)"
        switch self {
        case let .transformMismatch(expected, found):
            return "optimizer state does not match the optimizer: it was saved from the transform chain [\(found.joined(separator: ", "))], but this optimizer is [\(expected.joined(separator: ", "))]; \(hint)"
        case let .missingState(names):
            return "optimizer state is incomplete: it lacks \(Self.list(names)); \(hint)"
        case let .unexpectedState(names):
            return "optimizer state does not match the optimizer: it holds \(Self.list(names)) that no transform of this optimizer has; \(hint)"
        case let .stateShape(name, expected, found):
            return "optimizer state does not match the optimizer: '\(name)' has shape \(found) but this optimizer needs \(expected); \(hint)"
        case let .invalidStep(step):
            return "optimizer state has step count \(step); it must be ≥ 0"
        }
    }

    static func list(_ names: [String]) -> String {
        let shown = names.prefix(8).map { "'\($0)'" }.joined(separator: ", ")
        return names.count > 8 ? "\(names.count) state vectors (\(shown), ...)" : shown
    }
}
