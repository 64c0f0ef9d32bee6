import CZlib
import CredenceTensor
import Foundation

/// Reading files that may be gzip-compressed, and writing gzip, through the system zlib.
///
/// `readFile(_:)` looks at the first two bytes: `1f 8b` means gzip and the stream is
/// inflated (zlib `inflate` with windowBits 15 + 32, concatenated members included);
/// anything else is returned as it is. The file name's extension is not consulted.
///
/// ```swift
/// let bytes = try Gzip.readFile("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz")
/// try Gzip.writeFile("/tmp/x.gz", bytes: bytes, compress: true)
/// ```
public enum Gzip {
    /// True when `bytes` starts with the gzip magic number `1f 8b`.
    public static func isGzip(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B
    }

    /// The contents of `path`, decompressed when it is gzip.
    ///
    /// Throws `DataError.fileNotFound` (with `remedy` appended), `.unreadableFile`,
    /// `.corruptGzip` or `.truncatedGzip`.
    public static func readFile(_ path: String, remedy: String = "Check the path.") throws -> [UInt8] {
        let raw = try readRawFile(path, remedy: remedy)
        return isGzip(raw) ? try decompress(raw, path: path) : raw
    }

    /// The bytes of `path` as stored (one allocation of the file's size).
    public static func readRawFile(_ path: String, remedy: String = "Check the path.") throws -> [UInt8] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw DataError.fileNotFound(path: path, remedy: remedy)
        }
        guard !isDirectory.boolValue else {
            throw DataError.unreadableFile(path: path, reason: "it is a directory")
        }
        guard let file = fopen(path, "rb") else {
            throw DataError.unreadableFile(path: path, reason: String(cString: strerror(errno)))
        }
        defer { fclose(file) }
        guard fseek(file, 0, SEEK_END) == 0, case let size = ftell(file), size >= 0, fseek(file, 0, SEEK_SET) == 0 else {
            throw DataError.unreadableFile(path: path, reason: "cannot determine its size")
        }
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            initialized = size == 0 ? 0 : fread(buffer.baseAddress!, 1, size, file)
        }
        guard bytes.count == size else {
            throw DataError.unreadableFile(path: path, reason: "read \(bytes.count) of \(size) bytes")
        }
        return bytes
    }

    /// Inflates a gzip (or zlib) stream; `path` only labels errors.
    ///
    /// The output array starts with the capacity recorded in the gzip trailer (ISIZE)
    /// and grows geometrically past it, so large files are not reallocated per chunk.
    public static func decompress(_ input: [UInt8], path: String = "<memory>") throws -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(initialCapacity(for: input))
        try inflateChunks(input, path: path) { output.append(contentsOf: $0) }
        return output
    }

    /// The most bytes `compressedSize` bytes of gzip (or zlib) data can inflate to: deflate
    /// expands at most 1032:1 (258-byte matches coded in 2 bits), plus slack for the headers
    /// of concatenated members.
    public static func largestInflatedSize(of compressedSize: Int) -> Int {
        let (product, overflow) = compressedSize.multipliedReportingOverflow(by: 1032)
        return overflow ? Int.max : product + (1 << 16)
    }

    /// Inflates `input` chunk by chunk, handing each decompressed chunk to `body` — for
    /// decoders that convert as they go instead of holding the whole inflated file.
    ///
    /// zlib `inflate` with windowBits 15 + 32 (gzip or zlib header, detected);
    /// concatenated gzip members (`cat a.gz b.gz`) are read as one stream. Throws
    /// `DataError.truncatedGzip` when the input ends before the stream does and
    /// `.corruptGzip` with zlib's message otherwise. Returns the decompressed size.
    @discardableResult
    public static func inflateChunks(_ input: [UInt8], path: String = "<memory>", chunkSize: Int = 1 << 20,
                                     _ body: (UnsafeBufferPointer<UInt8>) throws -> Void) throws -> Int {
        guard !input.isEmpty else { throw DataError.truncatedGzip(path: path, decompressedBytes: 0) }
        var stream = z_stream()
        let initStatus = inflateInit2_(&stream, 15 + 32, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard initStatus == Z_OK else {
            throw DataError.corruptGzip(path: path, reason: "inflateInit2 failed (\(initStatus))")
        }
        defer { inflateEnd(&stream) }
        var chunk = [UInt8](repeating: 0, count: Swift.max(chunkSize, 1024))
        var total = 0
        try input.withUnsafeBufferPointer { src in
            stream.next_in = UnsafeMutablePointer(mutating: src.baseAddress!)
            stream.avail_in = UInt32(src.count)  // inputs over 4 GiB are not supported
            try chunk.withUnsafeMutableBufferPointer { dst in
                while true {
                    stream.next_out = dst.baseAddress!
                    stream.avail_out = UInt32(dst.count)
                    let status = inflate(&stream, Z_NO_FLUSH)
                    let produced = dst.count - Int(stream.avail_out)
                    total += produced
                    if produced > 0 { try body(UnsafeBufferPointer(rebasing: dst[0..<produced])) }
                    switch status {
                    case Z_OK:
                        continue
                    case Z_STREAM_END:
                        // Another gzip member may follow; anything else after the end is ignored.
                        let next = src.count - Int(stream.avail_in)
                        guard next + 1 < src.count, src[next] == 0x1F, src[next + 1] == 0x8B else { return }
                        guard inflateReset(&stream) == Z_OK else {
                            throw DataError.corruptGzip(path: path, reason: "cannot restart at a gzip member")
                        }
                    case Z_BUF_ERROR where stream.avail_in == 0:
                        // The output had room, so no progress means the input ran out mid-stream.
                        throw DataError.truncatedGzip(path: path, decompressedBytes: total)
                    default:
                        let message = stream.msg.map { String(cString: $0) } ?? "zlib status \(status)"
                        throw DataError.corruptGzip(path: path, reason: message)
                    }
                }
            }
        }
        return total
    }

    /// A first guess at the inflated size: the gzip trailer's ISIZE (size mod 2³²) when plausible.
    static func initialCapacity(for input: [UInt8]) -> Int {
        let fallback = Swift.max(1 << 16, input.count * 4)
        guard input.count >= 18 else { return fallback }
        let n = input.count
        let isize = Int(input[n - 4]) | Int(input[n - 3]) << 8 | Int(input[n - 2]) << 16 | Int(input[n - 1]) << 24
        // A corrupt or multi-member trailer can lie; cap the guess to avoid huge allocations.
        return isize > 0 && isize <= input.count * 1032 ? isize + 1 : fallback
    }

    /// Gzip-compresses `bytes` (zlib `deflate`, windowBits 15 + 16, default level).
    public static func compress(_ bytes: [UInt8], level: Int32 = Z_DEFAULT_COMPRESSION) -> [UInt8] {
        var stream = z_stream()
        let status = deflateInit2_(&stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY,
                                   zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        precondition(status == Z_OK, "deflateInit2 failed with status \(status)")
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(bytes.count))) + 32)
        var input = bytes
        let written = input.withUnsafeMutableBufferPointer { src in
            output.withUnsafeMutableBufferPointer { dst -> Int in
                stream.next_in = src.baseAddress ?? UnsafeMutablePointer<UInt8>(bitPattern: 1)
                stream.avail_in = UInt32(src.count)
                stream.next_out = dst.baseAddress
                stream.avail_out = UInt32(dst.count)
                let result = deflate(&stream, Z_FINISH)
                precondition(result == Z_STREAM_END, "deflate did not finish (\(result))")
                return dst.count - Int(stream.avail_out)
            }
        }
        output.removeSubrange(written...)
        return output
    }

    /// Writes `bytes` to `path` atomically, gzip-compressed when `compress` is true.
    public static func writeFile(_ path: String, bytes: [UInt8], compress shouldCompress: Bool) throws {
        let payload = shouldCompress ? compress(bytes) : bytes
        try AtomicFile.write(Data(payload), to: path, failure: DataError.unwritableFile)
    }
}
