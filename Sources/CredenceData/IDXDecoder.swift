import CredenceTensor

/// An incremental IDX parser: feed it the file's bytes in chunks of any size, then call
/// `finish()`. The result tensor is allocated once, as soon as the header is complete —
/// unless the header declares more elements than the file's bytes (`size`) can hold, which
/// is refused before anything is allocated — and elements are converted (big-endian →
/// `Float`, divided by `divisor`) as they arrive.
struct IDXDecoder {
    /// How many bytes the decoder will be fed: exactly (a raw file) or at most (gzip, whose
    /// inflated size is known only once inflated).
    enum Size {
        case exactly(Int), atMost(Int)
    }
    let path: String
    let divisor: Float
    let size: Size
    private var header: [UInt8] = []
    private var type: IDXArray.ElementType = .uint8
    private var headerSize = 4  // known once the rank byte has been read
    private var output: Tensor?
    private var written = 0
    private var carry: [UInt8] = []  // the bytes of an element split across two chunks
    private var received = 0

    init(path: String, divisor: Float, size: Size) {
        self.path = path
        self.divisor = divisor
        self.size = size
    }

    mutating func consume(_ chunk: UnsafeBufferPointer<UInt8>) throws {
        received += chunk.count
        var start = 0
        while output == nil && start < chunk.count {
            header.append(chunk[start])
            start += 1
            try parseHeader()
        }
        guard var tensor = output, start < chunk.count else { return }
        output = nil  // keep `tensor` uniquely referenced while writing into it
        defer { output = tensor }
        let size = type.byteCount
        let total = tensor.count
        tensor.withUnsafeMutableBufferPointer { dst in
            var p = chunk.baseAddress! + start
            var available = chunk.count - start
            if !carry.isEmpty && written < total {
                let take = Swift.min(size - carry.count, available)
                carry.append(contentsOf: UnsafeBufferPointer(start: p, count: take))
                p += take; available -= take
                if carry.count == size {
                    carry.withUnsafeBufferPointer { convert($0.baseAddress!, count: 1, into: dst.baseAddress! + written) }
                    written += 1
                    carry.removeAll(keepingCapacity: true)
                }
            }
            let whole = Swift.min(available / size, total - written)
            convert(p, count: whole, into: dst.baseAddress! + written)
            written += whole
            let rest = available - whole * size
            if written < total && rest > 0 {
                carry.append(contentsOf: UnsafeBufferPointer(start: p + whole * size, count: rest))
            }
        }
    }

    /// The decoded array; throws `DataError.truncated` when the bytes ran out early.
    func finish() throws -> IDXArray {
        guard let tensor = output else {
            throw DataError.truncated(path: path, expectedBytes: headerSize, actualBytes: received)
        }
        guard written == tensor.count else {
            throw DataError.truncated(path: path, expectedBytes: headerSize + tensor.count * type.byteCount,
                                      actualBytes: received)
        }
        return IDXArray(elementType: type, tensor: tensor)
    }

    private mutating func parseHeader() throws {
        if header.count == 4 {
            guard header[0] == 0, header[1] == 0 else {
                throw DataError.badMagic(path: path, found: header, expected: "the IDX magic 00 00 <type> <rank>")
            }
            guard let t = IDXArray.ElementType(rawValue: header[2]) else {
                throw DataError.unsupportedIDXType(path: path, code: header[2])
            }
            type = t
            headerSize = 4 + 4 * Int(header[3])
        }
        guard header.count >= 4, header.count == headerSize else { return }
        var shape: [Int] = []
        var count = 1
        for d in 0..<Int(header[3]) {
            let dim = header.withUnsafeBufferPointer { Int(Self.bigEndian32($0.baseAddress! + 4 + 4 * d)) }
            shape.append(dim)
            let (product, overflow) = count.multipliedReportingOverflow(by: dim)
            // 2^40 elements is far beyond any real IDX file; larger headers are corrupt.
            guard !overflow, product < 1 << 40 else {
                throw DataError.unexpectedShape(path: path, shape: shape, expected: "an array that fits in memory")
            }
            count = product
        }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: type.byteCount)
        switch size {
        case let .exactly(available) where overflow || headerSize + bytes > available:
            throw DataError.truncated(path: path, expectedBytes: overflow ? Int.max : headerSize + bytes, actualBytes: available)
        case let .atMost(available) where overflow || headerSize + bytes > available:
            throw DataError.unexpectedShape(path: path, shape: shape,
                                            expected: "an array the file can hold (\(count) elements need \(headerSize) + \(count) × \(type.byteCount) bytes; the file inflates to at most \(available))")
        default: break
        }
        output = Tensor(uninitializedShape: shape)
    }

    @inline(__always) static func bigEndian32(_ p: UnsafePointer<UInt8>) -> UInt32 {
        UInt32(p[0]) << 24 | UInt32(p[1]) << 16 | UInt32(p[2]) << 8 | UInt32(p[3])
    }

    /// Converts `count` big-endian elements at `p` to `Float`, dividing by `divisor`.
    private func convert(_ p: UnsafePointer<UInt8>, count: Int, into out: UnsafeMutablePointer<Float>) {
        let d = divisor
        switch type {
        case .uint8:
            if d == 1 { for i in 0..<count { out[i] = Float(p[i]) } } else { for i in 0..<count { out[i] = Float(p[i]) / d } }
        case .int8:
            for i in 0..<count { out[i] = Float(Int8(bitPattern: p[i])) / d }
        case .int16:
            for i in 0..<count { out[i] = Float(Int16(bitPattern: UInt16(p[2 * i]) << 8 | UInt16(p[2 * i + 1]))) / d }
        case .int32:
            for i in 0..<count { out[i] = Float(Int32(bitPattern: Self.bigEndian32(p + 4 * i))) / d }
        case .float32:
            for i in 0..<count { out[i] = Float(bitPattern: Self.bigEndian32(p + 4 * i)) / d }
        case .float64:
            for i in 0..<count {
                let bits = UInt64(Self.bigEndian32(p + 8 * i)) << 32 | UInt64(Self.bigEndian32(p + 8 * i + 4))
                out[i] = Float(Double(bitPattern: bits)) / d
            }
        }
    }
}
