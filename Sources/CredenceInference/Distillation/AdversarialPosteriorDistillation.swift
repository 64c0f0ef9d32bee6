import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation

/// Adversarial posterior distillation as the registry lists it (Wang et al. 2018), for small
/// networks or the last layer of large ones: the teacher's chain (any SG-MCMC method, run
/// exactly as alone — with `weights=last-layer` over the classifier on the trained network's
/// features) feeds its kept iterates to a reservoir, and a generator of parameter vectors (all
/// of them, or the classifier's) plays a Wasserstein GAN against a critic on batches from it
/// (`AdversarialPosteriorDistillation`); the posterior stores the generator and draws networks
/// from it.
public struct APDMethod: RegisteredMethod {
    public static let name = "apd"
    public static let family = MethodFamily.distillation
    public static let phase = MethodPhase.trained
    public static let summary = "adversarial posterior distillation: a generator of weights trained as a WGAN on an SG-MCMC teacher's samples (Wang et al. 2018; small networks, or the last layer)"
    /// The most weights the generator makes.
    static let largestNetwork = 50_000
    public static var options: [MethodOption] {
        [MethodOption("teacher", .choice(GPEDMethod.teacherChoices), default: SGLDMethod.name,
                      help: "the SG-MCMC method whose chain teaches; its settings go in the same entry"),
         MethodOption("noiseDimension", .integer(atLeast: 1), default: "8", help: "dimension of the generator's Gaussian input z"),
         MethodOption("generatorWidth", .integer(atLeast: 1), default: "64", help: "units in the hidden layer of the generator and of the critic"),
         MethodOption("ganLearningRate", .real(above: 0, below: nil), default: "0.001", help: "Adam's learning rate for generator and critic (β₁ 0.5, β₂ 0.9)"),
         MethodOption("clip", .real(above: 0, below: nil), default: "0.01", help: "the critic's weights are clipped to [−clip, clip] (WGAN)"),
         MethodOption("criticSteps", .integer(atLeast: 1), default: "5", help: "critic steps per generator step"),
         MethodOption("pool", .integer(atLeast: 2), default: "256", help: "kept iterates in the reservoir the real batches are drawn from"),
         MethodOption("ganBatch", .integer(atLeast: 1), default: "64", help: "vectors per real and per generated batch")]
    }
    public static let quickSettings = ["sampleEpochs": "4", "pool": "32", "ganBatch": "16"]

    public static func options(given values: [String: String]) -> [MethodOption] { optionsWithTeacher(options, given: values) }

    public let teacher: any SGMCMCSamplerMethod
    public let noiseDimension: Int, width: Int, learningRate: Double, clip: Double, criticSteps: Int, pool: Int, batch: Int

    public init(settings: MethodSettings) throws {
        teacher = try teacherMethod(settings)
        noiseDimension = try settings.required("noiseDimension")
        width = try settings.required("generatorWidth")
        learningRate = try settings.required("ganLearningRate")
        clip = try settings.required("clip")
        criticSteps = try settings.required("criticSteps")
        pool = try settings.required("pool")
        batch = try settings.required("ganBatch")
        guard batch <= pool else { throw InferenceError.invalidOption("ganBatch=\(batch) vectors must fit the pool of \(pool)") }
    }

    public func validate(_ context: MethodContext) throws {
        try teacher.validate(context)
        let model = try context.model()
        switch teacher.chain.weights {
        case .all:
            guard model.parameterCount <= Self.largestNetwork else {
                throw InferenceError.incompatibleModel("apd generates every weight; the run's network has \(model.parameterCount), more than \(Self.largestNetwork) — use weights=last-layer, or a smaller network (--hidden)")
            }
        case .lastLayer:
            let head = try ClassifierFeatures.head(of: model)
            guard head.parameterCount <= Self.largestNetwork else {
                throw InferenceError.incompatibleModel("apd's generator would make the classifier's \(head.parameterCount) weights, more than \(Self.largestNetwork)")
            }
        }
    }

    public func run(_ job: MethodJob) throws -> MethodOutcome { try run(job, teacher: teacher) }

    func run<Teacher: SGMCMCSamplerMethod>(_ job: MethodJob, teacher: Teacher) throws -> MethodOutcome {
        let (run, features) = try teacher.sampledRun(job)
        func fit<D: SGMCMCDynamics>(_ dynamics: D) throws -> (posterior: GeneratedPosterior, seconds: Double) {
            let chain = SGMCMC(target: run.target, dynamics: dynamics, schedule: run.schedule, method: Teacher.name)
            let apd = AdversarialPosteriorDistillation(chain: chain, noiseDimension: noiseDimension, hidden: [width], learningRate: Float(learningRate),
                                                       clip: Float(clip), criticSteps: criticSteps, poolSize: pool, batchSize: batch)
            let over = features == nil ? "" : " over the classifier"
            return try run.fit(apd, phase: "\(Self.name)-distillation", stage: "distilling the \(D.displayName) chain\(over) into a generator")
        }
        let fitted = try fit(teacher.dynamics(for: run.target))
        let posterior: any Posterior = features.map { FeatureSpacePosterior(head: fitted.posterior, features: $0) } ?? fitted.posterior
        let rise = try run.checkPotentialRise(of: fitted.posterior.chainEnd.map { [$0] } ?? [])
        return MethodOutcome(posterior: posterior, seconds: run.trainingSeconds + fitted.seconds, posteriorSeconds: fitted.seconds,
                             details: ["ganRounds": Double(fitted.posterior.rounds), "potentialRise": rise])
    }

    public static func restore(_ archive: PosteriorArchive) throws -> any Posterior {
        FeatureSpacePosterior.wrote(archive) ? try FeatureSpacePosterior(archive: archive, restoreHead: GeneratedPosterior.init(archive:))
                                             : try GeneratedPosterior(archive: archive)
    }
}

/// Adversarial posterior distillation (Wang et al. 2018) around an SG-MCMC teacher: the chain
/// runs exactly as its sampler would (`SGMCMC.advance`); every iterate its schedule keeps enters
/// a pool of `poolSize` vectors by reservoir sampling (a uniform sample of every iterate kept so
/// far); once the pool holds a batch, each kept iterate is followed by one round of the
/// `ParameterGAN` on `batchSize` vectors drawn from the pool. The result, a `GeneratedPosterior`,
/// replaces the stored samples with a generator of them. Its randomness comes from counter-based
/// streams, never the chain's; resumable (chain, GAN, pool and counts are saved).
public struct AdversarialPosteriorDistillation<Dynamics: SGMCMCDynamics>: InferenceMethod {
    public var chain: SGMCMC<Dynamics>
    public var noiseDimension: Int
    public var hidden: [Int]
    public var learningRate: Float
    public var clip: Float
    public var criticSteps: Int
    public var poolSize: Int
    public var batchSize: Int

    public init(chain: SGMCMC<Dynamics>, noiseDimension: Int = 8, hidden: [Int] = [64], learningRate: Float = 1e-3, clip: Float = 0.01,
                criticSteps: Int = 5, poolSize: Int = 256, batchSize: Int = 64) {
        self.chain = chain
        self.noiseDimension = noiseDimension
        self.hidden = hidden
        self.learningRate = learningRate
        self.clip = clip
        self.criticSteps = criticSteps
        self.poolSize = poolSize
        self.batchSize = batchSize
    }

    public struct State {
        public var chain: SGMCMC<Dynamics>.State
        public var gan: ParameterGAN
        /// The reservoir of kept iterates.
        public var pool: [Tensor] = []
        /// Iterates kept so far (offered to the reservoir).
        public var kept = 0
        /// GAN rounds played.
        public var rounds = 0
        let seed: UInt64
    }

    public func validate(model: any NetworkModel) throws {
        try chain.validate(model: model)
        guard model.parameterCount <= APDMethod.largestNetwork else {
            throw InferenceError.incompatibleModel("adversarial posterior distillation generates every weight; this network has \(model.parameterCount), more than \(APDMethod.largestNetwork) — use a smaller network")
        }
        guard batchSize <= poolSize else {
            throw InferenceError.invalidOption("the GAN's batch of \(batchSize) vectors must fit its pool of \(poolSize)")
        }
    }

    public func initialState(model: any NetworkModel, parameters: Tensor, task: Predictive.Task,
                             rng: inout RandomGenerator) throws -> State {
        let gan = try ParameterGAN(dimension: model.parameterCount, noiseDimension: noiseDimension, hidden: hidden,
                                   learningRate: learningRate, clip: clip, criticSteps: criticSteps, rng: &rng)
        return State(chain: try chain.initialState(model: model, parameters: parameters, task: task, rng: &rng), gan: gan, seed: rng.next())
    }

    public func update(_ state: inout State, batch: TrainingBatch, rng: inout RandomGenerator) throws -> StepReport {
        let (report, keeps) = try chain.advance(&state.chain, batch: batch, rng: &rng)
        guard keeps else { return report }
        var stream = RandomGenerator.counterBased(seed: state.seed, stream: 0, counter: state.kept)
        // Reservoir sampling: the k-th kept iterate replaces a random slot with probability pool/k.
        state.kept += 1
        if state.pool.count < poolSize {
            state.pool.append(state.chain.parameters)
        } else {
            let slot = stream.integer(below: state.kept)
            if slot < poolSize { state.pool[slot] = state.chain.parameters }
        }
        guard state.pool.count >= batchSize else { return report }
        let real = try Tensor.concatenate((0..<batchSize).map { _ in state.pool[stream.integer(below: state.pool.count)] }, axis: 0)
            .reshaped([batchSize, state.chain.parameters.count])
        try state.gan.train(real: real, rng: &stream)
        state.rounds += 1
        return report
    }

    public func posterior(from state: State) throws -> GeneratedPosterior {
        guard state.rounds > 0 else {
            throw InferenceError.invalidOption("the generator played no round: the chain kept \(state.kept) iterates, fewer than a batch of \(batchSize); lengthen the chain or lower batchSize")
        }
        var posterior = try GeneratedPosterior(model: state.chain.model, task: state.chain.task, gan: state.gan, teacher: chain.method,
                                               rounds: state.rounds)
        posterior.chainEnd = state.chain.parameters
        return posterior
    }
}

extension AdversarialPosteriorDistillation.State: PersistentState {
    public func save(into file: inout SafeTensorsFile) throws {
        try chain.save(into: &file)
        try gan.save(into: &file, prefix: "gan.")
        for (k, theta) in pool.enumerated() { file["pool.\(k)"] = theta }
        file.metadata["apd.pool"] = String(pool.count)
        file.metadata["apd.kept"] = String(kept)
        file.metadata["apd.rounds"] = String(rounds)
    }

    public mutating func restore(from file: SafeTensorsFile, path: String) throws {
        try chain.restore(from: file, path: path)
        try gan.restore(from: file, prefix: "gan.", path: path)
        let count = try file.requiredInteger("apd.pool", path: path)
        pool = try (0..<count).map { try file.required("pool.\($0)", shape: [chain.model.parameterCount], path: path) }
        kept = try file.requiredInteger("apd.kept", path: path)
        rounds = try file.requiredInteger("apd.rounds", path: path)
    }
}

/// A posterior whose samples come from a generator trained adversarially on a chain's samples
/// (`AdversarialPosteriorDistillation`): θ = center + scale ⊙ G(z), z ~ N(0, I). It stores the
/// generator instead of the samples; its predictive is the Monte-Carlo average over S draws.
public struct GeneratedPosterior: ParameterSamplingPosterior {
    public let model: any NetworkModel
    public let task: Predictive.Task
    public let generator: Sequential
    public let generatorParameters: Tensor
    public let center: Tensor
    public let scale: Tensor
    /// The sampler whose samples the generator learned.
    public let teacher: String
    /// GAN rounds played.
    public let rounds: Int
    /// The teacher chain's last iterate when this posterior comes straight from its run (nil
    /// when read from an archive, which does not keep it): the run checks with it that the
    /// chain stayed in its posterior (`SGMCMCRun.checkPotentialRise`).
    public var chainEnd: Tensor?
    public var method: String { APDMethod.name }
    public var storedFloatCount: Int { generatorParameters.count + center.count + scale.count }

    init(model: any NetworkModel, task: Predictive.Task, gan: ParameterGAN, teacher: String, rounds: Int) throws {
        guard let center = gan.center, let scale = gan.scale else {
            throw InferenceError.invalidOption("the generator never saw a real sample")
        }
        try self.init(model: model, task: task, generator: gan.generator, generatorParameters: gan.generatorParameters,
                      center: center, scale: scale, teacher: teacher, rounds: rounds)
    }

    public init(model: any NetworkModel, task: Predictive.Task, generator: Sequential, generatorParameters: Tensor,
                center: Tensor, scale: Tensor, teacher: String, rounds: Int) throws {
        let d = model.parameterCount
        guard generator.outputShape == [d], center.count == d, scale.count == d else {
            throw InferenceError.incompatibleModel("the generator makes \(generator.outputShape) parameters around a center of \(center.count); the network has \(d)")
        }
        guard generatorParameters.count == generator.parameterCount else {
            throw ModelError.parameterCount(got: generatorParameters.count, expected: generator.parameterCount)
        }
        self.model = model
        self.task = task
        self.generator = generator
        self.generatorParameters = generatorParameters
        self.center = center
        self.scale = scale
        self.teacher = teacher
        self.rounds = rounds
    }

    public init(archive: PosteriorArchive) throws {
        try self.init(model: archive.model(), task: archive.task, generator: Sequential(archive.modelSpec(setting: "generator")),
                      generatorParameters: archive.tensor("generator.parameters"), center: archive.tensor("center"),
                      scale: archive.tensor("scale"), teacher: archive.settings["teacher"] ?? "unknown", rounds: try archive.setting("rounds"))
    }

    public func sampleParameters(rng: inout RandomGenerator) throws -> Tensor {
        try ParameterGAN.generate(count: 1, generator: generator, parameters: generatorParameters, center: center, scale: scale, rng: &rng)
            .reshaped([model.parameterCount])
    }

    public func archive() throws -> PosteriorArchive {
        PosteriorArchive(method: method, model: model, task: task,
                         tensors: [("generator.parameters", generatorParameters), ("center", center), ("scale", scale)],
                         settings: ["generator": try PosteriorArchive.settingText(describing: generator.spec),
                                    "teacher": teacher, "rounds": String(rounds)])
    }
}
