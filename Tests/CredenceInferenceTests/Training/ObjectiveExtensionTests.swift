import CredenceData
@testable import CredenceInference
import CredenceNN
import CredenceTensor
import Foundation
import Testing

/// FGSM adversarial training (Goodfellow et al. 2015), written outside CredenceNN as the
/// robustness module will write its objectives: it attacks the batch's inputs on a tape of
/// its own (∇ₓ at fixed θ), then returns the loss on the perturbed inputs on the trainer's tape.
struct FGSMTrainingObjective: TrainingObjective {
    var epsilon: Float
    var identity: String { "fgsm-at eps=\(epsilon)" }
    var isClassification: Bool { true }

    func loss(model: any NetworkModel, parameters: Variable, batch: TrainingBatch,
              context: inout ForwardContext) throws -> (loss: Variable, outputs: Tensor) {
        let attack = Tape()
        let x = attack.variable(batch.inputs)
        var attackContext = context
        let clean = try model(x, parameters: Variable(constant: parameters.value), context: &attackContext)
        let gradient = attack.gradients(of: try Loss.softmaxCrossEntropy(logits: clean, labels: batch.labels))[x]
        let perturbed = Tensor(shape: batch.inputs.shape, values: zip(batch.inputs.values, gradient.values).map { v, g in
            v + epsilon * (g > 0 ? 1 : g < 0 ? -1 : 0)
        })
        let output = try model(Variable(constant: perturbed), parameters: parameters, context: &context)
        return (try Loss.softmaxCrossEntropy(logits: output, labels: batch.labels), clean.value)
    }
}

/// A trained method's loss can come from another module: the objective above trains
/// through `Trainer`, `MAPTraining` and `train(objective:)`.
@Suite struct ObjectiveExtensionTests {
    /// Two logits of a linear model on 3 inputs: the logit difference is d = Δw·x + Δb.
    static let model = try! Sequential(ModelSpec(inputShape: [3], layers: [.dense(inputs: 3, outputs: 2, bias: true)]))
    static let batch: TrainingBatch = {
        var rng = RandomGenerator(seed: 4)
        return TrainingBatch(inputs: Tensor.randomNormal(shape: [16, 3], rng: &rng), labels: (0..<16).map { Int32($0 % 2) })
    }()

    func objectiveLoss(_ objective: some TrainingObjective, _ theta: Tensor) throws -> (Double, Tensor) {
        let tape = Tape()
        let parameters = tape.variable(theta)
        var context = ForwardContext(mode: .train, rng: RandomGenerator(seed: 0))
        let (loss, _) = try objective.loss(model: Self.model, parameters: parameters, batch: Self.batch, context: &context)
        return (Double(loss.value.scalar), tape.gradients(of: loss)[parameters])
    }

    /// For a linear model FGSM is the exact worst case in the L∞ ball: d moves by ε‖Δw‖₁
    /// against the label, so the loss is the mean of softplus(−(±d − ε‖Δw‖₁)).
    @Test func onALinearModelTheLossIsTheAnalyticWorstCase() throws {
        var rng = RandomGenerator(seed: 1)
        let theta = Self.model.initialParameters(rng: &rng)
        let w = theta.values  // "0.weight" [2, 3] then "0.bias" [2]
        let dw = (0..<3).map { Double(w[3 + $0] - w[$0]) }, db = Double(w[7] - w[6])
        let epsilon: Float = 0.3
        var expected = 0.0
        for e in 0..<16 {
            let x = (0..<3).map { Double(Self.batch.inputs[e, $0]) }
            let d = zip(dw, x).map { $0 * $1 }.reduce(db, +)
            let signed = Self.batch.labels[e] == 1 ? d : -d
            let worst = signed - Double(epsilon) * dw.map(abs).reduce(0, +)
            expected += Foundation.log1p(Foundation.exp(-worst)) / 16
        }
        let (loss, _) = try objectiveLoss(FGSMTrainingObjective(epsilon: epsilon), theta)
        #expect(abs(loss - expected) < 1e-5, "\(loss) vs \(expected)")
    }

    /// ∇θ through the objective: the perturbation's sign is locally constant in θ, so the
    /// gradient matches central differences of the objective itself.
    @Test func itsParameterGradientMatchesFiniteDifferences() throws {
        var rng = RandomGenerator(seed: 2)
        let theta = Self.model.initialParameters(rng: &rng)
        let objective = FGSMTrainingObjective(epsilon: 0.2)
        let (_, gradient) = try objectiveLoss(objective, theta)
        let h: Float = 1e-3
        for i in 0..<theta.count {
            var plus = theta.values, minus = theta.values
            plus[i] += h; minus[i] -= h
            let fd = (try objectiveLoss(objective, Tensor(plus)).0 - objectiveLoss(objective, Tensor(minus)).0) / Double(2 * h)
            #expect(abs(fd - Double(gradient.values[i])) < 2e-3, "parameter \(i): \(gradient.values[i]) vs \(fd)")
        }
    }

    /// ε = 0 is plain cross-entropy: training with the outside objective is bit for bit the
    /// built-in one, so the plumbing adds nothing.
    @Test func atEpsilonZeroItTrainsExactlyAsTheBuiltInLoss() throws {
        let model = TwoMoonsHarness.model(dropout: 0.1)
        var rng = RandomGenerator(seed: 3)
        let start = model.initialParameters(rng: &rng)
        func fit(_ objective: (any TrainingObjective)?) throws -> [UInt32] {
            var method = MAPTraining(learningRate: .constant(0.01))
            method.objective = objective
            let fit = try fitPosterior(method, model: model, parameters: start, task: .classification,
                                       data: TwoMoonsHarness.data.train, epochs: 2, batchSize: 64, seed: 9)
            return (fit.posterior.base as! PointPosterior).parameters.values.map(\.bitPattern)
        }
        #expect(try fit(FGSMTrainingObjective(epsilon: 0)) == fit(nil))
        #expect(try fit(FGSMTrainingObjective(epsilon: 0.1)) != fit(nil))
    }

    /// `train(objective:)` records the objective in the checkpoint and resumes only under it.
    @Test func aCheckpointRecordsItsObjectiveAndResumesOnlyUnderIt() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("credence-objective-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("fgsm.safetensors").path
        var options = TrainingOptions()
        options.dataset = .twoMoons
        options.epochs = 2
        let objective = FGSMTrainingObjective(epsilon: 0.05)
        _ = try train(options, checkpointPath: path, objective: objective)
        #expect(try Checkpoint.load(from: path).metadata["credence.objective"] == "fgsm-at eps=0.05")
        options.epochs = 3
        #expect(throws: ResumeError.self) { try train(options, checkpointPath: path, resume: true) }
        #expect(throws: ResumeError.self) {
            try train(options, checkpointPath: path, resume: true, objective: FGSMTrainingObjective(epsilon: 0.1))
        }
        let resumed = try train(options, checkpointPath: path, resume: true, objective: objective)
        #expect(resumed.resumedFromEpoch == 2 && resumed.lossHistory.count == 3)
    }
}
