@testable import CredenceInference
import CredenceData
import CredenceNN
import CredenceTensor
import Foundation
import Testing

/// The homoscedastic regression head (`HomoscedasticNoise`; its forward pass and gradient are
/// checked in CredenceNNTests): what training learns with it (the maximum-likelihood noise of
/// a linear fit), what NUTS draws with it (the exact 2-D posterior over a slope and the noise
/// level, integrated on a grid), and Laplace's last layer under it.
@Suite("Homoscedastic noise head")
struct HomoscedasticNoiseTests {
    /// y = 0.8·x + 0.5·ε, x ~ N(0, 1): `count` points.
    static func linearData(_ count: Int, seed: UInt64) throws -> (x: [Double], y: [Double], data: InMemoryDataset) {
        var rng = RandomGenerator(seed: seed)
        let x = (0..<count).map { _ in standardNormal(&rng) }
        let y = x.map { 0.8 * $0 + 0.5 * standardNormal(&rng) }
        let data = try InMemoryDataset(name: "linear", inputs: Tensor(shape: [count, 1], values: x.map(Float.init)),
                                       targets: Tensor(shape: [count, 1], values: y.map(Float.init)))
        return (x, y, data)
    }

    static func softplus(_ r: Double) -> Double { max(r, 0) + log1p(exp(-abs(r))) }

    @Test("trained by the Gaussian likelihood, the head learns the maximum-likelihood noise of the fit (the mean squared residual)")
    func trainingLearnsTheResidualVariance() throws {
        let (x, y, data) = try Self.linearData(200, seed: 11)
        let model = try Sequential(ModelSpec(inputShape: [1], layers: [.dense(inputs: 1, outputs: 1, bias: true), .homoscedasticNoise(outputs: 1)]))
        var rng = RandomGenerator(seed: 1)
        var theta = model.initialParameters(rng: &rng)
        var trainer = Trainer(model: model, optimizer: .adam(learningRate: .constant(0.05), parameterCount: model.parameterCount),
                              configuration: TrainingConfiguration(epochs: 400, batchSize: 200, objective: Objective.gaussianNegativeLogLikelihood))
        try trainer.fit(parameters: &theta, data: data)
        // Least squares in Double: the likelihood's maximum has the OLS line and σ² = mean squared residual.
        let mx = x.reduce(0, +) / 200, my = y.reduce(0, +) / 200
        let slope = zip(x, y).reduce(0) { $0 + ($1.0 - mx) * ($1.1 - my) } / x.reduce(0) { $0 + ($1 - mx) * ($1 - mx) }
        let intercept = my - slope * mx
        let residualVariance = zip(x, y).reduce(0) { $0 + pow($1.1 - intercept - slope * $1.0, 2) } / 200
        let learned = Self.softplus(Double(theta.values[2])) + 1e-6
        #expect(abs(Double(theta.values[0]) - slope) < 2e-3, "slope \(theta.values[0]) vs \(slope)")
        #expect(abs(learned - residualVariance) < 0.01 * residualVariance, "σ² \(learned) vs \(residualVariance)")
    }

    @Test("NUTS over a slope and the noise level draws the exact posterior (grid integration), 4 chains")
    func nutsRecoversTheNoisePosterior() throws {
        let (x, y, data) = try Self.linearData(30, seed: 5)
        let model = try Sequential(ModelSpec(inputShape: [1], layers: [.dense(inputs: 1, outputs: 1, bias: false), .homoscedasticNoise(outputs: 1)]))
        let posterior = try LogPosterior(model: model, objective: .gaussianNegativeLogLikelihood, prior: GaussianPrior(precision: 1), datasetSize: 30)
        // log p(w, r | D) + const under N(0, 1) priors, in Double, on a 600 × 600 grid.
        func logDensity(_ w: Double, _ r: Double) -> Double {
            let s = Self.softplus(r) + 1e-6
            return -0.5 * (w * w + r * r) + zip(x, y).reduce(0) { $0 - 0.5 * log(2 * Double.pi * s) - pow($1.1 - w * $1.0, 2) / (2 * s) }
        }
        let ws = (0..<600).map { -0.4 + 2.2 * Double($0) / 599 }, rs = (0..<600).map { -3 + 6 * Double($0) / 599 }
        var cells: [(w: Double, s: Double, logp: Double)] = []
        for w in ws { for r in rs { cells.append((w, Self.softplus(r) + 1e-6, logDensity(w, r))) } }
        let top = cells.map(\.logp).max()!
        let mass = cells.map { exp($0.logp - top) }, total = mass.reduce(0, +)
        func expectation(_ f: ((w: Double, s: Double, logp: Double)) -> Double) -> Double { zip(cells, mass).reduce(0) { $0 + f($1.0) * $1.1 } / total }
        let (meanW, meanS) = (expectation(\.w), expectation(\.s))
        let sdW = expectation { pow($0.w - meanW, 2) }.squareRoot(), sdS = expectation { pow($0.s - meanS, 2) }.squareRoot()
        let edges = (0..<600).flatMap { i in [(ws[i], rs[0]), (ws[i], rs[599]), (ws[0], rs[i]), (ws[599], rs[i])] }
        #expect(edges.allSatisfy { exp(logDensity($0.0, $0.1) - top) < 1e-8 }, "the grid holds the posterior")

        let sampler = HamiltonianSampler(settings: HMCSettings(integrator: .nuts(maxTreeDepth: 8), warmup: 300, iterations: 500), chains: 4, seed: 7)
        let chains = try sampler.run(target: NetworkLogDensity(posterior: posterior, data: data), starts: Array(repeating: [0.8, 0], count: 4))
        let draws = chains.flatMap { $0.draws.map { (w: Double($0.values[0]), s: Self.softplus(Double($0.values[1])) + 1e-6) } }
        let n = Double(draws.count)
        let sampleW = draws.reduce(0) { $0 + $1.w } / n, sampleS = draws.reduce(0) { $0 + $1.s } / n
        let sampleSdW = (draws.reduce(0) { $0 + pow($1.w - sampleW, 2) } / n).squareRoot()
        let sampleSdS = (draws.reduce(0) { $0 + pow($1.s - sampleS, 2) } / n).squareRoot()
        // 2,000 near-independent draws: the means' Monte-Carlo error is ≈ 0.03 sd, the sds' ≈ 2 %.
        #expect(abs(sampleW - meanW) < 0.1 * sdW, "E[w] \(sampleW) vs \(meanW) (sd \(sdW))")
        #expect(abs(sampleS - meanS) < 0.1 * sdS, "E[σ²] \(sampleS) vs \(meanS) (sd \(sdS))")
        #expect(abs(sampleSdW / sdW - 1) < 0.1, "sd[w] \(sampleSdW) vs \(sdW)")
        #expect(abs(sampleSdS / sdS - 1) < 0.1, "sd[σ²] \(sampleSdS) vs \(sdS)")
    }

    @Test("Laplace's last layer under the head is the means' layer and the noise level; Kronecker factors refuse it by name")
    func laplaceLastLayerTakesTheNoiseLevel() throws {
        let model = try Sequential(.mlp(inputShape: [3], hidden: [8], outputs: 1))
        let spec = ModelSpec(inputShape: [3], layers: model.spec.layers + [.homoscedasticNoise(outputs: 1)])
        let headed = try Sequential(spec)
        #expect(try LaplaceSubset.extent(of: .lastLayer, model: model).dimension == 9)
        #expect(try LaplaceSubset.extent(of: .lastLayer, model: headed).dimension == 10)
        #expect(throws: LaplaceError.self) { try Laplace(subset: .lastLayer, structure: .kronecker).validate(model: headed) }
        try Laplace(subset: .lastLayer, structure: .diagonal).validate(model: headed)
    }
}
