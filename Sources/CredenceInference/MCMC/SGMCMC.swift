import CredenceData
import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation

/// What one stochastic-gradient MCMC step does with the gradient g = ∇log p̂_T(θ | D) of the
/// mini-batch log-posterior (`LogPosterior.logDensity`): Langevin (SGLD), RMSprop-preconditioned
/// Langevin (pSGLD), or Hamiltonian with friction (SGHMC). The chain (`SGMCMC`) owns θ, the
/// step count, the schedule and the kept samples; the dynamics owns only its own buffers
/// (momentum, preconditioner), which are saved with the chain so a resumed chain continues bit
/// for bit.
public protocol SGMCMCDynamics {
    associatedtype Buffers: SGMCMCBuffers
    /// The name in messages ("SGHMC").
    static var displayName: String { get }
    func makeBuffers(parameterCount: Int) -> Buffers
    /// One step of size ε (`stepSize`); without `noise` the step is the dynamics' optimizer
    /// (SGD, RMSprop, SGD with momentum) — the exploration stage of a cyclical schedule.
    func step(_ theta: inout Tensor, _ buffers: inout Buffers, gradient: ScaledGradient, stepSize: Double, noise: Bool,
              rng: inout RandomGenerator)
}

/// The buffers a dynamics carries from step to step, saved as named tensors.
public protocol SGMCMCBuffers {
    func save(into file: inout SafeTensorsFile)
    mutating func restore(from file: SafeTensorsFile, parameterCount: Int, path: String) throws
}

/// When the chain steps how far, whether it adds noise, and which iterates it keeps.
///
/// - `constant`: ε every step; the first `burnInSteps` iterates are discarded, then every
///   `thinning`-th is kept (SGLD, pSGLD, SGHMC).
/// - `cyclical` (Zhang et al. 2020, cSGLD/cSGHMC): cycles of L = `cycleLength` steps with the
///   cosine step size ε_k = ε₀/2 · (cos(π r_k) + 1), r_k = (k mod L)/L for the 0-based step k
///   (ε₀ at each cycle's start, ε₀/2 half-way, → 0 at its end). The first fraction β =
///   `explorationFraction` of each cycle (r_k < β) is the exploration stage: the dynamics'
///   optimizer without noise, nothing kept; the rest is the sampling stage: noise on, every
///   `thinning`-th step of the stage kept (counted from the stage's first step).
public enum SGMCMCSchedule: Equatable, Sendable {
    case constant(stepSize: Double, burnInSteps: Int, thinning: Int)
    case cyclical(initialStepSize: Double, cycleLength: Int, explorationFraction: Double, thinning: Int)

    /// ε for the 0-based step `k`.
    public func stepSize(at k: Int) -> Double {
        switch self {
        case let .constant(epsilon, _, _): return epsilon
        case let .cyclical(epsilon0, length, _, _):
            return epsilon0 / 2 * (cos(Double.pi * Double(k % length) / Double(length)) + 1)
        }
    }

    /// The first step of each cycle's sampling stage (within the cycle): ⌈βL⌉.
    static func samplingStart(cycleLength: Int, explorationFraction: Double) -> Int {
        Swift.min(Int((explorationFraction * Double(cycleLength)).rounded(.up)), cycleLength)
    }

    /// Whether step `k` adds the dynamics' noise (false in an exploration stage).
    public func addsNoise(at k: Int) -> Bool {
        switch self {
        case .constant: return true
        case let .cyclical(_, length, beta, _): return k % length >= Self.samplingStart(cycleLength: length, explorationFraction: beta)
        }
    }

    /// Whether the iterate after step `k` is kept.
    public func keeps(after k: Int) -> Bool {
        switch self {
        case let .constant(_, burnIn, thinning): return k + 1 > burnIn && (k + 1 - burnIn) % thinning == 0
        case let .cyclical(_, length, beta, thinning):
            let start = Self.samplingStart(cycleLength: length, explorationFraction: beta)
            return k % length >= start && (k % length - start + 1) % thinning == 0
        }
    }

    func validate(_ name: String) throws {
        switch self {
        case let .constant(epsilon, burnIn, thinning):
            guard epsilon > 0, epsilon.isFinite else { throw InferenceError.invalidOption("the \(name) step size is \(epsilon); it must be > 0") }
            guard burnIn >= 0, thinning >= 1 else {
                throw InferenceError.invalidOption("\(name) needs burn-in ≥ 0 and thinning ≥ 1 steps (got \(burnIn), \(thinning))")
            }
        case let .cyclical(epsilon0, length, beta, thinning):
            guard epsilon0 > 0, epsilon0.isFinite else { throw InferenceError.invalidOption("the \(name) initial step size is \(epsilon0); it must be > 0") }
            guard length >= 1, thinning >= 1, beta >= 0, beta < 1 else {
                throw InferenceError.invalidOption("\(name) needs a cycle of ≥ 1 steps, thinning ≥ 1 and an exploration fraction in [0, 1) (got \(length), \(thinning), \(beta))")
            }
            let sampling = length - Self.samplingStart(cycleLength: length, explorationFraction: beta)
            guard sampling >= thinning else {
                throw InferenceError.invalidOption("\(name) keeps every \(thinning)th of the \(sampling) sampling steps of a \(length)-step cycle: no sample; lower thinning or the exploration fraction, or lengthen the cycle")
            }
        }
    }
}

/// A stochastic-gradient MCMC chain on the tempered log-posterior (`LogPosterior`), started
/// from the trained network: each step takes the mini-batch gradient of log p̂_T(θ | D), lets
/// the dynamics move θ with the schedule's step size, and keeps the iterates the schedule
/// keeps — equally weighted samples, an `EnsemblePosterior` under the method's name.
///
/// ```swift
/// let chain = SGMCMC(target: target, dynamics: SGHMCDynamics(friction: 0.1),
///                    schedule: .constant(stepSize: 1e-3 / n, burnInSteps: 500, thinning: 50), method: "sghmc")
/// let (posterior, _) = try fitPosterior(chain, model: model, parameters: map, task: .classification,
///                                       data: train, epochs: 20, batchSize: 128, seed: 1)
/// ```
public struct SGMCMC<Dynamics: SGMCMCDynamics>: InferenceMethod {
    public var target: LogPosterior
    public var dynamics: Dynamics
    public var schedule: SGMCMCSchedule
    /// The registered method whose posterior this is (its archive is restored by it).
    public var method: String
    /// Where kept samples go once they would exceed a memory budget; nil: all in memory.
    public var spill: SampleSpill?

    public init(target: LogPosterior, dynamics: Dynamics, schedule: SGMCMCSchedule, method: String, spill: SampleSpill? = nil) {
        self.target = target
        self.dynamics = dynamics
        self.schedule = schedule
        self.method = method
        self.spill = spill
    }

    public struct State {
        public let model: any NetworkModel
        public let task: Predictive.Task
        /// The chain's current θ.
        public var parameters: Tensor
        public var steps = 0
        /// The dynamics' buffers (momentum, preconditioner).
        public var buffers: Dynamics.Buffers
        /// The kept samples, oldest first; from `spilledFrom` on, memory-mapped from the spill file.
        public var samples: [Tensor] = []
        let spill: SampleSpill?
        /// The index of the first sample kept in the spill file (nil: none spilled yet).
        public private(set) var spilledFrom: Int?
        var spillFile: TensorSlotFile?

        /// Keeps θ: in memory while the samples fit the spill's budget, else written to the
        /// spill file and read back mapped.
        mutating func keep(_ theta: Tensor) throws {
            guard let spill, spilledFrom != nil || (samples.count + 1) * theta.count * MemoryLayout<Float>.size > spill.memoryBudget else {
                samples.append(theta)
                return
            }
            if spillFile == nil {
                spillFile = try TensorSlotFile(path: spill.path, elementCount: theta.count, keeping: 0)
                spilledFrom = samples.count
            }
            let slot = samples.count - spilledFrom!
            try spillFile!.write(theta, slot: slot)
            samples.append(try spillFile!.tensor(slot: slot))
        }
    }

    public func validate(model: any NetworkModel) throws { try schedule.validate(Dynamics.displayName) }

    public func initialState(model: any NetworkModel, parameters: Tensor, task: Predictive.Task,
                             rng: inout RandomGenerator) throws -> State {
        guard parameters.count == model.parameterCount else {
            throw ModelError.parameterCount(got: parameters.count, expected: model.parameterCount)
        }
        return State(model: model, task: task, parameters: parameters,
                     buffers: dynamics.makeBuffers(parameterCount: model.parameterCount), spill: spill)
    }

    /// One step; reports U/N, the tempered potential on the mean-loss scale.
    public func update(_ state: inout State, batch: TrainingBatch, rng: inout RandomGenerator) throws -> StepReport {
        let (report, keeps) = try advance(&state, batch: batch, rng: &rng)
        if keeps { try state.keep(state.parameters) }
        return report
    }

    /// One step without keeping anything: reports U/N and whether the schedule keeps the
    /// iterate the step reached (`update` appends it; a distillation teaches its student
    /// from it instead).
    public func advance(_ state: inout State, batch: TrainingBatch, rng: inout RandomGenerator) throws -> (report: StepReport, keeps: Bool) {
        let gradient = try target.logDensityGradient(parameters: state.parameters, batch: batch, rng: &rng)
        try EpochLoop.requireFinite(gradient.likelihoodValue)
        let k = state.steps
        dynamics.step(&state.parameters, &state.buffers, gradient: gradient, stepSize: schedule.stepSize(at: k),
                      noise: schedule.addsNoise(at: k), rng: &rng)
        gradient.recycleParts()
        state.steps += 1
        // The step formed every chunk of the gradient, so the log prior is in its value now.
        return (StepReport(loss: -gradient.value * target.temperature / Double(target.datasetSize)), schedule.keeps(after: k))
    }

    public func posterior(from state: State) throws -> EnsemblePosterior {
        guard !state.samples.isEmpty else {
            throw InferenceError.invalidOption("the \(Dynamics.displayName) chain kept no sample in \(state.steps) steps (\(schedule))")
        }
        return try EnsemblePosterior(model: state.model, members: state.samples, task: state.task, method: method)
    }
}

extension SGMCMC.State: PersistentState {
    /// θ, the step count, the dynamics' buffers and the samples kept so far — those in memory
    /// as tensors; of the spilled ones only their count, after the spill file is made durable.
    public func save(into file: inout SafeTensorsFile) throws {
        file["parameters"] = parameters
        file.metadata["chain.steps"] = String(steps)
        buffers.save(into: &file)
        file.metadata["chain.samples"] = String(samples.count)
        for (k, sample) in samples.prefix(spilledFrom ?? samples.count).enumerated() { file["sample.\(k)"] = sample }
        if let spilledFrom {
            try spillFile?.synchronize()
            file.metadata["chain.spilledFrom"] = String(spilledFrom)
        }
    }

    public mutating func restore(from file: SafeTensorsFile, path: String) throws {
        parameters = try file.required("parameters", shape: [model.parameterCount], path: path)
        steps = try file.requiredInteger("chain.steps", path: path)
        try buffers.restore(from: file, parameterCount: model.parameterCount, path: path)
        let count = try file.requiredInteger("chain.samples", path: path)
        let inMemory = file.metadata["chain.spilledFrom"] == nil ? count : try file.requiredInteger("chain.spilledFrom", path: path)
        guard inMemory <= count else {
            throw ResumeError.inconsistentState(path: path, reason: "it says sample \(inMemory) of \(count) was the first spilled to a file")
        }
        samples = try (0..<inMemory).map { try file.required("sample.\($0)", shape: [model.parameterCount], path: path) }
        spilledFrom = nil
        spillFile = nil
        guard inMemory < count else { return }
        guard let spill else {
            throw ResumeError.inconsistentState(path: path, reason: "its samples \(inMemory)… were spilled to a file, but this run keeps them in memory")
        }
        let slots = try TensorSlotFile(path: spill.path, elementCount: model.parameterCount, keeping: count - inMemory)
        samples += try (0..<(count - inMemory)).map { try slots.tensor(slot: $0) }
        (spilledFrom, spillFile) = (inMemory, slots)
    }
}

/// Where an SG-MCMC chain's kept samples go once holding them would take more than
/// `memoryBudget` bytes: the file at `path` (slots written as samples come, read back
/// memory-mapped — `TensorSlotFile`), so a posterior of hundreds of networks needs neither the
/// memory nor the time to hold them. The runs of the registry put it next to the chain's
/// checkpoint, which counts the samples in it; a resumed chain continues it.
public struct SampleSpill: Sendable {
    public var path: String
    public var memoryBudget: Int

    public init(path: String, memoryBudget: Int) {
        self.path = path
        self.memoryBudget = memoryBudget
    }
}

extension SampleSpill: CustomStringConvertible {
    /// Neither the path nor the budget: they change where samples live, not the chain, so a
    /// checkpoint's fingerprint (the method's description) stays the same when they change.
    public var description: String { "SampleSpill" }
}

extension ParameterChunks {
    /// One pass of a sampler's update over θ's chunks on the worker threads: for each chunk,
    /// its part of the gradient formed (`ScaledGradient.form`, from θ as it was) and standard
    /// normals ξ for its elements (zeros without `noise`) drawn (`FastMath.fillNormalNoise`,
    /// interleaved) from the chunk's own stream split off `rng` in chunk order, then
    /// `body(offset, count, θ, g, ξ)` with θ, g and ξ pointing at the chunk's first element (the
    /// loops index from 0: an overflow-checked offset in the index would stop them vectorising;
    /// a buffer of θ's size is rebased by `offset`). So the gradient is never written out whole,
    /// the noise is drawn and used while the chunk is in cache, and the numbers are the same
    /// whatever the thread count. Chunks are disjoint: `body` may write its elements of θ.
    static func update(_ theta: inout Tensor, gradient: ScaledGradient, noise: Bool, rng: inout RandomGenerator,
                       _ body: (_ offset: Int, _ count: Int, _ theta: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>,
                                _ xi: UnsafePointer<Float>) -> Void) {
        precondition(theta.count == gradient.count, "a gradient of \(gradient.count) elements for θ of \(theta.count)")
        let chunks = gradient.chunks
        let streams = noise ? rng.split(into: chunks.count) : []
        theta.withUnsafeMutableBufferPointer { whole in
            nonisolated(unsafe) let whole = whole
            Parallel.forEach(chunks.count) { j in
                let range = chunks.range(j), n = range.count
                let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: 2 * n)
                defer { buffer.deallocate() }
                gradient.form(j, theta: UnsafeBufferPointer(whole), into: buffer.baseAddress!)
                let xi = UnsafeMutableBufferPointer(rebasing: buffer[n...])
                if noise {
                    var stream = streams[j]
                    FastMath.fillNormalNoise(xi, rng: &stream, interleaved: true)
                } else {
                    xi.initialize(repeating: 0)
                }
                body(range.lowerBound, n, whole.baseAddress! + range.lowerBound, buffer.baseAddress!, xi.baseAddress!)
            }
        }
    }
}

extension SGMCMCDynamics {
    /// A step with an explicit gradient tensor (tests with exact gradients).
    public func step(_ theta: inout Tensor, _ buffers: inout Buffers, gradient: Tensor, stepSize: Double, noise: Bool,
                     rng: inout RandomGenerator) {
        step(&theta, &buffers, gradient: ScaledGradient(exact: gradient, value: 0), stepSize: stepSize, noise: noise, rng: &rng)
    }
}

/// No buffers (SGLD).
public struct NoBuffers: SGMCMCBuffers {
    public init() {}
    public func save(into file: inout SafeTensorsFile) {}
    public mutating func restore(from file: SafeTensorsFile, parameterCount: Int, path: String) throws {}
}

/// One buffer of θ's size, saved under `name` (SGHMC's momentum, pSGLD's V).
public struct VectorBuffer: SGMCMCBuffers {
    public let name: String
    public var values: Tensor

    public init(name: String, parameterCount: Int) {
        self.name = name
        values = Tensor(shape: [parameterCount])
    }

    public func save(into file: inout SafeTensorsFile) { file[name] = values }
    public mutating func restore(from file: SafeTensorsFile, parameterCount: Int, path: String) throws {
        values = try file.required(name, shape: [parameterCount], path: path)
    }
}

// MARK: - What the registered SG-MCMC methods share

/// The options every registered SG-MCMC method shares: the step size on the
/// mean-loss scale (ε = learningRate / N), the target (temperature, Gaussian prior), and
/// either the constant schedule (burn-in, sample epochs, thinning) or the cyclical one
/// (cycles, epochs per cycle, exploration fraction, thinning).
public enum SGMCMCOptions {
    static func target(learningRate: String, help: String) -> [MethodOption] {
        [MethodOption("learningRate", .real(above: 0, below: nil), default: learningRate, help: help),
         MethodOption("temperature", .real(above: 0, below: nil), default: "1", help: "posterior temperature T (1 = Bayes, < 1 cold)"),
         MethodOption("priorPrecision", .real(above: 0, below: nil), default: "1", help: "precision of the isotropic Gaussian prior"),
         weights,
         sampleMemory]
    }

    /// Which weights the chain samples (absent unless set: the runs that leave it out keep their keys).
    static let weights = MethodOption.choice("weights", SampledWeights.self, default: nil,
                                             help: "which weights the chain samples (unset: all): all, or last-layer — the classifier on the features the trained network computes, the rest fixed")

    /// The memory budget of the kept samples (not a setting of the posterior: it changes where
    /// samples live, never their values).
    static let sampleMemory = MethodOption("sampleMemory", .real(above: 0, below: nil), default: "4",
                                           help: "GiB of kept samples held in memory; later ones go to a file next to the chain's checkpoint and are read back memory-mapped")

    static let constantSchedule = [
        MethodOption("burnInEpochs", .integer(atLeast: 0), default: "1", help: "epochs of the chain before samples are kept"),
        MethodOption("sampleEpochs", .integer(atLeast: 1), default: "4", help: "epochs of the chain that keep samples"),
        MethodOption("thinning", .integer(atLeast: 1), default: "50", help: "steps between kept samples"),
    ]

    static let cyclicalSchedule = [
        MethodOption("cycles", .integer(atLeast: 1), default: "4", help: "number of cosine cycles M"),
        MethodOption("cycleEpochs", .integer(atLeast: 1), default: "2", help: "epochs per cycle"),
        MethodOption("explorationFraction", .nonNegativeReal, default: "0.8",
                     help: "fraction β in [0, 1) of each cycle run without noise and without keeping samples"),
        MethodOption("thinning", .integer(atLeast: 1), default: "50", help: "steps between kept samples in a sampling stage"),
    ]
}

/// The settings every SG-MCMC method of the registry shares, read and checked once: the step
/// on the mean-loss scale (ε = learningRate / N), the target's temperature and prior precision,
/// and the schedule's layout in epochs — constant (burn-in, sampling epochs, thinning) or
/// cyclical (cycles, epochs per cycle, exploration fraction, thinning).
public struct SGMCMCChainSettings: Sendable {
    public enum Layout: Sendable {
        case constant(burnInEpochs: Int, sampleEpochs: Int, thinning: Int)
        case cyclical(cycles: Int, cycleEpochs: Int, explorationFraction: Double, thinning: Int)
    }

    public var learningRate: Double
    public var temperature: Double
    public var priorPrecision: Double
    public var weights: SampledWeights
    public var layout: Layout
    /// Bytes of kept samples held in memory before they go to a file (`SampleSpill`).
    public var sampleMemory: Int

    /// Reads the options `SGMCMCOptions.target` and `constantSchedule` (or `cyclicalSchedule`) declare.
    init(settings: MethodSettings, cyclical: Bool) throws {
        learningRate = try settings.required("learningRate")
        temperature = try settings.required("temperature")
        priorPrecision = try settings.required("priorPrecision")
        weights = try settings.choice("weights") ?? .all
        // A distillation offers no sampleMemory (it keeps no sample): the default then.
        let gibibytes: Double = try settings.value("sampleMemory") ?? Double(SGMCMCOptions.sampleMemory.defaultValue!)!
        sampleMemory = Int(Swift.min(gibibytes * Double(1 << 30), Double(Int.max / 2)))
        if cyclical {
            let beta: Double = try settings.required("explorationFraction")
            guard beta < 1 else {
                throw InferenceError.invalidOption("\(settings.method) explorationFraction β must be in [0, 1) (a cycle needs a sampling stage), got \(beta)")
            }
            layout = .cyclical(cycles: try settings.required("cycles"), cycleEpochs: try settings.required("cycleEpochs"),
                               explorationFraction: beta, thinning: try settings.required("thinning"))
        } else {
            layout = .constant(burnInEpochs: try settings.required("burnInEpochs"), sampleEpochs: try settings.required("sampleEpochs"),
                               thinning: try settings.required("thinning"))
        }
    }

    /// Epochs the chain runs.
    public var epochs: Int {
        switch layout {
        case let .constant(burnIn, sample, _): return burnIn + sample
        case let .cyclical(cycles, cycleEpochs, _, _): return cycles * cycleEpochs
        }
    }

    /// The schedule for a training set of `datasetSize` examples in `stepsPerEpoch` steps.
    func schedule(datasetSize n: Int, stepsPerEpoch steps: Int) -> SGMCMCSchedule {
        switch layout {
        case let .constant(burnIn, _, thinning):
            return .constant(stepSize: learningRate / Double(n), burnInSteps: burnIn * steps, thinning: thinning)
        case let .cyclical(_, cycleEpochs, beta, thinning):
            return .cyclical(initialStepSize: learningRate / Double(n), cycleLength: cycleEpochs * steps,
                             explorationFraction: beta, thinning: thinning)
        }
    }

    /// The schedule checked against the run before any work: a constant chain keeps a sample,
    /// a cyclical one has a sampling stage.
    func validate(_ name: String, _ context: MethodContext) throws {
        if weights == .lastLayer { _ = try ClassifierFeatures.head(of: context.model()) }
        let steps = context.stepsPerEpoch
        switch layout {
        case let .constant(_, sampleEpochs, thinning):
            guard sampleEpochs * steps >= thinning else {
                throw InferenceError.invalidOption("\(name) keeps every \(thinning)th of \(sampleEpochs * steps) sampling steps: no sample; lower thinning or raise sampleEpochs")
            }
        case .cyclical:
            try schedule(datasetSize: 1, stepsPerEpoch: steps).validate(name)
        }
    }
}

/// A registered SG-MCMC method (`sgld`, `psgld`, `sghmc`, `csgld`, `csghmc`): its chain's
/// settings, the salt that seeds its chain apart from training, and its dynamics on a target —
/// all it takes to run its chain, and all a distillation needs to run the very same chain as
/// its teacher (`gped teacher=sghmc`).
public protocol SGMCMCSamplerMethod: RegisteredMethod {
    var chain: SGMCMCChainSettings { get }
    /// Seeds the chain apart from training (and from the other samplers' chains).
    static var chainSeedSalt: UInt64 { get }
    /// The dynamics the chain runs on `target`.
    func dynamics(for target: LogPosterior) -> any SGMCMCDynamics
}

/// Which weights an SG-MCMC chain samples.
public enum SampledWeights: String, CaseIterable, Sendable {
    /// Every weight of the network.
    case all
    /// The classifier's, on the features the trained network computes (fixed): a chain over
    /// one dense layer, cheap for any network, whose samples are the whole network with the
    /// classifier's weights drawn.
    case lastLayer = "last-layer"
}

extension SGMCMCSamplerMethod {
    /// The run over the weights the chain samples, and the feature split when it is the last layer.
    func sampledRun(_ job: MethodJob) throws -> (run: SGMCMCRun, features: ClassifierFeatures?) {
        let whole = try SGMCMCRun(job, method: self)
        guard chain.weights == .lastLayer else { return (whole, nil) }
        let (run, features) = try whole.overClassifier()
        return (run, features)
    }

    /// Trains (or resumes) the run's network, then runs the chain from it as the phase
    /// "<name>-chain" (resumable) and returns its kept samples — whole networks, or with
    /// `weights=last-layer` the classifier's on the network's features.
    public func run(_ job: MethodJob) throws -> MethodOutcome {
        let (run, features) = try sampledRun(job)
        let phase = "\(Self.name)-chain"
        let spill = job.phaseCheckpoint(phase, job.options.ensembleMember).map { checkpoint in
            let stem = checkpoint.path.hasSuffix(".safetensors") ? String(checkpoint.path.dropLast(".safetensors".count)) : checkpoint.path
            return SampleSpill(path: stem + ".samples", memoryBudget: chain.sampleMemory)
        }
        func fit<D: SGMCMCDynamics>(_ dynamics: D) throws -> (posterior: EnsemblePosterior, seconds: Double) {
            try run.fit(SGMCMC(target: run.target, dynamics: dynamics, schedule: run.schedule, method: Self.name, spill: spill),
                        phase: phase, stage: "running the \(D.displayName) chain")
        }
        let fitted = try fit(dynamics(for: run.target))
        let posterior: any Posterior = features.map { FeatureSpacePosterior(head: fitted.posterior, features: $0) } ?? fitted.posterior
        let rise = try run.checkPotentialRise(of: fitted.posterior.members.suffix(4))
        return MethodOutcome(posterior: posterior, seconds: run.trainingSeconds + fitted.seconds, posteriorSeconds: fitted.seconds,
                             details: ["potentialRise": rise])
    }

    /// A kept-samples posterior from its archive: whole networks, or the classifier's on features.
    public static func restore(_ archive: PosteriorArchive) throws -> any Posterior {
        FeatureSpacePosterior.wrote(archive) ? try FeatureSpacePosterior(archive: archive, restoreHead: EnsemblePosterior.init(archive:))
                                             : try EnsemblePosterior(archive: archive)
    }
}

/// What running a registered SG-MCMC method's chain takes, prepared once: the trained network
/// it starts from (trained or resumed first), the training set, the tempered log-posterior, the
/// schedule in steps, and the chain's seed (`phaseSeed` with the method's salt and the ensemble
/// member) — shared by the samplers and the distillations that run their chains.
public struct SGMCMCRun {
    public let job: MethodJob
    public let start: PointPosterior
    public let trainSet: InMemoryDataset
    public let target: LogPosterior
    public let batchSize: Int
    public let schedule: SGMCMCSchedule
    public let epochs: Int
    public let seed: UInt64
    /// Seconds spent training the start (over every attempt).
    public let trainingSeconds: Double

    public init<M: SGMCMCSamplerMethod>(_ job: MethodJob, method: M) throws {
        self.job = job
        let options = job.options
        let file = try job.network(options)
        start = try file.pointPosterior()
        trainingSeconds = file.seconds
        (trainSet, _, _) = try loadRunData(options)
        let chain = method.chain
        target = try LogPosterior(model: start.model, objective: Objective.default(for: start.task),
                                  prior: GaussianPrior(precision: chain.priorPrecision), datasetSize: trainSet.count,
                                  temperature: chain.temperature)
        batchSize = Swift.min(options.batchSize, trainSet.count)
        schedule = chain.schedule(datasetSize: trainSet.count, stepsPerEpoch: (trainSet.count + batchSize - 1) / batchSize)
        epochs = chain.epochs
        seed = options.phaseSeed(salt: M.chainSeedSalt)
    }

    private init(job: MethodJob, start: PointPosterior, trainSet: InMemoryDataset, target: LogPosterior, batchSize: Int,
                 schedule: SGMCMCSchedule, epochs: Int, seed: UInt64, trainingSeconds: Double) {
        self.job = job
        self.start = start
        self.trainSet = trainSet
        self.target = target
        self.batchSize = batchSize
        self.schedule = schedule
        self.epochs = epochs
        self.seed = seed
        self.trainingSeconds = trainingSeconds
    }

    /// The same chain over the trained network's classifier alone: its start is the classifier's
    /// trained weights, its data the features the rest of the network computes for the training
    /// set (once, eval mode), its target the classifier's log-posterior on them — with the same
    /// prior, temperature, batch size, schedule and seed.
    public func overClassifier() throws -> (run: SGMCMCRun, features: ClassifierFeatures) {
        let features = try ClassifierFeatures(network: start.model, parameters: start.parameters)
        job.onStage("computing the classifier's features of \(trainSet.count) training examples")
        var featureSet = trainSet
        featureSet.inputs = try features.features(trainSet.inputs)
        let head = try PointPosterior(model: features.head, parameters: features.headParameters, task: start.task)
        let headTarget = try LogPosterior(model: features.head, objective: target.objective, prior: target.prior,
                                          datasetSize: target.datasetSize, temperature: target.temperature)
        return (SGMCMCRun(job: job, start: head, trainSet: featureSet, target: headTarget, batchSize: batchSize, schedule: schedule,
                          epochs: epochs, seed: seed, trainingSeconds: trainingSeconds), features)
    }

    /// How far the chain's last samples climbed the potential U(θ) = −log p(D | θ) − log p(θ)
    /// above the trained network it started from: U averaged over `samples`, minus U at the
    /// start, both on the first ≤ 2,048 training examples (the likelihood scaled to N, eval
    /// mode). A chain at equilibrium on a roughly Gaussian posterior sits about T·d/2 above
    /// its mode (d parameters, temperature T); far more says it left the posterior.
    public func potentialRise(to samples: ArraySlice<Tensor>) throws -> Double {
        guard !samples.isEmpty else { return 0 }
        let batch = try trainSet.trainingBatch(Array(0..<Swift.min(2048, trainSet.count)))
        var rng = RandomGenerator(seed: seed)
        let start = try target.potential(parameters: self.start.parameters, batch: batch, rng: &rng).value
        var total = 0.0
        for theta in samples { total += try target.potential(parameters: theta, batch: batch, rng: &rng).value }
        return total / Double(samples.count) - start
    }

    /// `potentialRise` of `samples` (the chain's last ones), with `potentialRiseWarning`'s
    /// warning on the job's stage line when it is due — after every chain a method runs (the
    /// samplers, and the distillations whose students learned from it).
    public func checkPotentialRise(of samples: ArraySlice<Tensor>) throws -> Double {
        let rise = try potentialRise(to: samples)
        if let warning = Self.potentialRiseWarning(rise, parameterCount: start.parameters.count, temperature: target.temperature) {
            job.onStage(warning)
        }
        return rise
    }

    /// A warning when `rise` (`potentialRise`) exceeds T·d — twice what a chain at
    /// equilibrium shows — naming the likely cause; nil otherwise. (An SG-MCMC step too large
    /// for the posterior's curvature leaves it: on the 1-D regression the default step
    /// raised U by ≈ 5,000 for d = 338, with RMSE 3.8 against the start's 0.04.)
    public static func potentialRiseWarning(_ rise: Double, parameterCount d: Int, temperature: Double) -> String? {
        let equilibrium = temperature * Double(d) / 2
        guard !(rise <= 2 * equilibrium) else { return nil }
        return String(format: "warning: the chain's last samples lie %.4g above the trained network in potential U(θ) (−log posterior; a chain at equilibrium sits about T·d/2 = %.4g above it): its step is probably too large for this posterior — lower learningRate (e.g. ÷10) and compare", rise, equilibrium)
    }

    /// Runs `method` (the chain, or a distillation around it) from the start over the training
    /// set for the chain's epochs as the resumable phase `phase`, with progress to the job (the
    /// stage line says "`stage` for E epochs").
    public func fit<Method: InferenceMethod>(_ method: Method, phase: String, stage: String) throws -> (posterior: Method.Output, seconds: Double)
        where Method.State: PersistentState {
        job.onStage("\(stage) for \(epochs) epochs")
        return try fitPosterior(method, model: start.model, parameters: start.parameters, task: start.task, data: trainSet,
                                epochs: epochs, batchSize: batchSize, seed: seed,
                                checkpoint: job.phaseCheckpoint(phase, job.options.ensembleMember), onProgress: job.onProgress)
    }
}
