import CredenceTensor
import Foundation

// Geometric shifts: Ovadia et al.'s rotation and translation, and the elastic corruption.

/// Rotation by `degrees` counter-clockwise (as displayed, y down) about the image centre
/// ((W − 1)/2, (H − 1)/2): output pixel (y, x) reads the input bilinearly at the inverse-rotated
/// position, 0 outside. Multiples of 90° use exact cosines, so on a square image they permute
/// pixels exactly (90° is NumPy's `rot90`).
struct Rotation: ShiftKernel {
    let geometry: ImageGeometry
    let table: BilinearTable

    init(geometry: ImageGeometry, degrees: Int) {
        self.geometry = geometry
        let (cosine, sine) = Self.cosineSine(degrees: degrees)
        let cy = Double(geometry.height - 1) / 2, cx = Double(geometry.width - 1) / 2
        table = BilinearTable(height: geometry.height, width: geometry.width) { y, x in
            let dy = Double(y) - cy, dx = Double(x) - cx
            return (y: cy + sine * dx + cosine * dy, x: cx + cosine * dx - sine * dy)
        }
    }

    /// cos and sin of an angle in degrees, exact at multiples of 90°.
    static func cosineSine(degrees: Int) -> (Double, Double) {
        let d = ((degrees % 360) + 360) % 360
        switch d {
        case 0: return (1, 0)
        case 90: return (0, 1)
        case 180: return (-1, 0)
        case 270: return (0, -1)
        default:
            let t = Double(d) * Double.pi / 180
            return (Foundation.cos(t), Foundation.sin(t))
        }
    }

    func apply(_ input: UnsafePointer<Float>, to output: UnsafeMutablePointer<Float>,
               rng: inout RandomGenerator, scratch: ShiftScratch) {
        for c in 0..<geometry.channels {
            table.apply(input + c * geometry.plane, to: output + c * geometry.plane, count: geometry.plane)
        }
    }
}

/// Circular shift along x (NumPy `roll(axis: x)`): `out[y][x] = in[y][(x − k) mod W]`, so
/// positive `k` moves content right and what leaves one edge re-enters at the other.
struct Translation: ShiftKernel {
    let geometry: ImageGeometry
    let shift: Int

    init(geometry: ImageGeometry, pixels: Int) {
        self.geometry = geometry
        shift = ((pixels % geometry.width) + geometry.width) % geometry.width
    }

    func apply(_ input: UnsafePointer<Float>, to output: UnsafeMutablePointer<Float>,
               rng: inout RandomGenerator, scratch: ShiftScratch) {
        let w = geometry.width, k = shift
        for row in 0..<(geometry.channels * geometry.height) {
            let src = input + row * w, dst = output + row * w
            (dst + k).update(from: src, count: w - k)
            dst.update(from: src + (w - k), count: k)
        }
    }
}

/// The elastic corruption of CIFAR-10-C / MNIST-C (after Simard et al. 2003): a random affine
/// warp — three control points centre + (s, s), (s, −s), (−s, −s), s = ⌊min(H, W)/3⌋, each
/// coordinate moved by U(−affine, affine) — then a per-pixel displacement
/// (dx, dy) = α·G_σ ∗ U(−1, 1) (Gaussian smoothing truncated at 3σ, reflecting edges). Both
/// warps are bilinear with 0 outside the image. All lengths in pixels.
struct ElasticTransform: ShiftKernel {
    let geometry: ImageGeometry
    let alpha: Double, affine: Double
    let smoothing: SeparableFilter?

    init(geometry: ImageGeometry, alpha: Double, sigma: Double, affine: Double) {
        self.geometry = geometry
        self.alpha = alpha
        self.affine = affine
        smoothing = alpha > 0
            ? SeparableFilter(weights: gaussianKernel(sigma: sigma, radius: Int(3 * sigma + 0.5)),
                              height: geometry.height, width: geometry.width, border: .reflect)
            : nil
    }

    /// The affine map (a, b, c; d, e, f) with x' = a·x + b·y + c, y' = d·x + e·y + f that takes
    /// each of `from` to the matching point of `to` (three points, (x, y)); identity if degenerate.
    static func affineMap(from: [(Double, Double)], to: [(Double, Double)]) -> [Double] {
        let (x1, y1) = from[0], (x2, y2) = from[1], (x3, y3) = from[2]
        let det = x1 * (y2 - y3) - y1 * (x2 - x3) + (x2 * y3 - x3 * y2)
        guard abs(det) > 1e-9 else { return [1, 0, 0, 0, 1, 0] }
        func solve(_ v1: Double, _ v2: Double, _ v3: Double) -> (Double, Double, Double) {
            // Cramer's rule on rows [x_k, y_k, 1] · (p, q, r) = v_k.
            let p = (v1 * (y2 - y3) - y1 * (v2 - v3) + (v2 * y3 - v3 * y2)) / det
            let q = (x1 * (v2 - v3) - v1 * (x2 - x3) + (x2 * v3 - x3 * v2)) / det
            let r = (x1 * (y2 * v3 - y3 * v2) - y1 * (x2 * v3 - x3 * v2) + v1 * (x2 * y3 - x3 * y2)) / det
            return (p, q, r)
        }
        let (a, b, c) = solve(to[0].0, to[1].0, to[2].0)
        let (d, e, f) = solve(to[0].1, to[1].1, to[2].1)
        return [a, b, c, d, e, f]
    }

    func apply(_ input: UnsafePointer<Float>, to output: UnsafeMutablePointer<Float>,
               rng: inout RandomGenerator, scratch: ShiftScratch) {
        let h = geometry.height, w = geometry.width, n = geometry.plane
        // Random affine: the control points move; sample the input at the inverse map.
        let cx = Double(w / 2), cy = Double(h / 2), s = Double(Swift.min(h, w) / 3)
        let control = [(cx + s, cy + s), (cx + s, cy - s), (cx - s, cy - s)]
        let moved = control.map { p in
            (p.0 + (2 * rng.uniformDouble() - 1) * affine, p.1 + (2 * rng.uniformDouble() - 1) * affine)
        }
        let m = Self.affineMap(from: moved, to: control).map(Float.init)

        // Displacement fields, shared by the channels.
        let warped = scratch.plane(0), dxField = scratch.plane(1), dyField = scratch.plane(2)
        let noise = scratch.plane(3), temporary = scratch.plane(4)
        if let smoothing {
            for field in [dxField, dyField] {
                for p in 0..<n { noise[p] = 2 * rng.uniformFloat() - 1 }
                smoothing.apply(noise, to: field, temporary: temporary, row: scratch.row)
                let a = Float(alpha)
                for p in 0..<n { field[p] *= a }
            }
        }
        for c in 0..<geometry.channels {
            let src = input + c * n, dst = output + c * n
            let target = smoothing == nil ? dst : warped
            for y in 0..<h {
                for x in 0..<w {
                    let fx = Float(x), fy = Float(y)
                    target[y * w + x] = bilinearZeroFill(src, height: h, width: w,
                                                         y: m[3] * fx + m[4] * fy + m[5], x: m[0] * fx + m[1] * fy + m[2])
                }
            }
            guard smoothing != nil else { continue }
            for y in 0..<h {
                for x in 0..<w {
                    let p = y * w + x
                    dst[p] = bilinearZeroFill(warped, height: h, width: w, y: Float(y) + dyField[p], x: Float(x) + dxField[p])
                }
            }
        }
    }
}
