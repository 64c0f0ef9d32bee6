@testable import CredenceInference
import CredenceData
import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation
import Testing

/// Students with batch normalization (a ResNet teacher's own architecture): they keep running
/// statistics of the inputs they learn on, start from the trained network's, and carry them
/// through checkpoints and posterior archives.
@Suite struct BatchNormStudentTests {
    /// A student that normalises its raw inputs first: after many lessons its first layer's
    /// running mean and variance are those of the perturbed training inputs — the data's mean,
    /// and its variance plus σ² of the lesson noise (two moons, σ = 0.3; measured within 0.03
    /// of the mean and 4 % of the variance).
    @Test func aStudentsRunningStatisticsAreThoseOfItsLessons() throws {
        let teacher = TwoMoonsHarness.model()
        let train = TwoMoonsHarness.data.train
        var rng = RandomGenerator(seed: 2)
        let theta = teacher.initialParameters(rng: &rng)
        let target = try LogPosterior(model: teacher, objective: .crossEntropy(labelSmoothing: 0), prior: GaussianPrior(precision: 1),
                                      datasetSize: train.count)
        let student = try Sequential(ModelSpec(inputShape: [2], layers: [
            .batchNorm1d(features: 2), .dense(inputs: 2, outputs: 16, bias: true), .activation(.relu), .dense(inputs: 16, outputs: 2, bias: true)]))
        let noise: Float = 0.3
        let distillation = PosteriorDistillation(chain: SGLD(target: target, stepSize: 0.01 / Double(train.count), burnInSteps: 0, thinning: 1),
                                                 plan: DistillationPlan(predictiveModel: student, start: .random, inputNoise: noise), method: "bdk")
        let (posterior, _) = try fitPosterior(distillation, model: teacher, parameters: theta, task: .classification, data: train,
                                              epochs: 20, batchSize: 64, seed: 3)
        let buffers = posterior.model.bufferValues
        let x = train.inputs.values
        for feature in 0..<2 {
            let column = stride(from: feature, to: x.count, by: 2).map { Double(x[$0]) }
            let mean = column.reduce(0, +) / Double(column.count)
            let variance = column.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(column.count - 1) + Double(noise * noise)
            let runningMean = Double(try #require(buffers["0.running_mean"]).values[feature])
            let runningVariance = Double(try #require(buffers["0.running_var"]).values[feature])
            #expect(abs(runningMean - mean) < 0.08, "feature \(feature): running mean \(runningMean), lessons' mean \(mean)")
            #expect(abs(runningVariance / variance - 1) < 0.12, "feature \(feature): running variance \(runningVariance), lessons' \(variance)")
        }
        #expect(buffers["0.num_batches_tracked"]?.values == [Float(posterior.lessons)])
    }

    /// A residual teacher's own architecture as students, started at the trained network: both
    /// students begin with its running statistics (the entropy student's one-output classifier
    /// aside), learn from there, survive a checkpoint bit for bit, and the distilled posterior's
    /// archive restores both students' statistics.
    @Test func residualStudentsStartFromTheTrainedStatisticsAndKeepThem() throws {
        let spec = try ModelSpec.resnet(inputShape: [1, 8, 8], blocksPerStage: 1, widths: [4, 4, 8], outputs: 3)
        var rng = RandomGenerator(seed: 4)
        var teacher = try spec.makeModel()
        let theta = teacher.initialParameters(rng: &rng)
        let x = Tensor.randomNormal(shape: [48, 1, 8, 8], rng: &rng)
        let data = try InMemoryDataset(name: "blobs", inputs: x, labels: (0..<48).map { Int32($0 % 3) }, classCount: 3)
        var context = ForwardContext(mode: .train)
        _ = try teacher(Variable(constant: x * 2 + 1), parameters: Variable(constant: theta), context: &context)
        teacher = try teacher.updatingBuffers(with: context.batchStatistics)   // statistics unlike a fresh network's

        let entropySpec = try DistillationSettings.entropySpec(spec)
        #expect(try entropySpec.makeModel().outputShape == [1])
        let target = try LogPosterior(model: teacher, objective: .crossEntropy(labelSmoothing: 0), prior: GaussianPrior(precision: 1),
                                      datasetSize: 48)
        let distillation = PosteriorDistillation(chain: SGLD(target: target, stepSize: 1e-4, burnInSteps: 0, thinning: 1),
                                                 plan: DistillationPlan(predictiveModel: try spec.makeModel(), start: .trained,
                                                                        entropyModel: try entropySpec.makeModel(), inputNoise: 0.1),
                                                 method: "gped")
        var setup = rng, again = rng   // a resumed run builds its initial state as the first did
        var state = try distillation.initialState(model: teacher, parameters: theta, task: .classification, rng: &setup)
        #expect(state.predictive.model.bufferValues == teacher.bufferValues)
        let entropyStart = try #require(state.entropy).model.bufferValues
        #expect(entropyStart == teacher.bufferValues, "the entropy student shares every batch norm with the teacher")

        let batch = try data.trainingBatch(Array(0..<16))
        for k in 0..<3 {
            var step = RandomGenerator(seed: UInt64(k))
            _ = try distillation.update(&state, batch: batch, rng: &step)
        }
        #expect(state.predictive.model.bufferValues["bn1.num_batches_tracked"]?.values == [Float(1 + 3)])
        #expect(state.predictive.model.bufferValues["bn1.running_mean"] != teacher.bufferValues["bn1.running_mean"])

        var file = SafeTensorsFile()
        try state.save(into: &file)
        var restored = try distillation.initialState(model: teacher, parameters: theta, task: .classification, rng: &again)
        try restored.restore(from: file, path: "checkpoint")
        #expect(restored.predictive.model.bufferValues == state.predictive.model.bufferValues)
        #expect(restored.entropy?.model.bufferValues == state.entropy?.model.bufferValues)
        var a = RandomGenerator(seed: 9), b = a
        _ = try distillation.update(&state, batch: batch, rng: &a)
        _ = try distillation.update(&restored, batch: batch, rng: &b)
        #expect(restored.predictive.parameters == state.predictive.parameters)
        #expect(restored.entropy?.model.bufferValues == state.entropy?.model.bufferValues)

        let posterior = try distillation.posterior(from: state)
        let archive = try posterior.archive()
        let reread = try DistilledPosterior(archive: archive)
        var r1 = RandomGenerator(seed: 0), r2 = r1
        let p = try posterior.predictive(x, samples: 1, rng: &r1), q = try reread.predictive(x, samples: 1, rng: &r2)
        #expect(p.meanProbabilities == q.meanProbabilities && p.expectedEntropy == q.expectedEntropy)
        let withoutEntropyStatistics = PosteriorArchive(method: archive.method, spec: archive.spec, task: archive.task,
                                                        tensors: archive.tensors.filter { !$0.name.hasPrefix("entropy.buffer.") },
                                                        settings: archive.settings)
        #expect(throws: InferenceError.self) { try DistilledPosterior(archive: withoutEntropyStatistics) }
    }

    /// GPED and BDK accept ResNet-20 with students of its own architecture.
    @Test func distillationsValidateOnResNet20() throws {
        var options = TrainingOptions()
        options.dataset = .shapes
        options.model = .resnet20
        for name in ["gped", "bdk"] { try MethodRegistry.make(name, recorded: [:]).validate(MethodContext(options: options)) }
    }
}
