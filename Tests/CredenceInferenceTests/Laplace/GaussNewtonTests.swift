@testable import CredenceInference
import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation
import Testing

/// The curvature each structure collects against the generalized Gauss–Newton Σₙ Jₙᵀ Λₙ Jₙ
/// built from per-example Jacobians taken the plain way (one reverse pass per example and
/// output with the parameters tracked).
@Suite struct GaussNewtonTests {
    static let prior = 0.7

    static func setup(_ spec: ModelSpec, examples: Int, seed: UInt64 = 1) -> (Sequential, Tensor, Tensor, [Int32]) {
        let model = try! Sequential(spec)
        var rng = RandomGenerator(seed: seed)
        let theta = Tensor.randomNormal(shape: [model.parameterCount], standardDeviation: 0.8, rng: &rng)
        let x = Tensor.randomNormal(shape: [examples] + spec.inputShape, rng: &rng)
        let k = model.outputShape[0]
        return (model, theta, x, (0..<examples).map { Int32($0 % k) })
    }

    static func precision(_ subset: WeightSubset, _ structure: HessianStructure, model: Sequential, theta: Tensor,
                          x: Tensor, y: [Int32], batchSize: Int? = nil) throws -> LaplacePosterior {
        try Laplace(subset: subset, structure: structure, priorPrecision: prior, priorOptimization: .none)
            .fit(model: model, parameters: theta, task: .classification, inputs: x, labels: y, batchSize: batchSize)
    }

    static func reference(_ subset: LaplaceSubset, model: Sequential, theta: Tensor, x: Tensor) throws -> [Double] {
        var h = try LaplaceReference.ggn(model: model, parameters: theta, inputs: x, indices: subset.flatIndices)
        for i in 0..<subset.dimension { h[i * subset.dimension + i] += prior }
        return h
    }

    /// One example, one bias-free dense layer: G ⊗ A with G = Λ, A = aaᵀ is the GGN exactly;
    /// the diagonal structure is its diagonal.
    @Test func kroneckerEqualsFullForOneExampleOutputLayer() throws {
        let (model, theta, x, y) = Self.setup(ModelSpec(inputShape: [4], layers: [.dense(inputs: 4, outputs: 3, bias: false)]), examples: 1)
        let full = try Self.precision(.lastLayer, .full, model: model, theta: theta, x: x, y: y)
        let kron = try Self.precision(.lastLayer, .kronecker, model: model, theta: theta, x: x, y: y)
        let diag = try Self.precision(.lastLayer, .diagonal, model: model, theta: theta, x: x, y: y)
        let reference = try Self.reference(full.subset, model: model, theta: theta, x: x)
        expectLaplaceClose(try full.precision.denseMatrix().values, reference, absolute: 1e-6, relative: 1e-5, "full")
        expectLaplaceClose(try kron.precision.denseMatrix().values, reference, absolute: 1e-6, relative: 1e-5, "kronecker")
        let n = full.subset.dimension
        expectLaplaceClose(try diag.precision.denseMatrix().diagonal, (0..<n).map { reference[$0 * n + $0] }, relative: 1e-5, "diagonal")
    }

    /// One example, a hidden layer (output-gradients from the factored backward passes):
    /// KFAC of the first layer is its exact GGN.
    @Test func kroneckerEqualsFullForOneExampleHiddenLayer() throws {
        let spec = ModelSpec(inputShape: [4], layers: [.dense(inputs: 4, outputs: 5, bias: false), .activation(.tanh),
                                                      .dense(inputs: 5, outputs: 3, bias: true)])
        let (model, theta, x, y) = Self.setup(spec, examples: 1)
        let full = try Self.precision(.firstLayer, .full, model: model, theta: theta, x: x, y: y)
        let kron = try Self.precision(.firstLayer, .kronecker, model: model, theta: theta, x: x, y: y)
        let reference = try Self.reference(full.subset, model: model, theta: theta, x: x)
        expectLaplaceClose(try full.precision.denseMatrix().values, reference, absolute: 1e-6, relative: 1e-5, "full")
        expectLaplaceClose(try kron.precision.denseMatrix().values, reference, absolute: 1e-6, relative: 1e-5, "kronecker")
    }

    /// With a bias, KFAC keeps the exact weight block G ⊗ A and bias block G and drops the
    /// weight–bias cross terms (laplace-torch's convention).
    @Test func kroneckerWithBiasKeepsDiagonalBlocks() throws {
        let (model, theta, x, y) = Self.setup(ModelSpec(inputShape: [4], layers: [.dense(inputs: 4, outputs: 3, bias: true)]), examples: 1)
        let kron = try Self.precision(.lastLayer, .kronecker, model: model, theta: theta, x: x, y: y)
        let reference = try Self.reference(kron.subset, model: model, theta: theta, x: x)
        let p = try kron.precision.denseMatrix(), n = 15
        for r in 0..<n {
            for c in 0..<n {
                let sameBlock = (r < 12) == (c < 12)
                let expected = sameBlock ? reference[r * n + c] : 0
                #expect(abs(p[r, c] - expected) <= 1e-6 + 1e-5 * abs(expected), "entry (\(r), \(c)): \(p[r, c]) vs \(expected)")
            }
        }
    }

    /// Several examples in several batches: the full GGN of the last layer (per-pair block
    /// path), of all weights (Jacobian-row path) and of a subnetwork, and the diagonal structure
    /// = the diagonal of the full one.
    /// (Hidden width 20 takes the last layer through the per-pair block path, width 4 through Jacobian rows.)
    @Test(arguments: [(WeightSubset.lastLayer, 4), (.lastLayer, 20), (.all, 4), (.firstLayer, 4)])
    func fullAndDiagonalMatchReference(_ subset: WeightSubset, _ width: Int) throws {
        let spec = ModelSpec.mlp(inputShape: [3], hidden: [width], outputs: 3, activation: .tanh)
        let (model, theta, x, y) = Self.setup(spec, examples: 9, seed: 2)
        let full = try Self.precision(subset, .full, model: model, theta: theta, x: x, y: y, batchSize: 4)
        let diag = try Self.precision(subset, .diagonal, model: model, theta: theta, x: x, y: y, batchSize: 4)
        let reference = try Self.reference(full.subset, model: model, theta: theta, x: x)
        let n = full.subset.dimension
        expectLaplaceClose(try full.precision.denseMatrix().values, reference, absolute: 1e-6, relative: 1e-5, "\(subset) full")
        expectLaplaceClose(try diag.precision.denseMatrix().diagonal, (0..<n).map { reference[$0 * n + $0] }, relative: 1e-5,
                           "\(subset) diagonal")
    }

    /// A subnetwork's full curvature is the GGN restricted to the chosen weights.
    @Test func subnetworkRestrictsTheGGN() throws {
        let spec = ModelSpec.mlp(inputShape: [3], hidden: [4], outputs: 3, activation: .tanh)
        let (model, theta, x, y) = Self.setup(spec, examples: 6, seed: 3)
        let indices = [1, 7, 13, 16, 17, 20, 30]
        let laplace = try Laplace(subset: .subnetwork, structure: .full, priorPrecision: Self.prior, priorOptimization: .none,
                                  subnetworkIndices: indices)
        let posterior = try laplace.fit(model: model, parameters: theta, task: .classification, inputs: x, labels: y)
        #expect(posterior.subset.flatIndices == indices)
        let reference = try Self.reference(posterior.subset, model: model, theta: theta, x: x)
        expectLaplaceClose(try posterior.precision.denseMatrix().values, reference, absolute: 1e-6, relative: 1e-5, "subnetwork")
    }

    /// KFAC over several examples: A is the mean of aaᵀ and G the sum of the per-example
    /// output-gradient outer products (laplace-torch's factor convention), checked against
    /// the factors assembled from the reference Jacobians of the output layer.
    @Test func kroneckerFactorConvention() throws {
        let (model, theta, x, y) = Self.setup(ModelSpec(inputShape: [3], layers: [.dense(inputs: 3, outputs: 2, bias: true)]), examples: 5)
        let kron = try Self.precision(.lastLayer, .kronecker, model: model, theta: theta, x: x, y: y, batchSize: 2)
        let factors = (kron.precision as! KroneckerPrecision).decomposed.map(\.factors)
        var a = [Double](repeating: 0, count: 9), g = [Double](repeating: 0, count: 4)
        let logits = try model.predict(x, parameters: theta)
        for e in 0..<5 {
            for i in 0..<3 { for j in 0..<3 { a[i * 3 + j] += Double(x[e, i] * x[e, j]) / 5 } }
            let lambda = LaplaceReference.softmaxHessian([Double(logits[e, 0]), Double(logits[e, 1])])
            for t in 0..<4 { g[t] += lambda[t] }
        }
        expectLaplaceClose(factors[0].a!.values, a, absolute: 1e-6, relative: 1e-5, "A")
        expectLaplaceClose(factors[0].g.values, g, absolute: 1e-6, relative: 1e-5, "G")
        expectLaplaceClose(factors[1].g.values, g, absolute: 1e-6, relative: 1e-5, "G (bias)")
        #expect(factors[1].a == nil)
    }

    /// Heteroscedastic regression (D means, D raw variances): the curvature is Σₙ Jₙᵀ Fₙ Jₙ
    /// with the Gaussian's Fisher information F = diag(1/v, σ(r)²/(2v²)), v = softplus(r) + 1e-6.
    @Test func heteroscedasticRegressionUsesTheFisher() throws {
        let spec = ModelSpec.mlp(inputShape: [2], hidden: [3], outputs: 2, activation: .tanh)
        let (model, theta, x, _) = Self.setup(spec, examples: 6, seed: 4)
        var rng = RandomGenerator(seed: 9)
        let y = Tensor.randomNormal(shape: [6, 1], rng: &rng)
        let posterior = try Laplace(subset: .all, structure: .full, priorPrecision: Self.prior, priorOptimization: .none,
                                    regression: .heteroscedastic)
            .fit(model: model, parameters: theta, task: .regression, inputs: x, targets: y, batchSize: 4)
        let fisher: ([Double]) -> [Double] = { f in
            let v = log1p(exp(f[1])) + 1e-6, slope = 1 / (1 + exp(-f[1]))
            return [1 / v, 0, 0, slope * slope / (2 * v * v)]
        }
        var reference = try LaplaceReference.ggn(model: model, parameters: theta, inputs: x, indices: posterior.subset.flatIndices,
                                                 outputHessian: fisher)
        let n = posterior.subset.dimension
        for i in 0..<n { reference[i * n + i] += Self.prior }
        expectLaplaceClose(try posterior.precision.denseMatrix().values, reference, absolute: 1e-6, relative: 1e-5, "heteroscedastic")
        // The log-likelihood is the Gaussian's at θ̂.
        let f = try model.predict(x, parameters: theta)
        var logLikelihood = 0.0
        for e in 0..<6 {
            let v = log1p(exp(Double(f[e, 1]))) + 1e-6, r = Double(y[e, 0]) - Double(f[e, 0])
            logLikelihood -= 0.5 * (log(2 * Double.pi * v) + r * r / v)
        }
        #expect(abs(posterior.logLikelihood - logLikelihood) < 1e-5 * abs(logLikelihood))
    }
}
