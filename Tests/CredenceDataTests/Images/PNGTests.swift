import CredenceData
import CredenceTensor
import Foundation
import Testing

@Test func greyPNGHasValidChunksAndDecodesToItsPixels() throws {
    let (w, h) = (37, 11)
    let pixels = (0..<(w * h)).map { UInt8(($0 * 7 + $0 / w * 13) % 256) }
    let png = try PNG.encodeGrey(pixels, width: w, height: h)
    #expect(Array(png.prefix(8)) == PNG.signature)
    let decoded = try readPNG(png)
    #expect(decoded.chunkTypes == ["IHDR", "IDAT", "IEND"])
    #expect(decoded.width == w && decoded.height == h && decoded.pixels == pixels)
}

@Test func crcIsZlibsCRC32() {
    // The check value of CRC-32 for "123456789", and the CRC of PNG's empty IEND chunk.
    #expect(referenceCRC32(Array("123456789".utf8)) == 0xCBF4_3926)
    #expect(referenceCRC32(Array("IEND".utf8)) == 0xAE42_6082)
}

@Test func imageTensorsAreQuantisedAndUpscaledByNearestNeighbour() throws {
    let values: [Float] = [0, 1, 0.5, 0.2, -3, 7, .nan, 0.998]
    let image = Tensor(shape: [1, 2, 4], values: values)
    let expected: [UInt8] = [0, 255, 128, 51, 0, 255, 0, 254]
    for scale in [1, 3] {
        let decoded = try readPNG(try PNG.encode(image: image, scale: scale))
        #expect(decoded.width == 4 * scale && decoded.height == 2 * scale)
        for y in 0..<(2 * scale) { for x in 0..<(4 * scale) {
            #expect(decoded.pixels[y * 4 * scale + x] == expected[(y / scale) * 4 + x / scale])
        } }
    }
    // [H, W] works like [1, H, W].
    #expect(try PNG.encode(image: try image.reshaped([2, 4]), scale: 2) == PNG.encode(image: image, scale: 2))
}

@Test func gridPlacesCellsRowByRowWithPadding() throws {
    let images = (0..<5).map { k in Tensor(shape: [1, 3, 2], repeating: Float(k) / 10) }
    let (pad, scale) = (2, 2)
    let decoded = try readPNG(try PNG.grid(images, columns: 3, padding: pad, scale: scale))
    let cellW = 2 * scale, cellH = 3 * scale
    #expect(decoded.width == 3 * cellW + 4 * pad && decoded.height == 2 * cellH + 3 * pad)
    func pixel(_ y: Int, _ x: Int) -> UInt8 { decoded.pixels[y * decoded.width + x] }
    for k in 0..<5 {
        let top = pad + (k / 3) * (cellH + pad), left = pad + (k % 3) * (cellW + pad)
        for y in top..<(top + cellH) { for x in left..<(left + cellW) {
            #expect(pixel(y, x) == UInt8((Float(k) / 10 * 255).rounded()))
        } }
    }
    // Padding, and the empty sixth cell, are white.
    #expect(pixel(0, 0) == 255 && pixel(pad + cellH, 5) == 255)
    #expect(pixel(decoded.height - pad - 1, decoded.width - pad - 1) == 255)
}

@Test func invalidPNGRequestsThrowTypedErrors() {
    let cases: [() throws -> Data] = [
        { try PNG.encodeGrey([1, 2, 3], width: 2, height: 2) },
        { try PNG.encodeGrey([], width: 0, height: 0) },
        { try PNG.encode(image: Tensor(shape: [3, 4, 4], repeating: 0)) },
        { try PNG.encode(image: Tensor(shape: [16], repeating: 0)) },
        { try PNG.encode(image: Tensor(shape: [4, 4], repeating: 0), scale: 0) },
        { try PNG.grid([], columns: 2, padding: 1, scale: 1) },
        { try PNG.grid([Tensor(shape: [2, 2], repeating: 0), Tensor(shape: [3, 2], repeating: 0)], columns: 2, padding: 1, scale: 1) },
        { try PNG.grid([Tensor(shape: [2, 2], repeating: 0)], columns: 0, padding: 1, scale: 1) },
    ]
    for (i, make) in cases.enumerated() {
        let error = #expect(throws: DataError.self, "case \(i)") { _ = try make() }
        if case .invalidArgument? = error {} else { Issue.record("case \(i): \(String(describing: error))") }
    }
}

@Test(.enabled(if: python3WithZlib != nil, "python3 with zlib not installed"))
func pythonDecodesThePNGToTheSamePixels() throws {
    let (w, h) = (23, 9)
    let pixels = (0..<(w * h)).map { UInt8(($0 * 31 + 5) % 256) }
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    let path = dir.file("x.png")
    try PNG.encodeGrey(pixels, width: w, height: h).write(to: URL(fileURLWithPath: path))
    // A tiny independent reader: chunk walk with zlib.crc32 checks, inflate, filter 0 rows.
    let script = """
    import sys, zlib, struct
    d = open(sys.argv[1], 'rb').read()
    assert d[:8] == b'\\x89PNG\\r\\n\\x1a\\n'
    i, idat, ihdr = 8, b'', None
    while i < len(d):
        n, = struct.unpack('>I', d[i:i+4]); t = d[i+4:i+8]; body = d[i+8:i+8+n]
        assert struct.unpack('>I', d[i+8+n:i+12+n])[0] == zlib.crc32(t + body) & 0xffffffff, t
        if t == b'IHDR': ihdr = struct.unpack('>IIBBBBB', body)
        if t == b'IDAT': idat += body
        i += 12 + n
    w, h = ihdr[0], ihdr[1]
    raw = zlib.decompress(idat)
    rows = [raw[y*(w+1):(y+1)*(w+1)] for y in range(h)]
    assert all(r[0] == 0 for r in rows)
    print(w, h, ihdr[2], ihdr[3], ' '.join(str(b) for r in rows for b in r[1:]))
    """
    let process = Process()
    process.executableURL = URL(fileURLWithPath: python3WithZlib!)
    process.arguments = ["-c", script, path]
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    #expect(process.terminationStatus == 0)
    let expected = "\(w) \(h) 8 0 " + pixels.map(String.init).joined(separator: " ")
    #expect(output.trimmingCharacters(in: .whitespacesAndNewlines) == expected)
}
