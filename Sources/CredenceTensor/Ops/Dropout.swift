import CCredenceSupport

/// The random keep/drop pattern of one dropout application, generated from a counter
/// (a stateless hash of seed and position) instead of a sequential stream: elements are
/// independent of each other and of the order they are computed in, the pattern can be
/// regenerated in the backward pass instead of being stored, and generation has no
/// serial dependency, so it vectorises and runs near memory speed.
///
/// Each 32-bit hash (Wellons' "lowbias32" mixer) of (seed, pair index) yields two 16-bit
/// uniforms, one per element; an element is kept when its uniform is below
/// `threshold = round(keep·2¹⁶)`. The keep probability is therefore `threshold/2¹⁶`
/// (within 8·10⁻⁶ of `1 − rate`), and kept elements are scaled by its inverse, so the
/// expectation is preserved exactly.
public struct DropoutNoise: Sendable {
    public let seed: UInt64
    /// Keep an element when its 16-bit uniform is below this.
    public let threshold: UInt32
    /// 1 / keep probability.
    public let scale: Float

    public init(rate: Float, operation: String = "dropout", rng: inout RandomGenerator) throws {
        guard rate >= 0, rate < 1 else {
            throw TensorError.invalidArgument(operation: operation, message: "rate must be in [0, 1), got \(rate)")
        }
        seed = rng.next()
        threshold = Self.threshold(rate: rate)
        scale = Self.scale(rate: rate)
    }

    static func threshold(rate: Float) -> UInt32 { Swift.max(UInt32((Double(1 - rate) * 65536).rounded()), 1) }

    /// The factor kept elements are scaled by at `rate` (what `scale` is for every pattern drawn at it).
    public static func scale(rate: Float) -> Float { 65536 / Float(threshold(rate: rate)) }

    /// The pair index that hashes position `start` (even) of the pattern, and the hash's key.
    @inline(__always) func pairWindow(start: Int) -> (first: UInt32, key: UInt32) {
        precondition(start % 2 == 0, "dropout pattern windows start at an even position")
        return (UInt32(truncatingIfNeeded: start / 2) &+ UInt32(truncatingIfNeeded: seed >> 32), UInt32(truncatingIfNeeded: seed))
    }

    @inline(__always) static func hash(_ v: UInt32, _ key: UInt32) -> UInt32 {
        var x = v ^ key
        x ^= x >> 16
        x &*= 0x7FEB_352D
        x ^= x >> 15
        x &*= 0x846C_A68B
        x ^= x >> 16
        return x
    }

    /// dst[i] = src[i]·mask[i] (or mask[i] when `src` is nil), for positions
    /// `start..<start+count` of the pattern (`start` must be even); with `rectifying`, of
    /// relu(src[i]) = src[i] > 0 ? src[i] : 0 — a ReLU and this dropout in one pass. With the
    /// vector kernels (AVX2) eight pairs a round in C, the same numbers bit for bit (6 % of MC
    /// dropout's inference as this loop; tested equal).
    public func apply(to src: UnsafePointer<Float>?, into dst: UnsafeMutablePointer<Float>, count: Int, start: Int = 0,
                      rectifying: Bool = false, vectorKernels: Bool = FastMath.hasVectorKernels) {
        let (first, key) = pairWindow(start: start), t = threshold, s = scale
        let pairs = count / 2
        let done = vectorKernels ? credence_dropout_pairs(src, dst, pairs, first, key, t, s, rectifying ? 1 : 0) : 0
        @inline(__always) func input(_ v: Float) -> Float { rectifying ? (v > 0 ? v : 0) : v }
        if let src {
            for k in done..<pairs {
                let h = Self.hash(first &+ UInt32(truncatingIfNeeded: k), key)
                let a = input(src[2 * k]), b = input(src[2 * k + 1])
                dst[2 * k] = (h & 0xFFFF) < t ? a * s : 0
                dst[2 * k + 1] = (h >> 16) < t ? b * s : 0
            }
        } else {
            for k in done..<pairs {
                let h = Self.hash(first &+ UInt32(truncatingIfNeeded: k), key)
                dst[2 * k] = (h & 0xFFFF) < t ? s : 0
                dst[2 * k + 1] = (h >> 16) < t ? s : 0
            }
        }
        if count % 2 == 1 {  // the last element uses the low half of its pair's hash
            let h = Self.hash(first &+ UInt32(truncatingIfNeeded: pairs), key)
            let m: Float = (h & 0xFFFF) < t ? s : 0
            dst[count - 1] = (src.map { input($0[count - 1]) } ?? 1) * m
        }
    }

    /// A dense layer's outputs for this pattern's dropout of its input, from the product without
    /// dropout: for each of `rows` rows of h ([rows, inputs], `inputs` even; row i at pattern
    /// positions start + i·inputs, `start` even), z[i] = base[i] − Σ (h[i][u]·scale)·Wᵀ[u] over
    /// the units u this pattern drops and where h[i][u] ≠ 0. `transposedWeight` is the layer's
    /// weight as [inputs, outputs] with rows `stride` ≥ outputs floats apart (a stride off a
    /// multiple of 512 bytes keeps the rows out of each other's cache sets), `base`
    /// [rows, outputs] is (h·scale)·Wᵀ + bias, and z is [rows, outputs]: the layer's output on
    /// the dropped-out rows, up to rounding (the same products, summed in another order). At a
    /// rate p after a ReLU about p/2 of the GEMM's terms are subtracted — MC dropout's stacked
    /// passes through the layer after its first dropout.
    public func denseOutputs(droppingFrom h: UnsafePointer<Float>, rows: Int, inputs: Int, start: Int,
                             transposedWeight weightT: UnsafePointer<Float>, stride: Int, outputs: Int, base: UnsafePointer<Float>,
                             into z: UnsafeMutablePointer<Float>, vectorKernels: Bool = FastMath.hasVectorKernels) {
        precondition(inputs % 2 == 0, "dropout pattern windows start at an even position (each row is one)")
        precondition(stride >= outputs, "the transposed weight's rows hold the outputs")
        let (first, key) = pairWindow(start: start), t = threshold, s = scale
        if vectorKernels, credence_dropped_units_dense(h, rows, inputs, weightT, stride, outputs, base, z, first, key, t, s) != 0 { return }
        for i in 0..<rows {
            let row = h + i * inputs, out = z + i * outputs
            out.update(from: base + i * outputs, count: outputs)
            @inline(__always) func subtract(unit u: Int, ifDropped half: UInt32) {
                guard half >= t, row[u] != 0 else { return }
                let c = row[u] * s, w = weightT + u * stride
                for o in 0..<outputs { out[o] -= c * w[o] }
            }
            let rowFirst = first &+ UInt32(truncatingIfNeeded: i * (inputs / 2))
            for k in 0..<(inputs / 2) {
                let hash = Self.hash(rowFirst &+ UInt32(truncatingIfNeeded: k), key)
                subtract(unit: 2 * k, ifDropped: hash & 0xFFFF)
                subtract(unit: 2 * k + 1, ifDropped: hash >> 16)
            }
        }
    }

    /// `x` ⊙ mask as a new tensor (the pattern from position 0), of relu(`x`) with `rectifying`.
    public func applied(to x: Tensor, rectifying: Bool = false) -> Tensor {
        var y = Tensor(uninitializedShape: x.shape)
        x.withUnsafeBufferPointer { src in
            y.withUnsafeMutableBufferPointer { apply(to: src.baseAddress!, into: $0.baseAddress!, count: $0.count, rectifying: rectifying) }
        }
        return y
    }
}

extension Variable {
    /// Inverted dropout, y = x ⊙ m with m ∈ {0, 1/keep} drawn by `DropoutNoise` (fused:
    /// the mask is never stored; the pullback regenerates it from the seed).
    public func dropout(rate: Float, rng: inout RandomGenerator) throws -> Variable {
        let noise = try DropoutNoise(rate: rate, rng: &rng)
        return Variable.unary(self, noise.applied(to: value)) { g in noise.applied(to: g) }
    }
}
