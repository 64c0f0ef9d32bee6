import ArgumentParser
import Credence

/// `--method NAME` and `--set key=value` as `train` and `fit` share them; the choices,
/// keys and help all come from `MethodRegistry`.
struct MethodArguments: ParsableArguments {
    @Option(help: ArgumentHelp("Inference method: \(MethodRegistry.names.joined(separator: ", ")).", valueName: "method"))
    var method: String?
    @Option(name: .customLong("set"), help: ArgumentHelp(
        "A setting of the method, key=value (repeatable); the keys of each method are listed below.", valueName: "key=value"))
    var settings: [String] = []

    /// The registry's methods and their settings, for `--help`.
    static var discussion: String { "Methods and their settings (--set key=value):\n" + MethodRegistry.optionsHelp }

    /// The method named by `--method` with the `--set` values, checked; nil without `--method`.
    func make() throws -> (any RegisteredMethod)? {
        guard let (name, values) = try canonicalSettings() else { return nil }
        return try describingErrors(of: name) { try MethodRegistry.make(name, recorded: values) }
    }

    /// The method and all its settings in one line that later versions of Credence write alike
    /// (`MethodRegistry.identity`); nil without `--method`. A resumed `train --method` continues a
    /// phase (SWAG's collection, a chain) only when this matches.
    func identity() throws -> String? {
        guard let (name, values) = try canonicalSettings() else { return nil }
        return try describingErrors(of: name) { try MethodRegistry.identity(name, recorded: values) }
    }

    /// The `--set` values of `--method` in canonical form.
    private func canonicalSettings() throws -> (name: String, values: [String: String])? {
        guard let method else {
            if let first = settings.first { throw ValidationError("--set \(first) needs --method") }
            return nil
        }
        let inputs = try settings.map { text -> (key: String, value: SettingInput) in
            guard let equals = text.firstIndex(of: "="), equals != text.startIndex else {
                throw ValidationError("--set takes key=value (e.g. --set members=5), got '\(text)'")
            }
            return (String(text[..<equals]), SettingInput(commandLine: String(text[text.index(after: equals)...])))
        }
        return (method, try describingErrors(of: method) { try MethodRegistry.canonicalValues(method, inputs: inputs) })
    }

    private func describingErrors<T>(of method: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as MethodSettingError {
            throw ValidationError(error.description)
        } catch let error as CustomStringConvertible & Error {
            throw ValidationError("\(method): \(error.description)")
        }
    }
}
