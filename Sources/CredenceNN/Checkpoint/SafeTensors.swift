import CredenceTensor
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A set of named tensors in Hugging Face's safetensors format — the format
/// `safetensors.torch.save_file(model.state_dict(), path)` writes.
///
/// Layout: an 8-byte little-endian header length N, N bytes of JSON
/// `{"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...,
/// "__metadata__": {string: string}}`, then the raw little-endian tensor bytes; offsets
/// count from the end of the header.
///
/// Reading maps the file, validates the whole header (dtype, shape × dtype size equals
/// the offset span, offsets inside the file and not overlapping) before copying any
/// data, and converts F64, F16 and BF16 to Float32. Gaps between tensors are allowed.
/// Writing produces F32 tensors in insertion order, pads the header with spaces to a
/// multiple of 8 bytes (as the reference writer does) and is atomic: a temporary file
/// in the destination's directory is written, fsynced and renamed over the destination.
///
/// ```swift
/// var file = SafeTensorsFile(metadata: ["epoch": "3"])
/// file["1.weight"] = Tensor.zeros([16, 12])
/// try file.write(to: "model.safetensors")
/// let back = try SafeTensorsFile(contentsOf: "model.safetensors")
/// ```
public struct SafeTensorsFile: Sendable {
    /// Element types the reader accepts; all are converted to Float32 (integers exactly up
    /// to 2^24 in magnitude, as class labels and counts are).
    public enum DType: String, CaseIterable, Sendable {
        /// IEEE single precision (the type written, but for `setDoubles`).
        case f32 = "F32"
        /// IEEE double precision, rounded to nearest Float32 (`doubles(_:)` keeps the full values).
        case f64 = "F64"
        /// IEEE half precision, widened exactly.
        case f16 = "F16"
        /// bfloat16 (the upper 16 bits of a Float32), widened exactly.
        case bf16 = "BF16"
        /// Signed integers (PyTorch's int64 labels, int32, int16, int8).
        case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8"
        /// Unsigned bytes and booleans (one byte, 0 or 1).
        case u8 = "U8", bool = "BOOL"

        public var byteWidth: Int {
            switch self {
            case .f64, .i64: return 8
            case .f32, .i32: return 4
            case .f16, .bf16, .i16: return 2
            case .i8, .u8, .bool: return 1
            }
        }
    }

    /// The header key that holds the string → string metadata.
    public static let metadataKey = "__metadata__"

    /// Tensor names in file order (read) or insertion order (built in memory).
    public private(set) var names: [String] = []
    private var tensors: [String: Tensor] = [:]
    /// Full-precision values of the F64 tensors (read from a file or set with `setDoubles`).
    private var doublePrecision: [String: [Double]] = [:]
    /// The element type each tensor had in the file it was read from (`.f32` for tensors set in memory).
    public private(set) var storedDTypes: [String: DType] = [:]
    /// Free-form string metadata (`__metadata__`).
    public var metadata: [String: String]

    public init(metadata: [String: String] = [:]) {
        self.metadata = metadata
    }

    /// The tensor called `name`. Setting a new name appends it; setting nil removes it.
    public subscript(name: String) -> Tensor? {
        get { tensors[name] }
        set {
            if let tensor = newValue {
                if tensors.updateValue(tensor, forKey: name) == nil { names.append(name) }
                storedDTypes[name] = .f32
                doublePrecision[name] = nil
            } else if tensors.removeValue(forKey: name) != nil {
                names.removeAll { $0 == name }
                storedDTypes[name] = nil
                doublePrecision[name] = nil
            }
        }
    }

    /// Stores `values` (laid out as `shape`) as an F64 tensor, written in full precision —
    /// for state that must survive a save exactly (running sums in `Double`). `self[name]`
    /// reads them rounded to Float.
    public mutating func setDoubles(_ values: [Double], shape: [Int], name: String) {
        precondition(shape.reduce(1, *) == values.count, "\(values.count) values do not fill shape \(shape)")
        self[name] = Tensor(shape: shape, values: values.map { Float($0) })
        storedDTypes[name] = .f64
        doublePrecision[name] = values
    }

    /// The full-precision values of an F64 tensor (read from a file or set with
    /// `setDoubles`); nil for tensors of any other type.
    public func doubles(_ name: String) -> [Double]? { doublePrecision[name] }

    /// Number of tensors.
    public var count: Int { names.count }

    // MARK: reading

    /// Files at least this large (a posterior of more than a few networks) are served from
    /// their memory mapping: their F32 tensors view the mapped pages instead of being copied,
    /// so the kernel pages them in as they are read and may drop them again — evaluating a
    /// chain of 200 MLPs holds no more anonymous memory than one of 28 (README "Memory").
    /// Smaller files are copied, so nothing keeps them open.
    public static let mappingThreshold = 64 << 20

    /// Reads and validates the safetensors file at `path`; `mapped` (default: the file is at least
    /// `mappingThreshold` bytes) leaves its F32 tensors in the file's private mapping (no copy;
    /// mutating one copies it, never the file).
    public init(contentsOf path: String, mapped: Bool? = nil) throws {
        let file = try MappedFile(path: path)
        try self.init(bytes: file.bytes, path: path, mapping: mapped ?? (file.bytes.count >= Self.mappingThreshold) ? file.mapping : nil)
    }

    /// Parses a safetensors image held in memory; `path` is only used in error messages. With
    /// the `mapping` that holds `bytes`, F32 tensors view its pages (no copy).
    init(bytes: UnsafeRawBufferPointer, path: String, mapping: PrivateFileMapping? = nil) throws {
        guard bytes.count >= 8 else { throw CheckpointError.fileTooShort(path: path, size: bytes.count) }
        let headerLength = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
        guard headerLength <= UInt64(bytes.count - 8) else {
            throw CheckpointError.headerLengthExceedsFile(path: path, headerLength: headerLength, fileSize: bytes.count)
        }
        let dataStart = 8 + Int(headerLength)
        let header = try Self.parseHeader(UnsafeRawBufferPointer(rebasing: bytes[8..<dataStart]), path: path)
        metadata = header.metadata
        let data = UnsafeRawBufferPointer(rebasing: bytes[dataStart...])
        let entries = try Self.validate(header.entries, dataSize: data.count, path: path)
        for entry in entries {
            let raw = UnsafeRawBufferPointer(rebasing: data[entry.begin..<entry.end])
            var tensor: Tensor
            if let mapping, entry.dtype == .f32, raw.count > 0, Int(bitPattern: raw.baseAddress!) % MemoryLayout<Float>.alignment == 0,
               1.littleEndian == 1 {
                tensor = mapping.tensor(at: raw.baseAddress!, shape: entry.shape)
            } else {
                tensor = Tensor(uninitializedShape: entry.shape)
                tensor.withUnsafeMutableBufferPointer { destination in Self.convert(raw, dtype: entry.dtype, into: destination) }
            }
            names.append(entry.name)
            tensors[entry.name] = tensor
            storedDTypes[entry.name] = entry.dtype
            if entry.dtype == .f64 {
                doublePrecision[entry.name] = (0..<(raw.count / 8)).map { i in
                    Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))
                }
            }
        }
    }

    private struct Entry {
        let name: String
        let dtype: DType
        let shape: [Int]
        let begin: Int
        let end: Int
    }

    private static func parseHeader(_ bytes: UnsafeRawBufferPointer, path: String)
        throws -> (entries: [Entry], metadata: [String: String]) {
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
        } catch {
            let preview = String(decoding: bytes.prefix(40), as: UTF8.self)
                .unicodeScalars.map { $0.properties.isWhitespace || $0.value >= 0x20 && $0.value < 0x7f ? String($0) : "?" }
                .joined()
            throw CheckpointError.headerNotJSON(path: path, reason: "header begins \"\(preview)\"")
        }
        guard let object = json as? [String: Any] else {
            throw CheckpointError.headerNotObject(path: path, found: describeJSONType(json))
        }
        var metadata: [String: String] = [:]
        if let raw = object[metadataKey] {
            guard let dictionary = raw as? [String: Any] else {
                throw CheckpointError.malformedMetadata(path: path, reason: "is \(describeJSONType(raw)), not an object")
            }
            for (key, value) in dictionary {
                guard let string = value as? String else {
                    throw CheckpointError.malformedMetadata(
                        path: path, reason: "value for \"\(key)\" is \(describeJSONType(value)), not a string")
                }
                metadata[key] = string
            }
        }
        var entries: [Entry] = []
        // Sorted so that the first error reported does not depend on dictionary order.
        for name in object.keys.sorted() where name != metadataKey {
            entries.append(try parseEntry(name: name, object[name]!, path: path))
        }
        return (entries, metadata)
    }

    private static func parseEntry(name: String, _ raw: Any, path: String) throws -> Entry {
        func malformed(_ reason: String) -> CheckpointError {
            .malformedEntry(path: path, tensor: name, reason: reason)
        }
        guard let fields = raw as? [String: Any] else { throw malformed("entry is \(describeJSONType(raw)), not an object") }
        guard let dtypeName = fields["dtype"] as? String else { throw malformed("\"dtype\" is missing or not a string") }
        guard let shapeValues = fields["shape"] as? [Any] else { throw malformed("\"shape\" is missing or not an array") }
        var shape: [Int] = []
        for value in shapeValues {
            guard let d = integer(value), d >= 0 else { throw malformed("shape \(shapeValues) has an entry that is not a non-negative integer") }
            shape.append(d)
        }
        guard let offsetValues = fields["data_offsets"] as? [Any], offsetValues.count == 2,
              let begin = integer(offsetValues[0]), let end = integer(offsetValues[1]) else {
            throw malformed("\"data_offsets\" is missing or not a pair of integers")
        }
        guard let dtype = DType(rawValue: dtypeName) else {
            throw CheckpointError.unsupportedDType(path: path, tensor: name, dtype: dtypeName)
        }
        guard begin >= 0, begin <= end else { throw CheckpointError.invalidOffsets(path: path, tensor: name, begin: begin, end: end) }
        var bytes = dtype.byteWidth, overflow = false
        for d in shape where !overflow { (bytes, overflow) = bytes.multipliedReportingOverflow(by: d) }
        guard !overflow else { throw malformed("shape \(shape) is too large") }
        guard bytes == end - begin else {
            throw CheckpointError.sizeMismatch(path: path, tensor: name, dtype: dtypeName, shape: shape,
                                               expectedBytes: bytes, spanBytes: end - begin)
        }
        return Entry(name: name, dtype: dtype, shape: shape, begin: begin, end: end)
    }

    /// Checks bounds and overlaps; returns the entries in file order.
    private static func validate(_ entries: [Entry], dataSize: Int, path: String) throws -> [Entry] {
        for e in entries where e.end > dataSize {
            throw CheckpointError.dataOutOfRange(path: path, tensor: e.name, begin: e.begin, end: e.end, dataSize: dataSize)
        }
        let ordered = entries.sorted { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var previous: Entry?
        for e in ordered where e.end > e.begin {
            if let p = previous, e.begin < p.end {
                throw CheckpointError.overlappingTensors(path: path, first: p.name, second: e.name)
            }
            previous = e
        }
        return ordered
    }

    /// JSON numbers arrive as NSNumber; accept only exact integers.
    private static func integer(_ value: Any) -> Int? {
        if let i = value as? Int { return i }
        if let d = value as? Double, d == d.rounded(), abs(d) < 9.0e15 { return Int(d) }
        return nil
    }

    private static func describeJSONType(_ value: Any) -> String {
        switch value {
        case is [String: Any]: return "an object"
        case is [Any]: return "an array"
        case is String: return "a string"
        case is NSNull: return "null"
        default: return "a number or boolean"
        }
    }

    /// Copies (F32) or converts (every other type) little-endian elements into Float32 storage.
    private static func convert(_ source: UnsafeRawBufferPointer, dtype: DType, into destination: UnsafeMutableBufferPointer<Float>) {
        guard let base = source.baseAddress, let out = destination.baseAddress else { return }
        switch dtype {
        case .f32:
            memcpy(out, base, source.count)
            #if _endian(big)
            for i in 0..<destination.count { out[i] = Float(bitPattern: UInt32(littleEndian: out[i].bitPattern)) }
            #endif
        case .f64:
            for i in 0..<destination.count {
                out[i] = Float(Double(bitPattern: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
            }
        case .f16:
            for i in 0..<destination.count {
                out[i] = floatFromHalf(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
            }
        case .bf16:
            for i in 0..<destination.count {
                let bits = UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                out[i] = Float(bitPattern: UInt32(bits) << 16)
            }
        case .i64:
            for i in 0..<destination.count { out[i] = Float(Int64(littleEndian: base.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))) }
        case .i32:
            for i in 0..<destination.count { out[i] = Float(Int32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))) }
        case .i16:
            for i in 0..<destination.count { out[i] = Float(Int16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self))) }
        case .i8:
            for i in 0..<destination.count { out[i] = Float(base.load(fromByteOffset: i, as: Int8.self)) }
        case .u8, .bool:
            for i in 0..<destination.count { out[i] = Float(base.load(fromByteOffset: i, as: UInt8.self)) }
        }
    }

    /// IEEE binary16 → binary32, exact (also for subnormals, infinities and NaN).
    /// Written out because `Float16` is unavailable on macOS x86-64.
    static func floatFromHalf(_ h: UInt16) -> Float {
        let sign: UInt32 = UInt32(h & 0x8000) << 16
        let exponent = UInt32(h >> 10) & 0x1f
        let mantissa = UInt32(h) & 0x3ff
        switch exponent {
        case 0:
            let magnitude = Float(mantissa) * 0x1p-24
            return Float(bitPattern: magnitude.bitPattern | sign)
        case 0x1f:
            return Float(bitPattern: sign | 0x7f80_0000 | (mantissa << 13))
        default:
            return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
        }
    }

    // MARK: writing

    /// Writes all tensors as F32 (F64 for those set with `setDoubles` or read as F64) with `metadata`, atomically: the destination is either
    /// the old file or the complete new one, never a partial write.
    public func write(to path: String) throws {
        try write(to: path, beforeCommit: {})
    }

    /// `beforeCommit` runs after the temporary file is complete and synced, just before
    /// the rename — tests use it to simulate an interruption.
    func write(to path: String, beforeCommit: () throws -> Void) throws {
        try AtomicFile.write(to: path, failure: CheckpointError.cannotWrite, beforeCommit: beforeCommit) { sink in
            try emit(path: path) { try sink.append($0) }
        }
    }

    /// The file's bytes in memory (to send them to another process).
    public func encoded() throws -> Data {
        var data = Data()
        try emit(path: "(in memory)") { data.append(contentsOf: $0) }
        return data
    }

    /// Parses bytes `encoded()` produced; `name` says where they came from in error messages.
    public init(encoded data: Data, name: String) throws {
        self = try data.withUnsafeBytes { try SafeTensorsFile(bytes: $0, path: name) }
    }

    /// Hands the file's bytes to `append` in order: length, header, tensors.
    private func emit(path: String, _ append: (UnsafeRawBufferPointer) throws -> Void) throws {
        let header = try encodedHeader(path: path)
        var length = UInt64(header.count).littleEndian
        try withUnsafeBytes(of: &length) { try append($0) }
        try header.withUnsafeBytes { try append($0) }
        for name in names {
            if let doubles = doublePrecision[name] {
                let bits = doubles.map { $0.bitPattern.littleEndian }
                try bits.withUnsafeBytes { try append($0) }
                continue
            }
            try tensors[name]!.withUnsafeBufferPointer { values in
                #if _endian(big)
                let swapped = values.map { $0.bitPattern.littleEndian }
                try swapped.withUnsafeBytes { try append($0) }
                #else
                try append(UnsafeRawBufferPointer(values))
                #endif
            }
        }
    }

    /// The JSON header, padded with spaces to a multiple of 8 bytes.
    func encodedHeader(path: String) throws -> Data {
        var object: [String: Any] = [:]
        if !metadata.isEmpty { object[Self.metadataKey] = metadata }
        var offset = 0
        for name in names {
            guard !name.isEmpty, name != Self.metadataKey else {
                throw CheckpointError.invalidTensorName(path: path, name: name)
            }
            let tensor = tensors[name]!
            let dtype: DType = doublePrecision[name] == nil ? .f32 : .f64
            let bytes = tensor.count * dtype.byteWidth
            object[name] = ["dtype": dtype.rawValue, "shape": tensor.shape, "data_offsets": [offset, offset + bytes]] as [String: Any]
            offset += bytes
        }
        var data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        data.append(contentsOf: [UInt8](repeating: 0x20, count: (8 - data.count % 8) % 8))
        return data
    }
}

/// A whole file, privately memory-mapped (`PrivateFileMapping`; nil for an empty file).
private final class MappedFile {
    let bytes: UnsafeRawBufferPointer
    let mapping: PrivateFileMapping?

    init(path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CheckpointError.cannotRead(path: path, reason: errnoDescription()) }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw CheckpointError.cannotRead(path: path, reason: errnoDescription()) }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            throw CheckpointError.cannotRead(path: path, reason: "not a regular file")
        }
        let size = Int(status.st_size)
        guard size > 0 else {
            mapping = nil
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        let whole = try PrivateFileMapping(descriptor: fd, offset: 0, length: size, path: path, failure: "mmap failed")
        mapping = whole
        bytes = UnsafeRawBufferPointer(whole.bytes)
    }
}

