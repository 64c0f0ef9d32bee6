@testable import CredenceInference
import CredenceData
import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation
import Testing

/// Mean-field VI and STF-BNN as networks on two moons: accurate, uncertain away from the data,
/// and STF-BNN's posterior is the trained network with only its first layer random.
@Suite struct VariationalTwoMoonsTests {
    /// From scratch (the MAP's initialisation), 60 epochs of the ELBO with each estimator: the
    /// predictive classifies as well as the MAP (within 2 points) and is far more uncertain at
    /// radius 10 than the nearly certain ReLU MAP (> 20× its entropy, positive mutual information).
    @Test(arguments: [WeightNoiseEstimator.localReparameterization, .flipout])
    func fromScratchItIsAccurateAndUncertainAwayFromTheData(_ estimator: WeightNoiseEstimator) throws {
        let model = TwoMoonsHarness.model()
        let data = TwoMoonsHarness.data
        let map = try TwoMoonsHarness.trainMAP(model, epochs: 60)
        var rng = RandomGenerator(seed: 0)
        let vi = MeanFieldVI(datasetSize: data.train.count, estimator: estimator, learningRate: .constant(0.01),
                             initialization: .constant(standardDeviation: 1e-3))
        let (posterior, _) = try fitPosterior(vi, model: model, parameters: model.initialParameters(rng: &rng), task: .classification,
                                              data: data.train, epochs: 60, batchSize: 64, seed: 3)
        try TwoMoonsHarness.expectAccurateAndUncertainAwayFromTheData(posterior, map: map, model: model, samples: 30, label: "VI \(estimator)")
    }

    /// STF-BNN from the MAP: only layer 0's weights get a σ (MOPED: δ·|w| at the start); every
    /// other parameter is the MAP's to the bit; the posterior stores P + 96 floats (2×32 + 32).
    @Test func stfBNNKeepsEveryLayerButTheFirstFixed() throws {
        let model = TwoMoonsHarness.model()
        let data = TwoMoonsHarness.data
        let map = try TwoMoonsHarness.trainMAP(model, epochs: 60)
        let vi = MeanFieldVI(datasetSize: data.train.count, bayesianLayers: .first, learningRate: .constant(0.01),
                             initialization: .moped(delta: 0.1), fixPointWeights: true, method: "stf-bnn")
        let (posterior, _) = try fitPosterior(vi, model: model, parameters: map, task: .classification, data: data.train,
                                              epochs: 10, batchSize: 64, seed: 5)
        let firstLayer = model.layout.entries(ofLayer: 0).reduce(0) { $0 + $1.count }
        #expect(firstLayer == 96)
        #expect(posterior.standardDeviations.count == firstLayer)
        #expect(posterior.storedFloatCount == model.parameterCount + firstLayer)
        func changed(_ a: Tensor, _ b: Tensor, _ range: PartialRangeFrom<Int>) -> Int { zip(a.values[range], b.values[range]).filter { $0 != $1 }.count }
        #expect(changed(posterior.mean, map, firstLayer...) == 0, "the layers after the first are the MAP's")
        #expect(changed(posterior.mean, map, 0...) > 0, "the first layer's means were fitted")
        var rng = RandomGenerator(seed: 1)
        let draw = try posterior.sampleParameters(rng: &rng)
        #expect(changed(draw, map, firstLayer...) == 0)
        #expect(changed(draw, posterior.mean, 0...) == firstLayer, "every first-layer weight is drawn")
        let point = try PointPosterior(model: model, parameters: map, task: .classification)
        let stf = try accuracy(try posterior.predictive(data.test.inputs, samples: 30, rng: &rng), labels: data.test.labels)
        let mapAccuracy = try accuracy(try point.predictive(data.test.inputs, samples: 1, rng: &rng), labels: data.test.labels)
        #expect(stf >= mapAccuracy - 0.02, "STF-BNN \(stf) vs MAP \(mapAccuracy)")
    }

    /// Same seed, same posterior; the mean network is what `.eval` runs.
    @Test func itIsDeterministicAndEvalModeRunsTheMeans() throws {
        let model = TwoMoonsHarness.model()
        let data = TwoMoonsHarness.data
        func fit() throws -> MeanFieldPosterior {
            var rng = RandomGenerator(seed: 2)
            let vi = MeanFieldVI(datasetSize: data.train.count, estimator: .flipout, learningRate: .constant(0.01))
            return try fitPosterior(vi, model: model, parameters: model.initialParameters(rng: &rng), task: .classification,
                                    data: data.train, epochs: 2, batchSize: 64, seed: 7).posterior
        }
        let a = try fit(), b = try fit()
        #expect(a.mean == b.mean && a.standardDeviations == b.standardDeviations)
        let layout = try MeanFieldLayout(.all, model: model)
        let network = VariationalNetwork(base: model, meanField: layout, estimator: .flipout)
        let psi = try network.parameters(mean: a.mean, standardDeviations: a.standardDeviations)
        let (mean, sigma) = try network.split(psi)
        #expect(mean == a.mean && sigma == a.standardDeviations)
        #expect(try network.predict(data.test.inputs, parameters: psi) == model.predict(data.test.inputs, parameters: a.mean))
    }

    /// `.all` leaves a layer that is neither dense nor convolutional (batch normalization) a
    /// point weight; `.first` or `.last` naming one is refused with the layer named.
    @Test func layersWithoutGaussianWeightsStayPointWeightsOrAreRefusedByName() throws {
        let model = try Sequential(ModelSpec(inputShape: [4], layers: [
            .dense(inputs: 4, outputs: 8, bias: true), .batchNorm1d(features: 8), .activation(.relu), .dense(inputs: 8, outputs: 2, bias: true)]))
        #expect(try MeanFieldLayout(.all, model: model).layers == [0, 3])
        #expect(try MeanFieldLayout(.first, model: model).layers == [0])
        #expect(try MeanFieldLayout(.last, model: model).layers == [3])
        let normalizedFirst = try Sequential(ModelSpec(inputShape: [4], layers: [
            .batchNorm1d(features: 4), .dense(inputs: 4, outputs: 2, bias: true)]))
        #expect(try MeanFieldLayout(.all, model: normalizedFirst).layers == [1])
        do {
            _ = try MeanFieldLayout(.first, model: normalizedFirst)
            Issue.record("a batch-norm first layer was made Bayesian")
        } catch {
            #expect("\(error)".contains("layer 0 (batchNorm1d"), "\(error)")
        }
    }

    /// An archive with a negative σ is refused with the file's method named.
    @Test func archivesWithNegativeStandardDeviationsAreRefused() throws {
        let model = TwoMoonsHarness.model()
        let layout = try MeanFieldLayout(.all, model: model)
        var sigma = Tensor(shape: [layout.count], repeating: 0.1)
        sigma.withUnsafeMutableBufferPointer { $0[3] = -0.1 }
        let archive = PosteriorArchive(method: "vi", spec: model.spec, task: .classification,
                                       tensors: [("mean", Tensor.zeros([model.parameterCount])), ("standard_deviation", sigma)],
                                       settings: ["bayesianLayers": "all"])
        #expect(throws: InferenceError.self) { try MeanFieldPosterior(archive: archive) }
    }

    /// Over `.layerNoise` coordinates ψ = (μ, σ ⊙ ε), plain reparameterization runs the network
    /// at θ = μ + σ ⊙ ε whatever the pass's generator — what lets the worker shards of a step
    /// share one draw; over σ each pass draws its own.
    @Test func aSharedWeightDrawIsTheNetworkAtMuPlusSigmaEpsilon() throws {
        let model = TwoMoonsHarness.model()
        let layout = try MeanFieldLayout(.all, model: model)
        var rng = RandomGenerator(seed: 4)
        let mean = model.initialParameters(rng: &rng)
        let sigma = Tensor.randomUniform(shape: [layout.count], lower: 0.01, upper: 0.2, rng: &rng)
        let epsilon = Tensor.randomNormal(shape: [layout.count], rng: &rng)
        let network = VariationalNetwork(base: model, meanField: layout, estimator: .reparameterization)
        let x = try TwoMoonsHarness.data.test.inputs.rows(0..<16)
        let shared = network.with(.layerNoise)
        let drawn = try shared.parameters(mean: mean, standardDeviations: sigma * epsilon)
        let a = try shared.predict(x, parameters: drawn, mode: .mcSample, rng: RandomGenerator(seed: 1))
        let b = try shared.predict(x, parameters: drawn, mode: .mcSample, rng: RandomGenerator(seed: 2))
        var theta = mean
        theta.withUnsafeMutableBufferPointer { t in
            for block in layout.blocks { for (k, i) in zip(block.sigmaRange, block.entry.range) { t[i] += sigma.values[k] * epsilon.values[k] } }
        }
        let expected = try model.predict(x, parameters: theta)
        #expect(a == b)
        #expect(zip(a.values, expected.values).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) })
        let psi = try network.parameters(mean: mean, standardDeviations: sigma)
        let own = try network.predict(x, parameters: psi, mode: .mcSample, rng: RandomGenerator(seed: 1))
        #expect(own != a, "without a shared draw the pass draws its own")
    }

    /// VI's step runs the shards over ψ = (μ, layer noise) and applies the chain rule to σ
    /// afterwards (`MeanFieldVI.layerNoiseParameters`, `combined`): for every estimator that
    /// equals the tape's own gradient with respect to σ when the layer noise is formed on the
    /// tape from the same σ and ε (and the same per-example noise), for two shard parts.
    @Test(arguments: WeightNoiseEstimator.allCases)
    func theLayerNoiseGradientChainedToSigmaIsTheTapes(_ estimator: WeightNoiseEstimator) throws {
        let model = TwoMoonsHarness.model()
        let layout = try MeanFieldLayout(.all, model: model)
        var rng = RandomGenerator(seed: 9)
        let mean = model.initialParameters(rng: &rng)
        let sigma = Tensor.randomUniform(shape: [layout.count], lower: 0.05, upper: 0.3, rng: &rng)
        let network = VariationalNetwork(base: model, meanField: layout, estimator: estimator, coordinates: .layerNoise)
        let phi = try network.parameters(mean: mean, standardDeviations: sigma)   // ρ's values do not matter here
        var noiseRNG = RandomGenerator(seed: 10)
        let (psi, derivative) = MeanFieldVI.layerNoiseParameters(network, phi: phi, sigma: sigma, rng: &noiseRNG)
        let batches = try [0..<8, 8..<16].map { try TwoMoonsHarness.data.train.trainingBatch(Array($0)) }
        func loss(_ parameters: Variable, _ batch: TrainingBatch, seed: UInt64) throws -> Variable {
            var context = ForwardContext(mode: .train, rng: RandomGenerator(seed: seed))
            return try Objective.crossEntropy(labelSmoothing: 0).loss(model: network, parameters: parameters, batch: batch,
                                                                      context: &context).loss
        }
        var parts: [Tensor] = [], expected = Tensor.zeros([psi.count])
        for (k, batch) in batches.enumerated() {
            let tape = Tape()
            let p = tape.variable(psi)
            parts.append(tape.gradients(of: try loss(p, batch, seed: UInt64(k)))[p])
            // The same layer noise formed on the tape from σ.
            let sigmaTape = Tape()
            let mu = sigmaTape.variable(mean), s = sigmaTape.variable(sigma)
            let noise = estimator.drawsWeights ? try s * Variable(constant: derivative) : try s * s
            let grads = sigmaTape.gradients(of: try loss(try Variable.concatenate([mu, noise], axis: 0), batch, seed: UInt64(k)))
            expected = try expected + Tensor.concatenate([grads[mu], grads[s]], axis: 0)
        }
        let chained = MeanFieldVI.combined([parts], derivatives: [derivative], meanCount: network.meanCount)
        let worst = zip(chained.values, expected.values).map { abs($0 - $1) / max(1e-3, abs($1)) }.max() ?? 0
        #expect(worst < 1e-4, "\(estimator): chained gradient off by \(worst)")
    }
}
