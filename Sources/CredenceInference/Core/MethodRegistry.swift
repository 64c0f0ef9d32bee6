import Foundation

/// The one list of inference methods. The CLI's `--method` choices and `--set` keys, suite
/// method entries, the benchmark runner, archive restore and the report's order all come
/// from here. Adding a method = its file, its test, and one line below.
public enum MethodRegistry {
    public static let methods: [any RegisteredMethod.Type] = [
        MAPMethod.self,
        TemperatureScalingMethod.self,
        MCDropoutMethod.self,
        DeepEnsembleMethod.self,
        SWAMethod.self,
        SWAGMethod.self,
        LaplaceMethod.self,
        SGLDMethod.self,
        PSGLDMethod.self,
        SGHMCMethod.self,
        CSGLDMethod.self,
        CSGHMCMethod.self,
        HMCMethod.self,
        NUTSMethod.self,
        VIMethod.self,
        VIFlipoutMethod.self,
        STFBNNMethod.self,
        VariationalDropoutMethod.self,
        BDKMethod.self,
        GPEDMethod.self,
        APDMethod.self,
    ]

    public static var names: [String] { methods.map { $0.name } }

    public static func method(named name: String) -> (any RegisteredMethod.Type)? {
        methods.first { $0.name == name }
    }

    /// The method called `name`, or an error listing the choices (with a near miss).
    public static func lookup(_ name: String) throws -> any RegisteredMethod.Type {
        guard let m = method(named: name) else { throw MethodSettingError.unknownMethod(name, choices: names) }
        return m
    }

    /// The method built from `key=value` inputs (the command line's `--set`): every key
    /// checked against the method's options and put in canonical form.
    public static func make(_ name: String, inputs: [(key: String, value: SettingInput)]) throws -> any RegisteredMethod {
        try make(name, recorded: try canonicalValues(name, inputs: inputs))
    }

    /// The `key=value` inputs of the method called `name`, each checked against its options
    /// and put in canonical form (what `make(_:recorded:)` takes).
    public static func canonicalValues(_ name: String, inputs: [(key: String, value: SettingInput)]) throws -> [String: String] {
        let type = try lookup(name)
        var values: [String: String] = [:]
        func accept(_ options: [MethodOption], strict: Bool) throws {
            for (key, input) in inputs {
                guard let option = options.first(where: { $0.key == key }) else {
                    if strict { throw MethodSettingError.unknownKey(method: type.name, key: key, allowed: options.map(\.key)) }
                    continue
                }
                switch option.canonical(input) {
                case let .success(text): values[key] = text
                case let .failure(rejection): throw MethodSettingError.invalidValue(method: type.name, key: key, rejection)
                }
            }
        }
        // A combinator's keys depend on a value given (its member method): read its own first.
        try accept(type.options, strict: false)
        try accept(type.options(given: values), strict: true)
        return values
    }

    /// The method and every setting it runs with — the values given, the defaults of the
    /// rest — as one line ("swag rank=20 swagEpochs=5 …", keys sorted): words that stay the same
    /// from one version of Credence to the next unless a setting's meaning or default changes.
    public static func identity(_ name: String, recorded values: [String: String]) throws -> String {
        let settings = try lookup(name).options(given: values).compactMap { option in
            (values[option.key] ?? option.defaultValue).map { "\(option.key)=\($0)" }
        }
        return ([name] + settings.sorted()).joined(separator: " ")
    }

    /// The method built from settings already in canonical form (a run's recorded settings,
    /// a suite's grid point, an ensemble's member): keys checked against its options.
    public static func make(_ name: String, recorded values: [String: String]) throws -> any RegisteredMethod {
        let type = try lookup(name)
        let options = type.options(given: values)
        if let stray = values.keys.sorted().first(where: { key in !options.contains { $0.key == key } }) {
            throw MethodSettingError.unknownKey(method: name, key: stray, allowed: options.map(\.key))
        }
        return try type.init(settings: MethodSettings(method: name, values: values, options: options))
    }

    /// The names of the methods of one phase (`fit` takes the post-hoc ones).
    public static func names(phase: MethodPhase) -> [String] { methods.filter { $0.phase == phase }.map { $0.name } }

    /// The order of the report and tables: the registry's (the baseline first).
    public static func rank(_ name: String) -> Int { names.firstIndex(of: name) ?? names.count }

    /// Every method's options as help text, one block per method.
    public static var optionsHelp: String {
        methods.map { type in
            let options = type.options
            let head = "\(type.name) (\(type.phase.rawValue)): \(type.summary)"
            guard !options.isEmpty else { return head }
            return head + "\n" + options.map { o in
                "    \(o.key)=\(o.valueDescription)\(o.defaultValue.map { " (default \($0))" } ?? ""): \(o.help)"
            }.joined(separator: "\n")
        }.joined(separator: "\n")
    }
}

/// A method's checked settings: canonical text per key, with the options' defaults behind.
public struct MethodSettings {
    public var method: String
    /// The values given (canonical text), by key.
    public var values: [String: String]
    public var options: [MethodOption]

    public init(method: String, values: [String: String], options: [MethodOption]) {
        self.method = method
        self.values = values
        self.options = options
    }

    /// The given value or the default; nil when neither exists.
    public func text(_ key: String) -> String? {
        values[key] ?? options.first { $0.key == key }?.defaultValue
    }

    public func value<T: LosslessStringConvertible>(_ key: String, as type: T.Type = T.self) throws -> T? {
        guard let text = text(key) else { return nil }
        guard let v = T(text) else { throw MethodSettingError.invalidValue(method: method, key: key, .type("\(T.self)")) }
        return v
    }

    /// The value or default of an option that has one.
    public func required<T: LosslessStringConvertible>(_ key: String, as type: T.Type = T.self) throws -> T {
        guard let v = try value(key, as: type) else {
            throw MethodSettingError.invalidValue(method: method, key: key, .type("a value (the option has no default)"))
        }
        return v
    }

    public func choice<E: RawRepresentable>(_ key: String, as type: E.Type = E.self) throws -> E? where E.RawValue == String {
        guard let text = text(key) else { return nil }
        guard let v = E(rawValue: text) else {
            throw MethodSettingError.invalidValue(method: method, key: key, .unknown(text, []))
        }
        return v
    }

    /// What a run records: the given values plus the defaults of options that record theirs.
    public var recorded: [String: String] {
        var out = values
        for o in options where o.recordsDefault && out[o.key] == nil { out[o.key] = o.defaultValue }
        return out
    }
}

/// A method name or setting that cannot be used, with what can.
public enum MethodSettingError: Error, CustomStringConvertible, Equatable {
    case unknownMethod(String, choices: [String])
    case unknownKey(method: String, key: String, allowed: [String])
    case invalidValue(method: String, key: String, SettingRejection)

    public var description: String {
        switch self {
        case let .unknownMethod(name, choices):
            return "unknown method '\(name)' (choose from \(choices.joined(separator: ", ")))"
        case let .unknownKey(method, key, allowed):
            return allowed.isEmpty ? "\(method) takes no settings, got '\(key)'"
                : "\(method) has no setting '\(key)' (its settings: \(allowed.joined(separator: ", ")))"
        case let .invalidValue(method, key, rejection):
            switch rejection {
            case let .type(expected): return "\(method) setting \(key) must be \(expected)"
            case let .range(message): return "\(method) \(message)"
            case let .unknown(value, choices):
                return "\(method) setting \(key): unknown value '\(value)'" + (choices.isEmpty ? "" : " (choose from \(choices.joined(separator: ", ")))")
            }
        }
    }
}
