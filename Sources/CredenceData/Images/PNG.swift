import CredenceTensor
import CZlib
import Foundation

/// A minimal PNG encoder for 8-bit grey images, for reports that embed pictures as
/// `data:image/png;base64,...` URIs (shifted examples, contact sheets).
///
/// Output: the PNG signature, an `IHDR` chunk (8-bit, colour type 0 = grey, no interlace),
/// one `IDAT` chunk holding the zlib-compressed scan lines (each prefixed by filter byte 0,
/// "None"; zlib `compress2` at the best compression level), and `IEND`; every chunk carries
/// zlib's CRC-32 of its type and data (PNG specification, ISO/IEC 15948).
/// Pixel values in [0, 1] map to `round(255·v)`; values outside are clamped, NaN is black.
///
/// ```swift
/// let png = try PNG.encode(image: try test.inputs.rows(0..<1).reshaped([1, 28, 28]), scale: 4)
/// let html = "<img src=\"data:image/png;base64,\(png.base64EncodedString())\">"
/// ```
public enum PNG {
    /// The eight bytes every PNG file starts with.
    public static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Encodes `width × height` grey pixels given row by row (`pixels.count == width · height`).
    ///
    /// - Throws: `DataError.invalidArgument` for a non-positive or too large size, or a pixel
    ///   count that does not match it.
    public static func encodeGrey(_ pixels: [UInt8], width: Int, height: Int) throws -> Data {
        guard width > 0, height > 0, width <= Int(Int32.max), height <= Int(Int32.max) else {
            throw DataError.invalidArgument(name: "PNG size", message: "width and height must lie in 1...\(Int32.max), got \(width)×\(height)")
        }
        guard pixels.count == width * height else {
            throw DataError.invalidArgument(
                name: "PNG pixels", message: "a \(width)×\(height) image needs \(width * height) pixels, got \(pixels.count)")
        }
        // Scan lines: a filter-type byte (0, None) then the row.
        let stride = width + 1
        var raw = [UInt8](repeating: 0, count: stride * height)
        raw.withUnsafeMutableBufferPointer { r in
            pixels.withUnsafeBufferPointer { p in
                for y in 0..<height {
                    (r.baseAddress! + y * stride + 1).update(from: p.baseAddress! + y * width, count: width)
                }
            }
        }
        let compressed = try deflate(raw)

        var header: [UInt8] = []
        appendBigEndian(UInt32(width), to: &header)
        appendBigEndian(UInt32(height), to: &header)
        header += [8, 0, 0, 0, 0]   // bit depth 8, grey, deflate, adaptive filtering, no interlace

        var png = Data(signature)
        appendChunk("IHDR", header, to: &png)
        appendChunk("IDAT", compressed, to: &png)
        appendChunk("IEND", [], to: &png)
        return png
    }

    /// Encodes a grey image tensor `[1, H, W]` or `[H, W]` with values in [0, 1], each pixel
    /// repeated into a `scale × scale` block (nearest-neighbour up-scaling).
    ///
    /// - Throws: `DataError.invalidArgument` for another shape or `scale < 1`.
    public static func encode(image: Tensor, scale: Int = 1) throws -> Data {
        let (height, width) = try imageSize(image, name: "image")
        guard scale >= 1 else {
            throw DataError.invalidArgument(name: "scale", message: "PNG up-scaling factor must be ≥ 1, got \(scale)")
        }
        let (w, h) = (width * scale, height * scale)
        var pixels = [UInt8](repeating: 0, count: w * h)
        pixels.withUnsafeMutableBufferPointer { out in
            image.withUnsafeBufferPointer { src in
                blit(src, width: width, height: height, scale: scale, into: out, stride: w, top: 0, left: 0)
            }
        }
        return try encodeGrey(pixels, width: w, height: h)
    }

    /// Lays `images` (each `[1, H, W]` or `[H, W]`, all the same size, values in [0, 1]) out
    /// row by row, `columns` per row, each up-scaled by `scale`, with `padding` pixels of
    /// `paddingLevel` (default white) between cells and around the edge.
    ///
    /// - Throws: `DataError.invalidArgument` for no images, mixed sizes, another shape,
    ///   `columns < 1`, `padding < 0` or `scale < 1`.
    ///
    /// ```swift
    /// let sheet = try PNG.grid(severities.map { try applyShift(...).rows(0..<1).reshaped([1, 28, 28]) },
    ///                          columns: 5, padding: 2, scale: 3)
    /// ```
    public static func grid(_ images: [Tensor], columns: Int, padding: Int, scale: Int,
                            paddingLevel: UInt8 = 255) throws -> Data {
        guard let first = images.first else {
            throw DataError.invalidArgument(name: "images", message: "a PNG grid needs at least one image")
        }
        guard columns >= 1, padding >= 0, scale >= 1 else {
            throw DataError.invalidArgument(
                name: "grid layout", message: "needs columns ≥ 1, padding ≥ 0 and scale ≥ 1, got \(columns), \(padding), \(scale)")
        }
        let (height, width) = try imageSize(first, name: "images[0]")
        for (i, image) in images.enumerated() {
            let size = try imageSize(image, name: "images[\(i)]")
            guard size == (height, width) else {
                throw DataError.invalidArgument(
                    name: "images[\(i)]", message: "is \(size.0)×\(size.1) but images[0] is \(height)×\(width); a grid needs one size")
            }
        }
        let used = Swift.min(columns, images.count)
        let rows = (images.count + columns - 1) / columns
        let cellW = width * scale, cellH = height * scale
        let totalW = used * cellW + (used + 1) * padding
        let totalH = rows * cellH + (rows + 1) * padding
        var pixels = [UInt8](repeating: paddingLevel, count: totalW * totalH)
        pixels.withUnsafeMutableBufferPointer { out in
            for (i, image) in images.enumerated() {
                let top = padding + (i / columns) * (cellH + padding)
                let left = padding + (i % columns) * (cellW + padding)
                image.withUnsafeBufferPointer { src in
                    blit(src, width: width, height: height, scale: scale, into: out, stride: totalW, top: top, left: left)
                }
            }
        }
        return try encodeGrey(pixels, width: totalW, height: totalH)
    }

    // MARK: - Helpers

    /// (H, W) of a `[1, H, W]` or `[H, W]` tensor with at least one pixel.
    static func imageSize(_ image: Tensor, name: String) throws -> (Int, Int) {
        let s = image.shape
        if s.count == 2, s[0] > 0, s[1] > 0 { return (s[0], s[1]) }
        if s.count == 3, s[0] == 1, s[1] > 0, s[2] > 0 { return (s[1], s[2]) }
        throw DataError.invalidArgument(
            name: name, message: "a grey PNG image must have shape [1, H, W] or [H, W] with H, W ≥ 1, got \(s)")
    }

    /// `round(255·clamp(v, 0, 1))`, NaN → 0.
    @inline(__always) static func level(_ v: Float) -> UInt8 {
        guard v > 0 else { return 0 }
        return v >= 1 ? 255 : UInt8((v * 255).rounded())
    }

    /// Writes `src` (height × width) up-scaled by `scale` into `out` at (top, left).
    static func blit(_ src: UnsafeBufferPointer<Float>, width: Int, height: Int, scale: Int,
                     into out: UnsafeMutableBufferPointer<UInt8>, stride: Int, top: Int, left: Int) {
        for y in 0..<height {
            let rowStart = (top + y * scale) * stride + left
            for x in 0..<width {
                let v = level(src[y * width + x])
                for k in 0..<scale { out[rowStart + x * scale + k] = v }
            }
            for r in 1..<Swift.max(1, scale) {
                let copy = rowStart + r * stride
                for k in 0..<(width * scale) { out[copy + k] = out[rowStart + k] }
            }
        }
    }

    /// A zlib stream (RFC 1950) of `bytes`, as PNG's IDAT requires.
    static func deflate(_ bytes: [UInt8]) throws -> [UInt8] {
        var length = compressBound(uLong(bytes.count))
        var out = [UInt8](repeating: 0, count: Int(length))
        let status = out.withUnsafeMutableBufferPointer { o in
            bytes.withUnsafeBufferPointer { i in
                compress2(o.baseAddress!, &length, i.baseAddress!, uLong(i.count), Z_BEST_COMPRESSION)
            }
        }
        guard status == Z_OK else {
            throw DataError.invalidArgument(name: "PNG data", message: "zlib compress2 failed with status \(status)")
        }
        out.removeSubrange(Int(length)...)
        return out
    }

    static func appendBigEndian(_ v: UInt32, to bytes: inout [UInt8]) {
        bytes += [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
    }

    /// Length, type, data and the CRC-32 of type + data.
    static func appendChunk(_ type: String, _ data: [UInt8], to png: inout Data) {
        var chunk: [UInt8] = []
        chunk.reserveCapacity(data.count + 12)
        appendBigEndian(UInt32(data.count), to: &chunk)
        chunk += Array(type.utf8)
        chunk += data
        let crc = chunk.withUnsafeBufferPointer { p in
            crc32(0, p.baseAddress! + 4, uInt(data.count + 4))
        }
        appendBigEndian(UInt32(truncatingIfNeeded: crc), to: &chunk)
        png.append(contentsOf: chunk)
    }
}
