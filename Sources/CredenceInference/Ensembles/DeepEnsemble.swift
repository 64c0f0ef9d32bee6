import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation

/// A deep ensemble (Lakshminarayanan et al., 2017): M networks trained from independent
/// random initialisations (and data orders); the predictive is the equal-weight mixture
/// p(y|x) = (1/M) Σₘ p(y|x, θₘ). Each member is one "sample", so `samples` is ignored
/// and S = M. Any method whose posterior is a set of equally weighted parameter samples
/// (a sampler's chain) returns one under its own `method` name.
public struct EnsemblePosterior: Posterior {
    public let model: any NetworkModel
    public let members: [Tensor]
    public let task: Predictive.Task
    /// The registered method that produced the members (its archive is restored by it).
    public let method: String
    /// A sampler's members are `chainCount` chains of equal length, one after the other, each
    /// in the order it drew them (1 for an ensemble or one SG-MCMC chain).
    public let chainCount: Int
    /// Per chain, what a Hamiltonian sampler's chains did (empty for other methods).
    public let samplerStatistics: [HMCChainStatistics]
    public var storedFloatCount: Int { members.count * model.parameterCount }

    public init(model: any NetworkModel, members: [Tensor], task: Predictive.Task, method: String = DeepEnsembleMethod.name,
                chainCount: Int = 1, samplerStatistics: [HMCChainStatistics] = []) throws {
        guard !members.isEmpty else { throw InferenceError.invalidOption("a \(method) posterior needs at least one member") }
        for m in members where m.count != model.parameterCount {
            throw ModelError.parameterCount(got: m.count, expected: model.parameterCount)
        }
        guard chainCount >= 1, members.count % chainCount == 0, samplerStatistics.isEmpty || samplerStatistics.count == chainCount else {
            throw InferenceError.invalidOption("a \(method) posterior of \(members.count) samples cannot be \(chainCount) chains of equal length (with \(samplerStatistics.count) chains' statistics)")
        }
        self.model = model
        self.members = members
        self.task = task
        self.method = method
        self.chainCount = chainCount
        self.samplerStatistics = samplerStatistics
    }

    public init(archive: PosteriorArchive) throws {
        let count: Int = try archive.setting("members")
        let members = try (0..<count).map { try archive.tensor("member.\($0)") }
        let chains = archive.settings["chains"] == nil ? 1 : try archive.setting("chains", as: Int.self)
        var statistics: [HMCChainStatistics] = []
        if let json = archive.settings["samplerStatistics"] {
            do {
                statistics = try JSONDecoder().decode([HMCChainStatistics].self, from: Data(json.utf8))
            } catch {
                throw InferenceError.invalidOption("the posterior's samplerStatistics setting is not valid (\(error.localizedDescription)); the file is damaged")
            }
        }
        try self.init(model: archive.model(), members: members, task: archive.task, method: archive.method,
                      chainCount: chains, samplerStatistics: statistics)
    }

    /// The members chain by chain.
    public var chains: [[Tensor]] {
        let length = members.count / chainCount
        return (0..<chainCount).map { Array(members[($0 * length)..<(($0 + 1) * length)]) }
    }

    public func predictive(_ inputs: Tensor, samples: Int, rng: inout RandomGenerator) throws -> Predictive {
        try makePredictive(stacking: members.map { try model.predictBatched(inputs, parameters: $0) }, task: task)
    }

    public func sampleCount(requested: Int) -> Int { members.count }

    public func sample(_ index: Int, of count: Int, rng: inout RandomGenerator) throws -> PosteriorSample {
        PosteriorSample(model: model, parameters: members[index])
    }

    public func archive() throws -> PosteriorArchive {
        var settings = ["members": String(members.count)]
        if chainCount > 1 { settings["chains"] = String(chainCount) }
        if !samplerStatistics.isEmpty {
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys  // the same archive bytes every time
            settings["samplerStatistics"] = String(decoding: try encoder.encode(samplerStatistics), as: UTF8.self)
        }
        return PosteriorArchive(method: method, model: model, task: task,
                                tensors: members.enumerated().map { ("member.\($0.offset)", $0.element) }, settings: settings)
    }
}

/// Deep ensembles as a combinator over any other method (`member`): M independent runs of
/// it — member m trains its networks with `ensembleMember = m`, so initialisation, data order
/// and dropout noise differ while the data set does not — mixed with equal weights.
/// `member: map` is the deep ensemble of Lakshminarayanan et al. (2017) (an `EnsemblePosterior`);
/// `member: swag` is MultiSWAG (Wilson & Izmailov 2020); `member: laplace` the mixture of
/// Laplace approximations (Eschenhagen et al. 2021) — each a `MixturePosterior`. The member
/// method's own settings sit beside `members` and `member` in the same entry.
///
/// ```swift
/// let multiSWAG = try MethodRegistry.make("ensemble", inputs: [("members", .number(5, text: "5")),
///                                                              ("member", .string("swag")), ("rank", .number(20, text: "20"))])
/// ```
public struct DeepEnsembleMethod: RegisteredMethod {
    public static let name = "ensemble"
    public static let family = MethodFamily.ensembles
    public static let phase = MethodPhase.trained
    public static let summary = "M independent runs of a member method mixed with equal weights (deep ensemble; MultiSWAG with member=swag; mixture of Laplace with member=laplace)"
    public static var options: [MethodOption] {
        [MethodOption("members", .integer(atLeast: 2), default: "5", recordsDefault: true, help: "number of members M"),
         MethodOption("member", .choice(memberChoices), default: MAPMethod.name,
                      help: "the method each member runs; its settings go in the same entry")]
    }
    /// Every registered method but the ensemble itself.
    static var memberChoices: [String] { MethodRegistry.names.filter { $0 != name } }
    public static let quickSettings = ["members": "2"]

    public static func options(given values: [String: String]) -> [MethodOption] {
        guard let member = MethodRegistry.method(named: values["member"] ?? MAPMethod.name) else { return options }
        return options + member.options(given: values).filter { o in !options.contains { $0.key == o.key } }
    }

    public let members: Int
    public let member: any RegisteredMethod

    public init(members: Int, member: any RegisteredMethod) throws {
        guard members >= 1 else { throw InferenceError.invalidOption("an ensemble needs at least one member, got \(members)") }
        self.members = members
        self.member = member
    }

    public init(settings: MethodSettings) throws {
        let memberName = settings.text("member") ?? MAPMethod.name
        let keys = Set(try MethodRegistry.lookup(memberName).options(given: settings.values).map(\.key))
        try self.init(members: settings.required("members"),
                      member: MethodRegistry.make(memberName, recorded: settings.values.filter { keys.contains($0.key) }))
    }

    public func adjust(_ options: inout TrainingOptions) { member.adjust(&options) }
    public func validate(_ context: MethodContext) throws { try member.validate(context) }
    public var takesAdversarialTraining: Bool { member.takesAdversarialTraining }

    /// Trains (or finds) each member in turn. A point member of a network without running
    /// statistics is kept as its parameters in a scratch slot file beside the run's phase
    /// checkpoints and read back memory-mapped — the file is unlinked as soon as it is open, so
    /// it leaves nothing on disk — so an ensemble of a hundred networks holds none of them in
    /// the process's own memory (without a place for phase checkpoints, they stay in memory).
    public func run(_ job: MethodJob) throws -> MethodOutcome {
        var posteriors: [any Posterior] = []
        var seconds = 0.0, posteriorSeconds = 0.0
        var slots: TensorSlotFile?
        let scratchPath = job.phaseCheckpoint("ensemble-members", 0)?.path
        for m in 0..<members {
            job.onStage("member \(m + 1)/\(members)")
            var memberJob = job
            memberJob.options.ensembleMember = m
            let outcome = try member.run(memberJob)
            seconds += outcome.seconds
            posteriorSeconds += outcome.posteriorSeconds
            guard let point = outcome.posterior as? PointPosterior, point.model.buffers.isEmpty,
                  let scratch = scratchPath else {
                posteriors.append(outcome.posterior)
                continue
            }
            if slots == nil {
                slots = try TensorSlotFile(path: scratch, elementCount: point.parameters.count, keeping: 0)
                unlink(scratch)  // the open file and its mappings keep the data
            }
            try slots!.write(point.parameters, slot: m)
            posteriors.append(try PointPosterior(model: point.model, parameters: try slots!.tensor(slot: m), task: point.task))
        }
        // Point members share one model unless each has its own running statistics (batch
        // normalization): those stay a mixture of point posteriors, each with its model.
        let points = posteriors.compactMap { $0 as? PointPosterior }
        let posterior: any Posterior = points.count == posteriors.count && points[0].model.buffers.isEmpty
            ? try EnsemblePosterior(model: points[0].model, members: points.map(\.parameters), task: points[0].task)
            : try MixturePosterior(components: posteriors)
        return MethodOutcome(posterior: posterior, seconds: seconds, posteriorSeconds: posteriorSeconds)
    }

    public static func restore(_ archive: PosteriorArchive) throws -> any Posterior {
        archive.settings["member"] == nil ? try EnsemblePosterior(archive: archive) : try MixturePosterior(archive: archive)
    }
}
