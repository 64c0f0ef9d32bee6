import Foundation

/// A seeded, splittable pseudo-random generator (xoshiro256** seeded by SplitMix64).
///
/// Credence never uses a global generator: every function that needs randomness takes
/// one of these, so the same seed gives the same numbers. `split()` derives an
/// independent child stream (for a worker thread, an ensemble member, a layer) without
/// disturbing reproducibility of the parent's later draws beyond advancing it once.
///
/// ```swift
/// var rng = RandomGenerator(seed: 0)
/// let x = Tensor.randomNormal(shape: [2, 3], rng: &rng)
/// var child = rng.split()
/// ```
public struct RandomGenerator: RandomNumberGenerator, Sendable {
    @usableFromInline var s0: UInt64
    @usableFromInline var s1: UInt64
    @usableFromInline var s2: UInt64
    @usableFromInline var s3: UInt64

    public init(seed: UInt64) {
        var sm = seed
        s0 = Self.splitMix(&sm); s1 = Self.splitMix(&sm)
        s2 = Self.splitMix(&sm); s3 = Self.splitMix(&sm)
    }

    @inlinable static func splitMix(_ x: inout UInt64) -> UInt64 {
        x &+= 0x9E37_79B9_7F4A_7C15
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    @inlinable static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    @inlinable public mutating func next() -> UInt64 {
        let result = Self.rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = Self.rotl(s3, 45)
        return result
    }

    /// An independent generator derived from this one (advances `self` once).
    public mutating func split() -> RandomGenerator {
        RandomGenerator(seed: next() ^ 0x5851_F42D_4C95_7F2D)
    }

    /// `n` independent generators, e.g. one per worker thread or ensemble member.
    public mutating func split(into n: Int) -> [RandomGenerator] {
        (0..<n).map { _ in split() }
    }

    /// Uniform in [0, 1) with 24 bits of resolution.
    @inlinable public mutating func uniformFloat() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    /// Uniform in [0, 1) with 53 bits of resolution.
    @inlinable public mutating func uniformDouble() -> Double {
        Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// A standard normal draw (Box–Muller, one value per call).
    @inlinable public mutating func normalFloat() -> Float {
        let u1 = 1.0 - uniformDouble()  // (0, 1]
        let u2 = uniformDouble()
        return Float((-2.0 * Foundation.log(u1)).squareRoot() * Foundation.cos(2.0 * Double.pi * u2))
    }

    /// Bernoulli(p).
    @inlinable public mutating func bernoulli(_ p: Float) -> Bool { uniformFloat() < p }

    /// Uniform integer in 0..<n.
    @inlinable public mutating func integer(below n: Int) -> Int {
        precondition(n > 0, "integer(below:) needs n > 0")
        return Int(next(upperBound: UInt64(n)))
    }

    /// A draw from the categorical distribution with the given (unnormalised, ≥ 0) weights.
    public mutating func categorical(_ weights: [Float]) -> Int {
        let total = weights.reduce(0, +)
        precondition(total > 0, "categorical needs a positive total weight")
        var u = uniformFloat() * total
        for (i, w) in weights.enumerated() {
            if u < w { return i }
            u -= w
        }
        return weights.count - 1
    }

    /// A uniformly random permutation of 0..<n (Fisher–Yates).
    public mutating func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        if n < 2 { return p }
        for i in stride(from: n - 1, to: 0, by: -1) {
            let j = integer(below: i + 1)
            p.swapAt(i, j)
        }
        return p
    }
}
