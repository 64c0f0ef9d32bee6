/// A parsed suite-file value that remembers where it starts, so errors can name the line.
/// Produced by `SuiteNode.parseJSON` (and `parseYAML`), read by `SuiteDecoder`.
struct SuiteNode {
    indirect enum Kind {
        /// Members in file order (duplicate keys are rejected by the parsers).
        case object([(key: String, node: SuiteNode)])
        case array([SuiteNode])
        case string(String)
        /// The number and its text as written (so `10` is an integer and `1e-3` is not).
        case number(Double, text: String)
        case bool(Bool)
        case null
    }

    var kind: Kind
    /// 1-based line and column of the value's first character.
    var line: Int
    var column: Int

    /// "an object", "the string \"ten\"", ... for type errors.
    var description: String {
        switch kind {
        case .object: return "an object"
        case .array: return "a list"
        case let .string(s): return "the string \"\(s)\""
        case let .number(_, text): return "the number \(text)"
        case let .bool(b): return "\(b)"
        case .null: return "null"
        }
    }
}

/// A syntax error at a position (1-based).
struct SuiteSyntaxError: Error {
    var line: Int
    var column: Int
    var message: String
}

extension SuiteNode {
    /// Parses JSON text (RFC 8259), keeping the line and column of every value.
    static func parseJSON(_ text: String) throws -> SuiteNode {
        var parser = JSONPositionParser(bytes: Array(text.utf8))
        parser.skipWhitespace()
        let node = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.index == parser.bytes.count else { throw parser.error("unexpected text after the end of the suite") }
        return node
    }
}

/// A small recursive-descent JSON reader over UTF-8 bytes that tracks lines.
private struct JSONPositionParser {
    let bytes: [UInt8]
    var index = 0
    var line = 1
    var lineStart = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    var column: Int { index - lineStart + 1 }

    func error(_ message: String) -> SuiteSyntaxError {
        SuiteSyntaxError(line: line, column: column, message: message)
    }

    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\n"): index += 1; line += 1; lineStart = index
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"): index += 1
            default: return
            }
        }
    }

    /// What is at the cursor, for messages.
    var found: String {
        guard index < bytes.count else { return "the end of the file" }
        let scalar = Unicode.Scalar(bytes[index])
        return bytes[index] < 0x80 ? "'\(Character(scalar))'" : "a non-ASCII character"
    }

    mutating func value(depth: Int) throws -> SuiteNode {
        guard depth < 64 else { throw error("nested too deeply") }
        let (l, c) = (line, column)
        guard index < bytes.count else { throw error("expected a value, found the end of the file") }
        func node(_ kind: SuiteNode.Kind) -> SuiteNode { SuiteNode(kind: kind, line: l, column: c) }
        switch bytes[index] {
        case UInt8(ascii: "{"):
            index += 1
            var members: [(key: String, node: SuiteNode)] = []
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return node(.object(members)) }
            while true {
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
                    throw error("expected a field name in double quotes, found \(found)")
                }
                let keyLine = line, keyColumn = column
                let key = try string()
                if members.contains(where: { $0.key == key }) {
                    throw SuiteSyntaxError(line: keyLine, column: keyColumn, message: "the field \"\(key)\" appears twice in this object")
                }
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':' after \"\(key)\", found \(found)") }
                index += 1
                skipWhitespace()
                members.append((key, try value(depth: depth + 1)))
                skipWhitespace()
                guard index < bytes.count else { throw error("expected ',' or '}', found the end of the file") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "}") { index += 1; return node(.object(members)) }
                throw error("expected ',' or '}' after the value of \"\(key)\", found \(found)")
            }
        case UInt8(ascii: "["):
            index += 1
            var elements: [SuiteNode] = []
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; return node(.array(elements)) }
            while true {
                skipWhitespace()
                elements.append(try value(depth: depth + 1))
                skipWhitespace()
                guard index < bytes.count else { throw error("expected ',' or ']', found the end of the file") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "]") { index += 1; return node(.array(elements)) }
                throw error("expected ',' or ']' in the list, found \(found)")
            }
        case UInt8(ascii: "\""):
            return node(.string(try string()))
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return node(try number())
        default:
            for (word, kind) in [("true", SuiteNode.Kind.bool(true)), ("false", .bool(false)), ("null", .null)]
            where bytes[index...].starts(with: word.utf8) {
                index += word.utf8.count
                return node(kind)
            }
            throw error("expected a value (object, list, string, number, true, false or null), found \(found)")
        }
    }

    mutating func string() throws -> String {
        index += 1  // opening quote
        var scalars = String.UnicodeScalarView()
        var run: [UInt8] = []  // raw UTF-8 between escapes
        func flush() { scalars.append(contentsOf: String(decoding: run, as: UTF8.self).unicodeScalars); run.removeAll() }
        while true {
            guard index < bytes.count else { throw error("unterminated string") }
            let b = bytes[index]
            if b == UInt8(ascii: "\"") { index += 1; break }
            if b == UInt8(ascii: "\n") || b < 0x20 { throw error("unterminated string (a line break or control character inside quotes)") }
            guard b == UInt8(ascii: "\\") else { run.append(b); index += 1; continue }
            flush()
            index += 1
            guard index < bytes.count else { throw error("unterminated string") }
            let e = bytes[index]
            index += 1
            switch e {
            case UInt8(ascii: "\""): scalars.append("\"")
            case UInt8(ascii: "\\"): scalars.append("\\")
            case UInt8(ascii: "/"): scalars.append("/")
            case UInt8(ascii: "b"): scalars.append("\u{08}")
            case UInt8(ascii: "f"): scalars.append("\u{0C}")
            case UInt8(ascii: "n"): scalars.append("\n")
            case UInt8(ascii: "r"): scalars.append("\r")
            case UInt8(ascii: "t"): scalars.append("\t")
            case UInt8(ascii: "u"):
                var code = try hex4()
                if (0xD800..<0xDC00).contains(code), bytes[index...].starts(with: "\\u".utf8) {
                    index += 2
                    let low = try hex4()
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let scalar = Unicode.Scalar(code) else { throw error("invalid \\u escape") }
                scalars.append(scalar)
            default: throw error("invalid escape '\\\(Character(Unicode.Scalar(e)))' in a string")
            }
        }
        flush()
        return String(scalars)
    }

    mutating func hex4() throws -> UInt32 {
        guard index + 4 <= bytes.count, let v = UInt32(String(decoding: bytes[index..<(index + 4)], as: UTF8.self), radix: 16) else {
            throw error("a \\u escape needs four hex digits")
        }
        index += 4
        return v
    }

    mutating func number() throws -> SuiteNode.Kind {
        let start = index
        func digits() -> Int {
            let s = index
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
            return index - s
        }
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        let intStart = index
        guard digits() > 0 else { throw error("a number needs digits after '-'") }
        if bytes[intStart] == UInt8(ascii: "0") && index - intStart > 1 { throw error("numbers may not have leading zeros") }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard digits() > 0 else { throw error("a number needs digits after '.'") }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard digits() > 0 else { throw error("a number needs digits in its exponent") }
        }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        guard let value = Double(text), value.isFinite else { throw error("the number \(text) is out of range") }
        return .number(value, text: text)
    }
}
