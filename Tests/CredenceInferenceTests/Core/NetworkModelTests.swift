import CredenceData
@testable import CredenceInference
import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation
import Testing

/// A network the methods can only see through `NetworkModel`: the two-moons MLP behind an
/// opaque wrapper that is not a chain of layers (`layerChain` is nil) and runs its Monte-Carlo
/// passes one by one, as a graph of blocks would.
struct OpaqueNetwork: NetworkModel {
    let wrapped: Sequential
    var spec: ModelSpec { wrapped.spec }
    var layout: ParameterLayout { wrapped.layout }
    var inputShape: [Int] { wrapped.inputShape }
    var outputShape: [Int] { wrapped.outputShape }
    var buffers: [NamedBuffer] { [] }
    var isStochastic: Bool { wrapped.isStochastic }
    var layerChain: Sequential? { nil }
    func initialParameters(rng: inout RandomGenerator) -> Tensor { wrapped.initialParameters(rng: &rng) }
    func callAsFunction(_ x: Variable, parameters: Variable, context: inout ForwardContext) throws -> Variable {
        try wrapped(x, parameters: parameters, context: &context)
    }
    func monteCarloProbabilities(_ x: Tensor, parameters: Tensor, samples: Int, rng: inout RandomGenerator) throws -> Tensor {
        let passes = try (0..<samples).map { _ in
            try predict(x, parameters: parameters, mode: .mcSample, rng: rng.split()).softmaxLastAxis()
        }
        let stacked = try Tensor.concatenate(passes, axis: 0)
        return try stacked.reshaped([samples] + passes[0].shape)
    }
}

/// The method side is not tied to `Sequential`: training, SWAG, SGLD, ensembles, MC dropout,
/// samples as networks and the log-posterior run on any `NetworkModel`; Laplace, which
/// computes its curvature layer by layer, says so for a model that is not a chain.
@Suite struct NetworkModelTests {
    static let chain = TwoMoonsHarness.model(dropout: 0.1)
    static let opaque = OpaqueNetwork(wrapped: chain)
    static let data = TwoMoonsHarness.data

    /// The same function gives the same numbers, bit for bit, whether the method sees the
    /// chain or only the protocol.
    @Test func trainingSWAGAndSGLDSeeOnlyTheProtocol() throws {
        var rng = RandomGenerator(seed: 1)
        let start = Self.chain.initialParameters(rng: &rng)
        func bits(_ model: any NetworkModel) throws -> [[UInt32]] {
            let map = try fitPosterior(MAPTraining(learningRate: .constant(0.01)), model: model, parameters: start,
                                       task: .classification, data: Self.data.train, epochs: 2, batchSize: 64, seed: 2)
            let θ = (map.posterior.base as! PointPosterior).parameters
            let swag = try fitPosterior(SWAGCollection(collectEvery: 4, rank: 3), model: model, parameters: θ,
                                        task: .classification, data: Self.data.train, epochs: 2, batchSize: 64, seed: 3)
            let target = try LogPosterior(model: model, objective: .crossEntropy(labelSmoothing: 0),
                                          prior: GaussianPrior(precision: 1), datasetSize: Self.data.train.count)
            let sgld = try fitPosterior(SGLD(target: target, stepSize: 1e-4, burnInSteps: 0, thinning: 4), model: model,
                                        parameters: θ, task: .classification, data: Self.data.train, epochs: 1, batchSize: 64, seed: 4)
            let s = swag.posterior.base as! SWAGPosterior
            return [θ, s.mean, s.variance, sgld.posterior.members.last!].map { $0.values.map(\.bitPattern) }
        }
        #expect(try bits(Self.opaque) == bits(Self.chain))
    }

    @Test func posteriorsAndTheirSamplesRunOnAnyNetwork() throws {
        var rng = RandomGenerator(seed: 5)
        let θ = Self.chain.initialParameters(rng: &rng)
        let x = try Self.data.test.inputs.rows(0..<16)
        let ensemble = try EnsemblePosterior(model: Self.opaque, members: [θ, Tensor(θ.values.map { $0 * 0.5 })], task: .classification)
        let dropout = try MCDropoutPosterior(model: Self.opaque, parameters: θ, task: .classification)
        for posterior in [ensemble, dropout] as [any Posterior] {
            let p = try posterior.predictive(x, samples: 8, rng: &rng)
            #expect(p.exampleCount == 16)
            let sample = try posterior.sample(0, of: posterior.sampleCount(requested: 8), rng: &rng)
            let tape = Tape(), input = tape.variable(x)
            #expect(tape.gradients(of: try sample(input).sum())[input].shape == x.shape, "∇ₓ through a sample")
            let restored = try loadPosterior(from: try posterior.archive(), path: "in memory")
            #expect(restored.method == posterior.method)
        }
    }

    @Test func laplaceNamesWhatItNeedsOfAModelThatIsNotAChain() throws {
        #expect(throws: LaplaceError.self) { try LaplaceSubset(.lastLayer, model: Self.opaque) }
        do {
            _ = try LaplaceSubset(.lastLayer, model: Self.opaque)
        } catch {
            #expect("\(error)".contains("chain of layers"), "\(error)")
        }
    }

    /// Last- and first-layer subsets are the last and first modules of the layout, by name.
    @Test func subsetsAreFoundByModuleName() throws {
        #expect(Self.chain.layout.moduleNames == ["0", "3", "6"])  // dense, relu, dropout, dense, relu, dropout, dense
        let last = try LaplaceSubset(.lastLayer, model: Self.chain), first = try LaplaceSubset(.firstLayer, model: Self.chain)
        let names = { (s: LaplaceSubset) in Set(Self.chain.layout.entries.filter { s.flatIndices.contains($0.offset) }.map(\.name)) }
        #expect(names(last) == ["6.weight", "6.bias"] && names(first) == ["0.weight", "0.bias"])
        #expect(ParameterLayout.module(of: "layer1.0.conv1.weight") == "layer1.0.conv1")
        #expect(ParameterLayout.module(of: "bn1.running_mean") == "bn1")
    }
}
