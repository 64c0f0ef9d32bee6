import CredenceData
import CredenceNN
import CredenceTensor
import Foundation

/// Generalized posterior expectation distillation as the registry lists it (Vadera et al.
/// 2020): any registered SG-MCMC method is the teacher (`teacher=sgld|psgld|sghmc|csgld|csghmc`,
/// with its options in the same entry), run exactly as that method runs its chain — same seed,
/// same iterates — and students learn online from the iterates its schedule keeps: the posterior
/// predictive and, by default, the expected entropy, so the distilled model also gives mutual
/// information. Nothing is stored but the students. The student's architecture is the
/// teacher's unless `studentDepth`/`studentWidth` ask for an MLP (the architecture sweep).
public struct GPEDMethod: RegisteredMethod {
    public static let name = "gped"
    public static let family = MethodFamily.distillation
    public static let phase = MethodPhase.trained
    public static let summary = "generalized posterior expectation distillation: students learn the predictive and expected entropy online from any SG-MCMC teacher (Vadera et al. 2020)"
    public static var options: [MethodOption] {
        [MethodOption("teacher", .choice(teacherChoices), default: SGLDMethod.name,
                      help: "the SG-MCMC method whose chain teaches; its settings go in the same entry"),
         MethodOption.choice("expectations", DistilledExpectations.self, default: .predictiveAndEntropy,
                             help: "what is distilled: the predictive only, or the expected entropy too (a second student)")]
            + DistillationSettings.studentOptions
    }
    /// The registered SG-MCMC methods.
    static var teacherChoices: [String] {
        MethodRegistry.methods.filter { samplerType($0) != nil }.map { $0.name }
    }
    public static let quickSettings = ["sampleEpochs": "2"]

    public static func options(given values: [String: String]) -> [MethodOption] { optionsWithTeacher(options, given: values) }

    public let teacher: any SGMCMCSamplerMethod
    public let distillation: DistillationSettings

    public init(settings: MethodSettings) throws {
        teacher = try teacherMethod(settings)
        distillation = try DistillationSettings(settings: settings,
                                                entropy: try settings.choice("expectations", as: DistilledExpectations.self) == .predictiveAndEntropy)
    }

    public func validate(_ context: MethodContext) throws {
        try teacher.validate(context)
        try distillation.validate(Self.name, teacher: teacher, context)
    }

    public func run(_ job: MethodJob) throws -> MethodOutcome { try distillation.run(job, teacher: teacher, name: Self.name) }

    public static func restore(_ archive: PosteriorArchive) throws -> any Posterior { try DistilledPosterior(archive: archive) }
}

/// `type` as an SG-MCMC method, if it is one.
func samplerType(_ type: any RegisteredMethod.Type) -> (any SGMCMCSamplerMethod.Type)? {
    type as? any SGMCMCSamplerMethod.Type
}

/// The teacher a distillation's settings name (`teacher=`, default SGLD), built from the same settings.
func teacherMethod(_ settings: MethodSettings) throws -> any SGMCMCSamplerMethod {
    let name = settings.text("teacher") ?? SGLDMethod.name
    guard let type = samplerType(try MethodRegistry.lookup(name)) else {
        throw InferenceError.invalidOption("the teacher must be an SG-MCMC method (\(GPEDMethod.teacherChoices.joined(separator: ", "))), not \(name)")
    }
    return try type.init(settings: settings)
}

/// The teacher option of `gped` and `apd`, and the teacher's own options (thinning 1) after it.
func optionsWithTeacher(_ own: [MethodOption], given values: [String: String]) -> [MethodOption] {
    guard let teacher = MethodRegistry.method(named: values["teacher"] ?? SGLDMethod.name) else { return own }
    return own + DistillationSettings.teacherOptions(teacher.options(given: values)).filter { o in !own.contains { $0.key == o.key } }
}

/// What a distillation distils (`gped expectations=`).
public enum DistilledExpectations: String, CaseIterable, Sendable {
    /// The posterior predictive (one student).
    case predictive
    /// The posterior predictive and the expected entropy (two students).
    case predictiveAndEntropy = "predictive+entropy"
}

/// Bayesian Dark Knowledge as the registry lists it (Korattikara et al. 2015): an SGLD teacher
/// and one student trained online, at every kept iterate, to match the teacher's current
/// sample's predictive on Gaussian-perturbed training inputs, with weight decay as the student's
/// prior — GPED's predictive case with its original teacher.
public struct BDKMethod: RegisteredMethod {
    public static let name = "bdk"
    public static let family = MethodFamily.distillation
    public static let phase = MethodPhase.trained
    public static let summary = "Bayesian Dark Knowledge: a student learns the predictive online from an SGLD teacher on perturbed inputs (Korattikara et al. 2015)"
    public static let options = DistillationSettings.teacherOptions(SGLDMethod.options) + DistillationSettings.studentOptions
    public static let quickSettings = ["sampleEpochs": "2"]

    public let teacher: SGLDMethod
    public let distillation: DistillationSettings

    public init(settings: MethodSettings) throws {
        teacher = try SGLDMethod(settings: settings)
        distillation = try DistillationSettings(settings: settings, entropy: false)
    }

    public func validate(_ context: MethodContext) throws {
        try teacher.validate(context)
        try distillation.validate(Self.name, teacher: teacher, context)
    }

    public func run(_ job: MethodJob) throws -> MethodOutcome { try distillation.run(job, teacher: teacher, name: Self.name) }

    public static func restore(_ archive: PosteriorArchive) throws -> any Posterior { try DistilledPosterior(archive: archive) }
}

/// The students' settings `gped` and `bdk` share, read and checked once, and the run that
/// trains them under a teacher.
public struct DistillationSettings: Sendable {
    static let studentOptions = [
        MethodOption("studentDepth", .integer(atLeast: 0), help: "hidden layers of an MLP student (unset: the teacher's architecture; 2 when only studentWidth is given)"),
        MethodOption("studentWidth", .integer(atLeast: 1), help: "units in each hidden layer of an MLP student (unset: the teacher's architecture)"),
        MethodOption.choice("studentStart", DistillationPlan.Start.self, default: nil,
                            help: "where the students start (unset: trained — the teacher's starting network; the entropy student all but its last layer — when they have the teacher's architecture, else random)"),
        MethodOption("studentLearningRate", .real(above: 0, below: nil), default: "0.001", help: "the students' Adam learning rate"),
        MethodOption("studentWeightDecay", .nonNegativeReal, default: "0", help: "the students' weight decay (their Gaussian prior)"),
        MethodOption("inputNoise", .nonNegativeReal, default: "0.5",
                     help: "σ of the Gaussian noise added to the inputs teacher and students see at a lesson (BDK's perturbed training set; wide, so the students also learn the teacher away from the data)"),
    ]

    /// A teacher's options as a distillation offers them: the students learn at every iterate
    /// the schedule keeps, so thinning defaults to 1 (it thins lessons, not the chain); they keep
    /// no sample, so there is no sample memory to budget.
    static func teacherOptions(_ options: [MethodOption]) -> [MethodOption] {
        options.filter { $0.key != SGMCMCOptions.sampleMemory.key }.map { option in
            guard option.key == "thinning" else { return option }
            var lessons = option
            lessons.defaultValue = "1"
            lessons.help = "steps between the iterates the students learn from"
            return lessons
        }
    }

    public var depth: Int?
    public var width: Int?
    public var start: DistillationPlan.Start?
    public var learningRate: Double
    public var weightDecay: Double
    public var inputNoise: Double
    /// Whether an expected-entropy student is trained too.
    public var entropy: Bool

    init(settings: MethodSettings, entropy: Bool) throws {
        depth = try settings.value("studentDepth")
        width = try settings.value("studentWidth")
        start = try settings.choice("studentStart", as: DistillationPlan.Start.self)
        learningRate = try settings.required("studentLearningRate")
        weightDecay = try settings.required("studentWeightDecay")
        inputNoise = try settings.required("inputNoise")
        self.entropy = entropy
        if let depth, depth > 0, width == nil {
            throw InferenceError.invalidOption("studentDepth=\(depth) needs studentWidth (units per hidden layer)")
        }
        if start == .trained, width != nil || depth != nil {
            throw InferenceError.invalidOption("studentStart=trained starts the students at the teacher's network, which has the teacher's architecture; drop studentWidth/studentDepth or start at random")
        }
    }

    /// Whether the student is an MLP of its own rather than the teacher's architecture.
    var hasOwnArchitecture: Bool { width != nil || depth != nil }

    func validate(_ name: String, teacher: any SGMCMCSamplerMethod, _ context: MethodContext) throws {
        guard teacher.chain.weights == .all else {
            throw InferenceError.invalidOption("\(name)'s students learn the whole network's predictive from a teacher over every weight; drop weights=\(teacher.chain.weights.rawValue) (apd distils a last-layer chain)")
        }
        guard context.task.classCount != nil else {
            throw InferenceError.invalidOption("\(name) distils class probabilities; \(context.options.dataset.rawValue) is a regression task")
        }
        if !hasOwnArchitecture && entropy {
            _ = try Self.entropySpec(try context.options.modelSpec(inputShape: context.inputShape, task: context.task))
        }
    }

    /// The students for the teacher network `model`.
    func plan(teacher model: any NetworkModel) throws -> DistillationPlan {
        let teacher = model.spec, classes = model.outputShape.first ?? 0
        let predictive = hasOwnArchitecture
            ? ModelSpec.mlp(inputShape: teacher.inputShape, hidden: Array(repeating: width ?? 0, count: depth ?? 2), outputs: classes)
            : teacher
        return DistillationPlan(predictiveModel: try predictive.makeModel(), start: start ?? (hasOwnArchitecture ? .random : .trained),
                                entropyModel: entropy ? try Self.entropySpec(predictive).makeModel() : nil,
                                learningRate: Float(learningRate), weightDecay: Float(weightDecay), inputNoise: Float(inputNoise))
    }

    /// `spec` with one output: its last layer (a chain's) or last top-level block (a graph's),
    /// a dense layer, set to one output.
    static func entropySpec(_ spec: ModelSpec) throws -> ModelSpec {
        var single = spec
        if var blocks = spec.blocks {
            guard let last = blocks.indices.last, case let .layer(.dense(inputs, _, bias)) = blocks[last].block else {
                throw InferenceError.incompatibleModel("the expected-entropy student needs a network ending in a dense layer; give studentWidth for an MLP student")
            }
            blocks[last].block = .layer(.dense(inputs: inputs, outputs: 1, bias: bias))
            single.blocks = blocks
            return single
        }
        guard let last = spec.layers.indices.last, case let .dense(inputs, _, bias) = spec.layers[last] else {
            throw InferenceError.incompatibleModel("the expected-entropy student needs a network ending in a dense layer; give studentWidth for an MLP student")
        }
        single.layers[last] = .dense(inputs: inputs, outputs: 1, bias: bias)
        return single
    }

    /// Trains (or resumes) the run's network, then runs the teacher's chain from it with the
    /// students learning along as the resumable phase "<name>-distillation".
    func run<Teacher: SGMCMCSamplerMethod>(_ job: MethodJob, teacher: Teacher, name: String) throws -> MethodOutcome {
        let run = try SGMCMCRun(job, method: teacher)
        let plan = try plan(teacher: run.start.model)
        func fit<D: SGMCMCDynamics>(_ dynamics: D) throws -> (posterior: DistilledPosterior, seconds: Double) {
            let chain = SGMCMC(target: run.target, dynamics: dynamics, schedule: run.schedule, method: Teacher.name)
            return try run.fit(PosteriorDistillation(chain: chain, plan: plan, method: name), phase: "\(name)-distillation",
                               stage: "distilling the \(D.displayName) chain")
        }
        let fitted = try fit(teacher.dynamics(for: run.target))
        let rise = try run.checkPotentialRise(of: fitted.posterior.chainEnd.map { [$0] } ?? [])
        return MethodOutcome(posterior: fitted.posterior, seconds: run.trainingSeconds + fitted.seconds, posteriorSeconds: fitted.seconds,
                             details: ["lessons": Double(fitted.posterior.lessons), "potentialRise": rise])
    }
}
