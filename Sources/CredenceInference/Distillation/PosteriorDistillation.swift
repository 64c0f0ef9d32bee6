import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation

/// The students a distillation trains and how: the predictive student's network, the optional
/// expected-entropy student, where they start, their Adam learning rate and weight decay, and
/// the Gaussian perturbation of the inputs they learn on.
public struct DistillationPlan {
    /// Where the students' parameters start.
    public enum Start: String, CaseIterable, Sendable {
        /// At the trained network the chain starts from: the predictive student wholly, the
        /// expected-entropy student in every tensor of the same name and shape (all but its
        /// one-output last layer, freshly initialised) — so both begin with the trained features.
        /// The students must have the teacher's architecture.
        case trained
        /// At a fresh initialisation.
        case random
    }

    public var predictiveModel: any NetworkModel
    public var start: Start
    /// The expected-entropy student (one output); nil: the predictive student only.
    public var entropyModel: (any NetworkModel)?
    public var learningRate: Float
    public var weightDecay: Float
    /// σ of the Gaussian noise added to each batch's inputs before teacher and students see
    /// them (Bayesian Dark Knowledge's D′ = perturbed training inputs; 0 = the batch as it is).
    public var inputNoise: Float

    public init(predictiveModel: any NetworkModel, start: Start = .random, entropyModel: (any NetworkModel)? = nil,
                learningRate: Float = 1e-3, weightDecay: Float = 0, inputNoise: Float = 0) {
        self.predictiveModel = predictiveModel
        self.start = start
        self.entropyModel = entropyModel
        self.learningRate = learningRate
        self.weightDecay = weightDecay
        self.inputNoise = inputNoise
    }
}

/// Online posterior-expectation distillation (Korattikara et al. 2015's Bayesian Dark Knowledge;
/// Vadera et al. 2020's generalisation): an SG-MCMC chain — the teacher — runs exactly as its
/// sampler would (`SGMCMC.advance`: same steps, same randomness), and at every iterate its
/// schedule would keep (after burn-in, every `thinning`-th step; a cyclical schedule's sampling
/// stages) the students take one optimizer step towards what that single sample θₜ says at the
/// batch's inputs, perturbed by Gaussian noise: its class probabilities (the predictive student)
/// and their entropy (the expected-entropy student). Each student's loss is minimised by the
/// expectation over θ, so the students converge to E_θ[p(y|x,θ)] and E_θ H[p(y|x,θ)] without
/// a sample being stored; the result is a `DistilledPosterior`.
///
/// The students draw from their own counter-based streams (one per lesson), never from the
/// chain's, so the teacher's iterates equal its sampler's bit for bit. Resumable: the chain's
/// state, the students' parameters and optimizer states, and the lesson count are saved.
///
/// ```swift
/// let teacher = SGLD(target: target, stepSize: 0.01 / n, burnInSteps: 500, thinning: 1)
/// let plan = DistillationPlan(predictiveModel: student, entropyModel: entropyStudent, inputNoise: 0.05)
/// let (posterior, _) = try fitPosterior(PosteriorDistillation(chain: teacher, plan: plan, method: "gped"),
///                                       model: model, parameters: map, task: .classification,
///                                       data: train, epochs: 10, batchSize: 128, seed: 1)
/// ```
public struct PosteriorDistillation<Dynamics: SGMCMCDynamics>: InferenceMethod {
    public var chain: SGMCMC<Dynamics>
    public var plan: DistillationPlan
    /// The registered method whose posterior this is ("gped", "bdk").
    public var method: String

    public init(chain: SGMCMC<Dynamics>, plan: DistillationPlan, method: String) {
        self.chain = chain
        self.plan = plan
        self.method = method
    }

    public struct State {
        public var chain: SGMCMC<Dynamics>.State
        public var predictive: DistillationStudent
        public var entropy: DistillationStudent?
        /// Seeds the lessons' streams.
        public let studentSeed: UInt64
        /// Student steps taken (teacher samples learned from).
        public var lessons = 0
    }

    public func validate(model: any NetworkModel) throws {
        try chain.validate(model: model)
        guard plan.predictiveModel.inputShape == model.inputShape else {
            throw InferenceError.incompatibleModel("the student takes inputs \(plan.predictiveModel.inputShape); the teacher \(model.inputShape)")
        }
        if plan.start == .trained && plan.predictiveModel.spec != model.spec {
            throw InferenceError.invalidOption("a student started at the trained network needs the teacher's architecture; start it at random or drop studentWidth/studentDepth")
        }
    }

    public func initialState(model: any NetworkModel, parameters: Tensor, task: Predictive.Task,
                             rng: inout RandomGenerator) throws -> State {
        guard task == .classification, model.outputShape.count == 1 else {
            throw InferenceError.incompatibleModel("posterior-expectation distillation distils class probabilities: it needs a classifier, not a \(task.rawValue) model")
        }
        let classes = model.outputShape[0]
        let trained = plan.start == .trained
        let predictiveModel = trained ? try Self.withMatchingBuffers(plan.predictiveModel, from: model) : plan.predictiveModel
        let predictive = try DistillationStudent(expectation: .predictive, model: predictiveModel,
                                                 parameters: trained ? parameters : predictiveModel.initialParameters(rng: &rng),
                                                 classes: classes, learningRate: plan.learningRate, weightDecay: plan.weightDecay)
        let entropy = try plan.entropyModel.map { student in
            var start = student.initialParameters(rng: &rng)
            if trained { Self.copyMatching(from: parameters, of: model.layout, into: &start, of: student.layout) }
            return try DistillationStudent(expectation: .expectedEntropy, model: trained ? try Self.withMatchingBuffers(student, from: model) : student,
                                           parameters: start, classes: classes, learningRate: plan.learningRate, weightDecay: plan.weightDecay)
        }
        return State(chain: try chain.initialState(model: model, parameters: parameters, task: task, rng: &rng),
                     predictive: predictive, entropy: entropy, studentSeed: rng.next())
    }

    /// Copies every tensor of `source` (laid out as `sourceLayout`) into the tensor of the same
    /// name and shape in `target`.
    static func copyMatching(from source: Tensor, of sourceLayout: ParameterLayout, into target: inout Tensor, of targetLayout: ParameterLayout) {
        source.withUnsafeBufferPointer { s in
            target.withUnsafeMutableBufferPointer { t in
                for entry in targetLayout.entries {
                    guard let match = sourceLayout.entry(named: entry.name), match.shape == entry.shape else { continue }
                    for i in 0..<entry.count { t[entry.offset + i] = s[match.offset + i] }
                }
            }
        }
    }

    /// `student` with every buffer of `teacher` of the same name and shape — a trained start's
    /// running statistics go with its weights.
    static func withMatchingBuffers(_ student: any NetworkModel, from teacher: any NetworkModel) throws -> any NetworkModel {
        guard !student.buffers.isEmpty else { return student }
        let source = teacher.bufferValues
        var values = student.bufferValues
        for (name, value) in values { if let match = source[name], match.shape == value.shape { values[name] = match } }
        return try student.replacingBuffers(values)
    }

    /// The teacher's step; then, when its schedule keeps the iterate, the students' lesson.
    public func update(_ state: inout State, batch: TrainingBatch, rng: inout RandomGenerator) throws -> StepReport {
        let (report, keeps) = try chain.advance(&state.chain, batch: batch, rng: &rng)
        if keeps { try teach(&state, inputs: batch.inputs) }
        return report
    }

    /// One lesson: perturb the inputs, ask the teacher's current sample, step each student.
    func teach(_ state: inout State, inputs: Tensor) throws {
        var rng = RandomGenerator.counterBased(seed: state.studentSeed, stream: 0, counter: state.lessons)
        var x = inputs
        if plan.inputNoise > 0 {
            let sigma = plan.inputNoise
            x.withUnsafeMutableBufferPointer { v in
                for i in v.indices { v[i] += sigma * rng.normalFloat() }
            }
        }
        let perWorker = (x.shape[0] + Parallel.workerCount - 1) / Parallel.workerCount
        let teacher = TeacherTargets(logits: try state.chain.model.predictBatched(x, parameters: state.chain.parameters,
                                                                                  batchSize: Swift.max(perWorker, 1)))
        _ = try state.predictive.learn(inputs: x, targets: teacher.probabilities, rng: &rng)
        if var entropy = state.entropy {
            _ = try entropy.learn(inputs: x, targets: teacher.entropies, rng: &rng)
            state.entropy = entropy
        }
        state.lessons += 1
    }

    public func posterior(from state: State) throws -> DistilledPosterior {
        guard state.lessons > 0 else {
            throw InferenceError.invalidOption("the students learned from no teacher sample in \(state.chain.steps) steps (\(chain.schedule)); lengthen the chain or lower its burn-in or thinning")
        }
        var posterior = try DistilledPosterior(method: method, teacher: chain.method, predictive: state.predictive.model,
                                               parameters: state.predictive.parameters,
                                               entropyStudent: state.entropy.map { ($0.model, $0.parameters) }, lessons: state.lessons)
        posterior.chainEnd = state.chain.parameters
        return posterior
    }
}

extension PosteriorDistillation.State: PersistentState {
    /// The chain's state, the students' parameters and optimizer states, and the lesson count.
    public func save(into file: inout SafeTensorsFile) throws {
        try chain.save(into: &file)
        try predictive.save(into: &file, prefix: "student.predictive.")
        try entropy?.save(into: &file, prefix: "student.entropy.")
        file.metadata["distillation.lessons"] = String(lessons)
    }

    public mutating func restore(from file: SafeTensorsFile, path: String) throws {
        try chain.restore(from: file, path: path)
        try predictive.restore(from: file, prefix: "student.predictive.", path: path)
        try entropy?.restore(from: file, prefix: "student.entropy.", path: path)
        lessons = try file.requiredInteger("distillation.lessons", path: path)
    }
}
