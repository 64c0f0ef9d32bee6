import CredenceTensor

/// An array read from (or to be written to) an IDX file, the format of MNIST and
/// Fashion-MNIST.
///
/// Format: two zero bytes, a type byte, the number of dimensions `d`, then `d` sizes as
/// big-endian `UInt32`, then the elements in row-major order, big-endian. Type bytes:
/// `0x08` UInt8, `0x09` Int8, `0x0B` Int16, `0x0C` Int32, `0x0D` Float32, `0x0E` Float64.
/// Values are converted to `Float` as stored (pixels stay 0...255) unless read with
/// `IDX.read(_:dividingBy:)`.
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
    public var shape: [Int] { tensor.shape }
    /// The elements as a tensor of shape `shape`, converted to `Float`.
    public var tensor: Tensor
    /// The elements in row-major order, converted to `Float`.
    public var values: [Float] { tensor.values }

    /// `values.count` must equal the product of `shape`.
    public init(elementType: ElementType, shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "IDXArray: shape \(shape) does not hold \(values.count) values")
        self.init(elementType: elementType, tensor: Tensor(shape: shape, values: values))
    }

    public init(elementType: ElementType, tensor: Tensor) {
        self.elementType = elementType
        self.tensor = tensor
    }
}

/// Reading and writing IDX files, gzip-compressed or not (see `IDXArray` for the format).
public enum IDX {
    /// Reads an IDX file; gzip is detected from its magic bytes, not its name.
    ///
    /// Throws `DataError.fileNotFound` (with `remedy`), `.corruptGzip`, `.truncatedGzip`,
    /// `.badMagic`, `.unsupportedIDXType` or `.truncated`, each naming `path`.
    public static func read(_ path: String, remedy: String = "Check the path.") throws -> IDXArray {
        try read(path, dividingBy: 1, remedy: remedy)
    }

    /// Reads an IDX file with every element divided by `divisor` as it is converted
    /// (e.g. 255 for pixels in [0, 1]). Gzip is inflated in chunks and converted on the
    /// fly, so the only large allocations are the file itself and the result.
    public static func read(_ path: String, dividingBy divisor: Float, remedy: String = "Check the path.") throws -> IDXArray {
        let raw = try Gzip.readRawFile(path, remedy: remedy)
        let gzip = Gzip.isGzip(raw)
        var decoder = IDXDecoder(path: path, divisor: divisor,
                                 size: gzip ? .atMost(Gzip.largestInflatedSize(of: raw.count)) : .exactly(raw.count))
        if gzip {
            try Gzip.inflateChunks(raw, path: path) { try decoder.consume($0) }
        } else {
            try raw.withUnsafeBufferPointer { try decoder.consume($0) }
        }
        return try decoder.finish()
    }

    /// Parses the bytes of an (already decompressed) IDX file; `path` labels errors.
    /// Bytes after the last element are ignored.
    public static func decode(_ bytes: [UInt8], path: String = "<memory>", dividingBy divisor: Float = 1) throws -> IDXArray {
        var decoder = IDXDecoder(path: path, divisor: divisor, size: .exactly(bytes.count))
        try bytes.withUnsafeBufferPointer { try decoder.consume($0) }
        return try decoder.finish()
    }

    /// The IDX encoding of `array` (values are converted to `array.elementType`, integer
    /// types by rounding toward zero and clamping to the type's range — a Float holding an
    /// int32 near its limit rounds past it — NaN to 0).
    public static func encode(_ array: IDXArray) -> [UInt8] {
        var bytes: [UInt8] = [0, 0, array.elementType.rawValue, UInt8(array.shape.count)]
        for dim in array.shape { appendUInt32(&bytes, UInt32(dim)) }
        bytes.reserveCapacity(bytes.count + array.values.count * array.elementType.byteCount)
        for v in array.tensor.values {
            switch array.elementType {
            case .uint8: bytes.append(clamped(v))
            case .int8: bytes.append(UInt8(bitPattern: clamped(v)))
            case .int16:
                let u = UInt16(bitPattern: clamped(v))
                bytes.append(UInt8(u >> 8)); bytes.append(UInt8(u & 0xFF))
            case .int32: appendUInt32(&bytes, UInt32(bitPattern: clamped(v)))
            case .float32: appendUInt32(&bytes, v.bitPattern)
            case .float64:
                let u = Double(v).bitPattern
                appendUInt32(&bytes, UInt32(u >> 32)); appendUInt32(&bytes, UInt32(u & 0xFFFF_FFFF))
            }
        }
        return bytes
    }

    /// `value` rounded toward zero into `T`'s range (NaN: 0).
    private static func clamped<T: FixedWidthInteger>(_ value: Float) -> T {
        guard !value.isNaN else { return 0 }
        if value >= Float(T.max) { return T.max }
        if value <= Float(T.min) { return T.min }
        return T(value)
    }

    /// Writes `array` to `path` as IDX, gzip-compressed when `compress` is true.
    public static func write(_ array: IDXArray, to path: String, compress: Bool) throws {
        try Gzip.writeFile(path, bytes: encode(array), compress: compress)
    }

    static func appendUInt32(_ bytes: inout [UInt8], _ value: UInt32) {
        bytes.append(UInt8(value >> 24)); bytes.append(UInt8((value >> 16) & 0xFF))
        bytes.append(UInt8((value >> 8) & 0xFF)); bytes.append(UInt8(value & 0xFF))
    }
}
