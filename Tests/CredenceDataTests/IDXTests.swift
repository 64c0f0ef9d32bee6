import CredenceData
import CredenceTensor
import Foundation
import Testing

@Test(arguments: IDXArray.ElementType.allCases)
func idxRoundTripsThroughGzipFile(type: IDXArray.ElementType) throws {
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    let values: [Float] = type == .uint8 ? (0..<24).map { Float($0 * 10) }
        : (0..<24).map { Float($0 * 9) - 100 + (type == .float32 || type == .float64 ? 0.25 : 0) }
    let array = IDXArray(elementType: type, shape: [2, 3, 4], values: values)
    let path = dir.file("array-idx3.gz")
    try IDX.write(array, to: path, compress: true)

    let raw = try Gzip.readRawFile(path)
    #expect(Gzip.isGzip(raw))
    let read = try IDX.read(path)
    #expect(read == array)
    // The header is big-endian: dims 2, 3, 4 follow the magic.
    let header = Array(try Gzip.readFile(path).prefix(16))
    #expect(header == [0, 0, type.rawValue, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4])
}

@Test func idxElementsSplitAcrossInflatedChunksAreReassembled() throws {
    // 12-byte header + 8-byte elements: the 1 MiB chunk boundaries fall mid-element.
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    let values = (0..<300_000).map { Float($0) * 0.5 - 1000 }
    let array = IDXArray(elementType: .float64, shape: [3, 100_000], values: values)
    try IDX.write(array, to: dir.file("wide.gz"), compress: true)
    #expect(try IDX.read(dir.file("wide.gz")) == array)
    try IDX.write(array, to: dir.file("wide"), compress: false)
    #expect(try IDX.read(dir.file("wide"), dividingBy: 4).values == values.map { $0 / 4 })
}

@Test func idxReadsUncompressedFilesAndLargeValues() throws {
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    let array = IDXArray(elementType: .int32, shape: [3], values: [-70000, 0, 16_777_216])
    let path = dir.file("plain-idx1")
    try IDX.write(array, to: path, compress: false)
    #expect(try IDX.read(path).values == [-70000, 0, 16_777_216])
    #expect(try IDX.read(path, dividingBy: 2).values == [-35000, 0, 8_388_608])
}

@Test func truncatedGzipIsATypedError() throws {
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    let values = (0..<5000).map { Float(($0 * 7919) % 256) }
    let full = Gzip.compress(IDX.encode(IDXArray(elementType: .uint8, shape: [5000], values: values)))
    let path = dir.file("cut.gz")
    try Gzip.writeFile(path, bytes: Array(full.prefix(full.count / 2)), compress: false)
    #expect {
        try IDX.read(path)
    } throws: { error in
        guard case let DataError.truncatedGzip(p, _)? = error as? DataError else { return false }
        return p == path && "\(error)".contains(path) && "\(error)".contains("truncated")
    }
}

@Test func shortIDXDataIsTruncatedError() throws {
    // A valid gzip stream whose IDX header promises 100 bytes but holds 10.
    var bytes = IDX.encode(IDXArray(elementType: .uint8, shape: [100], values: [Float](repeating: 1, count: 100)))
    bytes.removeLast(90)
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    let path = dir.file("short-idx1-ubyte.gz")
    try Gzip.writeFile(path, bytes: bytes, compress: true)
    #expect(throws: DataError.truncated(path: path, expectedBytes: 108, actualBytes: 18)) { try IDX.read(path) }
}

/// Found by fuzzing: 28 bytes whose header declares 2141 × 8388610 float32s made the reader
/// allocate 72 GB before noticing the data was not there. Refused before allocating now, raw
/// or gzip-compressed.
@Test func aHeaderDeclaringMoreThanTheFileHoldsIsRefusedBeforeAllocating() throws {
    let bytes: [UInt8] = [0, 0, 0x0D, 2, 0, 0, 0x08, 0x5D, 0, 0x80, 0, 2, 0x3F, 0, 0, 0, 0x3F, 0x80, 0, 0, 0xBF, 0x80, 0, 0, 0x40, 0, 0, 0]
    #expect(throws: DataError.truncated(path: "x", expectedBytes: 12 + 2141 * 8_388_610 * 4, actualBytes: 28)) { try IDX.decode(bytes, path: "x") }
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    let path = dir.file("huge-idx.gz")
    try Gzip.writeFile(path, bytes: bytes, compress: true)
    let error = try #require(throws: DataError.self) { try IDX.read(path) }
    #expect("\(error)".contains("inflates to at most"), "\(error)")
}

/// Found by fuzzing: an int32 near Int32.max read as Float rounds past it (2³¹), and writing
/// the array back trapped converting it to Int32. Integers are clamped to their type now.
@Test func integersNearTheirLimitsWriteBackClamped() throws {
    let array = IDXArray(elementType: .int32, shape: [3], values: [Float(Int32.max), Float(Int32.min), .nan])
    let again = try IDX.decode(IDX.encode(array))
    #expect(again.tensor.values == [Float(Int32.max), Float(Int32.min), 0])
    let bytes = IDXArray(elementType: .uint8, shape: [2], values: [300, -5])
    #expect(try IDX.decode(IDX.encode(bytes)).tensor.values == [255, 0])
}

@Test func badMagicAndUnknownTypeAreRejected() throws {
    #expect(throws: DataError.badMagic(path: "x", found: [0x50, 0x4B, 3, 4], expected: "the IDX magic 00 00 <type> <rank>")) {
        try IDX.decode([0x50, 0x4B, 3, 4, 0, 0], path: "x")
    }
    #expect(throws: DataError.unsupportedIDXType(path: "y", code: 0x0A)) {
        try IDX.decode([0, 0, 0x0A, 1, 0, 0, 0, 1, 0], path: "y")
    }
    #expect(throws: DataError.truncated(path: "z", expectedBytes: 12, actualBytes: 8)) {
        try IDX.decode([0, 0, 8, 2, 0, 0, 0, 1], path: "z")
    }
}

@Test func corruptGzipBodyIsReported() throws {
    var bytes = Gzip.compress([UInt8](repeating: 7, count: 1000) + (0..<200).map { UInt8($0) })
    for i in 10..<bytes.count - 8 { bytes[i] ^= 0xA5 }
    #expect {
        try Gzip.decompress(bytes, path: "broken.gz")
    } throws: { error in
        switch error as? DataError {
        case .corruptGzip(path: "broken.gz", _)?, .truncatedGzip(path: "broken.gz", _)?: return true
        default: return false
        }
    }
}

@Test func gzipHandlesConcatenatedMembersAndGrowsItsBuffer() throws {
    let a = [UInt8](repeating: 1, count: 300_000), b = (0..<1000).map { UInt8($0 % 251) }
    // Two members: the trailer's size hint covers only the last, so the buffer must grow.
    let joined = Gzip.compress(a) + Gzip.compress(b)
    #expect(try Gzip.decompress(joined) == a + b)
    #expect(try Gzip.decompress(Gzip.compress([])) == [])
}

@Test func missingFileNamesThePathAndRemedy() throws {
    #expect {
        try IDX.read("/nonexistent/dir/file-idx1-ubyte.gz", remedy: "Do the thing.")
    } throws: { error in
        "\(error)".contains("/nonexistent/dir/file-idx1-ubyte.gz") && "\(error)".contains("Do the thing.")
    }
}
