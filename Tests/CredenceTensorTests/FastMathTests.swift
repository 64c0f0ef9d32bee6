import Foundation
import Testing
@testable import CredenceTensor

/// The vectorised exp/log/softplus against double-precision libm, and the Box–Muller noise
/// against the standard normal.
@Suite struct FastMathTests {
    func worstRelativeError(_ got: [Float], _ exact: [Double]) -> Double {
        zip(got, exact).map { abs(Double($0) - $1) / max(abs($1), 1e-30) }.max() ?? 0
    }

    @Test func expIsWithinAFewUlps() {
        let x = stride(from: -87.0, through: 88.0, by: 0.0137).map { Float($0) }
        let error = worstRelativeError(x.map(FastMath.exp), x.map { Foundation.exp(Double($0)) })
        #expect(error < 3e-7, "exp: worst relative error \(error)")
    }

    @Test func logIsWithinAFewUlps() {
        let x = stride(from: -69.0, through: 69.0, by: 0.0113).map { Float(Foundation.exp($0)) }
        let got = x.map(FastMath.log), exact = x.map { Foundation.log(Double($0)) }
        let error = zip(got, exact).map { abs(Double($0) - $1) / max(abs($1), 1) }.max() ?? 0
        #expect(error < 3e-7, "log: worst error \(error) (relative where |log x| > 1, absolute below)")
    }

    /// softplus and sigmoid from ρ = −100 (σ ≈ 4e-44 would be subnormal: we stop at −80) to 100.
    @Test func softplusAndSigmoidAreAccurateEverywhere() {
        let rho = stride(from: -80.0, through: 100.0, by: 0.0191).map { Float($0) }
        let softplus = rho.map { FastMath.softplusAndSigmoid($0).softplus }
        let sigmoid = rho.map { FastMath.softplusAndSigmoid($0).sigmoid }
        let exactSoftplus = rho.map { r -> Double in let d = Double(r); return max(d, 0) + Foundation.log1p(Foundation.exp(-abs(d))) }
        let exactSigmoid = rho.map { 1 / (1 + Foundation.exp(-Double($0))) }
        #expect(worstRelativeError(softplus, exactSoftplus) < 5e-7)
        #expect(worstRelativeError(sigmoid, exactSigmoid) < 5e-7)
    }

    /// 200,001 draws (an odd count): mean and variance within 5 standard errors, the
    /// Kolmogorov–Smirnov distance to Φ below its 0.1 % critical value 1.95/√n; the same
    /// generator gives the same noise.
    @Test func normalNoiseIsStandardNormal() {
        var rng = RandomGenerator(seed: 3)
        let n = 200_001
        let z = Tensor.normalNoise(shape: [n], rng: &rng).values.map(Double.init).sorted()
        let mean = z.reduce(0, +) / Double(n)
        let variance = z.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n - 1)
        #expect(abs(mean) < 5 / Double(n).squareRoot())
        #expect(abs(variance - 1) < 5 * (2 / Double(n)).squareRoot())
        var distance = 0.0
        for (i, v) in z.enumerated() {
            let cdf = 0.5 * Foundation.erfc(-v / 2.0.squareRoot())
            distance = max(distance, abs(cdf - Double(i) / Double(n)), abs(cdf - Double(i + 1) / Double(n)))
        }
        #expect(distance < 1.95 / Double(n).squareRoot(), "KS distance \(distance)")
        var a = RandomGenerator(seed: 4), b = RandomGenerator(seed: 4)
        #expect(Tensor.normalNoise(shape: [3, 5], rng: &a) == Tensor.normalNoise(shape: [3, 5], rng: &b))
        #expect(a.next() == b.next())
    }

    /// The AVX2 + FMA kernels (where this CPU has them) against the portable loops and double
    /// precision, over lengths that leave every tail size (0…15 past a multiple of 16).
    @Test(arguments: [0, 1, 7, 8, 9, 15, 16, 17, 31, 1_000, 4_099])
    func vectorKernelsAgreeWithThePortableLoops(_ n: Int) throws {
        try #require(FastMath.hasVectorKernels || n == 0, "no AVX2 + FMA on this CPU: only the portable loops run")
        var rng = RandomGenerator(seed: UInt64(n))
        let rho = (0..<n).map { i in i % 5 == 0 ? Float(i % 200) - 100 : Float.random(in: -12...4, using: &rng) }
        func softplus(_ vector: Bool) -> ([Float], [Float]) {
            var s = [Float](repeating: .nan, count: n), g = s
            rho.withUnsafeBufferPointer { r in
                s.withUnsafeMutableBufferPointer { sp in
                    g.withUnsafeMutableBufferPointer { FastMath.softplusAndSigmoid(r, softplus: sp, sigmoid: $0, vectorKernels: vector) }
                }
            }
            return (s, g)
        }
        let (vs, vg) = softplus(true), (ps, pg) = softplus(false)
        #expect(worstRelativeError(vs, ps.map(Double.init)) < 5e-7 && worstRelativeError(vg, pg.map(Double.init)) < 5e-7)

        let sigma = vs.map { max($0, 1e-6) }, sigmoid = vg
        let start = (0..<n).map { _ in Float.random(in: -1...1, using: &rng) }
        func kl(_ vector: Bool) -> ([Float], Double, Double) {
            var g = start
            let (squares, logs) = sigma.withUnsafeBufferPointer { s in
                sigmoid.withUnsafeBufferPointer { h in
                    g.withUnsafeMutableBufferPointer {
                        FastMath.addGaussianKLGradient(sigma: s, sigmoid: h, gradient: $0, precision: 3, scale: 0.01, vectorKernels: vector)
                    }
                }
            }
            return (g, squares, logs)
        }
        let (vk, vSquares, vLogs) = kl(true), (pk, pSquares, pLogs) = kl(false)
        let exactLogs = sigma.reduce(0.0) { $0 + Foundation.log(Double($1)) }
        #expect(zip(vk, pk).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) })
        #expect(abs(vSquares - pSquares) <= 1e-5 * max(1, pSquares) && abs(vLogs - exactLogs) <= 1e-5 * max(1, abs(exactLogs)))
        #expect(abs(pLogs - exactLogs) <= 1e-5 * max(1, abs(exactLogs)))

        func scaled(_ vector: Bool) -> ([Float], Double) {
            var g = start
            let squares = start.withUnsafeBufferPointer { x in g.withUnsafeMutableBufferPointer { FastMath.addScaled(x, to: $0, scale: 0.25, vectorKernels: vector) } }
            return (g, squares)
        }
        let (va, vSum) = scaled(true), (pa, pSum) = scaled(false)
        #expect(zip(va, pa).allSatisfy { abs($0 - $1) <= 1e-6 * max(1, abs($1)) } && abs(vSum - pSum) <= 1e-5 * max(1, pSum))

        func noise(_ vector: Bool) -> [Float] {
            var z = [Float](repeating: .nan, count: n), stream = RandomGenerator(seed: 99)
            z.withUnsafeMutableBufferPointer { FastMath.fillNormalNoise($0, rng: &stream, vectorKernels: vector) }
            return z
        }
        let vz = noise(true), pz = noise(false)
        #expect(zip(vz, pz).allSatisfy { abs($0 - $1) <= 2e-6 * max(1, abs($1)) }, "Box–Muller lanes differ from the portable loop")

        // pSGLD's update (squared averages from 0 to large, gradients of both signs).
        let g = (0..<n).map { _ in Float.random(in: -50...50, using: &rng) }, z = vz
        let v0 = (0..<n).map { i in i % 3 == 0 ? 0 : Float.random(in: 0...4, using: &rng) }
        func psgld(_ vector: Bool) -> ([Float], [Float]) {
            var theta = start, v = v0
            theta.withUnsafeMutableBufferPointer { t in
                v.withUnsafeMutableBufferPointer { vb in
                    g.withUnsafeBufferPointer { gb in
                        z.withUnsafeBufferPointer { zb in
                            guard n > 0 else { return }
                            FastMath.preconditionedLangevinUpdate(theta: t.baseAddress!, squareAverage: vb.baseAddress!, gradient: gb.baseAddress!,
                                                                  noise: zb.baseAddress!, count: n, decay: 0.99, damping: 1e-5,
                                                                  gradientScale: 0.02, stepSize: 1e-3, vectorKernels: vector)
                        }
                    }
                }
            }
            return (theta, v)
        }
        let (vt, vv) = psgld(true), (pt, pv) = psgld(false)
        #expect(zip(vv, pv).allSatisfy { abs($0 - $1) <= 1e-6 * max(1e-3, abs($1)) }, "pSGLD's squared averages differ")
        #expect(zip(vt, pt).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) }, "pSGLD's update differs from the portable loop")
    }

    /// The interleaved stream (four generators round-robin) is standard normal too: over 200,001
    /// values (odd: the tail path) mean within 0.01, variance and kurtosis within 0.02 and 0.06
    /// of 1 and 3, neighbours (drawn from different generators) uncorrelated within 0.01; and it
    /// is another stream than the plain one for the same seed.
    @Test func interleavedNormalNoiseIsStandardNormal() {
        let n = 200_001
        var z = [Float](repeating: .nan, count: n), plain = z
        var (a, b) = (RandomGenerator(seed: 7), RandomGenerator(seed: 7))
        z.withUnsafeMutableBufferPointer { FastMath.fillNormalNoise($0, rng: &a, interleaved: true) }
        plain.withUnsafeMutableBufferPointer { FastMath.fillNormalNoise($0, rng: &b) }
        let x = z.map(Double.init)
        let mean = x.reduce(0, +) / Double(n)
        let variance = x.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n)
        let kurtosis = x.reduce(0) { $0 + pow($1 - mean, 4) } / Double(n) / (variance * variance)
        let lag1 = zip(x, x.dropFirst()).reduce(0) { $0 + ($1.0 - mean) * ($1.1 - mean) } / Double(n - 1) / variance
        let lag2 = zip(x, x.dropFirst(2)).reduce(0) { $0 + ($1.0 - mean) * ($1.1 - mean) } / Double(n - 2) / variance
        #expect(abs(mean) < 0.01 && abs(variance - 1) < 0.02 && abs(kurtosis - 3) < 0.06, "mean \(mean), variance \(variance), kurtosis \(kurtosis)")
        #expect(abs(lag1) < 0.01 && abs(lag2) < 0.01, "lag-1 \(lag1), lag-2 \(lag2)")
        #expect(z.allSatisfy(\.isFinite) && z != plain)
    }

    /// Both streams, made a block of pairs at a time, are Box–Muller on the draws in the order
    /// the documentation gives — plain: the k-th pair from the k-th draw of the generator;
    /// interleaved: pairs in whole quads round-robin from four generators split off it, the rest
    /// from the first — for counts around the block size (1,024 pairs) and odd counts, against a
    /// Double-precision reference.
    @Test(arguments: [1, 2, 7, 2_047, 2_048, 2_049, 4_102, 5_001])
    func normalNoiseIsBoxMullerOnTheDocumentedDraws(_ count: Int) {
        for interleaved in [false, true] { for vector in [true, false] {
            var rng = RandomGenerator(seed: 31), reference = rng
            var z = [Float](repeating: .nan, count: count)
            z.withUnsafeMutableBufferPointer { FastMath.fillNormalNoise($0, rng: &rng, interleaved: interleaved, vectorKernels: vector) }
            let pairs = (count + 1) / 2
            var draws: [UInt64] = []
            if interleaved {
                var streams = (0..<4).map { _ in reference.split() }
                for k in 0..<pairs { draws.append(k < pairs - pairs % 4 ? streams[k % 4].next() : streams[0].next()) }
            } else {
                for _ in 0..<pairs { draws.append(reference.next()) }
            }
            var expected: [Double] = []
            for v in draws {
                let u1 = Double((v >> 40) & 0xFF_FFFF + 1) * 0x1p-24, u2 = Double(v & 0xFF_FFFF) * 0x1p-24
                let radius = (-2 * log(u1)).squareRoot()
                expected += [radius * cos(2 * Double.pi * u2), radius * sin(2 * Double.pi * u2)]
            }
            let worst = zip(z, expected).map { abs(Double($0) - $1) }.max() ?? 0
            #expect(worst < 1e-4, "count \(count), interleaved \(interleaved), vector kernels \(vector): off by \(worst)")
            #expect(interleaved || rng.next() == reference.next(), "the plain stream draws once per pair")
        } }
    }

    /// The shard parts' sum (the optimizer's and the VI kernels' fallback): the parts added in
    /// order over a sub-range, bit for bit, and nothing written outside it.
    @Test(arguments: [1, 2, 3, 4])
    func sumOfPartsOverARange(_ partCount: Int) {
        var rng = RandomGenerator(seed: UInt64(90 + partCount))
        let n = 37, range = 5..<30
        let parts = (0..<partCount).map { _ in (0..<n).map { _ in Float.random(in: -2...2, using: &rng) } }
        var out = [Float](repeating: .nan, count: n)
        let pointers = parts.map { $0.withUnsafeBufferPointer { $0.baseAddress! } }
        out.withUnsafeMutableBufferPointer { FastMath.sum(pointers, range: range, into: $0.baseAddress!) }
        withExtendedLifetime(parts) {}
        for i in 0..<n {
            if range.contains(i) {
                #expect(out[i] == parts.dropFirst().reduce(parts[0][i]) { $0 + $1[i] })
            } else {
                #expect(out[i].isNaN)
            }
        }
    }

    /// The AVX2 signs equal the portable loop's bit for bit (every length around a word), are
    /// ±1 exactly, follow the documented bit (element i negative where bit i mod 64 of draw
    /// i/64 is 0), and are balanced.
    @Test(arguments: [0, 1, 63, 64, 65, 130, 10_000])
    func randomSignsFollowTheDrawsBits(_ n: Int) {
        func signs(_ vector: Bool) -> [Float] {
            var rng = RandomGenerator(seed: 9), out = [Float](repeating: .nan, count: n)
            out.withUnsafeMutableBufferPointer { FastMath.fillRandomSigns($0, rng: &rng, vectorKernels: vector) }
            return out
        }
        let vector = signs(true), portable = signs(false)
        #expect(vector.map(\.bitPattern) == portable.map(\.bitPattern))
        var rng = RandomGenerator(seed: 9)
        let draws = (0..<((n + 63) / 64)).map { _ in rng.next() }
        #expect(vector.indices.allSatisfy { i in vector[i] == ((draws[i / 64] >> UInt64(i % 64)) & 1 == 0 ? -1 : 1) })
        if n >= 10_000 { #expect(abs(vector.reduce(0, +)) < 4 * Float(n).squareRoot()) }
    }

    /// `eachBlock` sees every value once, in order, in blocks that tile the output, already final.
    @Test(arguments: [1, 2_047, 2_048, 5_001])
    func normalNoiseBlocksTileTheOutput(_ n: Int) {
        var rng = RandomGenerator(seed: 5), reference = RandomGenerator(seed: 5)
        var out = [Float](repeating: .nan, count: n), seen: [Float] = [], covered = 0
        out.withUnsafeMutableBufferPointer { buffer in
            FastMath.fillNormalNoise(buffer, rng: &rng, interleaved: true) { block in
                #expect(block.lowerBound == covered && !block.isEmpty)
                covered = block.upperBound
                seen += buffer[block]
            }
        }
        var plain = [Float](repeating: .nan, count: n)
        plain.withUnsafeMutableBufferPointer { FastMath.fillNormalNoise($0, rng: &reference, interleaved: true) }
        #expect(covered == n && seen == out && out == plain)
    }

    /// The one-pass kernels that form VI's gradient from a weight sample's shard parts agree
    /// with summing the parts and running the plain passes (portable loops, the sigmoid from
    /// double precision), for one to three parts and lengths around the 16-lane blocks; the KL
    /// pass's sigmoid, formed from ρ, is `softplusAndSigmoid`'s bit for bit; and with no factor
    /// the gradient may be its own one part (several weight samples, summed beforehand).
    @Test(arguments: [1, 2, 3], [1, 15, 16, 17, 1_003])
    func kernelsOverShardPartsEqualSummingFirst(_ partCount: Int, _ n: Int) {
        var rng = RandomGenerator(seed: UInt64(40 + n + partCount))
        let parts = (0..<partCount).map { _ in (0..<n).map { _ in Float.random(in: -2...2, using: &rng) } }
        let factor = (0..<n).map { _ in Float.random(in: -3...3, using: &rng) }
        let sigma = (0..<n).map { _ in Float.random(in: 0.001...2, using: &rng) }
        let rho = (0..<n).map { _ in Float.random(in: -9...4, using: &rng) }
        let sigmoid = rho.map { Float(1 / (1 + Foundation.exp(-Double($0)))) }
        let x = (0..<n).map { _ in Float.random(in: -1...1, using: &rng) }
        var summed = [Float](repeating: 0, count: n)
        for i in 0..<n { summed[i] = parts.dropFirst().reduce(parts[0][i]) { $0 + $1[i] } }
        var klExpected = zip(summed, factor).map { $0 * $1 }, scaledExpected = summed
        let (squares, logs) = sigma.withUnsafeBufferPointer { s in
            sigmoid.withUnsafeBufferPointer { h in
                klExpected.withUnsafeMutableBufferPointer { FastMath.addGaussianKLGradient(sigma: s, sigmoid: h, gradient: $0, precision: 2, scale: 0.3, vectorKernels: false) }
            }
        }
        let xSquares = x.withUnsafeBufferPointer { p in scaledExpected.withUnsafeMutableBufferPointer { FastMath.addScaled(p, to: $0, scale: 0.7, vectorKernels: false) } }
        for vector in [true, false] {
            var kl = [Float](repeating: .nan, count: n), scaled = kl
            let pointers = parts.map { $0.withUnsafeBufferPointer { $0.baseAddress! } }
            let (s2, l2) = sigma.withUnsafeBufferPointer { s in
                rho.withUnsafeBufferPointer { r in
                    factor.withUnsafeBufferPointer { f in
                        kl.withUnsafeMutableBufferPointer {
                            FastMath.addGaussianKLGradient(summing: pointers, factor: f.baseAddress!, sigma: s, rho: r, gradient: $0,
                                                           precision: 2, scale: 0.3, vectorKernels: vector)
                        }
                    }
                }
            }
            let x2 = x.withUnsafeBufferPointer { p in scaled.withUnsafeMutableBufferPointer { FastMath.addScaled(p, toSumOf: pointers, into: $0, scale: 0.7, vectorKernels: vector) } }
            withExtendedLifetime(parts) {}
            #expect(zip(kl, klExpected).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) }, "KL gradient, vector kernels \(vector)")
            #expect(zip(scaled, scaledExpected).allSatisfy { abs($0 - $1) <= 1e-6 * max(1, abs($1)) }, "scaled sum, vector kernels \(vector)")
            #expect(abs(s2 - squares) <= 1e-5 * max(1, squares) && abs(l2 - logs) <= 1e-4 * max(1, abs(logs)) && abs(x2 - xSquares) <= 1e-5 * max(1, xSquares))

            // The stored sigmoid against the one the pass forms, on the same parts: the same numbers.
            var stored = [Float](repeating: .nan, count: n), softplus = stored
            rho.withUnsafeBufferPointer { r in
                softplus.withUnsafeMutableBufferPointer { sp in
                    stored.withUnsafeMutableBufferPointer { FastMath.softplusAndSigmoid(r, softplus: sp, sigmoid: $0, vectorKernels: vector) }
                }
            }
            var withStored = zip(summed, factor).map { $0 * $1 }
            _ = sigma.withUnsafeBufferPointer { s in
                stored.withUnsafeBufferPointer { h in
                    withStored.withUnsafeMutableBufferPointer { FastMath.addGaussianKLGradient(sigma: s, sigmoid: h, gradient: $0, precision: 2, scale: 0.3, vectorKernels: vector) }
                }
            }
            // In place, no factor: the gradient is its own one part.
            var inPlace = zip(summed, factor).map { $0 * $1 }
            _ = sigma.withUnsafeBufferPointer { s in
                rho.withUnsafeBufferPointer { r in
                    inPlace.withUnsafeMutableBufferPointer {
                        FastMath.addGaussianKLGradient(summing: [UnsafePointer($0.baseAddress!)], factor: nil, sigma: s, rho: r, gradient: $0,
                                                       precision: 2, scale: 0.3, vectorKernels: vector)
                    }
                }
            }
            #expect(inPlace == withStored, "sigmoid formed from ρ vs stored, vector kernels \(vector)")
        }
    }
}
