/// Errors raised by tensor operations. Each message names the operation, the
/// offending shapes or values, and what the caller can do.
public enum TensorError: Error, CustomStringConvertible, Equatable {
    /// Two operands whose shapes cannot be combined by `operation`.
    case shapeMismatch(operation: String, shapes: [[Int]], expected: String)
    /// An argument outside its allowed range (axis, index, size, probability, ...).
    case invalidArgument(operation: String, message: String)

    public var description: String {
        switch self {
        case let .shapeMismatch(operation, shapes, expected):
            let list = shapes.map { "\($0)" }.joined(separator: " and ")
            return "\(operation): incompatible shapes \(list); \(expected)"
        case let .invalidArgument(operation, message):
            return "\(operation): \(message)"
        }
    }
}

