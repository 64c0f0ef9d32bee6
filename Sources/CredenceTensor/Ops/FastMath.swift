import Foundation

/// Vectorised exp and log over eight lanes (Cephes' single-precision polynomials, after
/// S. Moshier): what elementwise passes over hundreds of thousands of values per step use
/// (variational inference's softplus and KL, Box–Muller noise), where libm's scalar calls cost
/// more than the GEMMs. Relative error ≤ 2 ulp-ish (tested ≤ 3e-7 against `Foundation`).
public enum FastMath {
    public typealias Vector = SIMD8<Float>

    /// eˣ for x in [−87.3, 88.7] (clamped there: 0-ish and +large at the ends, never inf/NaN).
    @inlinable public static func exp(_ x: Vector) -> Vector {
        var x = x.clamped(lowerBound: Vector(repeating: -87.3), upperBound: Vector(repeating: 88.7))
        let k = (x * 1.442_695_04 + 0.5).rounded(.down)
        x = x - k * 0.693_359_375 - k * -2.121_944_4e-4
        let z = x * x
        var y = x * 1.987_569_15e-4 + 1.398_199_95e-3
        y = y * x + 8.333_451_9e-3
        y = y * x + 4.166_579_59e-2
        y = y * x + 0.166_666_655
        y = y * x + 0.500_000_01
        y = y * z + x + 1
        let exponent = (SIMD8<Int32>(k) &+ 127) &<< 23
        return y * unsafeBitCast(exponent, to: Vector.self)
    }

    /// log x for normal positive x (0 and subnormals are not handled: callers pass σ > 1e-30, u ∈ (0, 1]).
    @inlinable public static func log(_ x: Vector) -> Vector {
        let bits = unsafeBitCast(x, to: SIMD8<Int32>.self)
        var e = Vector((bits &>> 23) &- 126)
        // Mantissa in [0.5, 1).
        var m = unsafeBitCast((bits & 0x007F_FFFF) | 0x3F00_0000, to: Vector.self)
        let small = m .< 0.707_106_78
        e.replace(with: e - 1, where: small)
        m = m.replacing(with: m + m, where: small) - 1
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

    /// softplus(ρ) = log(1 + eᵨ) and sigmoid(ρ) = 1/(1 + e⁻ᵨ), stably for every ρ
    /// (with u = e^−|ρ|: softplus = max(ρ, 0) + log1p(u), log1p by Goldberg's correction).
    @inlinable public static func softplusAndSigmoid(_ rho: Vector) -> (softplus: Vector, sigmoid: Vector) {
        let magnitude = unsafeBitCast(unsafeBitCast(rho, to: SIMD8<UInt32>.self) & 0x7FFF_FFFF, to: Vector.self)
        let u = Self.exp(-magnitude)
        let onePlus = 1 + u
        // log1p(u) = log(1 + u) · u / ((1 + u) − 1), exact where 1 + u rounds; u itself where it rounds to 1.
        let rounded = onePlus - 1
        var log1p = Self.log(onePlus) * (u / rounded)
        log1p.replace(with: u, where: rounded .== 0)
        let positive = rho .> 0
        let softplus = log1p + rho.replacing(with: 0, where: .!positive)
        let s = 1 / onePlus
        return (softplus, s.replacing(with: u * s, where: .!positive))
    }
}

extension Tensor {
    /// Standard-normal noise of `shape` by Box–Muller on eight lanes: one 64-bit draw of `rng`
    /// per pair of values (24-bit uniforms u₁ ∈ (0, 1], u₂ ∈ [0, 1)), z = √(−2 log u₁)·(cos, sin)(2πu₂)
    /// with vectorised log and a quadrant-reduced sin/cos. Several times faster than
    /// `randomNormal` (a scalar Box–Muller per value) — for the noise of stochastic layers,
    /// drawn afresh every step. A different stream from `randomNormal` for the same generator.
    public static func normalNoise(shape: [Int], rng: inout RandomGenerator) -> Tensor {
        var t = Tensor(uninitializedShape: shape)
        let count = t.count
        guard count > 0 else { return t }
        let pairs = (count + 1) / 2
        var bits = [UInt64](repeating: 0, count: (pairs + 7) / 8 * 8)
        for k in 0..<pairs { bits[k] = rng.next() }
        t.withUnsafeMutableBufferPointer { out in
            bits.withUnsafeBufferPointer { b in
                var k = 0
                while k < pairs {
                    var u1 = FastMath.Vector(), u2 = FastMath.Vector()
                    for l in 0..<8 {
                        let v = b[k + l]
                        u1[l] = Float((v >> 40) + 1) * 0x1p-24
                        u2[l] = Float(v & 0xFF_FFFF) * 0x1p-24
                    }
                    let radius = (-2 * FastMath.log(u1)).squareRoot()
                    let (c, s) = cosSinOfTurns(u2)
                    let first = radius * c, second = radius * s
                    for l in 0..<8 where k + l < pairs {
                        let i = 2 * (k + l)
                        out[i] = first[l]
                        if i + 1 < count { out[i + 1] = second[l] }
                    }
                    k += 8
                }
            }
        }
        return t
    }

    /// (cos 2πt, sin 2πt) for t ∈ [0, 1): the nearest quarter turn q/4 taken out, the rest
    /// (|a| ≤ π/4) by Taylor polynomials to a⁸ (error ≤ 3.2e-7).
    @inlinable static func cosSinOfTurns(_ t: FastMath.Vector) -> (FastMath.Vector, FastMath.Vector) {
        let q = (t * 4).rounded(.toNearestOrEven)
        let a = (t - q * 0.25) * (2 * Float.pi)
        let a2 = a * a
        var sine: FastMath.Vector = a2 * (-1.0 / 5040) + 1.0 / 120
        sine = sine * a2 - 1.0 / 6
        sine = (sine * a2 + 1) * a
        var cosine: FastMath.Vector = a2 * (1.0 / 40320) - 1.0 / 720
        cosine = cosine * a2 + 1.0 / 24
        cosine = cosine * a2 - 0.5
        cosine = cosine * a2 + 1
        let quadrant = SIMD8<Int32>(q) & 3
        var c = cosine, s = sine
        c.replace(with: -sine, where: quadrant .== 1)
        s.replace(with: cosine, where: quadrant .== 1)
        c.replace(with: -cosine, where: quadrant .== 2)
        s.replace(with: -sine, where: quadrant .== 2)
        c.replace(with: sine, where: quadrant .== 3)
        s.replace(with: -cosine, where: quadrant .== 3)
        return (c, s)
    }
}
