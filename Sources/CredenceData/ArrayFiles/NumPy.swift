import CredenceTensor
import Foundation

/// Reading and writing NumPy's `.npy` format (`np.save` / `np.load`), so predictions made
/// in PyTorch or JAX can be scored without a conversion step.
///
/// Format (NEP 1): the magic `\x93NUMPY`, a major and a minor version byte, the header
/// length (little-endian `UInt16` for version 1.0, `UInt32` for 2.0 and 3.0), the header —
/// a Python dict literal with `descr`, `fortran_order` and `shape`, padded with spaces
/// and ended by a newline (Latin-1 for versions 1 and 2, UTF-8 for 3) — then the raw
/// elements. Reads little- and big-endian `f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1`, C and
/// Fortran order; the result is always in C order. A gzip-compressed file is inflated first.
///
/// Errors are `DataError`s naming the file: `.fileNotFound`, `.badMagic`, `.truncated`
/// (header or data cut short), `.invalidArgument` for a garbled or unsupported header
/// (the message says which field and what to do).
///
/// ```swift
/// let p = try NumPy.read("probs.npy")                        // np.save("probs.npy", probs)
/// try NumPy.write(Tensor(shape: [2, 2], values: [0.9, 0.1, 0.2, 0.8]), to: "p.npy")
/// ```
public enum NumPy {
    /// The six bytes every `.npy` file starts with.
    public static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY

    /// Reads the `.npy` file at `path` (gzip-compressed or not).
    public static func read(_ path: String, remedy: String = "Check the path.") throws -> NumPyArray {
        try decode(try Gzip.readFile(path, remedy: remedy), path: path)
    }

    /// Parses the bytes of a `.npy` file; `path` labels errors. Bytes after the last
    /// element are ignored, as `np.load` ignores them.
    public static func decode(_ bytes: [UInt8], path: String = "<memory>") throws -> NumPyArray {
        func garbled(_ reason: String) -> DataError {
            .invalidArgument(name: path, message: "not a readable .npy file: \(reason). Re-save it with np.save.")
        }
        let prefix = Swift.min(bytes.count, magic.count)
        guard bytes.prefix(prefix).elementsEqual(magic.prefix(prefix)) else {
            throw DataError.badMagic(path: path, found: Array(bytes.prefix(8)), expected: "the NumPy magic \\x93NUMPY (93 4e 55 4d 50 59)")
        }
        guard bytes.count >= 10 else { throw DataError.truncated(path: path, expectedBytes: 10, actualBytes: bytes.count) }
        let (major, minor) = (bytes[6], bytes[7])
        let lengthStart = 8, headerStart: Int, headerLength: Int
        switch major {
        case 1:
            headerStart = 10
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        case 2, 3:
            headerStart = 12
            guard bytes.count >= headerStart else {
                throw DataError.truncated(path: path, expectedBytes: headerStart, actualBytes: bytes.count)
            }
            headerLength = (0..<4).reduce(0) { $0 | Int(bytes[lengthStart + $1]) << (8 * $1) }
        default:
            throw garbled("format version \(major).\(minor) is not 1.0, 2.0 or 3.0")
        }
        let dataStart = headerStart + headerLength
        guard bytes.count >= dataStart else {
            throw DataError.truncated(path: path, expectedBytes: dataStart, actualBytes: bytes.count)
        }
        let headerBytes = bytes[headerStart..<dataStart]
        // Versions 1 and 2 are Latin-1 (each byte one scalar); version 3 is UTF-8.
        let text = major == 3 ? String(decoding: headerBytes, as: UTF8.self)
            : String(String.UnicodeScalarView(headerBytes.map { Unicode.Scalar($0) }))
        let header = try NumPyHeader(text: text, fail: garbled)

        var count = 1, overflow = false
        for d in header.shape where !overflow { (count, overflow) = count.multipliedReportingOverflow(by: d) }
        var dataBytes = 0
        if !overflow { (dataBytes, overflow) = count.multipliedReportingOverflow(by: header.elementType.byteCount) }
        guard !overflow else { throw garbled("its shape \(header.shape) is too large") }
        guard bytes.count - dataStart >= dataBytes else {
            throw DataError.truncated(path: path, expectedBytes: dataStart + dataBytes, actualBytes: bytes.count)
        }
        // Fortran order stores the transpose: read the reversed shape in C order, then reverse the axes back.
        let storedShape = header.fortranOrder ? Array(header.shape.reversed()) : header.shape
        let elements: NumPyArray.Elements = try bytes.withUnsafeBytes { raw in
            let data = UnsafeRawBufferPointer(rebasing: raw[dataStart..<(dataStart + dataBytes)])
            if header.elementType.isFloatingPoint {
                var t = Tensor(uninitializedShape: storedShape)
                t.withUnsafeMutableBufferPointer { convertFloating(data, header: header, into: $0) }
                if header.fortranOrder && header.shape.count > 1 {
                    t = try t.permuted(Array((0..<header.shape.count).reversed()))
                }
                return .floating(t)
            }
            var values = try convertInteger(data, count: count, header: header, path: path)
            if header.fortranOrder && header.shape.count > 1 { values = fortranToC(values, shape: header.shape) }
            return .integer(values)
        }
        return NumPyArray(elementType: header.elementType, shape: header.shape, elements: elements)
    }

    /// The `.npy` (version 1.0, `<f4`, C order) encoding of `tensor`.
    public static func encode(_ tensor: Tensor) -> [UInt8] {
        var bytes = header(descr: "<f4", shape: tensor.shape)
        tensor.withUnsafeBufferPointer { p in
            bytes.reserveCapacity(bytes.count + 4 * p.count)
            for v in p { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        }
        return bytes
    }

    /// The `.npy` (version 1.0, `<i8`) encoding of integers with `shape` (default `[values.count]`).
    public static func encode(integers values: [Int], shape: [Int]? = nil) -> [UInt8] {
        let shape = shape ?? [values.count]
        precondition(shape.reduce(1, *) == values.count, "NumPy.encode: shape \(shape) does not hold \(values.count) values")
        var bytes = header(descr: "<i8", shape: shape)
        for v in values { withUnsafeBytes(of: Int64(v).littleEndian) { bytes.append(contentsOf: $0) } }
        return bytes
    }

    /// Writes `tensor` to `path` as a `.npy` file (`<f4`, C order).
    public static func write(_ tensor: Tensor, to path: String) throws {
        try Gzip.writeFile(path, bytes: encode(tensor), compress: false)
    }

    /// Magic, version 1.0, length and the header dict padded so the data starts at a multiple of 64.
    static func header(descr: String, shape: [Int]) -> [UInt8] {
        let dims = shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? "," : "")
        var dict = Array("{'descr': '\(descr)', 'fortran_order': False, 'shape': (\(dims)), }".utf8)
        let padded = (10 + dict.count + 1 + 63) / 64 * 64
        dict += [UInt8](repeating: 0x20, count: padded - 10 - dict.count - 1) + [0x0A]
        return magic + [1, 0, UInt8(dict.count & 0xFF), UInt8(dict.count >> 8)] + dict
    }

    private static func convertFloating(_ data: UnsafeRawBufferPointer, header: NumPyHeader,
                                        into out: UnsafeMutableBufferPointer<Float>) {
        let little = header.littleEndian
        switch header.elementType {
        case .float32:
            for i in 0..<out.count {
                let bits = data.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)
                out[i] = Float(bitPattern: little ? UInt32(littleEndian: bits) : UInt32(bigEndian: bits))
            }
        case .float64:
            for i in 0..<out.count {
                let bits = data.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)
                out[i] = Float(Double(bitPattern: little ? UInt64(littleEndian: bits) : UInt64(bigEndian: bits)))
            }
        case .float16:
            for i in 0..<out.count {
                let bits = data.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)
                out[i] = floatFromHalf(little ? UInt16(littleEndian: bits) : UInt16(bigEndian: bits))
            }
        default:
            preconditionFailure("convertFloating called for \(header.elementType)")
        }
    }

    private static func convertInteger(_ data: UnsafeRawBufferPointer, count: Int, header: NumPyHeader,
                                       path: String) throws -> [Int] {
        let little = header.littleEndian
        func load<T: FixedWidthInteger>(_: T.Type, _ i: Int) -> T {
            let v = data.loadUnaligned(fromByteOffset: MemoryLayout<T>.size * i, as: T.self)
            return little ? T(littleEndian: v) : T(bigEndian: v)
        }
        var out = [Int](repeating: 0, count: count)
        for i in 0..<count {
            switch header.elementType {
            case .int8: out[i] = Int(load(Int8.self, i))
            case .int16: out[i] = Int(load(Int16.self, i))
            case .int32: out[i] = Int(load(Int32.self, i))
            case .int64: out[i] = Int(load(Int64.self, i))
            case .uint8: out[i] = Int(load(UInt8.self, i))
            case .bool: out[i] = load(UInt8.self, i) == 0 ? 0 : 1
            case .uint16: out[i] = Int(load(UInt16.self, i))
            case .uint32: out[i] = Int(load(UInt32.self, i))
            case .uint64:
                let v = load(UInt64.self, i)
                guard let exact = Int(exactly: v) else {
                    throw DataError.invalidArgument(name: path, message: "element \(i) is \(v), beyond the Int64 range")
                }
                out[i] = exact
            case .float16, .float32, .float64:
                preconditionFailure("convertInteger called for \(header.elementType)")
            }
        }
        return out
    }

    /// Reorders Fortran-order (column-major) elements of an array of `shape` into C order.
    static func fortranToC<T>(_ values: [T], shape: [Int]) -> [T] {
        guard let first = values.first, shape.count > 1 else { return values }
        var out = [T](repeating: first, count: values.count)
        var strides = [Int](repeating: 1, count: shape.count)  // Fortran strides: first axis fastest
        for a in 1..<shape.count { strides[a] = strides[a - 1] * shape[a - 1] }
        var index = [Int](repeating: 0, count: shape.count)
        for c in 0..<values.count {
            var f = 0
            for a in 0..<shape.count { f += index[a] * strides[a] }
            out[c] = values[f]
            var a = shape.count - 1
            while a >= 0 {
                index[a] += 1
                if index[a] < shape[a] { break }
                index[a] = 0
                a -= 1
            }
        }
        return out
    }

    /// IEEE binary16 → binary32, exact (subnormals, infinities and NaN included).
    static func floatFromHalf(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16, exponent = UInt32(h >> 10) & 0x1F, mantissa = UInt32(h) & 0x3FF
        switch exponent {
        case 0: return Float(bitPattern: (Float(mantissa) * 0x1p-24).bitPattern | sign)
        case 0x1F: return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        default: return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
        }
    }
}
