import CredenceData
import CredenceInference
import CredenceTensor
import Foundation

/// What `credence diagnose` reports for a chain of samples.
public struct ChainDiagnosis: Codable, Sendable, Equatable {
    public var method: String
    public var samples: Int
    public var quantities: [ChainQuantityDiagnostics]
    /// The largest R̂ and the smallest bulk and tail ESS over the quantities.
    public var worstRHat: Double?
    public var smallestBulkEffectiveSampleSize: Double
    public var smallestTailEffectiveSampleSize: Double
}

/// The registry's samplers, whose posteriors keep their samples in chain order.
let chainMethods = MethodRegistry.methods.filter { $0.family == .mcmc }.map { $0.name }

/// Convergence diagnostics (`ChainDiagnostics.diagnose`) of the SG-MCMC posterior at `path`:
/// `projections` random projections of θ and the predicted class's probability at the first
/// `points` test examples of its data set.
public func diagnosePosteriorFile(at path: String, projections: Int = 8, points: Int = 5, seed: UInt64 = 0,
                                  dataDirectory: String? = nil) throws -> ChainDiagnosis {
    let archive = try PosteriorArchive.load(from: path)
    let posterior = try loadPosterior(from: archive, path: path)
    guard chainMethods.contains(posterior.method), let chain = posterior as? EnsemblePosterior else {
        throw InferenceError.invalidOption(
            "\(path) holds a \(posterior.method) posterior; chain diagnostics are for the samplers' chains (\(chainMethods.joined(separator: ", ")))")
    }
    guard points >= 0 else { throw InferenceError.invalidOption("--points must be ≥ 0, got \(points)") }
    var inputs = Tensor(shape: [0] + posterior.model.spec.inputShape, repeating: 0)
    if points > 0, posterior.task == .classification {
        let (test, _) = try recordedTestSet(of: path, metadata: archive.provenance, dataset: nil, dataDirectory: dataDirectory,
                                            inputShape: posterior.model.spec.inputShape)
        inputs = try test.inputs.rows(0..<Swift.min(points, test.count))
    }
    return try diagnoseChain(chain, points: inputs, projections: projections, seed: seed)
}

/// `ChainDiagnostics.diagnose` of a chain posterior's samples, summarised (also part of every
/// evaluation of an SG-MCMC posterior: 8 projections, the first 5 test points).
func diagnoseChain(_ chain: EnsemblePosterior, points: Tensor, projections: Int, seed: UInt64) throws -> ChainDiagnosis {
    var rng = RandomGenerator(seed: seed)
    let quantities = try ChainDiagnostics.diagnose(samples: chain.members, model: chain.model, inputs: points, projections: projections,
                                                   rng: &rng)
    return ChainDiagnosis(method: chain.method, samples: chain.members.count, quantities: quantities,
                          worstRHat: quantities.compactMap(\.rHat).max(),
                          smallestBulkEffectiveSampleSize: quantities.map(\.bulkEffectiveSampleSize).min() ?? .nan,
                          smallestTailEffectiveSampleSize: quantities.map(\.tailEffectiveSampleSize).min() ?? .nan)
}
