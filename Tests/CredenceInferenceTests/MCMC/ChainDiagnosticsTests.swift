@testable import CredenceInference
import CredenceNN
import CredenceTensor
import Foundation
import Testing

/// Split-R̂ and bulk/tail ESS against ArviZ 0.23 on the same draws (fixture written by
/// scripts/make_diagnostics_fixture.py), and against what independent draws and an AR(1)
/// chain must give.
@Suite struct ChainDiagnosticsTests {
    struct Fixture: Decodable {
        struct Case: Decodable {
            var name: String
            var chains: [[Double]]
            var rhat: Double
            var essBulk: Double
            var essTail: Double
        }
        var arviz: String
        var cases: [Case]
    }

    static let fixture: Fixture = {
        let url = Bundle.module.url(forResource: "arviz-diagnostics", withExtension: "json", subdirectory: "Fixtures")!
        return try! JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }()

    /// Independent draws, AR(1), a shifted chain, a wider chain, heavy tails with an odd length,
    /// and ties: every figure within 1e-6 (relative) of ArviZ's.
    @Test func agreesWithArviZ() throws {
        for c in Self.fixture.cases {
            let rhat = try ChainDiagnostics.rHat(c.chains)
            let bulk = try ChainDiagnostics.bulkEffectiveSampleSize(c.chains)
            let tail = try ChainDiagnostics.tailEffectiveSampleSize(c.chains)
            #expect(abs(rhat - c.rhat) <= 1e-6 * c.rhat, "\(c.name): R̂ \(rhat) vs ArviZ \(c.rhat)")
            #expect(abs(bulk - c.essBulk) <= 1e-6 * c.essBulk, "\(c.name): bulk ESS \(bulk) vs ArviZ \(c.essBulk)")
            #expect(abs(tail - c.essTail) <= 1e-6 * c.essTail, "\(c.name): tail ESS \(tail) vs ArviZ \(c.essTail)")
        }
    }

    /// Four chains of 1,000 independent normals: R̂ < 1.01 and bulk ESS within 15 % of the 4,000
    /// draws; an AR(1) chain with ρ = 0.8 has ESS ≈ N(1 − ρ)/(1 + ρ) = N/9 (within 25 %); one
    /// chain shifted by a standard deviation gives R̂ > 1.1.
    @Test func independentCorrelatedAndUnmixedChains() throws {
        var rng = RandomGenerator(seed: 3)
        let iid = (0..<4).map { _ in (0..<1000).map { _ in Double(rng.normalFloat()) } }
        #expect(try ChainDiagnostics.rHat(iid) < 1.01)
        let bulk = try ChainDiagnostics.bulkEffectiveSampleSize(iid)
        #expect(abs(bulk - 4000) < 0.15 * 4000, "bulk ESS \(bulk)")
        let rho = 0.8
        let ar = (0..<4).map { _ -> [Double] in
            var x = Double(rng.normalFloat()) / (1 - rho * rho).squareRoot()
            return (0..<2000).map { _ in x = rho * x + Double(rng.normalFloat()); return x }
        }
        let expected = 8000 * (1 - rho) / (1 + rho)
        let ess = try ChainDiagnostics.bulkEffectiveSampleSize(ar)
        #expect(abs(ess - expected) < 0.25 * expected, "AR(1) ESS \(ess) vs \(expected)")
        var shifted = iid
        shifted[1] = shifted[1].map { $0 + 1 }
        #expect(try ChainDiagnostics.rHat(shifted) > 1.1)
    }

    /// Chains too short for Geyer's sequence to take a step (4 or fewer draws after the split:
    /// 4–9 samples in one chain, as a short SG-MCMC run on a small data set keeps) end it at
    /// once, as ArviZ's empty slice does: a finite ESS, not a trap (found by `bench
    /// fashion-mnist`'s SGLD on the held-out-classes set).
    @Test func shortChainsGiveAFiniteEffectiveSampleSize() throws {
        for n in 4...12 {
            let values = (0..<n).map { Double(($0 * 7) % 5) }
            for ess in [try ChainDiagnostics.bulkEffectiveSampleSize([values]), try ChainDiagnostics.tailEffectiveSampleSize([values])] {
                #expect(ess.isFinite && ess > 0 && ess <= Double(n) * log10(Double(n)) + 1e-9, "\(n) samples: ESS \(ess)")
            }
        }
    }

    @Test func badChainsAreRefused() {
        #expect(throws: InferenceError.self) { try ChainDiagnostics.rHat([[1, 2, 3, 4, 5]]) }
        #expect(throws: InferenceError.self) { try ChainDiagnostics.bulkEffectiveSampleSize([[1, 2, 3]]) }
        #expect(throws: InferenceError.self) { try ChainDiagnostics.rHat([[1, 2, 3, 4], [1, 2, 3]]) }
        #expect(throws: InferenceError.self) { try ChainDiagnostics.tailEffectiveSampleSize([[1, 2, .nan, 4]]) }
    }

    /// A chain of independent parameter draws mixes (R̂ < 1.1 on every projection and test
    /// point, bulk ESS near the 400 samples); a chain drifting along a direction does not.
    @Test func diagnoseFollowsProjectionsAndPredictions() throws {
        let model = try Sequential(.mlp(inputShape: [2], hidden: [4], outputs: 3))
        var rng = RandomGenerator(seed: 5)
        let centre = model.initialParameters(rng: &rng)
        let inputs = Tensor.randomNormal(shape: [3, 2], rng: &rng)
        let independent = (0..<400).map { _ in try! centre + Tensor.randomNormal(shape: [model.parameterCount], standardDeviation: 0.1, rng: &rng) }
        let mixed = try ChainDiagnostics.diagnose(chains: [independent], model: model, task: .classification, inputs: inputs, projections: 4, rng: &rng)
        #expect(mixed.count == 4 + 3 && mixed.map(\.quantity).contains("projection 1"))
        #expect(mixed.allSatisfy { ($0.rHat ?? 9) < 1.1 && $0.bulkEffectiveSampleSize > 250 }, "\(mixed)")
        let drifting = independent.enumerated().map { k, theta in try! theta + Tensor(shape: [model.parameterCount], repeating: Float(k) * 0.01) }
        let stuck = try ChainDiagnostics.diagnose(chains: [drifting], model: model, task: .classification, inputs: inputs, projections: 4, rng: &rng)
        #expect((stuck.compactMap(\.rHat).max() ?? 0) > 1.5, "\(stuck)")
        #expect(throws: InferenceError.self) { try ChainDiagnostics.diagnose(chains: [Array(independent.prefix(3))], model: model, task: .classification,
                                                                              inputs: inputs, projections: 1, rng: &rng) }
        // Four chains: mixed when each holds independent draws around the same centre; R̂ across
        // chains flags chains around different centres even when each one mixes.
        let four = (0..<4).map { c in Array(independent[(c * 100)..<((c + 1) * 100)]) }
        let together = try ChainDiagnostics.diagnose(chains: four, model: model, task: .classification, inputs: inputs, projections: 4, rng: &rng)
        #expect(together.allSatisfy { ($0.rHat ?? 9) < 1.1 && $0.bulkEffectiveSampleSize > 250 }, "\(together)")
        let apart = four.enumerated().map { c, chain in chain.map { try! $0 + Tensor(shape: [model.parameterCount], repeating: Float(c)) } }
        let separate = try ChainDiagnostics.diagnose(chains: apart, model: model, task: .classification, inputs: inputs, projections: 4, rng: &rng)
        #expect((separate.compactMap(\.rHat).max() ?? 0) > 1.5, "\(separate)")
        // Regression: the predicted mean at each point.
        let regression = try Sequential(.mlp(inputShape: [2], hidden: [4], outputs: 2))
        let draws = (0..<40).map { _ in regression.initialParameters(rng: &rng) }
        let means = try ChainDiagnostics.diagnose(chains: [draws], model: regression, task: .regression, inputs: inputs, projections: 0, rng: &rng)
        #expect(means.map(\.quantity) == (0..<3).map { "predicted mean at test point \($0)" })
    }
}
