import CredenceTensor

/// An array read from (or to be written to) an IDX file, the format of MNIST and
/// Fashion-MNIST.
///
/// Format: two zero bytes, a type byte, the number of dimensions `d`, then `d` sizes as
/// big-endian `UInt32`, then the elements in row-major order, big-endian. Type bytes:
/// `0x08` UInt8, `0x09` Int8, `0x0B` Int16, `0x0C` Int32, `0x0D` Float32, `0x0E` Float64.
/// Values are kept as they are stored (image pixels stay 0...255) and converted to `Float`.
///
/// ```swift
/// let images = try IDX.read("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
/// print(images.shape)   // [10000, 28, 28]
/// ```
public struct IDXArray: Equatable, Sendable {
    /// The element type recorded in the header.
    public enum ElementType: UInt8, Sendable, CaseIterable {
        case uint8 = 0x08, int8 = 0x09, int16 = 0x0B, int32 = 0x0C, float32 = 0x0D, float64 = 0x0E

        /// Bytes per stored element.
        public var byteCount: Int {
            switch self {
            case .uint8, .int8: return 1
            case .int16: return 2
            case .int32, .float32: return 4
            case .float64: return 8
            }
        }
    }

    public var elementType: ElementType
    /// The dimensions from the header, e.g. `[60000, 28, 28]`.
    public var shape: [Int]
    /// The elements in row-major order, converted to `Float`.
    public var values: [Float]

    /// `values.count` must equal the product of `shape`.
    public init(elementType: ElementType, shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "IDXArray: shape \(shape) does not hold \(values.count) values")
        self.elementType = elementType
        self.shape = shape
        self.values = values
    }

    /// The array as a tensor of the same shape, each element divided by `divisor`.
    public func tensor(dividingBy divisor: Float = 1) -> Tensor {
        var t = Tensor(uninitializedShape: shape)
        t.withUnsafeMutableBufferPointer { dst in
            values.withUnsafeBufferPointer { src in
                if divisor == 1 {
                    _ = dst.update(from: src)
                } else {
                    for i in 0..<src.count { dst[i] = src[i] / divisor }
                }
            }
        }
        return t
    }
}

/// Reading and writing IDX files, gzip-compressed or not (see `IDXArray` for the format).
public enum IDX {
    /// Reads an IDX file; gzip is detected from its magic bytes, not its name.
    ///
    /// Throws `DataError.fileNotFound` (with `remedy`), `.corruptGzip`, `.truncatedGzip`,
    /// `.badMagic`, `.unsupportedIDXType` or `.truncated`, each naming `path`.
    public static func read(_ path: String, remedy: String = "Check the path.") throws -> IDXArray {
        try decode(Gzip.readFile(path, remedy: remedy), path: path)
    }

    /// Parses the bytes of an (already decompressed) IDX file; `path` labels errors.
    /// Bytes after the last element are ignored.
    public static func decode(_ bytes: [UInt8], path: String = "<memory>") throws -> IDXArray {
        guard bytes.count >= 4 else {
            throw DataError.truncated(path: path, expectedBytes: 4, actualBytes: bytes.count)
        }
        guard bytes[0] == 0, bytes[1] == 0 else {
            throw DataError.badMagic(path: path, found: Array(bytes[0..<4]), expected: "the IDX magic 00 00 <type> <rank>")
        }
        guard let type = IDXArray.ElementType(rawValue: bytes[2]) else {
            throw DataError.unsupportedIDXType(path: path, code: bytes[2])
        }
        let rank = Int(bytes[3])
        let headerSize = 4 + 4 * rank
        guard bytes.count >= headerSize else {
            throw DataError.truncated(path: path, expectedBytes: headerSize, actualBytes: bytes.count)
        }
        var shape: [Int] = []
        var count = 1, overflow = false
        for d in 0..<rank {
            let dim = Int(readUInt32(bytes, at: 4 + 4 * d))
            shape.append(dim)
            (count, overflow) = count.multipliedReportingOverflow(by: dim)
            guard !overflow else {
                throw DataError.unexpectedShape(path: path, shape: shape, expected: "an array that fits in memory")
            }
        }
        let needed = headerSize + count * type.byteCount
        guard bytes.count >= needed else {
            throw DataError.truncated(path: path, expectedBytes: needed, actualBytes: bytes.count)
        }
        let values = bytes.withUnsafeBufferPointer { raw -> [Float] in
            let p = raw.baseAddress! + headerSize
            return [Float](unsafeUninitializedCapacity: count) { out, initialized in
                switch type {
                case .uint8:
                    for i in 0..<count { out[i] = Float(p[i]) }
                case .int8:
                    for i in 0..<count { out[i] = Float(Int8(bitPattern: p[i])) }
                case .int16:
                    for i in 0..<count { out[i] = Float(Int16(bitPattern: UInt16(p[2 * i]) << 8 | UInt16(p[2 * i + 1]))) }
                case .int32:
                    for i in 0..<count { out[i] = Float(Int32(bitPattern: bigEndian32(p + 4 * i))) }
                case .float32:
                    for i in 0..<count { out[i] = Float(bitPattern: bigEndian32(p + 4 * i)) }
                case .float64:
                    for i in 0..<count {
                        let bits = UInt64(bigEndian32(p + 8 * i)) << 32 | UInt64(bigEndian32(p + 8 * i + 4))
                        out[i] = Float(Double(bitPattern: bits))
                    }
                }
                initialized = count
            }
        }
        return IDXArray(elementType: type, shape: shape, values: values)
    }

    /// The IDX encoding of `array` (values are converted to `array.elementType`,
    /// integer types by rounding toward zero).
    public static func encode(_ array: IDXArray) -> [UInt8] {
        var bytes: [UInt8] = [0, 0, array.elementType.rawValue, UInt8(array.shape.count)]
        for dim in array.shape { appendUInt32(&bytes, UInt32(dim)) }
        bytes.reserveCapacity(bytes.count + array.values.count * array.elementType.byteCount)
        for v in array.values {
            switch array.elementType {
            case .uint8: bytes.append(UInt8(v))
            case .int8: bytes.append(UInt8(bitPattern: Int8(v)))
            case .int16:
                let u = UInt16(bitPattern: Int16(v))
                bytes.append(UInt8(u >> 8)); bytes.append(UInt8(u & 0xFF))
            case .int32: appendUInt32(&bytes, UInt32(bitPattern: Int32(v)))
            case .float32: appendUInt32(&bytes, v.bitPattern)
            case .float64:
                let u = Double(v).bitPattern
                appendUInt32(&bytes, UInt32(u >> 32)); appendUInt32(&bytes, UInt32(u & 0xFFFF_FFFF))
            }
        }
        return bytes
    }

    /// Writes `array` to `path` as IDX, gzip-compressed when `compress` is true.
    public static func write(_ array: IDXArray, to path: String, compress: Bool) throws {
        try Gzip.writeFile(path, bytes: encode(array), compress: compress)
    }

    @inline(__always) static func bigEndian32(_ p: UnsafePointer<UInt8>) -> UInt32 {
        UInt32(p[0]) << 24 | UInt32(p[1]) << 16 | UInt32(p[2]) << 8 | UInt32(p[3])
    }

    static func readUInt32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        bytes.withUnsafeBufferPointer { bigEndian32($0.baseAddress! + offset) }
    }

    static func appendUInt32(_ bytes: inout [UInt8], _ value: UInt32) {
        bytes.append(UInt8(value >> 24)); bytes.append(UInt8((value >> 16) & 0xFF))
        bytes.append(UInt8((value >> 8) & 0xFF)); bytes.append(UInt8(value & 0xFF))
    }
}
