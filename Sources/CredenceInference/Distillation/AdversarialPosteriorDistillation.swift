import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation

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
        return try GeneratedPosterior(model: state.chain.model, task: state.chain.task, gan: state.gan, teacher: chain.method,
                                      rounds: state.rounds)
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
        let spec: ModelSpec
        do {
            spec = try JSONDecoder().decode(ModelSpec.self, from: Data((archive.settings["generator"] ?? "").utf8))
        } catch {
            throw InferenceError.invalidOption("the posterior's generator setting is not a model description (\(error.localizedDescription)); the file is damaged")
        }
        try self.init(model: archive.spec.makeModel(), task: archive.task, generator: Sequential(spec),
                      generatorParameters: archive.tensor("generator.parameters"), center: archive.tensor("center"),
                      scale: archive.tensor("scale"), teacher: archive.settings["teacher"] ?? "unknown", rounds: try archive.setting("rounds"))
    }

    public func sampleParameters(rng: inout RandomGenerator) throws -> Tensor {
        let z = Tensor(shape: [1, generator.inputShape[0]], values: (0..<generator.inputShape[0]).map { _ in rng.normalFloat() })
        var theta = try generator.predict(z, parameters: generatorParameters).reshaped([model.parameterCount])
        center.withUnsafeBufferPointer { m in
            scale.withUnsafeBufferPointer { s in
                theta.withUnsafeMutableBufferPointer { t in for i in t.indices { t[i] = m[i] + s[i] * t[i] } }
            }
        }
        return theta
    }

    public func archive() throws -> PosteriorArchive {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys  // the same archive bytes every time
        return PosteriorArchive(method: method, spec: model.spec, task: task,
                                tensors: [("generator.parameters", generatorParameters), ("center", center), ("scale", scale)],
                                settings: ["generator": String(decoding: try encoder.encode(generator.spec), as: UTF8.self),
                                           "teacher": teacher, "rounds": String(rounds)])
    }
}
