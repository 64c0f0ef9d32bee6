import CredenceData
import CredenceInference
import CredenceTensor
import Foundation

/// What `credence diagnose` reports for a chain of samples.
public struct ChainDiagnosis: Codable, Sendable, Equatable {
    public var method: String
    /// Kept samples over all chains.
    public var samples: Int
    /// Chains the samples came from (nil in records written before HMC: one).
    public var chains: Int?
    /// Per chain, what a Hamiltonian sampler did (step size, acceptance, divergences, tree depth).
    public var sampler: [HMCChainStatistics]?
    public var quantities: [ChainQuantityDiagnostics]
    /// The largest R̂ and the smallest bulk and tail ESS over the quantities.
    public var worstRHat: Double?
    public var smallestBulkEffectiveSampleSize: Double
    public var smallestTailEffectiveSampleSize: Double
}

/// The registry's samplers, whose posteriors keep their samples in chain order.
let chainMethods = MethodRegistry.methods.filter { $0.family == .mcmc }.map { $0.name }

/// A sampler posterior's chains — over the whole network, or over its classifier on the
/// network's features (`weights=last-layer`) with the split that maps inputs to them; nil for
/// other posteriors.
func samplerChains(_ posterior: any Posterior) -> (chain: EnsemblePosterior, features: ClassifierFeatures?)? {
    guard chainMethods.contains(posterior.method) else { return nil }
    if let chain = posterior as? EnsemblePosterior { return (chain, nil) }
    if let split = posterior as? FeatureSpacePosterior, let chain = split.head as? EnsemblePosterior { return (chain, split.features) }
    return nil
}

/// Convergence diagnostics (`ChainDiagnostics.diagnose`) of the sampler's posterior at `path`
/// (SG-MCMC, HMC, NUTS): `projections` random projections of θ and, at the first `points` test
/// examples of its data set, the predicted class's probability (or predicted mean).
public func diagnosePosteriorFile(at path: String, projections: Int = 8, points: Int = 5, seed: UInt64 = 0,
                                  dataDirectory: String? = nil) throws -> ChainDiagnosis {
    let archive = try PosteriorArchive.load(from: path)
    let posterior = try loadPosterior(from: archive, path: path)
    guard let (chain, features) = samplerChains(posterior) else {
        throw InferenceError.invalidOption(
            "\(path) holds a \(posterior.method) posterior; chain diagnostics are for the samplers' chains (\(chainMethods.joined(separator: ", ")))")
    }
    guard points >= 0 else { throw InferenceError.invalidOption("--points must be ≥ 0, got \(points)") }
    var inputs = Tensor(shape: [0] + posterior.model.spec.inputShape, repeating: 0)
    if points > 0 {
        let (test, _) = try recordedTestSet(of: path, metadata: archive.provenance, dataset: nil, dataDirectory: dataDirectory,
                                            inputShape: posterior.model.spec.inputShape)
        inputs = try test.inputs.rows(0..<Swift.min(points, test.count))
    }
    return try diagnoseChain(chain, points: try features?.features(inputs) ?? inputs, projections: projections, seed: seed)
}

/// `ChainDiagnostics.diagnose` of a sampler posterior's chains, summarised with its sampler
/// statistics (also part of every evaluation of a sampler's posterior: 8 projections, the
/// first 5 test points).
func diagnoseChain(_ chain: EnsemblePosterior, points: Tensor, projections: Int, seed: UInt64) throws -> ChainDiagnosis {
    var rng = RandomGenerator(seed: seed)
    let quantities = try ChainDiagnostics.diagnose(chains: chain.chains, model: chain.model, task: chain.task, inputs: points,
                                                   projections: projections, rng: &rng)
    return ChainDiagnosis(method: chain.method, samples: chain.members.count, chains: chain.chainCount,
                          sampler: chain.samplerStatistics.isEmpty ? nil : chain.samplerStatistics, quantities: quantities,
                          worstRHat: quantities.compactMap(\.rHat).max(),
                          smallestBulkEffectiveSampleSize: quantities.map(\.bulkEffectiveSampleSize).min() ?? .nan,
                          smallestTailEffectiveSampleSize: quantities.map(\.tailEffectiveSampleSize).min() ?? .nan)
}

extension ChainDiagnosis {
    /// What the figures say is wrong with the chains, each with what to change (Vehtari et al.
    /// 2021's R̂ ≤ 1.01 and bulk ESS ≥ 100 per chain; Stan's divergence and tree-depth
    /// warnings); empty when none applies.
    public var warnings: [String] {
        var warnings: [String] = []
        let chains = Swift.max(chains ?? 1, 1)
        if let worst = worstRHat, worst > 1.01 {
            warnings.append(String(format: "R̂ up to %.3f (> 1.01): the chains have not mixed — run them longer or use more chains", worst))
        }
        if smallestBulkEffectiveSampleSize < Double(100 * chains) {
            warnings.append(String(format: "bulk ESS as low as %.1f (< %d, 100 per chain): the posterior's means are still estimated from a few effectively independent draws — run longer", smallestBulkEffectiveSampleSize, 100 * chains))
        }
        let statistics = sampler ?? []
        let divergences = statistics.map(\.divergences).reduce(0, +)
        if divergences > 0 {
            warnings.append("\(divergences) divergent transitions after warm-up: the sampler missed regions of high curvature — raise targetAcceptance (e.g. 0.95)")
        }
        let hits = statistics.map(\.maxDepthHits).reduce(0, +)
        if hits > 0 {
            warnings.append("\(hits) iterations stopped at the maximum tree depth before their trajectories turned: the chains explore slowly — raise maxTreeDepth (each level doubles an iteration's cost) or run more iterations")
        }
        return warnings
    }

    /// "4 chains, ε 0.021–0.034, acceptance 0.83–0.95, 0 divergences, 63 leapfrog steps, 12 at the maximum depth,
    /// dense metric on 4 (shrinkage λ* 0.120–0.310)"
    /// for a Hamiltonian sampler (nil otherwise).
    public var samplerSummary: String? {
        guard let s = sampler, !s.isEmpty else { return nil }
        func range(_ values: [Double], _ format: String) -> String {
            let low = String(format: format, values.min()!), high = String(format: format, values.max()!)
            return low == high ? low : low + "–" + high
        }
        var text = "\(s.count) chain\(s.count == 1 ? "" : "s"), ε \(range(s.map(\.stepSize), "%.3g")), "
            + "acceptance \(range(s.map(\.meanAcceptance), "%.2f")), \(s.map(\.divergences).reduce(0, +)) divergences, "
            + "\(range(s.map(\.meanLeapfrogSteps), "%.0f")) leapfrog steps per iteration"
        let hits = s.map(\.maxDepthHits).reduce(0, +)
        if hits > 0 { text += ", \(hits) iterations at the maximum tree depth" }
        let shrinkages = s.compactMap(\.denseMetricShrinkage)
        if !shrinkages.isEmpty { text += ", dense metric on \(shrinkages.count) (shrinkage λ* \(range(shrinkages, "%.3f")))" }
        return text
    }
}
