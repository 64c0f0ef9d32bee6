/// Why a suite cannot run. Raised while reading the suite, before any training; the
/// message names the file (or built-in suite), the line, and the field.
public enum SuiteError: Error, CustomStringConvertible, Equatable {
    /// The suite file cannot be read.
    case unreadable(path: String, message: String)
    /// Neither a file nor a built-in suite has this name.
    case unknownSuite(name: String, builtIns: [String])
    /// The text is not valid JSON (or YAML).
    case syntax(source: String, line: Int, column: Int, message: String)
    /// A field is missing, of the wrong type, has an unknown value, or the combination is impossible.
    case invalid(source: String, line: Int, field: String, message: String)

    public var description: String {
        switch self {
        case let .unreadable(path, message):
            return "cannot read the suite file '\(path)': \(message)"
        case let .unknownSuite(name, builtIns):
            return "no suite file '\(name)' and no built-in suite of that name (built-in: \(builtIns.joined(separator: ", ")); `credence bench --list` describes them)"
        case let .syntax(source, line, column, message):
            return "\(source) line \(line), column \(column): \(message)"
        case let .invalid(source, line, field, message):
            return field.isEmpty ? "\(source) line \(line): \(message)" : "\(source) line \(line): \(field): \(message)"
        }
    }
}
