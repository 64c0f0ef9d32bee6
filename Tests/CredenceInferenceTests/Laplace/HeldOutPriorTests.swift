@testable import CredenceInference
import CredenceData
import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation
import Testing

/// The held-out prior search (laplace-torch's gridsearch) where the answer is known: for
/// Bayesian linear regression the GLM predictive at prior δ is exactly
/// N(φᵀθ̂, φᵀ(βΦᵀΦ + δI)⁻¹φ + σ²), so the held-out NLL at every grid point, and the grid's
/// minimiser, follow in closed form.
@Suite struct HeldOutPriorTests {
    typealias Linear = BayesianLinearRegressionTests

    /// 30 new examples from the training data's generator (another seed).
    static let heldOut: (phi: [Double], t: [Double], dataset: InMemoryDataset) = {
        var rng = RandomGenerator(seed: 77)
        var phi: [Double] = [], t: [Double] = [], x: [Float] = [], y: [Float] = []
        let w = [1.0, -2, 0.5, 0.3]
        for _ in 0..<30 {
            let row = (0..<3).map { _ in rng.normalFloat() }
            x += row
            let features = row.map(Double.init) + [1]
            phi += features
            let target = Float(zip(features, w).reduce(0) { $0 + $1.0 * $1.1 } + Linear.sigma * Double(rng.normalFloat()))
            y.append(target)
            t.append(Double(target))
        }
        return (phi, t, try! InMemoryDataset(name: "held-out", inputs: Tensor(shape: [30, 3], values: x),
                                              targets: Tensor(shape: [30, 1], values: y)))
    }()

    /// The held-out Gaussian NLL at prior δ around `theta`, in closed form (Double throughout).
    static func exactNLL(delta: Double, theta: [Double]) -> Double {
        let (phi, _, _) = Linear.data
        let beta = 1 / (Linear.sigma * Linear.sigma), m = 4
        var a = [Double](repeating: 0, count: 16)
        for r in 0..<Linear.count { for i in 0..<m { for j in 0..<m { a[i * m + j] += beta * phi[r * m + i] * phi[r * m + j] } } }
        for i in 0..<m { a[i * m + i] += delta }
        let covariance = LaplaceReference.inverse(a, m).inverse
        let (hphi, ht, _) = heldOut
        var total = 0.0
        for r in 0..<ht.count {
            let f = Array(hphi[(r * m)..<(r * m + m)])
            let mean = zip(f, theta).reduce(0) { $0 + $1.0 * $1.1 }
            let variance = LaplaceReference.multiply(LaplaceReference.multiply(f, covariance, 1, m, m), f, 1, m, 1)[0]
                + Linear.sigma * Linear.sigma
            total += 0.5 * (log(2 * Double.pi * variance) + (ht[r] - mean) * (ht[r] - mean) / variance)
        }
        return total / Double(ht.count)
    }

    @Test func gridIsLaplaceTorchs() {
        let grid = HeldOutPriorSearch().grid
        #expect(grid.count == 100)
        #expect(abs(grid[0] - 1e-4) < 1e-16 && abs(grid[99] - 1e4) < 1e-9)
        let ratios = zip(grid.dropFirst(), grid).map { $0 / $1 }
        #expect(ratios.allSatisfy { abs($0 - pow(10, 8.0 / 99)) < 1e-12 })
    }

    /// Every grid point's NLL to 1e-5 relative (Float curvature and predictive), and the
    /// minimiser is the closed form's.
    @Test func heldOutNLLAndItsMinimiserAreTheClosedForms() throws {
        let theta = try Linear.trainedMAP(alpha: 2)
        let posterior = try Linear.laplace(alpha: 2, tune: false)
            .fit(model: Linear.model, parameters: theta, task: .regression, inputs: Linear.data.dataset.inputs,
                 targets: Linear.data.dataset.targets)
        let search = HeldOutPriorSearch(logMinimum: -3, logMaximum: 3, points: 61)
        let result = try search.tune(posterior, on: Self.heldOut.dataset, samples: 1, seed: 0)
        let exact = search.grid.map { Self.exactNLL(delta: $0, theta: theta.values.map(Double.init)) }
        #expect(result.curve.count == 61)
        for (point, expected) in zip(result.curve, exact) {
            #expect(abs(point.negativeLogLikelihood - expected) <= 1e-5 * abs(expected), "δ \(point.precision): \(point.negativeLogLikelihood) vs \(expected)")
        }
        let best = exact.indices.min { exact[$0] < exact[$1] }!
        #expect(result.precision == search.grid[best], "chose \(result.precision), closed form \(search.grid[best])")
        #expect(result.posterior.priorPrecision.values == [search.grid[best]])
        #expect(result.negativeLogLikelihood == result.curve[best].negativeLogLikelihood)
    }

    @Test func refusals() throws {
        #expect(throws: LaplaceError.self) { try Laplace(priorOptimization: .heldOut) }
        let method = try LaplaceMethod(settings: MethodSettings(method: "laplace", values: ["prior": "held-out"], options: LaplaceMethod.options))
        #expect(method.prior == .heldOut)
        #expect(throws: LaplaceError.self) { try LaplaceMethod(settings: MethodSettings(method: "laplace", values: ["prior": "held-out", "priorStructure": "layerwise"], options: LaplaceMethod.options)) }
        let theta = try Linear.trainedMAP(alpha: 2)
        let posterior = try Linear.laplace(alpha: 2, tune: false)
            .fit(model: Linear.model, parameters: theta, task: .regression, inputs: Linear.data.dataset.inputs,
                 targets: Linear.data.dataset.targets)
        #expect(throws: LaplaceError.self) { try HeldOutPriorSearch(points: 1).tune(posterior, on: Self.heldOut.dataset, samples: 1, seed: 0) }
    }
}
