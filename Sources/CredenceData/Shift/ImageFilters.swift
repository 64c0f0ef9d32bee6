import Foundation

// Small image kernels shared by the shift transforms. They work on one H×W plane at a time
// through raw pointers; callers own all memory (scratch planes are allocated once per worker
// chunk, never per pixel or per image).

/// The shape of one image, `C × H × W`, row-major planes.
struct ImageGeometry: Sendable {
    let channels: Int, height: Int, width: Int
    var plane: Int { height * width }
    var size: Int { channels * height * width }
}

/// Scratch memory for one worker: a few planes of floats, one padded row and a few integers.
final class ShiftScratch {
    let floats: UnsafeMutablePointer<Float>
    let integers: UnsafeMutablePointer<Int>
    /// A row with room for the widest filter margin the shifts use (radius ≤ 0.6·side + 1).
    let row: UnsafeMutablePointer<Float>
    let rowCapacity: Int
    let plane: Int
    static let planeCount = 5
    static let integerCount = 256

    init(_ geometry: ImageGeometry) {
        plane = geometry.plane
        rowCapacity = 3 * Swift.max(geometry.height, geometry.width) + 64
        floats = .allocate(capacity: Swift.max(1, Self.planeCount * plane))
        integers = .allocate(capacity: Self.integerCount)
        row = .allocate(capacity: rowCapacity)
    }

    /// Scratch plane `k` (0 ..< planeCount).
    func plane(_ k: Int) -> UnsafeMutablePointer<Float> { floats + k * plane }

    deinit {
        floats.deallocate()
        integers.deallocate()
        row.deallocate()
    }
}

/// How a filter reads pixels beyond the edge of a plane.
enum BorderMode {
    /// `aaa|abcd|ddd` — scipy / scikit-image `nearest`, ImageMagick `edge`.
    case nearest
    /// `ba|abcd|dc` — scipy `reflect` (half-sample symmetric).
    case reflect
    /// `cb|abcd|cb` — OpenCV `BORDER_REFLECT_101`, its default.
    case reflect101

    /// The in-range index that stands for index `i` of an axis of length `n`.
    @inline(__always) func index(_ i: Int, _ n: Int) -> Int {
        if i >= 0 && i < n { return i }
        switch self {
        case .nearest:
            return i < 0 ? 0 : n - 1
        case .reflect:
            let period = 2 * n
            var j = i % period
            if j < 0 { j += period }
            return j < n ? j : period - 1 - j
        case .reflect101:
            if n == 1 { return 0 }
            let period = 2 * n - 2
            var j = i % period
            if j < 0 { j += period }
            return j < n ? j : period - j
        }
    }

    /// The source index for every position `−radius ..< n + radius`, offset by `radius`.
    func table(length n: Int, radius: Int) -> [Int] {
        (-radius..<(n + radius)).map { index($0, n) }
    }
}

/// A normalised 1-D Gaussian kernel `exp(−k²/2σ²)`, k = −radius…radius.
func gaussianKernel(sigma: Double, radius: Int) -> [Float] {
    guard sigma > 0 else { return [1] }
    let w = (-radius...radius).map { k in Foundation.exp(-Double(k * k) / (2 * sigma * sigma)) }
    let total = w.reduce(0, +)
    return w.map { Float($0 / total) }
}

/// A symmetric 1-D filter applied along both axes of a plane (x first, then y), with the
/// border handled by precomputed index tables so the inner loops have no branches.
struct SeparableFilter {
    let weights: [Float]
    let radius: Int
    let height: Int, width: Int
    let columnIndex: [Int]   // width + 2·radius entries
    let rowIndex: [Int]      // height + 2·radius entries

    init(weights: [Float], height: Int, width: Int, border: BorderMode) {
        precondition(weights.count % 2 == 1, "a centred kernel has an odd length")
        self.weights = weights
        radius = weights.count / 2
        self.height = height
        self.width = width
        columnIndex = border.table(length: width, radius: radius)
        rowIndex = border.table(length: height, radius: radius)
    }

    /// `output = K_y ∗ (K_x ∗ input)`; `temporary` holds one plane and `row` at least
    /// `width + 2·radius` values. `output` may not alias `input`.
    func apply(_ input: UnsafePointer<Float>, to output: UnsafeMutablePointer<Float>,
               temporary: UnsafeMutablePointer<Float>, row: UnsafeMutablePointer<Float>) {
        let taps = weights.count
        weights.withUnsafeBufferPointer { k in
            columnIndex.withUnsafeBufferPointer { cx in
                for y in 0..<height {
                    // Pad the row once, then accumulate tap by tap (vectorisable inner loop).
                    let source = input + y * width
                    for j in 0..<(width + 2 * radius) { row[j] = source[cx[j]] }
                    let out = temporary + y * width
                    for x in 0..<width { out[x] = 0 }
                    for t in 0..<taps {
                        let w = k[t], shifted = row + t
                        for x in 0..<width { out[x] += w * shifted[x] }
                    }
                }
            }
            rowIndex.withUnsafeBufferPointer { ry in
                for y in 0..<height {
                    let out = output + y * width
                    for x in 0..<width { out[x] = 0 }
                    for t in 0..<taps {
                        let w = k[t]
                        let src = temporary + ry[y + t] * width
                        for x in 0..<width { out[x] += w * src[x] }
                    }
                }
            }
        }
    }
}

/// A dense square 2-D correlation kernel (OpenCV `filter2D`), side `2·radius + 1`.
struct Filter2D {
    let weights: [Float]   // row-major, (2r+1)²
    let radius: Int
    let height: Int, width: Int
    let columnIndex: [Int]
    let rowIndex: [Int]

    init(weights: [Float], radius: Int, height: Int, width: Int, border: BorderMode) {
        precondition(weights.count == (2 * radius + 1) * (2 * radius + 1), "kernel must be (2r+1)²")
        self.weights = weights
        self.radius = radius
        self.height = height
        self.width = width
        columnIndex = border.table(length: width, radius: radius)
        rowIndex = border.table(length: height, radius: radius)
    }

    func apply(_ input: UnsafePointer<Float>, to output: UnsafeMutablePointer<Float>) {
        let side = 2 * radius + 1
        weights.withUnsafeBufferPointer { k in
            columnIndex.withUnsafeBufferPointer { cx in
                rowIndex.withUnsafeBufferPointer { ry in
                    for y in 0..<height {
                        let out = output + y * width
                        for x in 0..<width { out[x] = 0 }
                        for i in 0..<side {
                            let src = input + ry[y + i] * width
                            for j in 0..<side {
                                let w = k[i * side + j]
                                if w == 0 { continue }
                                for x in 0..<width { out[x] += w * src[cx[x + j]] }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Bilinear interpolation of a plane at (y, x) in pixel coordinates (pixel centres at
/// integers), reading 0 outside the plane. At integer coordinates it returns the pixel exactly.
@inline(__always)
func bilinearZeroFill(_ plane: UnsafePointer<Float>, height: Int, width: Int, y: Float, x: Float) -> Float {
    let fy = y.rounded(.down), fx = x.rounded(.down)
    guard fy >= -1, fy < Float(height), fx >= -1, fx < Float(width) else { return 0 }  // also rejects NaN
    let y0 = Int(fy), x0 = Int(fx)
    let ay = y - fy, ax = x - fx
    @inline(__always) func at(_ r: Int, _ c: Int) -> Float {
        (r >= 0 && r < height && c >= 0 && c < width) ? plane[r * width + c] : 0
    }
    let top = at(y0, x0) * (1 - ax) + at(y0, x0 + 1) * ax
    let bottom = at(y0 + 1, x0) * (1 - ax) + at(y0 + 1, x0 + 1) * ax
    return top * (1 - ay) + bottom * ay
}

/// A fixed linear resampling of every plane: output pixel p = Σ weights · input[indices],
/// with up to four taps per pixel (bilinear), precomputed once per call.
struct BilinearTable {
    let indices: [Int32]   // 4 per output pixel
    let weights: [Float]   // 4 per output pixel; 0 for taps outside the image

    /// Output pixel (y, x) samples the input at `source(y, x)` (zero outside).
    init(height: Int, width: Int, source: (Int, Int) -> (y: Double, x: Double)) {
        var indices = [Int32](repeating: 0, count: 4 * height * width)
        var weights = [Float](repeating: 0, count: 4 * height * width)
        for y in 0..<height {
            for x in 0..<width {
                let (sy, sx) = source(y, x)
                let fy = sy.rounded(.down), fx = sx.rounded(.down)
                let ay = sy - fy, ax = sx - fx
                let p = 4 * (y * width + x)
                guard fy >= -1, fy < Double(height), fx >= -1, fx < Double(width) else { continue }
                let y0 = Int(fy), x0 = Int(fx)
                let taps = [(y0, x0, (1 - ay) * (1 - ax)), (y0, x0 + 1, (1 - ay) * ax),
                            (y0 + 1, x0, ay * (1 - ax)), (y0 + 1, x0 + 1, ay * ax)]
                for (t, (r, c, w)) in taps.enumerated() where r >= 0 && r < height && c >= 0 && c < width {
                    indices[p + t] = Int32(r * width + c)
                    weights[p + t] = Float(w)
                }
            }
        }
        self.indices = indices
        self.weights = weights
    }

    func apply(_ input: UnsafePointer<Float>, to output: UnsafeMutablePointer<Float>, count: Int) {
        indices.withUnsafeBufferPointer { idx in
            weights.withUnsafeBufferPointer { w in
                for p in 0..<count {
                    let q = 4 * p
                    output[p] = w[q] * input[Int(idx[q])] + w[q + 1] * input[Int(idx[q + 1])]
                        + w[q + 2] * input[Int(idx[q + 2])] + w[q + 3] * input[Int(idx[q + 3])]
                }
            }
        }
    }
}

/// A sparse linear map along one axis (`output[j] = Σ weight · input[index]`), e.g. a resize.
struct AxisResample {
    let inputLength: Int, outputLength: Int
    let start: [Int]        // outputLength + 1 offsets into indices/weights
    let indices: [Int]
    let weights: [Float]

    init(dense: [[Double]], inputLength: Int) {
        var start = [0], indices: [Int] = [], weights: [Float] = []
        for row in dense {
            for (i, w) in row.enumerated() where w != 0 {
                indices.append(i)
                weights.append(Float(w))
            }
            start.append(indices.count)
        }
        self.inputLength = inputLength
        outputLength = dense.count
        self.start = start
        self.indices = indices
        self.weights = weights
    }

    /// PIL's `Image.resize` coefficients for the BOX filter from `inputLength` to
    /// `outputLength` pixels (filter sampled at input pixel centres, support ½·max(scale, 1)).
    static func pilBox(from inputLength: Int, to outputLength: Int) -> [[Double]] {
        let scale = Double(inputLength) / Double(outputLength)
        let filterScale = Swift.max(scale, 1)
        let support = 0.5 * filterScale
        return (0..<outputLength).map { j in
            let center = (Double(j) + 0.5) * scale
            let lower = Swift.max(Int(center - support + 0.5), 0)
            let upper = Swift.min(Int(center + support + 0.5), inputLength)
            var row = [Double](repeating: 0, count: inputLength)
            var total = 0.0
            for i in lower..<Swift.max(lower, upper) {
                let t = (Double(i) - center + 0.5) / filterScale
                let w: Double = (t > -0.5 && t <= 0.5) ? 1 : 0
                row[i] = w
                total += w
            }
            return total > 0 ? row.map { $0 / total } : row
        }
    }

    /// The composition `second ∘ first` of two dense maps (rows = outputs).
    static func compose(_ first: [[Double]], then second: [[Double]]) -> [[Double]] {
        second.map { row in
            (0..<(first.first?.count ?? 0)).map { i in
                var s = 0.0
                for (k, w) in row.enumerated() where w != 0 { s += w * first[k][i] }
                return s
            }
        }
    }
}
