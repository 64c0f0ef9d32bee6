import Foundation
import Testing
@testable import CredenceTensor

/// Reproducibility and distribution checks for `RandomGenerator`. Statistical bounds are
/// stated next to each check; "5 SE" (five standard errors) fails a correct generator with
/// probability ≈ 6·10⁻⁷, so these tests are not flaky, and they are seeded anyway.
@Suite struct RandomTests {
    static let draws = 100_000

    func sequence(_ rng: inout RandomGenerator, _ n: Int) -> [UInt64] { (0..<n).map { _ in rng.next() } }

    // MARK: Reproducibility

    @Test func knownAnswerXoshiro256StarStarSeededBySplitMix64() {
        // Reference values from the authors' C code (splitmix64.c feeding xoshiro256starstar.c).
        var zero = RandomGenerator(seed: 0)
        #expect(sequence(&zero, 4) == [0x99EC_5F36_CB75_F2B4, 0xBF6E_1F78_4956_452A, 0x1A5F_849D_4933_E6E0, 0x6AA5_94F1_262D_2D2C])
        var other = RandomGenerator(seed: 12345)
        #expect(sequence(&other, 4) == [0xBE6A_3637_4160_D49B, 0x214A_AA06_37A6_88C6, 0xF69D_16DE_9954_D388, 0x0C60_048C_4E96_E033])
    }

    @Test func sameSeedSameSequence() throws {
        var a = RandomGenerator(seed: 2024), b = RandomGenerator(seed: 2024)
        #expect(sequence(&a, 1000) == sequence(&b, 1000))
        var c = RandomGenerator(seed: 7), d = RandomGenerator(seed: 7)
        #expect(Tensor.randomNormal(shape: [50], rng: &c) == Tensor.randomNormal(shape: [50], rng: &d))
        #expect(c.permutation(20) == d.permutation(20))
        #expect(c.categorical([1, 2, 3]) == d.categorical([1, 2, 3]))
        let m1 = try Tensor.dropoutMask(shape: [30], rate: 0.5, rng: &c), m2 = try Tensor.dropoutMask(shape: [30], rate: 0.5, rng: &d)
        #expect(m1 == m2)
    }

    @Test func differentSeedsDiffer() {
        for (s1, s2) in [(0, 1), (1, 2), (41, 42), (0, UInt64.max)] as [(UInt64, UInt64)] {
            var a = RandomGenerator(seed: s1), b = RandomGenerator(seed: s2)
            let x = sequence(&a, 100), y = sequence(&b, 100)
            // Not one of 100 outputs may coincide (a 64-bit collision has probability ~10⁻¹⁵).
            #expect(zip(x, y).allSatisfy { $0 != $1 }, "seeds \(s1) and \(s2)")
        }
    }

    @Test func splitStreamsDifferAndAreReproducible() {
        var parent = RandomGenerator(seed: 99)
        var copy = parent
        var child1 = parent.split(), child2 = parent.split()
        let p = sequence(&parent, 100), c1 = sequence(&child1, 100), c2 = sequence(&child2, 100)
        #expect(Set(p).isDisjoint(with: c1) && Set(p).isDisjoint(with: c2) && Set(c1).isDisjoint(with: c2))
        // Splitting advances the parent by exactly one draw per child.
        _ = copy.next(); _ = copy.next()
        var again = copy
        #expect(sequence(&again, 100) == p)
        // Same seed → same children.
        var parent2 = RandomGenerator(seed: 99)
        var d1 = parent2.split(), d2 = parent2.split()
        #expect(sequence(&d1, 100) == c1 && sequence(&d2, 100) == c2)
        // split(into:) is n successive splits.
        var parent3 = RandomGenerator(seed: 99)
        var many = parent3.split(into: 3)
        #expect(many.count == 3)
        #expect(sequence(&many[0], 100) == c1 && sequence(&many[1], 100) == c2)
        var third = many[2]
        #expect(Set(sequence(&third, 100)).isDisjoint(with: c1 + c2 + p))
    }

    @Test func splitStreamsAreUncorrelated() {
        // Pearson correlation of 100k uniform pairs has SE 1/√n ≈ 0.0032; bound 5 SE.
        var parent = RandomGenerator(seed: 3)
        var a = parent.split(), b = parent.split()
        let n = Self.draws
        var sxy = 0.0, sx = 0.0, sy = 0.0, sxx = 0.0, syy = 0.0, sxp = 0.0, sxpx = 0.0
        for _ in 0..<n {
            let x = a.uniformDouble(), y = b.uniformDouble(), z = parent.uniformDouble()
            sx += x; sy += y; sxy += x * y; sxx += x * x; syy += y * y; sxp += z; sxpx += x * z
        }
        let nd = Double(n)
        let cov = sxy / nd - sx / nd * sy / nd
        let r = cov / ((sxx / nd - (sx / nd) * (sx / nd)).squareRoot() * (syy / nd - (sy / nd) * (sy / nd)).squareRoot())
        #expect(Swift.abs(r) < 5 / nd.squareRoot(), "sibling streams correlated: r = \(r)")
        let covParent = sxpx / nd - sx / nd * sxp / nd
        #expect(Swift.abs(covParent * 12) < 5 / nd.squareRoot(), "child and parent correlated")
    }

    // MARK: Distributions

    @Test func uniformFloatMeanVarianceAndRange() {
        var rng = RandomGenerator(seed: 10)
        let n = Self.draws
        var s = 0.0, ss = 0.0, lo = Float.infinity, hi = -Float.infinity
        for _ in 0..<n {
            let u = rng.uniformFloat()
            s += Double(u); ss += Double(u) * Double(u)
            lo = Swift.min(lo, u); hi = Swift.max(hi, u)
        }
        let mean = s / Double(n), variance = ss / Double(n) - mean * mean
        // U(0,1): mean 1/2, SE √(1/12/n) ≈ 9.1e-4 → 5 SE = 4.6e-3.
        #expect(Swift.abs(mean - 0.5) < 4.6e-3)
        // Variance 1/12; SE of the sample variance √((1/80 − 1/144)/n) ≈ 2.4e-4 → 5 SE = 1.2e-3.
        #expect(Swift.abs(variance - 1.0 / 12) < 1.2e-3)
        #expect(lo >= 0 && hi < 1 && lo < 1e-3 && hi > 1 - 1e-3)
    }

    @Test func uniformDoubleAndTensorRange() {
        var rng = RandomGenerator(seed: 11)
        let n = Self.draws
        var s = 0.0
        for _ in 0..<n { let u = rng.uniformDouble(); #expect(u >= 0 && u < 1); s += u }
        #expect(Swift.abs(s / Double(n) - 0.5) < 4.6e-3)   // 5 SE as above
        let t = Tensor.randomUniform(shape: [n], lower: -2, upper: 3, rng: &rng)
        #expect(t.values.allSatisfy { $0 >= -2 && $0 < 3 })
        // U(−2, 3): mean 0.5, SE 5/√(12n) ≈ 4.6e-3 → 5 SE = 0.023.
        #expect(Swift.abs(t.sumOfElements / Double(n) - 0.5) < 0.023)
    }

    @Test func normalMomentsAndShape() {
        var rng = RandomGenerator(seed: 12)
        let n = Self.draws
        var s = 0.0, s2 = 0.0, s4 = 0.0, within1 = 0
        for _ in 0..<n {
            let x = Double(rng.normalFloat())
            s += x; s2 += x * x; s4 += x * x * x * x
            if Swift.abs(x) < 1 { within1 += 1 }
        }
        let nd = Double(n), mean = s / nd, variance = s2 / nd - mean * mean
        // N(0,1): mean SE 1/√n ≈ 3.2e-3 → 5 SE = 0.016.
        #expect(Swift.abs(mean) < 0.016)
        // Variance SE √(2/n) ≈ 4.5e-3 → 5 SE = 0.022.
        #expect(Swift.abs(variance - 1) < 0.022)
        // Fourth moment 3, SE √(96/n) ≈ 0.031 → 5 SE = 0.155 (catches a non-Gaussian shape).
        #expect(Swift.abs(s4 / nd - 3) < 0.155)
        // P(|x| < 1) = 0.682689, SE √(p(1−p)/n) ≈ 1.5e-3 → 5 SE = 7.4e-3.
        #expect(Swift.abs(Double(within1) / nd - 0.682689) < 7.4e-3)
    }

    @Test func normalTensorMeanAndStandardDeviation() {
        var rng = RandomGenerator(seed: 13)
        let t = Tensor.randomNormal(shape: [Self.draws], mean: 3, standardDeviation: 2, rng: &rng)
        let v = t.values.map(Double.init), nd = Double(v.count)
        let mean = v.reduce(0, +) / nd
        let variance = v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / nd
        // Mean SE 2/√n ≈ 6.3e-3 → 5 SE = 0.032; variance 4 with SE 4√(2/n) ≈ 0.018 → 5 SE = 0.09.
        #expect(Swift.abs(mean - 3) < 0.032)
        #expect(Swift.abs(variance - 4) < 0.09)
    }

    @Test func bernoulliRate() {
        var rng = RandomGenerator(seed: 14)
        let n = Self.draws
        for p: Float in [0.3, 0.9] {
            var hits = 0
            for _ in 0..<n where rng.bernoulli(p) { hits += 1 }
            // SE √(p(1−p)/n) ≤ 1.6e-3 → 5 SE = 7.9e-3.
            #expect(Swift.abs(Double(hits) / Double(n) - Double(p)) < 7.9e-3, "p = \(p)")
        }
        let t = Tensor.randomBernoulli(shape: [n], probability: 0.3, rng: &rng)
        #expect(t.values.allSatisfy { $0 == 0 || $0 == 1 })
        #expect(Swift.abs(t.sumOfElements / Double(n) - 0.3) < 7.3e-3)   // 5 SE, SE ≈ 1.45e-3
        #expect(Tensor.randomBernoulli(shape: [100], probability: 0, rng: &rng).sumOfElements == 0)
        #expect(Tensor.randomBernoulli(shape: [100], probability: 1, rng: &rng).sumOfElements == 100)
    }

    @Test func categoricalFrequenciesMatchWeights() {
        var rng = RandomGenerator(seed: 15)
        let weights: [Float] = [1, 0, 3, 4, 2]   // unnormalised; class 1 has weight 0
        let total = weights.reduce(0, +)
        var counts = [Int](repeating: 0, count: weights.count)
        let n = Self.draws
        for _ in 0..<n { counts[rng.categorical(weights)] += 1 }
        #expect(counts[1] == 0, "a zero-weight class must never be drawn")
        // Pearson χ² over the 4 positive classes (3 degrees of freedom): P(χ²₃ > 30) ≈ 1.4e-6.
        var chi2 = 0.0
        for (c, w) in zip(counts, weights) where w > 0 {
            let expected = Double(n) * Double(w / total)
            chi2 += (Double(c) - expected) * (Double(c) - expected) / expected
        }
        #expect(chi2 < 30, "χ² = \(chi2), counts \(counts)")
        #expect(rng.categorical([0, 0, 5]) == 2)
        #expect(rng.categorical([7]) == 0)
    }

    @Test func integerBelowIsInRangeAndUniform() {
        var rng = RandomGenerator(seed: 16)
        var counts = [Int](repeating: 0, count: 7)
        let n = 70_000
        for _ in 0..<n { counts[rng.integer(below: 7)] += 1 }
        // χ² with 6 degrees of freedom: P(χ²₆ > 36) ≈ 2.8e-6.
        let chi2 = counts.reduce(0.0) { $0 + Double(($1 - 10_000) * ($1 - 10_000)) / 10_000 }
        #expect(chi2 < 36, "counts \(counts)")
        #expect(rng.integer(below: 1) == 0)
    }

    @Test func permutationIsAPermutationAndUniform() {
        var rng = RandomGenerator(seed: 17)
        for n in [0, 1, 2, 5, 50] {
            #expect(rng.permutation(n).sorted() == Array(0..<n))
        }
        // All 6 orders of 3 elements, 60k draws (10k expected each).
        // χ² with 5 degrees of freedom: P(χ²₅ > 33) ≈ 3.8e-6.
        var counts: [[Int]: Int] = [:]
        let n = 60_000
        for _ in 0..<n { counts[rng.permutation(3), default: 0] += 1 }
        #expect(counts.count == 6)
        let chi2 = counts.values.reduce(0.0) { $0 + Double(($1 - 10_000) * ($1 - 10_000)) / 10_000 }
        #expect(chi2 < 33, "counts \(counts)")
    }

    @Test func dropoutMaskKeepsTheExpectation() throws {
        var rng = RandomGenerator(seed: 18)
        let n = Self.draws, rate: Float = 0.25
        let mask = try Tensor.dropoutMask(shape: [n], rate: rate, rng: &rng)
        let keptValue = 1 / (1 - rate)
        #expect(mask.values.allSatisfy { $0 == 0 || $0 == keptValue })
        // Mean 1; the mask's variance is rate/(1−rate) = 1/3, SE √(1/3/n) ≈ 1.8e-3 → 5 SE = 9.1e-3.
        #expect(Swift.abs(mask.sumOfElements / Double(n) - 1) < 9.1e-3)
        // Dropped fraction ≈ rate: SE √(0.25·0.75/n) ≈ 1.4e-3 → 5 SE = 6.8e-3.
        let dropped = Double(mask.values.filter { $0 == 0 }.count) / Double(n)
        #expect(Swift.abs(dropped - Double(rate)) < 6.8e-3)
        #expect(try Tensor.dropoutMask(shape: [100], rate: 0, rng: &rng) == Tensor.ones([100]))
    }
}
