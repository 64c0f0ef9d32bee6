import CredenceTensor
import Foundation

// Per-pixel noise corruptions (ImageNet-C / MNIST-C definitions; tables in ShiftParameters).
// Every pixel of every channel draws from the image's generator in row-major order.

/// `x + σ·ε`, ε ~ N(0, 1) (clamped by the driver).
struct GaussianNoise: ShiftKernel {
    let geometry: ImageGeometry
    let standardDeviation: Float

    func apply(_ input: UnsafePointer<Float>, to output: UnsafeMutablePointer<Float>,
               rng: inout RandomGenerator, scratch: ShiftScratch) {
        let n = geometry.size
        var i = 0
        while i < n {
            // Box–Muller, both outputs used.
            let u1 = 1 - rng.uniformFloat()   // (0, 1]
            let u2 = rng.uniformFloat()
            let r = (-2 * Foundation.log(u1)).squareRoot() * standardDeviation
            let angle = 2 * Float.pi * u2
            output[i] = input[i] + r * Foundation.cos(angle)
            if i + 1 < n { output[i + 1] = input[i + 1] + r * Foundation.sin(angle) }
            i += 2
        }
    }
}

/// `Poisson(x·c) / c`: photon-count noise at rate `c` (lower rate, more noise).
///
/// The Poisson draw inverts its CDF with one uniform per pixel, so the draw for a pixel
/// moves monotonically with its mean.
struct ShotNoise: ShiftKernel {
    let geometry: ImageGeometry
    let rate: Double

    func apply(_ input: UnsafePointer<Float>, to output: UnsafeMutablePointer<Float>,
               rng: inout RandomGenerator, scratch: ShiftScratch) {
        let inverseRate = 1 / rate
        for i in 0..<geometry.size {
            let u = rng.uniformDouble()
            let mean = Double(input[i]) * rate
            guard mean > 0 else { output[i] = 0; continue }
            var k = 0
            var p = Foundation.exp(-mean)
            var cumulative = p
            // The cap stops a uniform within rounding error of 1 from looping forever.
            let cap = Int(mean + 12 * mean.squareRoot() + 12)
            while u > cumulative && k < cap {
                k += 1
                p *= mean / Double(k)
                cumulative += p
            }
            output[i] = Float(Double(k) * inverseRate)
        }
    }
}

/// Salt and pepper: each pixel is replaced with probability `amount`, by 1 or 0 with equal odds.
struct ImpulseNoise: ShiftKernel {
    let geometry: ImageGeometry
    let amount: Float

    func apply(_ input: UnsafePointer<Float>, to output: UnsafeMutablePointer<Float>,
               rng: inout RandomGenerator, scratch: ShiftScratch) {
        for i in 0..<geometry.size {
            let bits = rng.next()
            let u = Float(bits >> 40) * (1.0 / 16_777_216.0)   // top 24 bits: replaced?
            output[i] = u < amount ? Float(bits & 1) : input[i] // lowest bit: salt or pepper
        }
    }
}
