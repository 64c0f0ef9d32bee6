/// The header of a `.npy` file: the Python dict literal
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }` that follows the magic,
/// the version and the header length (NumPy Enhancement Proposal 1, `numpy.lib.format`).
struct NumPyHeader: Equatable {
    /// Whether multi-byte elements are stored little-endian (`<`, `|`, `=` on little-endian hosts).
    var littleEndian: Bool
    var elementType: NumPyArray.ElementType
    var fortranOrder: Bool
    var shape: [Int]

    /// Parses the header text; `fail` builds the error (the caller knows the file's path).
    init(text: String, fail: (String) -> Error) throws {
        var parser = PythonLiteralParser(text: Array(text.unicodeScalars))
        let value: PythonLiteral
        do {
            value = try parser.parseDictionary()
        } catch let reason as PythonLiteralParser.Failure {
            throw fail("its header is not a Python dict literal (\(reason.message)); header: \(Self.preview(text))")
        }
        guard case let .dictionary(fields) = value else { throw fail("its header is not a dict") }
        func field(_ key: String) throws -> PythonLiteral {
            guard let v = fields.first(where: { $0.key == key })?.value else {
                throw fail("its header has no '\(key)' key; header: \(Self.preview(text))")
            }
            return v
        }
        guard case let .string(descr) = try field("descr") else {
            throw fail("its 'descr' is \(try field("descr").kind), not a type string: structured (record) arrays are not supported — save a plain numeric array")
        }
        guard case let .bool(fortran) = try field("fortran_order") else {
            throw fail("its 'fortran_order' is \(try field("fortran_order").kind), not True or False")
        }
        guard case let .tuple(items) = try field("shape") else {
            throw fail("its 'shape' is \(try field("shape").kind), not a tuple")
        }
        var shape: [Int] = []
        for item in items {
            guard case let .integer(d) = item, d >= 0 else {
                throw fail("its 'shape' \(Self.preview(text)) holds something that is not a non-negative integer")
            }
            shape.append(d)
        }
        (littleEndian, elementType) = try Self.parseDescr(descr, fail: fail)
        fortranOrder = fortran
        self.shape = shape
    }

    /// Byte order and element type of a `descr` such as `<f4`, `>i8`, `|u1`, `|b1`.
    static func parseDescr(_ descr: String, fail: (String) -> Error) throws -> (Bool, NumPyArray.ElementType) {
        var code = Substring(descr)
        var little = true  // every host Credence runs on is little-endian; `=` and `|` mean native
        switch code.first {
        case "<": code = code.dropFirst()
        case ">": little = false; code = code.dropFirst()
        case "|", "=": code = code.dropFirst()
        default: break
        }
        guard let type = NumPyArray.ElementType(rawValue: String(code)) else {
            let supported = NumPyArray.ElementType.allCases.map(\.rawValue).joined(separator: ", ")
            throw fail("its dtype '\(descr)' is not supported (supported: \(supported), either byte order); "
                + "convert it first, e.g. np.save(path, a.astype(np.float32))")
        }
        return (little || type.byteCount == 1, type)
    }

    /// The header shown in an error: at most 120 characters, control characters as `?`.
    static func preview(_ text: String) -> String {
        let cleaned = String(text.unicodeScalars.map { $0.value >= 0x20 && $0.value < 0x7F ? Character($0) : "?" })
            .trimmingTrailingSpaces()
        return cleaned.count > 120 ? "\"" + cleaned.prefix(120) + "...\"" : "\"" + cleaned + "\""
    }
}

extension String {
    fileprivate func trimmingTrailingSpaces() -> String {
        var s = Substring(self)
        while let last = s.last, last == " " || last == "?" { s = s.dropLast() }
        return String(s)
    }
}

/// The Python literal values a `.npy` header uses.
enum PythonLiteral: Equatable {
    case string(String)
    case integer(Int)
    case bool(Bool)
    case none
    case tuple([PythonLiteral])
    case list([PythonLiteral])
    case dictionary([(key: String, value: PythonLiteral)])

    static func == (a: PythonLiteral, b: PythonLiteral) -> Bool {
        switch (a, b) {
        case let (.string(x), .string(y)): return x == y
        case let (.integer(x), .integer(y)): return x == y
        case let (.bool(x), .bool(y)): return x == y
        case (.none, .none): return true
        case let (.tuple(x), .tuple(y)), let (.list(x), .list(y)): return x == y
        case let (.dictionary(x), .dictionary(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }

    /// What the value is, for error messages.
    var kind: String {
        switch self {
        case .string: return "a string"
        case .integer: return "an integer"
        case .bool: return "a boolean"
        case .none: return "None"
        case .tuple: return "a tuple"
        case .list: return "a list"
        case .dictionary: return "a dict"
        }
    }
}

/// A recursive-descent parser for the subset of Python literal syntax `numpy.lib.format`
/// writes (and `ast.literal_eval` reads back): dicts, tuples, lists, quoted strings,
/// integers (with an optional `L` suffix from Python 2), `True`, `False`, `None`.
struct PythonLiteralParser {
    struct Failure: Error { var message: String }

    let text: [Unicode.Scalar]
    var position = 0

    init(text: [Unicode.Scalar]) { self.text = text }

    /// The dict that must make up the whole text (trailing whitespace allowed).
    mutating func parseDictionary() throws -> PythonLiteral {
        skipSpace()
        guard peek == "{" else { throw Failure(message: "it does not start with '{'") }
        let value = try parseValue()
        skipSpace()
        guard position == text.count else { throw Failure(message: "unexpected text after the closing '}' at character \(position)") }
        return value
    }

    private var peek: Unicode.Scalar? { position < text.count ? text[position] : nil }

    private mutating func skipSpace() {
        while let c = peek, c == " " || c == "\t" || c == "\n" || c == "\r" { position += 1 }
    }

    private mutating func expect(_ c: Unicode.Scalar) throws {
        skipSpace()
        guard peek == c else {
            throw Failure(message: "expected '\(c)' at character \(position)" + (peek.map { ", found '\($0)'" } ?? ", found the end"))
        }
        position += 1
    }

    mutating func parseValue() throws -> PythonLiteral {
        skipSpace()
        guard let c = peek else { throw Failure(message: "unexpected end of the header") }
        switch c {
        case "{":
            position += 1
            var entries: [(key: String, value: PythonLiteral)] = []
            while true {
                skipSpace()
                if peek == "}" { position += 1; return .dictionary(entries) }
                guard case let .string(key) = try parseValue() else {
                    throw Failure(message: "a dict key before character \(position) is not a string")
                }
                try expect(":")
                entries.append((key, try parseValue()))
                skipSpace()
                if peek == "," { position += 1 } else { try expect("}"); return .dictionary(entries) }
            }
        case "(", "[":
            let close: Unicode.Scalar = c == "(" ? ")" : "]"
            position += 1
            var items: [PythonLiteral] = []
            while true {
                skipSpace()
                if peek == close { position += 1; break }
                items.append(try parseValue())
                skipSpace()
                if peek == "," { position += 1 } else { try expect(close); break }
            }
            return c == "(" ? .tuple(items) : .list(items)
        case "'", "\"":
            position += 1
            var s = String.UnicodeScalarView()
            while let d = peek, d != c {
                if d == "\\", position + 1 < text.count { position += 1 }
                s.append(text[position])
                position += 1
            }
            guard peek == c else { throw Failure(message: "a string is not closed") }
            position += 1
            return .string(String(s))
        default:
            let start = position
            while let d = peek, d.properties.isAlphabetic || ("0"..."9").contains(d) || d == "-" || d == "+" || d == "_" {
                position += 1
            }
            let word = String(String.UnicodeScalarView(text[start..<position]))
            switch word {
            case "True": return .bool(true)
            case "False": return .bool(false)
            case "None": return .none
            default:
                let digits = word.hasSuffix("L") ? String(word.dropLast()) : word
                if let i = Int(digits) { return .integer(i) }
                throw Failure(message: word.isEmpty ? "unexpected '\(c)' at character \(start)"
                              : "'\(word)' at character \(start) is not a literal")
            }
        }
    }
}
