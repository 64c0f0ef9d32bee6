@testable import CredenceInference
import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation
import Testing

/// SGLD against targets with exact answers (the `KnownTargets` harness) and on two moons.
@Suite struct SGLDTests {
    /// Runs the Langevin kernel `SGLD.step` for `steps` steps from the target's mean with
    /// `gradient` (exact or mini-batch), keeping every `thinning`-th state.
    func chain(_ target: some KnownTarget, stepSize: Double, steps: Int, thinning: Int, seed: UInt64,
               gradient: (_ x: [Double], _ rng: inout RandomGenerator) -> [Double]) -> [[Double]] {
        var rng = RandomGenerator(seed: seed)
        var theta = Tensor(target.mean.map { Float($0) })
        var kept: [[Double]] = []
        for t in 1...steps {
            let x = theta.values.map(Double.init)
            SGLD.step(&theta, gradient: Tensor(gradient(x, &rng).map { Float($0) }), stepSize: stepSize, rng: &rng)
            if t % thinning == 0 { kept.append(theta.values.map(Double.init)) }
        }
        return kept
    }

    /// For a Gaussian of precision P and exact gradients, the Langevin step's stationary law is
    /// Gaussian with covariance (P(I − εP/2))⁻¹: at ε = 0.5 that is 7–33 % wider than Σ along
    /// P's eigenvectors. The chain must find that covariance — not Σ — so the kernel's
    /// drift and noise scales are both right (200,000 steps, ESS ≈ 20,000: Monte-Carlo error
    /// ≈ 1 % of the covariance, tolerance 4 %).
    @Test func itsStationaryCovarianceIsTheExactDiscretisedOne() throws {
        let target = CorrelatedGaussian(dimension: 3, conditionNumber: 4, seed: 3)
        let epsilon = 0.5
        let draws = chain(target, stepSize: epsilon, steps: 200_000, thinning: 4, seed: 1) { x, _ in target.gradient(x) }
        let p = DenseMatrix(nested: target.precision)
        var m = DenseMatrix(rows: 3, columns: 3)
        for i in 0..<3 { for j in 0..<3 { m[i, j] = p[i, j] - epsilon / 2 * (0..<3).reduce(0) { $0 + p[i, $1] * p[$1, j] } } }
        let discretised = try m.choleskyFactor().choleskyInverse().nested
        struct Discretised: KnownTarget {
            let base: CorrelatedGaussian, covariance: [[Double]]
            var dimension: Int { base.dimension }
            var mean: [Double] { base.mean }
            func logDensity(_ x: [Double]) -> Double { base.logDensity(x) }
            func gradient(_ x: [Double]) -> [Double] { base.gradient(x) }
            func exactSamples(_ count: Int, rng: inout RandomGenerator) -> [[Double]] { [] }
        }
        expectRecovers(draws, Discretised(base: target, covariance: discretised), meanTolerance: 0.05, covarianceTolerance: 0.04)
        let toTheTarget = checkRecovery(draws, target, meanTolerance: 0.05, covarianceTolerance: 0.04)
        #expect(!toTheTarget.covarianceRecovered, "ε = 0.5 must show its bias against Σ: \(toTheTarget)")
    }

    /// Bayesian linear regression (exact posterior) with mini-batch gradients N/|B| Σ_B, the
    /// stochastic part of SGLD: at a step small against the posterior's curvature
    /// (ε·λmax(A)/2 ≈ 0.01) the chain recovers the exact mean within 0.1 posterior standard
    /// deviations and the covariance within 8 % relative Frobenius. Measured: 0.05 sd and
    /// 5.0 % (7.3 % at twice the step — the bias grows with ε; ESS ≈ 3,000, so ≈ 2.5 % of it
    /// is Monte-Carlo error).
    @Test func withMiniBatchesItRecoversTheExactBayesianLinearRegressionPosterior() {
        let target = BayesianLinearRegressionTarget(features: 3, count: 200, alpha: 1, beta: 4, seed: 5)
        let n = target.targets.count, batch = 50
        let draws = chain(target, stepSize: 2e-5, steps: 200_000, thinning: 10, seed: 2) { w, rng in
            var g = w.map { -target.alpha * $0 }
            for _ in 0..<batch {  // drawn with replacement: still unbiased
                let e = Int(rng.next() % UInt64(n))
                let row = target.design[e]
                let r = target.targets[e] - zip(row, w).reduce(0) { $0 + $1.0 * $1.1 }
                for j in 0..<w.count { g[j] += Double(n) / Double(batch) * target.beta * row[j] * r }
            }
            return g
        }
        expectRecovers(draws, target, meanTolerance: 0.1, covarianceTolerance: 0.08)
    }

    /// On two moons, from the MAP network: the SGLD samples classify as well as the MAP and
    /// are more uncertain far from the data (a posterior, not a point). A ReLU MAP is nearly
    /// certain at radius 10 (1.1e-4 nats); the chain's samples disagree on the far-field
    /// slopes: 0.028–0.032 nats over chain seeds 4…6. We require 20× the MAP's entropy and a
    /// positive mutual information.
    @Test func onTwoMoonsItIsAccurateAndUncertainAwayFromTheData() throws {
        let model = TwoMoonsHarness.model()
        let map = try TwoMoonsHarness.trainMAP(model, epochs: 60)
        let data = TwoMoonsHarness.data
        let target = try LogPosterior(model: model, objective: .crossEntropy(labelSmoothing: 0),
                                      prior: GaussianPrior(precision: 1), datasetSize: data.train.count)
        let chain = SGLD(target: target, stepSize: 0.05 / Double(data.train.count), burnInSteps: 8 * 10, thinning: 8)
        let (posterior, _) = try fitPosterior(chain, model: model, parameters: map, task: .classification, data: data.train,
                                              epochs: 40, batchSize: 64, seed: 4)
        #expect(posterior.members.count == 30)  // (40 − 10) epochs × 8 steps, every 8th
        #expect(posterior.method == "sgld")
        try TwoMoonsHarness.expectAccurateAndUncertainAwayFromTheData(posterior, map: map, model: model, samples: 30, label: "SGLD")
    }

    /// A chain that leaves its posterior is named: on the 1-D regression (noise sd ≈ 0.04) the
    /// default step (learningRate 0.01) is far too large for the likelihood's curvature, the
    /// samples climb the potential U(θ) by thousands where a chain at equilibrium sits about
    /// T·d/2 above the trained network, and the run says so and what to change; at 1/100 of the
    /// step the chain stays near it and nothing is said.
    @Test func aChainThatLeavesThePosteriorIsNamed() throws {
        let options = RegistryWalkTests.options(.regression1D, epochs: 60, learningRate: 0.005)
        var rises: [Double] = [], stages: [[String]] = []
        for step in ["0.01", "0.0001"] {
            let method = try MethodRegistry.make("sgld", recorded: ["burnInEpochs": "5", "sampleEpochs": "20", "thinning": "20", "learningRate": step])
            let directory = try RegistryWalkTests.temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            var job = RegistryWalkTests.job(options, in: directory)
            var said: [String] = []
            job.onStage = { said.append($0) }
            rises.append(try #require(try method.run(job).details["potentialRise"]))
            stages.append(said.filter { $0.hasPrefix("warning: the chain's last samples") })
        }
        let parameters = 1 * 16 + 16 + 16 * 16 + 16 + 16 * 2 + 2   // 1-16-16-2 (a mean and a variance out): 338
        #expect(rises[0] > Double(parameters) * 10 && stages[0].count == 1, "\(rises) \(stages)")
        #expect(stages[0].first?.contains("lower learningRate") == true)
        #expect(rises[1] < Double(parameters) && stages[1].isEmpty, "\(rises) \(stages)")
        #expect(SGMCMCRun.potentialRiseWarning(150, parameterCount: 338, temperature: 1) == nil)
        #expect(SGMCMCRun.potentialRiseWarning(400, parameterCount: 338, temperature: 1) != nil)
        #expect(SGMCMCRun.potentialRiseWarning(400, parameterCount: 338, temperature: 2) == nil)
        #expect(SGMCMCRun.potentialRiseWarning(.nan, parameterCount: 338, temperature: 1) != nil)
    }
}

extension SGLDTests {
    /// A chain's steps reuse its trainer's gradient buffers (cleared as the sampler forms each
    /// chunk, written into by the next step's tapes — `ScaledGradient.recycleParts`): its
    /// iterates are, bit for bit, Langevin steps on the log-density's gradient formed afresh
    /// (by a target of its own, so the two share no buffers) — under the Gaussian prior, whose
    /// gradient the sampler forms chunk by chunk, and under a scale mixture, whose likelihood
    /// part is formed whole first.
    @Test(arguments: [true, false])
    func recycledGradientBuffersGiveTheStepsOfFreshGradients(gaussian: Bool) throws {
        let model = TwoMoonsHarness.model(), train = TwoMoonsHarness.data.train
        let prior: any ParameterPrior = try gaussian ? GaussianPrior(precision: 1)
            : ScaleMixtureGaussianPrior(mixtureWeight: 0.5, standardDeviation1: 1, standardDeviation2: 0.1)
        func target() throws -> LogPosterior {
            try LogPosterior(model: model, objective: .crossEntropy(labelSmoothing: 0), prior: prior, datasetSize: train.count)
        }
        let (chained, fresh) = (try target(), try target())
        let sgld = SGLD(target: chained, stepSize: 1e-3, burnInSteps: 0, thinning: 1)
        var rng = RandomGenerator(seed: 2)
        var state = try sgld.initialState(model: model, parameters: model.initialParameters(rng: &rng), task: .classification, rng: &rng)
        var theta = state.parameters
        for k in 0..<4 {
            let batch = try train.trainingBatch(Array((k * 64)..<(k * 64 + 64)))
            var (a, b) = (RandomGenerator(seed: UInt64(k)), RandomGenerator(seed: UInt64(k)))
            _ = try sgld.advance(&state, batch: batch, rng: &a)
            let (_, gradient) = try fresh.logDensity(parameters: theta, batch: batch, rng: &b)
            var none = NoBuffers()
            LangevinDynamics().step(&theta, &none, gradient: gradient, stepSize: 1e-3, noise: true, rng: &b)
            #expect(state.parameters == theta, "step \(k)")
        }
        #expect(chained.trainer.zeroedGradients.take(8, count: theta.count).count == Swift.min(Parallel.workerCount, 64))
    }
}
