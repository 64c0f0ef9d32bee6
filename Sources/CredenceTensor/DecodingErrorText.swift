import Foundation

/// A decoding failure in words a user can act on — which field, what was wrong — instead of
/// Foundation's `DecodingError` dump ("dataCorrupted(Swift.DecodingError.Context(codingPath:
/// [...], debugDescription: ...))"). Other errors are described as they describe themselves.
///
/// ```swift
/// do { _ = try JSONDecoder().decode(Config.self, from: data) }
/// catch { print("config.json: \(readableDecodingError(error))") }
/// // config.json: field "model.hidden[1]" holds the wrong kind of value (expected Int)
/// ```
public func readableDecodingError(_ error: Error) -> String {
    guard let error = error as? DecodingError else { return "\(error)" }
    func path(_ context: DecodingError.Context) -> String {
        var text = ""
        for key in context.codingPath {
            if let index = key.intValue { text += "[\(index)]" } else { text += (text.isEmpty ? "" : ".") + key.stringValue }
        }
        return text.isEmpty ? "the top level" : "field \"\(text)\""
    }
    func underlying(_ context: DecodingError.Context) -> String {
        let detail = (context.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String
        return detail.map { " (\($0))" } ?? ""
    }
    switch error {
    case let .keyNotFound(key, context):
        return context.codingPath.isEmpty ? "field \"\(key.stringValue)\" is missing"
            : "\(path(context)) lacks field \"\(key.stringValue)\""
    case let .typeMismatch(type, context):
        return "\(path(context)) holds the wrong kind of value (expected \(type))"
    case let .valueNotFound(type, context):
        return "\(path(context)) is null (expected \(type))"
    case let .dataCorrupted(context):
        return context.codingPath.isEmpty
            ? "it is not valid JSON" + underlying(context)
            : "\(path(context)) holds an invalid value: \(context.debugDescription)"
    @unknown default:
        return "\(error)"
    }
}
