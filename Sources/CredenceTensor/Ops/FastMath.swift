import CCredenceSupport
import Foundation

/// Branch-free exp and log (Cephes' single-precision polynomials, after S. Moshier) and the
/// passes built on them, for elementwise work over hundreds of thousands of values per step
/// (variational inference's softplus and KL, Box–Muller noise), where libm's scalar calls
/// cost more than the GEMMs. Relative error ≤ 3e-7 against double-precision libm (tested).
///
/// Written as scalar code without branches or calls — selections are arithmetic on sign bits,
/// float↔integer conversions go through the bits of 1.5·2²³ — so that loops over buffers
/// auto-vectorise. (Swift's `SIMD8` types do not help here: on Linux their comparisons, masks,
/// lane conversions and `rounded` compile to lane-by-lane loops.)
public enum FastMath {
    /// eˣ for x in [−87.3, 88.7] (clamped there, so never inf or NaN).
    @inlinable @inline(__always) public static func exp(_ x: Float) -> Float {
        var x = x + relu(-87.3 - x)
        x = x - relu(x - 88.7)
        let shifted = x * 1.442_695_04 + 12_582_912        // round(x·log₂e) in the low mantissa bits
        let k = shifted - 12_582_912
        let kBits = Int32(bitPattern: shifted.bitPattern) &- 0x4B40_0000
        x = x - k * 0.693_359_375 - k * -2.121_944_4e-4
        let z = x * x
        var y = x * 1.987_569_15e-4 + 1.398_199_95e-3
        y = y * x + 8.333_451_9e-3
        y = y * x + 4.166_579_59e-2
        y = y * x + 0.166_666_655
        y = y * x + 0.500_000_01
        y = y * z + x + 1
        return y * Float(bitPattern: UInt32(bitPattern: (kBits &+ 127) &<< 23))
    }

    /// log x for normal positive x (0 and subnormals are not handled: callers pass σ > 1e-30, u ∈ (0, 1]).
    @inlinable @inline(__always) public static func log(_ x: Float) -> Float {
        let bits = Int32(bitPattern: x.bitPattern)
        // Mantissa in [0.5, 1); below √½ (0x3F3504F3) it is doubled and the exponent lowered (Cephes).
        let mantissaBits = (bits & 0x007F_FFFF) | 0x3F00_0000
        let small = float(((mantissaBits &- 0x3F35_04F3) &>> 31) & 1)
        let e = float((bits &>> 23) &- 126) - small
        let half = Float(bitPattern: UInt32(bitPattern: mantissaBits))
        let m = half + half * small - 1
        let z = m * m
        var y = m * 7.037_683_6e-2 - 0.115_146_1
        y = y * m + 0.116_769_99
        y = y * m - 0.124_201_41
        y = y * m + 0.142_493_23
        y = y * m - 0.166_680_58
        y = y * m + 0.200_007_15
        y = y * m - 0.249_999_94
        y = y * m + 0.333_333_31
        y = y * m * z
        y = y + e * -2.121_944_4e-4 - 0.5 * z
        return m + y + e * 0.693_359_375
    }

    /// softplus(ρ) = log(1 + eᵨ) and sigmoid(ρ) = 1/(1 + e⁻ᵨ), stably for every ρ: with
    /// u = e^−|ρ|, softplus = max(ρ, 0) + log1p(u) and sigmoid = (ρ > 0 ? 1 : u)/(1 + u); log1p
    /// as log(1 + u) corrected by the rounding of 1 + u (exactly u where 1 + u rounds to 1).
    @inlinable @inline(__always) public static func softplusAndSigmoid(_ rho: Float) -> (softplus: Float, sigmoid: Float) {
        let u = exp(-abs(rho))
        let onePlus = 1 + u
        let log1p = log(onePlus) - ((onePlus - 1) - u) / onePlus
        let positive = 1 - Float(Int32(bitPattern: rho.bitPattern >> 31))   // Int32: converts in vector registers
        return (relu(rho) + log1p, (u + positive * (1 - u)) / onePlus)
    }

    /// Whether this CPU runs the AVX2 + FMA kernels of `CCredenceSupport` (vector_math.c),
    /// which the buffer passes below use when it does (their portable loops otherwise).
    public static let hasVectorKernels = credence_vector_math_available() != 0

    /// softplus(ρ) and sigmoid(ρ) of every ρ in `rho` (`softplus` may be `rho`'s own memory; no
    /// sigmoid: softplus alone).
    public static func softplusAndSigmoid(_ rho: UnsafeBufferPointer<Float>, softplus: UnsafeMutableBufferPointer<Float>,
                                          sigmoid: UnsafeMutableBufferPointer<Float>?, vectorKernels: Bool = hasVectorKernels) {
        precondition(softplus.count == rho.count && (sigmoid?.count ?? rho.count) == rho.count, "softplusAndSigmoid: buffers of different lengths")
        guard let r = rho.baseAddress, let v = softplus.baseAddress else { return }
        let g = sigmoid?.baseAddress
        if vectorKernels, credence_softplus_sigmoid(r, v, g, rho.count) != 0 { return }
        for i in 0..<rho.count {
            let (s, d) = softplusAndSigmoid(r[i])
            v[i] = s
            g?[i] = d
        }
    }

    /// The standard deviations' part of the gradient of c·KL(N(μ, σ²) ‖ N(0, 1/δ)) through
    /// σ = softplus(ρ): gradient ← (gradient + c·(δσ − 1/σ))·sigmoid(ρ), elementwise; returns
    /// Σσ² and Σ log σ (the KL's value needs them).
    public static func addGaussianKLGradient(sigma: UnsafeBufferPointer<Float>, sigmoid: UnsafeBufferPointer<Float>,
                                             gradient: UnsafeMutableBufferPointer<Float>, precision: Float, scale: Float,
                                             vectorKernels: Bool = hasVectorKernels) -> (squares: Double, logs: Double) {
        precondition(sigmoid.count == sigma.count && gradient.count == sigma.count, "addGaussianKLGradient: buffers of different lengths")
        guard let s = sigma.baseAddress, let h = sigmoid.baseAddress, let g = gradient.baseAddress else { return (0, 0) }
        var squares = 0.0, logs = 0.0
        if vectorKernels, credence_gaussian_kl_sigma(s, h, g, sigma.count, precision, scale, &squares, &logs) != 0 {
            return (squares, logs)
        }
        for i in 0..<sigma.count { g[i] = (g[i] + scale * (precision * s[i] - 1 / s[i])) * h[i] }
        // Wrapping index arithmetic: an overflow check in a loop body stops it vectorising.
        return (sum(sigma.count) { s[$0] * s[$0] }, sum(sigma.count) { log(s[$0]) })
    }

    /// `addGaussianKLGradient` on a gradient formed from shard parts, with the sigmoid formed
    /// from ρ (σ = softplus(ρ)) in the same pass: gradient ← ((Σⱼ parts[j])·factor +
    /// c·(δσ − 1/σ))·sigmoid(ρ) — `gradient` is written, not read (it may be the one part), each
    /// part holds `gradient.count` values, no factor is 1; returns Σσ², Σ log σ. The sigmoid is
    /// `softplusAndSigmoid`'s. (Reading ρ, which the optimizer reads next anyway, instead of a
    /// stored sigmoid saves a vector's write and read per step.)
    public static func addGaussianKLGradient(summing parts: [UnsafePointer<Float>], factor: UnsafePointer<Float>?,
                                             sigma: UnsafeBufferPointer<Float>, rho: UnsafeBufferPointer<Float>,
                                             gradient: UnsafeMutableBufferPointer<Float>, precision: Float, scale: Float,
                                             vectorKernels: Bool = hasVectorKernels) -> (squares: Double, logs: Double) {
        precondition(!parts.isEmpty && sigma.count == gradient.count && rho.count == gradient.count,
                     "addGaussianKLGradient: no parts or buffers of different lengths")
        guard let s = sigma.baseAddress, let r = rho.baseAddress, let g = gradient.baseAddress else { return (0, 0) }
        var squares = 0.0, logs = 0.0
        if vectorKernels, parts.map(Optional.some).withUnsafeBufferPointer({ p in
            credence_gaussian_kl_sigma_parts(p.baseAddress!, parts.count, factor, s, r, g, gradient.count, precision, scale, &squares, &logs)
        }) != 0 {
            return (squares, logs)
        }
        if parts.count > 1 || parts[0] != UnsafePointer(g) { sum(parts, range: 0..<gradient.count, into: g) }
        if let factor { for i in 0..<gradient.count { g[i] *= factor[i] } }
        var sigmoid = [Float](repeating: 0, count: gradient.count)
        for i in 0..<gradient.count { sigmoid[i] = softplusAndSigmoid(r[i]).sigmoid }
        return sigmoid.withUnsafeBufferPointer {
            addGaussianKLGradient(sigma: sigma, sigmoid: $0, gradient: gradient, precision: precision, scale: scale, vectorKernels: false)
        }
    }

    /// gradient ← Σⱼ parts[j] + c·x (`gradient` written, not read; each part holds
    /// `gradient.count` values) in one pass; returns Σx².
    public static func addScaled(_ x: UnsafeBufferPointer<Float>, toSumOf parts: [UnsafePointer<Float>], into gradient: UnsafeMutableBufferPointer<Float>,
                                 scale: Float, vectorKernels: Bool = hasVectorKernels) -> Double {
        precondition(!parts.isEmpty && gradient.count == x.count, "addScaled: no parts or buffers of different lengths")
        guard let p = x.baseAddress, let g = gradient.baseAddress else { return 0 }
        var squares = 0.0
        if vectorKernels, parts.map(Optional.some).withUnsafeBufferPointer({
            credence_add_scaled_parts($0.baseAddress!, parts.count, p, g, x.count, scale, &squares)
        }) != 0 {
            return squares
        }
        sum(parts, range: 0..<x.count, into: g)
        return addScaled(x, to: gradient, scale: scale, vectorKernels: false)
    }

    /// out[i] = Σⱼ parts[j][i] for i in `range`, added in the order given (one worker shard's
    /// gradient after another) — the first two in one pass, not a copy and then an add.
    public static func sum(_ parts: [UnsafePointer<Float>], range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        guard parts.count > 1 else {
            (out + range.lowerBound).update(from: parts[0] + range.lowerBound, count: range.count)
            return
        }
        let first = parts[0], second = parts[1]
        for i in range { out[i] = first[i] + second[i] }
        for part in parts.dropFirst(2) { for i in range { out[i] += part[i] } }
    }

    /// gradient ← gradient + c·x (a Gaussian prior's gradient); returns Σx².
    public static func addScaled(_ x: UnsafeBufferPointer<Float>, to gradient: UnsafeMutableBufferPointer<Float>, scale: Float,
                                 vectorKernels: Bool = hasVectorKernels) -> Double {
        precondition(gradient.count == x.count, "addScaled: buffers of different lengths")
        guard let p = x.baseAddress, let g = gradient.baseAddress else { return 0 }
        var squares = 0.0
        if vectorKernels, credence_add_scaled_sum_squares(p, g, x.count, scale, &squares) != 0 { return squares }
        for i in 0..<x.count { g[i] += scale * p[i] }
        return sum(x.count) { p[$0] * p[$0] }
    }

    /// One pSGLD update of `count` weights (Li et al. 2016): V ← αV + (1−α)(s·g)²,
    /// P = 1/(λ + √V), θ ← θ + εP·g + √(2εP)·z — with the AVX2 + FMA kernel where the CPU has it
    /// (the Swift loop compiles for SSE2: its two square roots and a division per weight made a
    /// pSGLD step cost 1.2× a MAP step), else the portable loop; they agree to a few ulps.
    public static func preconditionedLangevinUpdate(theta: UnsafeMutablePointer<Float>, squareAverage v: UnsafeMutablePointer<Float>,
                                                    gradient g: UnsafePointer<Float>, noise z: UnsafePointer<Float>, count: Int,
                                                    decay alpha: Float, damping lambda: Float, gradientScale s: Float, stepSize epsilon: Float,
                                                    vectorKernels: Bool = hasVectorKernels) {
        if vectorKernels, credence_psgld_update(theta, v, g, z, count, alpha, lambda, s, epsilon) != 0 { return }
        let twoEpsilon = 2 * epsilon
        for i in 0..<count {   // max(·, 0).squareRoot(): a bare squareRoot() blocks vectorisation on Linux
            let scaled = s * g[i]
            v[i] = alpha * v[i] + (1 - alpha) * scaled * scaled
            let preconditioner = 1 / (lambda + Swift.max(v[i], 0).squareRoot())
            theta[i] += epsilon * preconditioner * g[i] + Swift.max(twoEpsilon * preconditioner, 0).squareRoot() * z[i]
        }
    }

    /// Adam's bias-corrected step with a learning-rate scale on `range`, in one pass where the
    /// CPU has AVX2 (`credence_adam_update`): g = Σ `gradientParts` (in order) + `weightDecay`·θ
    /// when there is one (PyTorch's coupled L2, `AddWeightDecay` first in the chain), m ← β₁m + (1−β₁)g,
    /// v ← β₂v + ((1−β₂)g)g, θ ← θ + ((m·c₁)/(√max(v, 0)·c₂ + ε))·`scale` — the operations of
    /// `Optimizer`'s chain (`ScaleByAdam`, then `ScaleByLearningRate`, then θ += u) in their order,
    /// so the same numbers bit for bit; the chain's four passes over each chunk, compiled for
    /// SSE2, were 13 % of a Fashion-MNIST MLP step. With `sumOfSquares`, Σθ² over `range` before
    /// the step goes there too. Returns false (nothing done) without the kernel.
    public static func adamStep(theta: UnsafeMutablePointer<Float>, m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>,
                                gradientParts: [UnsafePointer<Float>], range: Range<Int>, beta1: Float, beta2: Float,
                                biasCorrections: (c1: Float, sqrtC2: Float), epsilon: Float, scale: Float, weightDecay: Float? = nil,
                                sumOfSquares: UnsafeMutablePointer<Double>? = nil, vectorKernels: Bool = hasVectorKernels) -> Bool {
        guard vectorKernels, !gradientParts.isEmpty else { return false }
        let offset = range.lowerBound
        let parts = gradientParts.map { Optional($0 + offset) }
        return parts.withUnsafeBufferPointer { p in
            credence_adam_update(theta + offset, m + offset, v + offset, p.baseAddress, p.count, range.count, beta1, beta2,
                                 biasCorrections.c1, biasCorrections.sqrtC2, epsilon, scale, weightDecay ?? 0, weightDecay == nil ? 0 : 1,
                                 sumOfSquares) != 0
        }
    }

    /// out = (a + b)·`scale` + `prior`·θ over `count` values, and Σθ² in `Double` (eight partial
    /// sums by index mod 8, then the tail) — an SG-MCMC gradient from two shard parts and a
    /// Gaussian prior, with the sum its log-density needs — in one AVX2 pass; the portable loops'
    /// numbers bit for bit. nil (nothing done) without the kernel.
    public static func twoPartGradient(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, theta: UnsafePointer<Float>,
                                       into out: UnsafeMutablePointer<Float>, count: Int, scale: Float, prior: Float,
                                       vectorKernels: Bool = hasVectorKernels) -> Double? {
        var squares = 0.0
        guard vectorKernels, credence_two_part_gradient(a, b, theta, out, count, scale, prior, &squares) != 0 else { return nil }
        return squares
    }

    /// Σ term(i) for i in 0..<count, in eight interleaved `Float` accumulators (a float sum
    /// in one accumulator cannot be vectorised without reassociating it), added in `Double`.
    @inlinable @inline(__always) public static func sum(_ count: Int, _ term: (Int) -> Float) -> Double {
        var a0: Float = 0, a1: Float = 0, a2: Float = 0, a3: Float = 0, a4: Float = 0, a5: Float = 0, a6: Float = 0, a7: Float = 0
        var i = 0
        // Wrapping index arithmetic: an overflow check in a loop body stops it vectorising.
        while i &+ 8 <= count {
            a0 += term(i); a1 += term(i &+ 1); a2 += term(i &+ 2); a3 += term(i &+ 3)
            a4 += term(i &+ 4); a5 += term(i &+ 5); a6 += term(i &+ 6); a7 += term(i &+ 7)
            i &+= 8
        }
        var total = Double(a0) + Double(a1) + Double(a2) + Double(a3) + Double(a4) + Double(a5) + Double(a6) + Double(a7)
        while i < count { total += Double(term(i)); i &+= 1 }
        return total
    }

    /// (Σ term(i), Σ term(i)²) for i in 0..<count, eight interleaved lanes each, as `sum`.
    @inlinable @inline(__always) public static func sumAndSumOfSquares(_ count: Int, _ term: (Int) -> Float) -> (Double, Double) {
        sums(count) { let t = term($0); return (t, t * t) }
    }

    /// (Σ terms(i).0, Σ terms(i).1) for i in 0..<count in one pass, eight interleaved `Float`
    /// lanes per sum, added in `Double` (as `sum`).
    @inlinable @inline(__always) public static func sums(_ count: Int, _ terms: (Int) -> (Float, Float)) -> (Double, Double) {
        var a = SIMD8<Float>(), b = SIMD8<Float>()
        var i = 0
        while i &+ 8 <= count {
            var u = SIMD8<Float>(), v = SIMD8<Float>()
            for l in 0..<8 { (u[l], v[l]) = terms(i &+ l) }
            a += u
            b += v
            i &+= 8
        }
        var first = 0.0, second = 0.0
        for l in 0..<8 { first += Double(a[l]); second += Double(b[l]) }
        while i < count { let (u, v) = terms(i); first += Double(u); second += Double(v); i &+= 1 }
        return (first, second)
    }

    /// |x| by clearing the sign bit.
    @inlinable @inline(__always) public static func abs(_ x: Float) -> Float { Float(bitPattern: x.bitPattern & 0x7FFF_FFFF) }

    /// max(x, 0) = (x + |x|)/2, exact.
    @inlinable @inline(__always) public static func relu(_ x: Float) -> Float { (x + abs(x)) * 0.5 }

    /// An Int32 with |n| < 2²² as a float (1.5·2²³ + n built in the bits, then 1.5·2²³ taken away).
    @inlinable @inline(__always) static func float(_ n: Int32) -> Float {
        Float(bitPattern: UInt32(bitPattern: n &+ 0x4B40_0000)) - 12_582_912
    }

    /// (cos 2πt, sin 2πt) for t ∈ [0, 1): the nearest quarter turn q/4 taken out, the rest
    /// (|a| ≤ π/4) by Taylor polynomials to a⁸ (error ≤ 3.2e-7), then rotated by q quarter
    /// turns — (C, S), (−S, C), (−C, −S), (S, −C) — by blending and sign bits.
    @inlinable @inline(__always) static func cosSinOfTurns(_ t: Float) -> (Float, Float) {
        let shifted = t * 4 + 12_582_912
        let q = shifted - 12_582_912
        let quadrant = (shifted.bitPattern &- 0x4B40_0000) & 3
        let a = (t - q * 0.25) * (2 * Float.pi)
        let a2 = a * a
        var sine = a2 * (-1.0 / 5040) + 1.0 / 120
        sine = sine * a2 - 1.0 / 6
        sine = (sine * a2 + 1) * a
        var cosine = a2 * (1.0 / 40320) - 1.0 / 720
        cosine = cosine * a2 + 1.0 / 24
        cosine = cosine * a2 - 0.5
        cosine = cosine * a2 + 1
        let swap = Float(Int32(bitPattern: quadrant & 1))
        let c = cosine + swap * (sine - cosine), s = sine + swap * (cosine - sine)
        let cosineSign = ((quadrant ^ (quadrant >> 1)) & 1) << 31, sineSign = ((quadrant >> 1) & 1) << 31
        return (Float(bitPattern: c.bitPattern ^ cosineSign), Float(bitPattern: s.bitPattern ^ sineSign))
    }
}

extension FastMath {
    /// Fills `out` with standard normals by Box–Muller: one 64-bit draw of `rng` per pair of
    /// values (24-bit uniforms u₁ ∈ (0, 1], u₂ ∈ [0, 1)), z = √(−2 log u₁)·(cos, sin)(2πu₂) with
    /// `log` and a quadrant-reduced sin/cos, in a loop that vectorises (or AVX2 + FMA lanes,
    /// `hasVectorKernels`); an odd count uses the first value of its last pair.
    ///
    /// `interleaved: true` takes the pairs' draws round-robin from four generators split off
    /// `rng` instead of from `rng` itself: four independent state updates in flight instead of
    /// one chain of dependent ones, about three times faster to draw, and with the vector
    /// kernels the four side by side in AVX2 lanes — another stream of the same law (the
    /// SG-MCMC samplers' noise).
    ///
    /// `eachBlock` is called with the indices of `out` that each block of 2,048 values has just
    /// filled, in order, while they are in the L1 cache: a pass that consumes the noise right
    /// away (VI's ΔW = σ ⊙ ε) needs no trip of its own through memory.
    public static func fillNormalNoise(_ out: UnsafeMutableBufferPointer<Float>, rng: inout RandomGenerator,
                                       interleaved: Bool = false, vectorKernels: Bool = hasVectorKernels,
                                       eachBlock: (Range<Int>) -> Void = { _ in }) {
        let count = out.count
        guard count > 0, let o = out.baseAddress else { return }
        let pairs = (count + 1) / 2
        // Each draw as two 32-bit words: 24 bits of the high one for u₁, of the low one for u₂ —
        // made and turned into normals a block at a time, so the words stay in L1 and no
        // buffer the size of `out` is allocated and zeroed.
        let block = 1024   // pairs per block; a multiple of 4, so interleaved quads never straddle blocks
        var streams = (RandomGenerator(seed: 0), RandomGenerator(seed: 0), RandomGenerator(seed: 0), RandomGenerator(seed: 0))
        if interleaved { streams = (rng.split(), rng.split(), rng.split(), rng.split()) }
        let quadPairs = pairs - pairs % 4   // interleaved: pairs below this come round-robin from the four streams, the rest from the first
        // With the vector kernels the four states live side by side in 64-bit lanes (s0 of each
        // generator, then s1, …) from here until the scalar tail needs `streams` again.
        var lanes: [UInt64] = []
        if interleaved, vectorKernels, quadPairs > 0 {
            let g = [streams.0, streams.1, streams.2, streams.3]
            lanes = g.map(\.s0) + g.map(\.s1) + g.map(\.s2) + g.map(\.s3)
        }
        func unpackLanes() {
            guard !lanes.isEmpty else { return }
            var g = [streams.0, streams.1, streams.2, streams.3]
            for i in 0..<4 { (g[i].s0, g[i].s1, g[i].s2, g[i].s3) = (lanes[i], lanes[4 + i], lanes[8 + i], lanes[12 + i]) }
            streams = (g[0], g[1], g[2], g[3])
            lanes = []
        }
        var words = [Int32](unsafeUninitializedCapacity: 2 * Swift.min(block, pairs)) { _, initialized in initialized = 2 * Swift.min(block, pairs) }
        words.withUnsafeMutableBufferPointer { w in
            let d = w.baseAddress!
            @inline(__always) func store(_ v: UInt64, _ k: Int) {
                d[2 &* k] = Int32(truncatingIfNeeded: v & 0xFF_FFFF)
                d[2 &* k &+ 1] = Int32(truncatingIfNeeded: (v >> 40) & 0xFF_FFFF)
            }
            @inline(__always) func pair(_ low: Int32, _ high: Int32) -> (Float, Float) {
                let u1 = Float(high &+ 1) * 0x1p-24, u2 = Float(low) * 0x1p-24
                let radius = Swift.max(-2 * log(u1), 0).squareRoot()   // max(·, 0): a bare squareRoot() blocks vectorisation on Linux
                let (c, s) = cosSinOfTurns(u2)
                return (radius * c, radius * s)
            }
            var start = 0
            while start < pairs {
                let n = Swift.min(block, pairs - start)
                var k = 0
                if interleaved {
                    let quads = Swift.max(0, Swift.min(n, quadPairs - start))
                    if !lanes.isEmpty, quads > 0 {
                        if credence_xoshiro_words4(&lanes, d, quads / 4) != 0 { k = quads } else { unpackLanes() }
                    }
                    if k < n { unpackLanes() }   // the scalar draws below continue the same four generators
                    while k < quads {
                        let (va, vb, vc, vd) = (streams.0.next(), streams.1.next(), streams.2.next(), streams.3.next())
                        store(va, k); store(vb, k &+ 1); store(vc, k &+ 2); store(vd, k &+ 3)
                        k += 4
                    }
                    while k < n { store(streams.0.next(), k); k += 1 }
                } else {
                    while k < n { store(rng.next(), k); k += 1 }
                }
                // Whole pairs of this block; the last pair of an odd count keeps only its first value.
                let whole = Swift.min(n, count / 2 - start), blockOut = o + 2 * start
                if whole > 0, !(vectorKernels && credence_box_muller(d, blockOut, whole) != 0) {
                    for k in 0..<whole {   // wrapping index arithmetic, so that the loop vectorises
                        let (first, second) = pair(d[2 &* k], d[2 &* k &+ 1])
                        blockOut[2 &* k] = first
                        blockOut[2 &* k &+ 1] = second
                    }
                }
                if whole < n { o[count - 1] = pair(d[2 * whole], d[2 * whole + 1]).0 }
                eachBlock((2 * start)..<Swift.min(count, 2 * (start + n)))
                start += n
            }
        }
    }
}

extension FastMath {
    /// Signs ±1 with probability ½ each: element i is −1 when bit i mod 64 of the (i/64)-th
    /// draw of `rng` is 0. A word's 64 signs come from bit arithmetic (AVX2's per-lane shifts,
    /// or a loop without branches: a branch and an `i % 64` per element were 2 % of a Flipout
    /// step, and the baseline loop ≈ 1 %).
    public static func fillRandomSigns(_ out: UnsafeMutableBufferPointer<Float>, rng: inout RandomGenerator,
                                       vectorKernels: Bool = hasVectorKernels) {
        guard let base = out.baseAddress else { return }
        let draws = (0..<((out.count + 63) / 64)).map { _ in rng.next() }
        if vectorKernels, credence_random_signs(draws, base, out.count) != 0 { return }
        for (w, draw) in draws.enumerated() {
            let inverted = ~draw, start = 64 * w, o = base + start
            for j in 0..<Swift.min(64, out.count - start) {
                // 1.0's bit pattern with the sign bit set from the inverted draw's bit j.
                o[j] = Float(bitPattern: 0x3F80_0000 | UInt32(truncatingIfNeeded: (inverted >> UInt64(j)) & 1) << 31)
            }
        }
    }
}

extension Tensor {
    /// Standard-normal noise of `shape` (`FastMath.fillNormalNoise`): several times faster than
    /// `randomNormal` (scalar libm per value) — for the noise of stochastic layers, drawn afresh
    /// every step. A different stream from `randomNormal` for the same generator.
    public static func normalNoise(shape: [Int], rng: inout RandomGenerator) -> Tensor {
        var t = Tensor(uninitializedShape: shape)
        t.withUnsafeMutableBufferPointer { FastMath.fillNormalNoise($0, rng: &rng) }
        return t
    }
}
