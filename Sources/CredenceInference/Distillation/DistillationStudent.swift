import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation

/// A posterior expectation a student network can be distilled to output (Vadera et al. 2020,
/// generalized posterior expectation distillation). Each is learned with a loss whose minimiser
/// over the teacher's samples θ is the expectation itself (a Bregman divergence), so a student
/// trained on one sample at a time converges to E_θ[·] — no sample is ever stored.
public enum DistilledExpectation: String, CaseIterable, Sendable {
    /// The posterior predictive E_θ[p(y | x, θ)]: the student's softmax q, trained on the
    /// soft-label cross-entropy −Σ_y p(y | x, θₜ) log q(y | x) (Bayesian Dark Knowledge's loss).
    case predictive
    /// The expected entropy E_θ H[p(y | x, θ)] (aleatoric uncertainty): the student's single
    /// output z mapped to h = log C · σ(z) ∈ (0, log C), trained on the squared error
    /// (h − H[p(y | x, θₜ)])².
    case expectedEntropy = "expected-entropy"
}

/// The loss a student minimises on a batch whose `targets` are the teacher's values at the
/// batch's inputs: class probabilities [B, C] for the predictive, entropies [B, 1] for the
/// expected entropy (`DistilledExpectation`), as the mean over the batch.
public struct StudentObjective: TrainingObjective {
    public let expectation: DistilledExpectation
    /// C, the teacher's number of classes.
    public let classes: Int

    public init(expectation: DistilledExpectation, classes: Int) {
        self.expectation = expectation
        self.classes = classes
    }

    public var identity: String { "distil \(expectation.rawValue) classes=\(classes)" }
    public var isClassification: Bool { false }

    public func loss(model: any NetworkModel, parameters: Variable, batch: TrainingBatch,
                     context: inout ForwardContext) throws -> (loss: Variable, outputs: Tensor) {
        guard let targets = batch.targets else {
            throw InferenceError.invalidOption("a student's batch carries the teacher's targets; this one has none")
        }
        let output = try model(Variable(constant: batch.inputs), parameters: parameters, context: &context)
        let scale = -1 / Float(batch.count)
        switch expectation {
        case .predictive:
            let crossEntropy = try (Variable(constant: targets) * output.logSoftmax()).sum() * scale
            return (crossEntropy, output.value)
        case .expectedEntropy:
            let error = try Self.entropy(output, classes: classes) - Variable(constant: targets)
            return (try (error * error).sum() * -scale, output.value)
        }
    }

    /// h = log C · σ(z): the expected-entropy head's value on the tape.
    static func entropy(_ output: Variable, classes: Int) -> Variable {
        output.sigmoid() * Float(Foundation.log(Double(classes)))
    }

    /// h = log C · σ(z) for a column of outputs, in Double.
    static func entropy(_ outputs: Tensor, classes: Int) -> [Double] {
        let logC = Foundation.log(Double(classes))
        return outputs.values.map { logC / (1 + Foundation.exp(-Double($0))) }
    }
}

/// One student: a network, its parameters and its optimizer (Adam with coupled weight decay —
/// the student's Gaussian prior in Bayesian Dark Knowledge), learning one expectation. A
/// student with batch normalization normalises each lesson by its batch statistics and folds
/// them into its running ones, as training does — so the statistics it predicts with are those
/// of the inputs it learned on (the perturbed training inputs, with `inputNoise`).
public struct DistillationStudent {
    public let expectation: DistilledExpectation
    /// The network, holding its running statistics.
    public private(set) var model: any NetworkModel
    public var parameters: Tensor
    /// Holds the model, the objective and the optimizer (with its state).
    var trainer: Trainer

    public init(expectation: DistilledExpectation, model: any NetworkModel, parameters: Tensor, classes: Int,
                learningRate: Float, weightDecay: Float) throws {
        guard parameters.count == model.parameterCount else {
            throw ModelError.parameterCount(got: parameters.count, expected: model.parameterCount)
        }
        let outputs = expectation == .predictive ? classes : 1
        guard model.outputShape == [outputs] else {
            throw InferenceError.incompatibleModel("a \(expectation.rawValue) student must output \(outputs) value(s) per example; it outputs \(model.outputShape)")
        }
        self.expectation = expectation
        self.model = model
        self.parameters = parameters
        trainer = Trainer(model: model,
                          optimizer: .adam(learningRate: .constant(learningRate), weightDecay: weightDecay, parameterCount: model.parameterCount),
                          configuration: TrainingConfiguration(epochs: 1, objective: StudentObjective(expectation: expectation, classes: classes)))
    }

    /// One optimizer step on the teacher's `targets` at `inputs`, the batch statistics folded
    /// into the running ones; returns the batch's loss.
    mutating func learn(inputs: Tensor, targets: Tensor, rng: inout RandomGenerator) throws -> Double {
        let step = try trainer.shardedStep(parameters: parameters, batch: TrainingBatch(inputs: inputs, targets: targets), rng: &rng)
        try EpochLoop.requireFinite(step.loss)
        trainer.update(&parameters, gradientParts: step.gradientParts)
        if !step.batchStatistics.isEmpty { setModel(try model.updatingBuffers(with: step.batchStatistics)) }
        return step.loss
    }

    private mutating func setModel(_ newModel: any NetworkModel) {
        model = newModel
        trainer.model = newModel
    }

    /// The parameters, the running statistics and the optimizer's state, under `prefix`.
    func save(into file: inout SafeTensorsFile, prefix: String) throws {
        try file.embed(prefix: prefix) { own in
            own["parameters"] = parameters
            own.storeBuffers(of: model)
            try trainer.optimizer.exportState().store(in: &own, path: "the \(expectation.rawValue) student's state")
        }
    }

    mutating func restore(from file: SafeTensorsFile, prefix: String, path: String) throws {
        let own = file.part(prefix: prefix)
        parameters = try own.required("parameters", shape: [model.parameterCount], path: path)
        if !model.buffers.isEmpty { setModel(try own.restoringBuffers(of: model, path: path)) }
        try trainer.optimizer.restore(from: own, path: path)
    }
}

extension SafeTensorsFile {
    /// Writes what `body` puts in a file of its own into this one, every tensor name and metadata
    /// key under `prefix` — so two optimizers' states (whose names are fixed) share a checkpoint.
    mutating func embed(prefix: String, _ body: (inout SafeTensorsFile) throws -> Void) rethrows {
        var own = SafeTensorsFile()
        try body(&own)
        for name in own.names { self[prefix + name] = own[name] }
        for (key, value) in own.metadata { metadata[prefix + key] = value }
    }

    /// The tensors and metadata stored under `prefix` (`embed`), as a file of their own.
    func part(prefix: String) -> SafeTensorsFile {
        var own = SafeTensorsFile()
        for name in names where name.hasPrefix(prefix) { own[String(name.dropFirst(prefix.count))] = self[name] }
        for (key, value) in metadata where key.hasPrefix(prefix) { own.metadata[String(key.dropFirst(prefix.count))] = value }
        return own
    }
}

/// What the teacher says at a batch of inputs, from one sample θₜ: its class probabilities
/// [B, C] and their entropies [B, 1], softmax and entropy computed in Double.
struct TeacherTargets {
    var probabilities: Tensor
    var entropies: Tensor

    init(logits: Tensor) {
        let b = logits.shape[0], c = logits.shape[1]
        var p = [Float](repeating: 0, count: b * c), h = [Float](repeating: 0, count: b)
        var e = [Double](repeating: 0, count: c)
        logits.withUnsafeBufferPointer { z in
            for row in 0..<b {
                let base = row * c
                var m = -Double.infinity
                for j in 0..<c { m = Swift.max(m, Double(z[base + j])) }
                var total = 0.0
                for j in 0..<c { e[j] = Foundation.exp(Double(z[base + j]) - m); total += e[j] }
                var entropy = 0.0
                for j in 0..<c {
                    let q = e[j] / total
                    p[base + j] = Float(q)
                    if q > 0 { entropy -= q * Foundation.log(q) }
                }
                h[row] = Float(entropy)
            }
        }
        probabilities = Tensor(shape: [b, c], values: p)
        entropies = Tensor(shape: [b, 1], values: h)
    }
}
