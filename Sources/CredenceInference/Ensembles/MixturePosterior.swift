import CredenceMetrics
import CredenceNN
import CredenceTensor

/// An equal-weight mixture of posteriors over one architecture, p(θ|D) ≈ (1/M) Σₘ qₘ(θ):
/// MultiSWAG (Wilson & Izmailov 2020: an ensemble of SWAG posteriors) and the mixture of
/// Laplace approximations around ensemble members (Eschenhagen et al. 2021). The predictive
/// pools every component's samples: with S requested, each component contributes
/// ⌈S/M⌉ (deterministic components — point, GLM-probit Laplace — one), so the mixture has
/// M·⌈S/M⌉ samples, about S, and costs what S samples of one posterior cost.
public struct MixturePosterior: Posterior {
    public let components: [any Posterior]
    /// The method of every component (e.g. "swag" for MultiSWAG).
    public let componentMethod: String
    public var method: String { DeepEnsembleMethod.name }
    public var model: any NetworkModel { components[0].model }
    public var task: Predictive.Task { components[0].task }
    public var storedFloatCount: Int { components.reduce(0) { $0 + $1.storedFloatCount } }

    public init(components: [any Posterior]) throws {
        guard let first = components.first else { throw InferenceError.invalidOption("a mixture needs at least one component") }
        for c in components.dropFirst() {
            guard c.model.spec == first.model.spec, c.task == first.task, c.method == first.method else {
                throw InferenceError.invalidOption("mixture components must share the architecture, task and method; got \(first.method) and \(c.method)")
            }
        }
        self.components = components
        componentMethod = first.method
    }

    /// Samples each component contributes when `samples` are requested.
    public func samplesPerComponent(_ samples: Int) -> Int { (Swift.max(samples, 1) + components.count - 1) / components.count }

    public func predictive(_ inputs: Tensor, samples: Int, rng: inout RandomGenerator) throws -> Predictive {
        guard samples >= 1 else { throw InferenceError.invalidOption("samples must be ≥ 1, got \(samples)") }
        let each = samplesPerComponent(samples)
        let parts = try components.map { try $0.predictive(inputs, samples: each, rng: &rng) }
        switch task {
        case .classification:
            return try Predictive(probabilities: Tensor.concatenate(parts.map { $0.probabilities! }, axis: 0))
        case .regression:
            return try Predictive(means: Tensor.concatenate(parts.map { $0.means! }, axis: 0),
                                  variances: Tensor.concatenate(parts.map { $0.variances! }, axis: 0))
        }
    }

    public func sampleCount(requested: Int) -> Int {
        let each = samplesPerComponent(requested)
        return components.reduce(0) { $0 + $1.sampleCount(requested: each) }
    }

    /// Sample `index` of `count`: the components' samples one after another.
    public func sample(_ index: Int, of count: Int, rng: inout RandomGenerator) throws -> PosteriorSample {
        let each = components.count == 0 ? 1 : (count + components.count - 1) / components.count
        var offset = index
        for component in components {
            let n = component.sampleCount(requested: each)
            if offset < n { return try component.sample(offset, of: n, rng: &rng) }
            offset -= n
        }
        throw InferenceError.invalidOption("sample \(index) is past the mixture's \(count) samples")
    }

    /// Component m's tensors (its buffers among them) and settings under `component.m.`; the
    /// count under `members`.
    public func archive() throws -> PosteriorArchive {
        var archive = PosteriorArchive(method: method, spec: model.spec, task: task, tensors: [],
                                       settings: ["members": String(components.count), "member": componentMethod])
        for (m, component) in components.enumerated() {
            let part = try component.archive()
            archive.tensors += part.tensors.map { ("component.\(m).\($0.name)", $0.value) }
            for (k, v) in part.settings { archive.settings["component.\(m).\(k)"] = v }
        }
        return archive
    }

    public init(archive: PosteriorArchive) throws {
        let count: Int = try archive.setting("members")
        let member: String = try archive.setting("member")
        let type = try MethodRegistry.lookup(member)
        let components = try (0..<count).map { m -> any Posterior in
            let prefix = "component.\(m)."
            var part = PosteriorArchive(method: member, spec: archive.spec, task: archive.task,
                                        tensors: archive.tensors.filter { $0.name.hasPrefix(prefix) }
                                            .map { (String($0.name.dropFirst(prefix.count)), $0.value) })
            for (k, v) in archive.settings where k.hasPrefix(prefix) { part.settings[String(k.dropFirst(prefix.count))] = v }
            return try type.restore(part)
        }
        try self.init(components: components)
    }
}
