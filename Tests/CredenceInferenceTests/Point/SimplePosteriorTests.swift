import CredenceData
import CredenceInference
import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation
import Testing

/// MAP, MC dropout, deep ensembles and temperature scaling on two moons.
@Suite struct SimplePosteriorTests {
    @Test func mapLearnsTwoMoonsAndIsDeterministic() throws {
        let model = TwoMoonsHarness.model()
        let theta = try TwoMoonsHarness.trainMAP(model)
        let posterior = try PointPosterior(model: model, parameters: theta, task: .classification)
        var rng = RandomGenerator(seed: 0)
        let p = try posterior.predictive(TwoMoonsHarness.data.test.inputs, samples: 10, rng: &rng)
        #expect(p.sampleCount == 1)
        #expect(try accuracy(p, labels: TwoMoonsHarness.data.test.labels) > 0.97)
        #expect(theta == (try TwoMoonsHarness.trainMAP(model)), "same seed, same parameters")
    }

    @Test func everyNonMAPMethodIsMoreUncertainFarFromTheData() throws {
        let far = TwoMoonsHarness.farPoints()
        var rng = RandomGenerator(seed: 3)
        let plain = TwoMoonsHarness.model()
        let mapEntropy = TwoMoonsHarness.meanEntropy(try PointPosterior(
            model: plain, parameters: try TwoMoonsHarness.trainMAP(plain), task: .classification).predictive(far, samples: 1, rng: &rng))

        let dropoutModel = TwoMoonsHarness.model(dropout: 0.3)
        let mc = try MCDropoutPosterior(model: dropoutModel, parameters: try TwoMoonsHarness.trainMAP(dropoutModel),
                                        task: .classification)
        let mcEntropy = TwoMoonsHarness.meanEntropy(try mc.predictive(far, samples: 64, rng: &rng))

        let members = try (0..<5).map { try TwoMoonsHarness.trainMAP(plain, seed: UInt64(10 + $0)) }
        let ensemble = try EnsemblePosterior(model: plain, members: members, task: .classification)
        let ensemblePredictive = try ensemble.predictive(far, samples: 1, rng: &rng)
        #expect(ensemblePredictive.sampleCount == 5)
        let ensembleEntropy = TwoMoonsHarness.meanEntropy(ensemblePredictive)

        #expect(mcEntropy > mapEntropy, "MC dropout \(mcEntropy) vs MAP \(mapEntropy)")
        #expect(ensembleEntropy > mapEntropy, "ensemble \(ensembleEntropy) vs MAP \(mapEntropy)")
        #expect(ensemblePredictive.mutualInformation.reduce(0, +) > 0, "members disagree far away")
    }

    @Test func mcDropoutNeedsDropoutLayers() throws {
        let model = TwoMoonsHarness.model()
        #expect(throws: InferenceError.self) {
            try MCDropoutPosterior(model: model, parameters: Tensor(shape: [model.parameterCount], repeating: 0), task: .classification)
        }
        #expect(throws: InferenceError.self) { try MAPTraining(monteCarloDropout: true).validate(model: model) }
    }

    @Test func temperatureScalingRecoversAnInflatedTemperature() throws {
        // Logistic regression on two overlapping Gaussian classes is well calibrated; scaling
        // its weights by 3 makes it 3× too confident, and the fitted temperature should be ≈ 3.
        var rng = RandomGenerator(seed: 4)
        func draw(_ n: Int) throws -> InMemoryDataset {
            var x: [Float] = [], y: [Int32] = []
            for i in 0..<n {
                let label = Int32(i % 2), centre: Float = label == 0 ? -1 : 1
                x += [centre + rng.normalFloat(), centre + rng.normalFloat()]
                y.append(label)
            }
            return try InMemoryDataset(name: "gauss", inputs: Tensor(shape: [n, 2], values: x), labels: y, classCount: 2)
        }
        let train = try draw(4000), held = try draw(4000)
        let model = try Sequential(ModelSpec(inputShape: [2], layers: [.dense(inputs: 2, outputs: 2, bias: true)]))
        let fitMAP = try fitPosterior(MAPTraining(learningRate: .constant(0.05)), model: model,
                                      parameters: model.initialParameters(rng: &rng), task: .classification,
                                      data: train, epochs: 10, batchSize: 200, seed: 0)
        var theta = (fitMAP.posterior.base as! PointPosterior).parameters
        theta.scaleInPlace(3)
        let base = try PointPosterior(model: model, parameters: theta, task: .classification)
        let (scaled, fit) = try TemperatureScaledPosterior.fit(base, inputs: held.inputs, labels: held.labels, samples: 1, rng: &rng)
        // 4,000 held-out points: the fitted T lands within ~10 % of 3 (empirically ±5 %).
        #expect(abs(fit.temperature - 3) < 0.3, "T = \(fit.temperature)")
        let before = try negativeLogLikelihood(try base.predictive(train.inputs, samples: 1, rng: &rng), labels: train.labels)
        let after = try negativeLogLikelihood(try scaled.predictive(train.inputs, samples: 1, rng: &rng), labels: train.labels)
        #expect(after < before)
        // Tempering the log-probabilities of a point estimate is exactly softmax(z / T).
        let logits = try model.predictBatched(train.inputs, parameters: theta)
        let direct = try Predictive(logits: logits, temperature: fit.temperature)
        let viaPosterior = try scaled.predictive(train.inputs, samples: 1, rng: &rng)
        #expect(zip(direct.meanProbabilities, viaPosterior.meanProbabilities).allSatisfy { abs($0 - $1) < 1e-5 })
    }

    @Test func archivesRoundTrip() throws {
        let model = TwoMoonsHarness.model(dropout: 0.2)
        var rng = RandomGenerator(seed: 1)
        let a = model.initialParameters(rng: &rng), b = model.initialParameters(rng: &rng)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("posteriors-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let x = TwoMoonsHarness.data.test.inputs
        let posteriors: [any Posterior] = [
            try PointPosterior(model: model, parameters: a, task: .classification),
            try MCDropoutPosterior(model: model, parameters: a, task: .classification),
            try EnsemblePosterior(model: model, members: [a, b], task: .classification),
            try TemperatureScaledPosterior(base: try PointPosterior(model: model, parameters: b, task: .classification), temperature: 1.7),
        ]
        for (i, posterior) in posteriors.enumerated() {
            let path = dir.appendingPathComponent("p\(i).safetensors").path
            try posterior.archive().save(to: path)
            let loaded = try loadPosterior(from: path)
            #expect(loaded.method == posterior.method)
            var r1 = RandomGenerator(seed: 9), r2 = RandomGenerator(seed: 9)
            let p1 = try posterior.predictive(x, samples: 4, rng: &r1), p2 = try loaded.predictive(x, samples: 4, rng: &r2)
            #expect(p1.meanProbabilities == p2.meanProbabilities, "\(posterior.method) round trip")
        }
        // A plain training checkpoint reads as MAP.
        let path = dir.appendingPathComponent("plain.safetensors").path
        try Checkpoint(spec: model.spec, parameters: a).save(to: path)
        #expect(try loadPosterior(from: path).method == "map")
        // Garbage is a typed error naming the file.
        let bad = dir.appendingPathComponent("bad.safetensors").path
        try Data("nope".utf8).write(to: URL(fileURLWithPath: bad))
        #expect(throws: (any Error).self) { try loadPosterior(from: bad) }
    }
}
