import CredenceData
import Foundation

/// A strict little PNG reader for the tests: checks the signature, every chunk's CRC-32
/// (computed here independently of zlib), the chunk order, and decodes 8-bit grey,
/// non-interlaced images with any of the five scan-line filters.
struct DecodedPNG {
    var width: Int
    var height: Int
    var pixels: [UInt8]
    var chunkTypes: [String]
}

enum PNGReadError: Error, CustomStringConvertible {
    case malformed(String)
    var description: String { if case let .malformed(m) = self { return m }; return "" }
}

/// CRC-32 (ISO 3309 / ITU-T V.42, polynomial 0xEDB88320, reflected), bit by bit.
func referenceCRC32<S: Sequence>(_ bytes: S) -> UInt32 where S.Element == UInt8 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    }
    return ~crc
}

func readPNG(_ data: Data) throws -> DecodedPNG {
    let bytes = [UInt8](data)
    guard bytes.count >= 8, Array(bytes[0..<8]) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] else {
        throw PNGReadError.malformed("bad signature")
    }
    func u32(_ i: Int) -> Int { Int(bytes[i]) << 24 | Int(bytes[i + 1]) << 16 | Int(bytes[i + 2]) << 8 | Int(bytes[i + 3]) }
    var position = 8
    var types: [String] = []
    var header: [UInt8] = []
    var idat: [UInt8] = []
    while position < bytes.count {
        guard position + 12 <= bytes.count else { throw PNGReadError.malformed("truncated chunk at \(position)") }
        let length = u32(position)
        guard position + 12 + length <= bytes.count else { throw PNGReadError.malformed("chunk overruns file") }
        let type = String(decoding: bytes[(position + 4)..<(position + 8)], as: UTF8.self)
        let body = Array(bytes[(position + 8)..<(position + 8 + length)])
        let stored = UInt32(u32(position + 8 + length))
        guard referenceCRC32(bytes[(position + 4)..<(position + 8 + length)]) == stored else {
            throw PNGReadError.malformed("CRC mismatch in \(type)")
        }
        types.append(type)
        if type == "IHDR" { header = body }
        if type == "IDAT" { idat += body }
        position += 12 + length
        if type == "IEND" { break }
    }
    guard position == bytes.count else { throw PNGReadError.malformed("bytes after IEND") }
    guard types.first == "IHDR", types.last == "IEND", header.count == 13 else { throw PNGReadError.malformed("chunk order \(types)") }
    let width = Int(header[0]) << 24 | Int(header[1]) << 16 | Int(header[2]) << 8 | Int(header[3])
    let height = Int(header[4]) << 24 | Int(header[5]) << 16 | Int(header[6]) << 8 | Int(header[7])
    guard Array(header[8...]) == [8, 0, 0, 0, 0] else { throw PNGReadError.malformed("not 8-bit grey: \(header[8...])") }
    // zlib header check (CMF/FLG), then inflate.
    guard idat.count >= 2, idat[0] & 0x0F == 8, (Int(idat[0]) << 8 | Int(idat[1])) % 31 == 0 else {
        throw PNGReadError.malformed("IDAT is not a zlib stream")
    }
    let raw = try Gzip.decompress(idat)
    guard raw.count == height * (width + 1) else { throw PNGReadError.malformed("\(raw.count) raw bytes for \(width)×\(height)") }
    var pixels = [UInt8](repeating: 0, count: width * height)
    for y in 0..<height {
        let filter = raw[y * (width + 1)]
        for x in 0..<width {
            let v = raw[y * (width + 1) + 1 + x]
            let a = x > 0 ? Int(pixels[y * width + x - 1]) : 0
            let b = y > 0 ? Int(pixels[(y - 1) * width + x]) : 0
            let c = x > 0 && y > 0 ? Int(pixels[(y - 1) * width + x - 1]) : 0
            let predictor: Int
            switch filter {
            case 0: predictor = 0
            case 1: predictor = a
            case 2: predictor = b
            case 3: predictor = (a + b) / 2
            case 4:
                let p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
                predictor = pa <= pb && pa <= pc ? a : (pb <= pc ? b : c)
            default: throw PNGReadError.malformed("filter type \(filter)")
            }
            pixels[y * width + x] = UInt8((Int(v) + predictor) & 0xFF)
        }
    }
    return DecodedPNG(width: width, height: height, pixels: pixels, chunkTypes: types)
}

/// The path of `python3` when it is installed and has zlib, else nil.
let python3WithZlib: String? = {
    for path in ["/usr/bin/python3", "/usr/local/bin/python3"] where FileManager.default.isExecutableFile(atPath: path) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = ["-c", "import zlib"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { continue }
        p.waitUntilExit()
        if p.terminationStatus == 0 { return path }
    }
    return nil
}()
