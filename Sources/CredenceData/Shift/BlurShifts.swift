import CredenceTensor
import Foundation

// Blur corruptions (definitions after ImageNet-C / CIFAR-10-C; tables in ShiftParameters).

/// Isotropic Gaussian blur of σ pixels: separable, truncated at 4σ, nearest-pixel edges
/// (scikit-image `filters.gaussian` defaults).
struct GaussianBlur: ShiftKernel {
    let geometry: ImageGeometry
    let filter: SeparableFilter

    init(geometry: ImageGeometry, sigma: Double) {
        self.geometry = geometry
        let radius = Int(4 * sigma + 0.5)
        filter = SeparableFilter(weights: gaussianKernel(sigma: sigma, radius: radius),
                                 height: geometry.height, width: geometry.width, border: .nearest)
    }

    func apply(_ input: UnsafePointer<Float>, to output: UnsafeMutablePointer<Float>,
               rng: inout RandomGenerator, scratch: ShiftScratch) {
        for c in 0..<geometry.channels {
            filter.apply(input + c * geometry.plane, to: output + c * geometry.plane,
                         temporary: scratch.plane(0), row: scratch.row)
        }
    }
}

/// Defocus: correlation with an anti-aliased disk (the reference's `disk(radius, alias_blur)`),
/// OpenCV's reflect-101 edges.
struct DefocusBlur: ShiftKernel {
    let geometry: ImageGeometry
    let filter: Filter2D

    init(geometry: ImageGeometry, radius: Double, aliasSigma: Double) {
        self.geometry = geometry
        let kernel = Self.kernel(radius: radius, aliasSigma: aliasSigma)
        filter = Filter2D(weights: kernel.weights, radius: kernel.half, height: geometry.height,
                          width: geometry.width, border: .reflect101)
    }

    /// The disk `i² + j² ≤ r²` on the integer grid, normalised, smoothed by a 3×3 Gaussian of
    /// σ = `aliasSigma`; returned on the grid −half…half with half = ⌊r⌋ + 1, which holds
    /// all of its support.
    static func kernel(radius: Double, aliasSigma: Double) -> (weights: [Float], half: Int) {
        let half = Int(radius) + 1, side = 2 * half + 1
        var disk = [Double](repeating: 0, count: side * side)
        for i in -half...half {
            for j in -half...half where Double(i * i + j * j) <= radius * radius {
                disk[(i + half) * side + (j + half)] = 1
            }
        }
        let total = disk.reduce(0, +)
        disk = disk.map { $0 / total }
        let e = Foundation.exp(-1 / (2 * aliasSigma * aliasSigma))
        let taps = [e, 1, e].map { $0 / (1 + 2 * e) }
        func smooth(_ a: [Double], alongRows: Bool) -> [Double] {
            var out = [Double](repeating: 0, count: a.count)
            for i in 0..<side {
                for j in 0..<side {
                    var s = 0.0
                    for t in -1...1 {
                        let (r, c) = alongRows ? (i, j + t) : (i + t, j)
                        if r >= 0 && r < side && c >= 0 && c < side { s += taps[t + 1] * a[r * side + c] }
                    }
                    out[i * side + j] = s
                }
            }
            return out
        }
        let smoothed = smooth(smooth(disk, alongRows: true), alongRows: false)
        return (smoothed.map(Float.init), half)
    }

    func apply(_ input: UnsafePointer<Float>, to output: UnsafeMutablePointer<Float>,
               rng: inout RandomGenerator, scratch: ShiftScratch) {
        for c in 0..<geometry.channels {
            filter.apply(input + c * geometry.plane, to: output + c * geometry.plane)
        }
    }
}

/// ImageMagick's motion blur: a one-sided smear over `2⌈radius⌉ + 1` taps along a direction
/// drawn per image from U(−45°, 45°), tap i at the rounded offset i·(cos θ, sin θ) with weight
/// ∝ exp(−i²/2σ²); edge pixels extend beyond the border.
struct MotionBlur: ShiftKernel {
    let geometry: ImageGeometry
    let weights: [Float]

    init(geometry: ImageGeometry, radius: Double, sigma: Double) {
        self.geometry = geometry
        let taps = Swift.min(Int(2 * radius.rounded(.up) + 1), ShiftScratch.integerCount / 2)
        let w = (0..<taps).map { i in Foundation.exp(-Double(i * i) / (2 * sigma * sigma)) }
        let total = w.reduce(0, +)
        weights = w.map { Float($0 / total) }
    }

    func apply(_ input: UnsafePointer<Float>, to output: UnsafeMutablePointer<Float>,
               rng: inout RandomGenerator, scratch: ShiftScratch) {
        let degrees = rng.uniformDouble() * 90 - 45
        let theta = degrees * Double.pi / 180
        let (cosine, sine) = (Foundation.cos(theta), Foundation.sin(theta))
        let taps = weights.count
        let dx = scratch.integers, dy = scratch.integers + taps
        for i in 0..<taps {
            dx[i] = Int((Double(i) * cosine - 0.5).rounded(.up))
            dy[i] = Int((Double(i) * sine - 0.5).rounded(.up))
        }
        let h = geometry.height, w = geometry.width
        weights.withUnsafeBufferPointer { k in
            for c in 0..<geometry.channels {
                let src = input + c * geometry.plane, dst = output + c * geometry.plane
                dst.update(repeating: 0, count: geometry.plane)
                // Tap by tap: columns inside [lower, upper) read src[x + dx] directly;
                // columns outside read the clamped edge pixel.
                for i in 0..<taps {
                    let weight = k[i], ox = dx[i]
                    let lower = Swift.min(Swift.max(-ox, 0), w), upper = Swift.max(Swift.min(w - ox, w), lower)
                    for y in 0..<h {
                        let line = src + Swift.min(Swift.max(y + dy[i], 0), h - 1) * w
                        let out = dst + y * w
                        let first = line[0], last = line[w - 1]
                        for x in 0..<lower { out[x] += weight * first }
                        let shifted = line + ox
                        for x in lower..<upper { out[x] += weight * shifted[x] }
                        for x in upper..<w { out[x] += weight * last }
                    }
                }
            }
        }
    }
}
