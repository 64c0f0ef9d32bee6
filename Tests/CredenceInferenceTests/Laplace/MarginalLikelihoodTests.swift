@testable import CredenceInference
import CredenceTensor
import Foundation
import Testing

/// The prior-precision search: the layerwise gradient/secant iteration and the derivative-free
/// coordinate search agree, and the optimum is stationary.
@Suite struct MarginalLikelihoodTests {
    static func search(_ p: any StructuredPrecision, gradient: Bool) throws -> PriorPrecisionSearch {
        var rng = RandomGenerator(seed: 17)
        let mean = (0..<p.dimension).map { _ in 0.6 * Double(rng.normalFloat()) }
        return PriorPrecisionSearch(logLikelihood: -40, groups: p.groups, mean: mean,
                                    logDeterminant: try p.logDeterminantFunction(curvatureScale: 1.7),
                                    factorized: gradient ? { prior in
                                        let q = try p.with(prior: prior, curvatureScale: 1.7)
                                        return (q.logDeterminant, q.marginalVariances)
                                    } : nil)
    }

    /// Layerwise optimum: both methods to 1e-4 in log δ, and a central difference of the
    /// evidence in each log δ_g below 1e-5 there.
    @Test(arguments: HessianStructure.allCases)
    func layerwiseSearchFindsTheStationaryPoint(_ structure: HessianStructure) throws {
        let p = try StructuredPrecisionTests.make(structure)
        let fast = try Self.search(p, gradient: true), slow = try Self.search(p, gradient: false)
        let (a, valueA) = try fast.maximize(.layerwise)
        let (b, valueB) = try slow.maximize(.layerwise)
        #expect(a.values.count == 4)
        for g in 0..<4 { #expect(abs(log(a.values[g]) - log(b.values[g])) < 1e-4, "\(structure) group \(g): \(a.values) vs \(b.values)") }
        #expect(abs(valueA - valueB) < 1e-8 * abs(valueB))
        for g in 0..<4 {
            let h = 1e-4
            var up = a.values, down = a.values
            up[g] *= exp(h); down[g] *= exp(-h)
            let derivative = (try fast.objective(PriorPrecision(values: up)) - fast.objective(PriorPrecision(values: down))) / (2 * h)
            #expect(abs(derivative) < 1e-5 * max(1, abs(valueA)), "\(structure) ∂/∂log δ_\(g) = \(derivative)")
        }
        // The scalar optimum is no better than the layerwise one.
        #expect(try fast.maximize(.scalar).logMarginalLikelihood <= valueA + 1e-9)
    }
}
