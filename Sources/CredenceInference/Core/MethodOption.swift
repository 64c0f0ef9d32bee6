/// One hyperparameter of an inference method, described once: its key (the same in suite
/// files, `--set key=value`, posterior archives and run keys), the values it takes, its
/// default and one line of help. The registry derives the CLI's help, the suite checks and
/// the run keys from these.
public struct MethodOption: Sendable {
    public enum Kind: Sendable {
        case integer(atLeast: Int)
        /// A real number with open bounds.
        case real(above: Double, below: Double?)
        /// A real number ≥ 0.
        case nonNegativeReal
        case choice([String])
    }

    public var key: String
    public var kind: Kind
    /// The value used when the option is not given (nil: unset, the method decides).
    public var defaultValue: String?
    public var help: String
    /// Whether the default is written into a run's settings when the option is not given.
    /// True for the options that existed when run keys were first written (so those keys stay
    /// the same); options added later leave the settings — and every existing run key — as
    /// they were unless a value is given.
    public var recordsDefault: Bool
    /// Other spellings of choices, canonicalised on input (laplace-torch's "kron").
    public var aliases: [String: String] = [:]

    public init(_ key: String, _ kind: Kind, default value: String? = nil, recordsDefault: Bool = false, help: String) {
        self.key = key
        self.kind = kind
        defaultValue = value
        self.recordsDefault = recordsDefault
        self.help = help
    }

    /// A choice among an option enum's cases.
    public static func choice<E: CaseIterable & RawRepresentable>(_ key: String, _ type: E.Type, default value: E?,
                                                                   recordsDefault: Bool = false, help: String,
                                                                   aliases: [String: String] = [:]) -> MethodOption
        where E.RawValue == String {
        var option = MethodOption(key, .choice(E.allCases.map(\.rawValue)), default: value?.rawValue, recordsDefault: recordsDefault, help: help)
        option.aliases = aliases
        return option
    }

    /// What values it takes, for help texts: "integer ≥ 2", "one of a, b", "number > 0".
    public var valueDescription: String {
        switch kind {
        case let .integer(minimum): return "integer ≥ \(minimum)"
        case let .real(lower, upper):
            return upper.map { "number in (\(Self.text(lower)), \(Self.text($0)))" } ?? "number > \(Self.text(lower))"
        case .nonNegativeReal: return "number ≥ 0"
        case let .choice(values):
            // A long list (the ensemble's member methods) gets spaces, so `--help` can wrap it.
            let compact = values.joined(separator: "|")
            return compact.count > 40 ? values.joined(separator: " | ") : compact
        }
    }

    /// The value's canonical text (what run settings and archives store), or why it is rejected.
    public func canonical(_ value: SettingInput) -> Result<String, SettingRejection> {
        switch kind {
        case let .integer(minimum):
            guard case let .number(v, text) = value else { return .failure(.type("an integer")) }
            guard let n = Int(exactly: v), !text.contains("."), !text.lowercased().contains("e") else {
                return .failure(.type("an integer"))
            }
            guard n >= minimum else { return .failure(.range("needs \(key) ≥ \(minimum), got \(n)")) }
            return .success(String(n))
        case let .real(lower, upper):
            guard case let .number(v, _) = value else { return .failure(.type("a number")) }
            guard v > lower, upper.map({ v < $0 }) ?? true else {
                let bounds = upper.map { "\(Self.text(lower)) < \(key) < \(Self.text($0))" } ?? "\(key) > \(Self.text(lower))"
                return .failure(.range("needs \(bounds), got \(Self.text(v))"))
            }
            return .success(String(describing: Float(v)))
        case .nonNegativeReal:
            guard case let .number(v, _) = value else { return .failure(.type("a number")) }
            guard v >= 0 else { return .failure(.range("needs \(key) ≥ 0, got \(Self.text(v))")) }
            return .success(String(describing: Float(v)))
        case let .choice(values):
            guard case let .string(s) = value else { return .failure(.type("one of \(values.joined(separator: ", "))")) }
            let name = aliases[s] ?? s
            guard values.contains(name) else { return .failure(.unknown(s, values)) }
            return .success(name)
        }
    }

    public static func text(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : String(v)
    }
}

/// A setting's value as written, before it is checked: a number (with its text, so `2.0`
/// is not taken for an integer) or a string.
public enum SettingInput: Sendable, Equatable {
    case number(Double, text: String)
    case string(String)

    /// `key=value` text from the command line: numbers are numbers, anything else a string.
    public init(commandLine text: String) {
        if let v = Double(text), !text.isEmpty, text.lowercased() != "nan", !text.lowercased().contains("inf") {
            self = .number(v, text: text)
        } else {
            self = .string(text)
        }
    }
}

/// Why a setting's value was rejected.
public enum SettingRejection: Error, Sendable, Equatable {
    /// Wrong type; the associated text says what was expected.
    case type(String)
    case range(String)
    case unknown(String, [String])
}
