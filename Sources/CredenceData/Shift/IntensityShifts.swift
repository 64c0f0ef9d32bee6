import CredenceTensor

// Deterministic intensity and resolution corruptions, and occlusion
// (tables and sources in ShiftParameters).

/// `(x − m)·c + m` with `m` the mean of the image's channel.
struct Contrast: ShiftKernel {
    let geometry: ImageGeometry
    let factor: Float

    func apply(_ input: UnsafePointer<Float>, to output: UnsafeMutablePointer<Float>,
               rng: inout RandomGenerator, scratch: ShiftScratch) {
        let n = geometry.plane
        for c in 0..<geometry.channels {
            let src = input + c * n, dst = output + c * n
            var sum: Double = 0
            for p in 0..<n { sum += Double(src[p]) }
            let mean = Float(sum / Double(n))
            for p in 0..<n { dst[p] = (src[p] - mean) * factor + mean }
        }
    }
}

/// `c` added to the HSV value: `x + c` for grey (or any non-RGB) images; for three channels
/// the RGB triple is scaled so its maximum V becomes min(V + c, 1) (hue and saturation kept;
/// black becomes grey c).
struct Brightness: ShiftKernel {
    let geometry: ImageGeometry
    let shift: Float

    func apply(_ input: UnsafePointer<Float>, to output: UnsafeMutablePointer<Float>,
               rng: inout RandomGenerator, scratch: ShiftScratch) {
        let n = geometry.plane
        guard geometry.channels == 3 else {
            for p in 0..<geometry.size { output[p] = input[p] + shift }
            return
        }
        for p in 0..<n {
            let r = input[p], g = input[n + p], b = input[2 * n + p]
            let value = Swift.max(r, Swift.max(g, b))
            let brighter = Swift.min(value + shift, 1)
            if value > 0 {
                let scale = brighter / value
                output[p] = r * scale; output[n + p] = g * scale; output[2 * n + p] = b * scale
            } else {
                output[p] = brighter; output[n + p] = brighter; output[2 * n + p] = brighter
            }
        }
    }
}

/// Down-sampling to ⌊c·H⌋ × ⌊c·W⌋ and back with PIL's BOX resize both ways, composed into
/// one sparse linear map per axis (applied along x, then y).
struct Pixelate: ShiftKernel {
    let geometry: ImageGeometry
    let alongX: AxisResample
    let alongY: AxisResample

    init(geometry: ImageGeometry, factor: Double) {
        self.geometry = geometry
        func roundTrip(_ n: Int) -> AxisResample {
            let small = Swift.max(1, Int(factor * Double(n)))
            let down = AxisResample.pilBox(from: n, to: small)
            let up = AxisResample.pilBox(from: small, to: n)
            return AxisResample(dense: AxisResample.compose(down, then: up), inputLength: n)
        }
        alongX = roundTrip(geometry.width)
        alongY = roundTrip(geometry.height)
    }

    func apply(_ input: UnsafePointer<Float>, to output: UnsafeMutablePointer<Float>,
               rng: inout RandomGenerator, scratch: ShiftScratch) {
        let h = geometry.height, w = geometry.width
        let temporary = scratch.plane(0)
        for c in 0..<geometry.channels {
            let src = input + c * geometry.plane, dst = output + c * geometry.plane
            for y in 0..<h {
                for x in 0..<w {
                    var s: Float = 0
                    for t in alongX.start[x]..<alongX.start[x + 1] { s += alongX.weights[t] * src[y * w + alongX.indices[t]] }
                    temporary[y * w + x] = s
                }
            }
            for y in 0..<h {
                for x in 0..<w { dst[y * w + x] = 0 }
                for t in alongY.start[y]..<alongY.start[y + 1] {
                    let weight = alongY.weights[t], row = temporary + alongY.indices[t] * w
                    for x in 0..<w { dst[y * w + x] += weight * row[x] }
                }
            }
        }
    }
}

/// A `side × side` square at a uniformly random position inside the image set to 0 in every channel.
struct Occlusion: ShiftKernel {
    let geometry: ImageGeometry
    let side: Int

    func apply(_ input: UnsafePointer<Float>, to output: UnsafeMutablePointer<Float>,
               rng: inout RandomGenerator, scratch: ShiftScratch) {
        output.update(from: input, count: geometry.size)
        let h = geometry.height, w = geometry.width
        // One uniform per axis (not integer(below:)) so every severity places its square
        // from the same draws.
        let top = Swift.min(Int(rng.uniformDouble() * Double(h - side + 1)), h - side)
        let left = Swift.min(Int(rng.uniformDouble() * Double(w - side + 1)), w - side)
        for c in 0..<geometry.channels {
            for y in top..<(top + side) {
                (output + c * geometry.plane + y * w + left).update(repeating: 0, count: side)
            }
        }
    }
}
