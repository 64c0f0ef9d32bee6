/// The YAML subset suite files may use (no package needed): block mappings (`key: value`),
/// block sequences (`- item`, also of mappings), single-line flow lists and mappings
/// (`[a, b]`, `{name: swag, rank: 20}`), plain, single- and double-quoted scalars, `#`
/// comments and a leading `---`. Plain scalars are typed as YAML 1.2's core schema does
/// (numbers, `true`/`false`, `null`/`~`, otherwise strings). Anchors, tags, multi-line
/// scalars and multi-document files are refused with the line they appear on.
extension SuiteNode {
    static func parseYAML(_ text: String) throws -> SuiteNode {
        var reader = YAMLBlockReader(lines: try YAMLLine.split(text))
        guard !reader.lines.isEmpty else { throw SuiteSyntaxError(line: 1, column: 1, message: "the suite is empty") }
        let node = try reader.block(indent: reader.lines[0].indent)
        if reader.index < reader.lines.count {
            let line = reader.lines[reader.index]
            throw SuiteSyntaxError(line: line.number, column: line.indent + 1, message: "unexpected indentation (or a second top-level value)")
        }
        return node
    }
}

/// One non-blank line without its comment: 1-based number, leading spaces, the rest.
struct YAMLLine {
    var number: Int
    var indent: Int
    var content: String

    static func split(_ text: String) throws -> [YAMLLine] {
        var result: [YAMLLine] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = String(raw)
            if line.hasSuffix("\r") { line.removeLast() }
            let indent = line.prefix { $0 == " " }.count
            if line.dropFirst(indent).first == "\t" {
                throw SuiteSyntaxError(line: i + 1, column: indent + 1, message: "tabs are not allowed for indentation in YAML; use spaces")
            }
            let content = stripComment(String(line.dropFirst(indent)))
            if content.isEmpty || (result.isEmpty && content == "---") { continue }
            if content == "---" || content == "..." {
                throw SuiteSyntaxError(line: i + 1, column: 1, message: "a suite file holds one YAML document")
            }
            result.append(YAMLLine(number: i + 1, indent: indent, content: content))
        }
        return result
    }

    /// The text before a `#` that starts a comment (outside quotes, after a space or at the start), trimmed.
    static func stripComment(_ s: String) -> String {
        var quote: Character?
        var previous: Character = " "
        var end = s.endIndex
        for i in s.indices {
            let c = s[i]
            if let q = quote { if c == q { quote = nil } } else if c == "\"" || c == "'" { quote = c } else if c == "#" && previous == " " {
                end = i
                break
            }
            previous = c
        }
        var out = String(s[..<end])
        while out.last == " " { out.removeLast() }
        return out
    }
}

/// Reads block structure by indentation.
struct YAMLBlockReader {
    var lines: [YAMLLine]
    var index = 0

    func error(_ line: YAMLLine, _ message: String, column: Int? = nil) -> SuiteSyntaxError {
        SuiteSyntaxError(line: line.number, column: column ?? line.indent + 1, message: message)
    }

    /// The node whose lines start at `index` with exactly `indent` spaces.
    mutating func block(indent: Int) throws -> SuiteNode {
        let line = lines[index]
        if line.content == "-" || line.content.hasPrefix("- ") { return try sequence(indent: indent) }
        if mappingKey(line) != nil { return try mapping(indent: indent) }
        index += 1
        return try YAMLFlow.value(line.content, line: line.number, column: line.indent + 1)
    }

    mutating func sequence(indent: Int) throws -> SuiteNode {
        let first = lines[index]
        var items: [SuiteNode] = []
        while index < lines.count, lines[index].indent == indent,
              lines[index].content == "-" || lines[index].content.hasPrefix("- ") {
            let line = lines[index]
            let rest = line.content.dropFirst().drop { $0 == " " }
            if rest.isEmpty {
                index += 1
                guard index < lines.count, lines[index].indent > indent else {
                    items.append(SuiteNode(kind: .null, line: line.number, column: line.indent + 1))
                    continue
                }
                items.append(try block(indent: lines[index].indent))
            } else {
                // The item's text becomes a line of its own, indented to where it starts.
                let column = line.indent + (line.content.count - rest.count)
                lines[index] = YAMLLine(number: line.number, indent: column, content: String(rest))
                items.append(try block(indent: column))
            }
        }
        if index < lines.count, lines[index].indent > indent {
            throw error(lines[index], "unexpected indentation inside a list")
        }
        return SuiteNode(kind: .array(items), line: first.number, column: first.indent + 1)
    }

    mutating func mapping(indent: Int) throws -> SuiteNode {
        let first = lines[index]
        var members: [(key: String, node: SuiteNode)] = []
        while index < lines.count, lines[index].indent == indent {
            let line = lines[index]
            guard let (key, rest) = mappingKey(line) else {
                throw error(line, "expected 'key: value' at this indentation, found \"\(line.content)\"")
            }
            if members.contains(where: { $0.key == key }) { throw error(line, "the field \"\(key)\" appears twice in this mapping") }
            index += 1
            let value: SuiteNode
            if !rest.isEmpty {
                let column = line.indent + line.content.count - rest.count + 1
                value = try YAMLFlow.value(rest, line: line.number, column: column)
            } else if index < lines.count, lines[index].indent > indent {
                value = try block(indent: lines[index].indent)
            } else if index < lines.count, lines[index].indent == indent, lines[index].content == "-" || lines[index].content.hasPrefix("- ") {
                value = try sequence(indent: indent)  // a list may sit at its key's indentation
            } else {
                value = SuiteNode(kind: .null, line: line.number, column: line.indent + 1)
            }
            members.append((key, value))
        }
        if index < lines.count, lines[index].indent > indent {
            throw error(lines[index], "unexpected indentation")
        }
        return SuiteNode(kind: .object(members), line: first.number, column: first.indent + 1)
    }

    /// `key: rest` (plain or quoted key; `rest` may be empty), or nil when the line is not a mapping entry.
    func mappingKey(_ line: YAMLLine) -> (String, String)? {
        let s = line.content
        if let q = s.first, q == "\"" || q == "'" {
            guard let close = s.dropFirst().firstIndex(of: q) else { return nil }
            let after = s[s.index(after: close)...]
            guard after.hasPrefix(":"), after.count == 1 || after.dropFirst().first == " " else { return nil }
            return (String(s[s.index(after: s.startIndex)..<close]), String(after.dropFirst().drop { $0 == " " }))
        }
        guard let first = s.first, first != "[", first != "{" else { return nil }
        var i = s.startIndex
        while i < s.endIndex {
            if s[i] == ":" {
                let next = s.index(after: i)
                if next == s.endIndex || s[next] == " " {
                    return (String(s[..<i]), String(s[next...].drop { $0 == " " }))
                }
            }
            i = s.index(after: i)
        }
        return nil
    }
}

/// Single-line flow values: `[a, b]`, `{k: v}`, quoted and plain scalars.
enum YAMLFlow {
    static func value(_ text: String, line: Int, column: Int) throws -> SuiteNode {
        var parser = Parser(chars: Array(text), line: line, startColumn: column)
        let node = try parser.value(depth: 0, inFlow: false)
        parser.skipSpaces()
        guard parser.i == parser.chars.count else { throw parser.error("unexpected text \"\(String(parser.chars[parser.i...]))\"") }
        return node
    }

    struct Parser {
        let chars: [Character]
        let line: Int
        let startColumn: Int
        var i = 0

        init(chars: [Character], line: Int, startColumn: Int) {
            self.chars = chars
            self.line = line
            self.startColumn = startColumn
        }

        func error(_ message: String) -> SuiteSyntaxError {
            SuiteSyntaxError(line: line, column: startColumn + i, message: message)
        }

        mutating func skipSpaces() { while i < chars.count, chars[i] == " " { i += 1 } }

        mutating func value(depth: Int, inFlow: Bool) throws -> SuiteNode {
            skipSpaces()
            guard depth < 32 else { throw error("nested too deeply") }
            let column = startColumn + i
            func node(_ kind: SuiteNode.Kind) -> SuiteNode { SuiteNode(kind: kind, line: line, column: column) }
            guard i < chars.count else { return node(.null) }
            switch chars[i] {
            case "[":
                i += 1
                var items: [SuiteNode] = []
                skipSpaces()
                if i < chars.count, chars[i] == "]" { i += 1; return node(.array(items)) }
                while true {
                    items.append(try value(depth: depth + 1, inFlow: true))
                    skipSpaces()
                    guard i < chars.count else { throw error("a flow list must close on the same line with ']'") }
                    if chars[i] == "," { i += 1; continue }
                    if chars[i] == "]" { i += 1; return node(.array(items)) }
                    throw error("expected ',' or ']' in the list")
                }
            case "{":
                i += 1
                var members: [(key: String, node: SuiteNode)] = []
                skipSpaces()
                if i < chars.count, chars[i] == "}" { i += 1; return node(.object(members)) }
                while true {
                    skipSpaces()
                    let keyNode = try scalar(inFlow: true, stopAtColon: true)
                    guard case let .string(key) = keyNode.kind else { throw error("expected a field name") }
                    skipSpaces()
                    guard i < chars.count, chars[i] == ":" else { throw error("expected ':' after \"\(key)\"") }
                    i += 1
                    if members.contains(where: { $0.key == key }) { throw error("the field \"\(key)\" appears twice in this mapping") }
                    members.append((key, try value(depth: depth + 1, inFlow: true)))
                    skipSpaces()
                    guard i < chars.count else { throw error("a flow mapping must close on the same line with '}'") }
                    if chars[i] == "," { i += 1; continue }
                    if chars[i] == "}" { i += 1; return node(.object(members)) }
                    throw error("expected ',' or '}' in the mapping")
                }
            case "&", "*", "!", "|", ">", "%", "@", "`":
                throw error("YAML anchors, aliases, tags and block scalars are not supported in suite files")
            default:
                return try scalar(inFlow: inFlow, stopAtColon: false)
            }
        }

        mutating func scalar(inFlow: Bool, stopAtColon: Bool) throws -> SuiteNode {
            let column = startColumn + i
            if let q = chars[safe: i], q == "\"" || q == "'" {
                i += 1
                var s = ""
                while true {
                    guard i < chars.count else { throw error("unterminated quoted string") }
                    let c = chars[i]
                    i += 1
                    if c == q {
                        if q == "'", chars[safe: i] == "'" { s.append("'"); i += 1; continue }
                        break
                    }
                    if q == "\"" && c == "\\" {
                        guard let e = chars[safe: i] else { throw error("unterminated quoted string") }
                        i += 1
                        switch e {
                        case "n": s.append("\n")
                        case "t": s.append("\t")
                        case "\"", "\\", "/": s.append(e)
                        default: throw error("unsupported escape '\\\(e)'")
                        }
                        continue
                    }
                    s.append(c)
                }
                return SuiteNode(kind: .string(s), line: line, column: column)
            }
            var s = ""
            while i < chars.count {
                let c = chars[i]
                if inFlow && (c == "," || c == "]" || c == "}") { break }
                if c == ":" && (stopAtColon || i + 1 == chars.count || chars[i + 1] == " ") {
                    if stopAtColon { break }
                    throw error("a ':' inside a value; quote the value, or put a mapping on its own lines")
                }
                s.append(c)
                i += 1
            }
            while s.last == " " { s.removeLast() }
            return SuiteNode(kind: Self.typed(s), line: line, column: column)
        }

        /// YAML 1.2 core-schema typing of a plain scalar.
        static func typed(_ s: String) -> SuiteNode.Kind {
            switch s {
            case "", "~", "null", "Null", "NULL": return .null
            case "true", "True", "TRUE": return .bool(true)
            case "false", "False", "FALSE": return .bool(false)
            default: break
            }
            let body = s.hasPrefix("-") || s.hasPrefix("+") ? s.dropFirst() : Substring(s)
            let isNumber = !body.isEmpty && body.allSatisfy { "0123456789.eE+-".contains($0) } && body.first != "e" && body.first != "E"
            if isNumber, let v = Double(s.hasPrefix("+") ? String(s.dropFirst()) : s), v.isFinite {
                return .number(v, text: s)
            }
            return .string(s)
        }
    }
}

extension Array {
    subscript(safe i: Int) -> Element? { i >= 0 && i < count ? self[i] : nil }
}
