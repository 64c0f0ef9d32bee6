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
}
