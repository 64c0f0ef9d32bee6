@testable import CredenceInference
import CredenceTensor
import Foundation
import Testing

/// pSGLD against the exact Bayesian-linear-regression posterior (the `KnownTargets` harness).
@Suite struct PSGLDTests {
    static let target = BayesianLinearRegressionTarget(features: 3, count: 200, alpha: 1, beta: 4, seed: 5)

    func draws(stepSize: Double, seed: UInt64) -> [[Double]] {
        let target = Self.target
        let dynamics = PreconditionedLangevinDynamics(decay: 0.99, damping: 1e-5, gradientScale: 1 / Double(target.targets.count))
        return runDynamics(dynamics, schedule: .constant(stepSize: stepSize, burnInSteps: 1000, thinning: 5), from: target.mean,
                           steps: 100_000, seed: seed, gradient: MiniBatchRegressionGradient(target, batch: 10).callAsFunction)
    }

    /// Mini-batches of 10 of 200 examples: ĝ² is dominated by the mini-batch noise, so V — and the
    /// preconditioner G ≈ 1.5 — hardly depends on θ and the dropped Γ term is negligible; the
    /// bias left is the step's (discretisation and mini-batch noise, both ∝ ε). Measured (100,000
    /// steps, every 5th kept): ε = 1e-5 mean off by 0.02 sd, covariance by 15 % relative Frobenius
    /// (ESS ≈ 700, so ≈ 5 % of that is Monte-Carlo error) — tolerances 0.1 sd and 20 %; ε = 4e-5:
    /// 50 %. The bias must shrink: more than 2× smaller at the 4× smaller step (measured 3.4×).
    @Test func itRecoversTheBayesianLinearRegressionPosteriorWithABiasThatShrinksWithTheStep() {
        let small = checkRecovery(draws(stepSize: 1e-5, seed: 1), Self.target, meanTolerance: 0.1, covarianceTolerance: 0.2)
        let large = checkRecovery(draws(stepSize: 4e-5, seed: 1), Self.target, meanTolerance: 0.1, covarianceTolerance: 0.2)
        #expect(small.recovered, "ε = 1e-5: \(small)")
        #expect(large.covarianceError > 2 * small.covarianceError, "the bias must shrink with ε: 4e-5: \(large); 1e-5: \(small)")
    }

    /// The preconditioner V is the chain's state: a step from the same θ with a different V moves differently.
    @Test func itsStepIsRMSpropWithoutNoiseAndDependsOnTheSavedAverage() {
        let dynamics = PreconditionedLangevinDynamics(decay: 0.9, damping: 0.1, gradientScale: 0.5)
        var theta = Tensor([1, -2]), buffers = dynamics.makeBuffers(parameterCount: 2)
        var rng = RandomGenerator(seed: 0)
        dynamics.step(&theta, &buffers, gradient: Tensor([4, -2]), stepSize: 0.01, noise: false, rng: &rng)
        // ĝ = (2, −1); V = 0.1·ĝ² = (0.4, 0.1); G = 1/(0.1 + √V); θ += 0.01·G·g.
        let v: [Double] = [0.4, 0.1], g: [Double] = [4, -2], start: [Double] = [1, -2]
        for i in 0..<2 {
            #expect(abs(Double(buffers.values.values[i]) - v[i]) < 1e-6)
            #expect(abs(Double(theta.values[i]) - (start[i] + 0.01 * g[i] / (0.1 + v[i].squareRoot()))) < 1e-6)
        }
    }
}
