@testable import CredenceNN
import CredenceTensor
import Foundation
import Testing

/// Dense and Conv2D with Gaussian weights (`GaussianWeightLayer`): gradients of every
/// estimator against central differences (the noise fixed by the seed), the distribution of
/// an output over many draws against its exact mean and variance, and how each estimator
/// correlates two copies of one example in a batch.
@Suite struct GaussianWeightsTests {
    static let layers: [(name: String, layer: any GaussianWeightLayer, input: [Int])] = [
        ("dense", Dense(inputs: 3, outputs: 2), [4, 3]),
        ("conv", Conv2D(inChannels: 2, outChannels: 2, kernel: 2, stride: 1, padding: 1), [2, 2, 3, 3]),
    ]

    func parameters(_ layer: any GaussianWeightLayer, seed: UInt64) -> (mean: [Tensor], sigma: [Tensor]) {
        var rng = RandomGenerator(seed: seed)
        let mean = layer.initialParameters(rng: &rng)
        let sigma = layer.parameterShapes.map { Tensor.randomUniform(shape: $0.shape, lower: 0.1, upper: 0.5, rng: &rng) }
        return (mean, sigma)
    }

    /// Σ c ⊙ y for fixed weights c, with the layer's noise drawn from seed 7 on every call.
    func weightedOutput(_ layer: any GaussianWeightLayer, _ estimator: WeightNoiseEstimator, x: Variable, mean: [Variable],
                        sigma: [Variable]) throws -> Variable {
        var context = ForwardContext(mode: .train, rng: RandomGenerator(seed: 7))
        let y = try layer.forward(x, mean: mean, standardDeviation: sigma, estimator: estimator, context: &context)
        var rng = RandomGenerator(seed: 8)
        return try (y * Variable(constant: Tensor.randomNormal(shape: y.shape, rng: &rng))).sum()
    }

    @Test(arguments: WeightNoiseEstimator.allCases, [0, 1])
    func gradientsMatchFiniteDifferences(_ estimator: WeightNoiseEstimator, _ which: Int) throws {
        let (name, layer, inputShape) = Self.layers[which]
        var rng = RandomGenerator(seed: 1)
        let (mean, sigma) = parameters(layer, seed: 2)
        let inputs = [Tensor.randomNormal(shape: inputShape, rng: &rng)] + mean + sigma
        let k = mean.count
        func value(_ t: [Tensor]) throws -> Double {
            let v = t.map { Variable(constant: $0) }
            return Double(try weightedOutput(layer, estimator, x: v[0], mean: Array(v[1...k]), sigma: Array(v[(k + 1)...])).value.scalar)
        }
        let tape = Tape()
        let vars = inputs.map { tape.variable($0) }
        let out = try weightedOutput(layer, estimator, x: vars[0], mean: Array(vars[1...k]), sigma: Array(vars[(k + 1)...]))
        let grads = tape.gradients(of: out)
        let epsilon: Float = 1e-2
        for (j, tensor) in inputs.enumerated() {
            for i in 0..<tensor.count {
                var plus = inputs, minus = inputs
                plus[j].withUnsafeMutableBufferPointer { $0[i] += epsilon }
                minus[j].withUnsafeMutableBufferPointer { $0[i] -= epsilon }
                let numeric = (try value(plus) - value(minus)) / Double(2 * epsilon)
                let analytic = Double(grads[vars[j]].values[i])
                #expect(abs(analytic - numeric) < 2e-3 + 2e-2 * abs(numeric),
                        "\(name) \(estimator): input \(j)[\(i)] analytic \(analytic) vs numeric \(numeric)")
            }
        }
    }

    /// Every estimator gives each output the law of x·W + b with W ~ N(μ, σ²): mean x·μ + μ_b,
    /// variance x²·σ² + σ_b². 20,000 draws of a Dense(3 → 2) output; tolerances 5 standard
    /// errors of the mean and 5 % of the variance (its standard error is ≈ 1 %).
    @Test(arguments: WeightNoiseEstimator.allCases)
    func eachOutputHasTheExactMeanAndVariance(_ estimator: WeightNoiseEstimator) throws {
        let layer = Dense(inputs: 3, outputs: 2)
        let (mean, sigma) = parameters(layer, seed: 3)
        let x = Tensor(shape: [1, 3], values: [0.5, -1.5, 2])
        let draws = 20_000
        var sums = [Double](repeating: 0, count: 2), squares = sums
        var context = ForwardContext(mode: .train, rng: RandomGenerator(seed: 4))
        for _ in 0..<draws {
            let y = try layer.forward(Variable(constant: x), mean: mean.map { Variable(constant: $0) },
                                      standardDeviation: sigma.map { Variable(constant: $0) }, estimator: estimator, context: &context)
            for o in 0..<2 { let v = Double(y.value.values[o]); sums[o] += v; squares[o] += v * v }
        }
        for o in 0..<2 {
            var exactMean = Double(mean[1].values[o]), exactVariance = pow(Double(sigma[1].values[o]), 2)
            for i in 0..<3 {
                exactMean += Double(x.values[i] * mean[0].values[o * 3 + i])
                exactVariance += pow(Double(x.values[i] * sigma[0].values[o * 3 + i]), 2)
            }
            let m = sums[o] / Double(draws), variance = squares[o] / Double(draws) - m * m
            #expect(abs(m - exactMean) < 5 * (exactVariance / Double(draws)).squareRoot(), "\(estimator) output \(o): mean \(m) vs \(exactMean)")
            #expect(abs(variance / exactVariance - 1) < 0.05, "\(estimator) output \(o): variance \(variance) vs \(exactVariance)")
        }
    }

    /// Two copies of one example in a batch: one weight draw gives them the same output
    /// (correlation 1); local reparameterization draws them independently (0); Flipout's sign
    /// flips decorrelate the perturbations (0 in expectation). 4,000 batches; |r| < 0.1 is
    /// ≈ 6 standard errors.
    @Test func flipoutAndLocalReparameterizationDecorrelateTheExamplesOfABatch() throws {
        let layer = Dense(inputs: 3, outputs: 1)
        let (mean, sigma) = parameters(layer, seed: 5)
        let x = Tensor(shape: [2, 3], values: [0.5, -1.5, 2, 0.5, -1.5, 2])
        func correlation(_ estimator: WeightNoiseEstimator) throws -> Double {
            var context = ForwardContext(mode: .train, rng: RandomGenerator(seed: 6))
            var a: [Double] = [], b: [Double] = []
            for _ in 0..<4000 {
                let y = try layer.forward(Variable(constant: x), mean: mean.map { Variable(constant: $0) },
                                          standardDeviation: sigma.map { Variable(constant: $0) }, estimator: estimator, context: &context)
                a.append(Double(y.value.values[0]))
                b.append(Double(y.value.values[1]))
            }
            let ma = a.reduce(0, +) / 4000, mb = b.reduce(0, +) / 4000
            let cov = zip(a, b).reduce(0) { $0 + ($1.0 - ma) * ($1.1 - mb) }
            let va = a.reduce(0) { $0 + ($1 - ma) * ($1 - ma) }, vb = b.reduce(0) { $0 + ($1 - mb) * ($1 - mb) }
            return cov / (va * vb).squareRoot()
        }
        #expect(try correlation(.reparameterization) > 0.999)
        #expect(abs(try correlation(.localReparameterization)) < 0.1)
        // Flipout shares the bias draw between the examples: only the weight part is decorrelated.
        let flipout = try correlation(.flipout)
        var biasShare = pow(Double(sigma[1].values[0]), 2), total = biasShare
        for i in 0..<3 { total += pow(Double(x.values[i] * sigma[0].values[i]), 2) }
        biasShare /= total
        #expect(abs(flipout - biasShare) < 0.1, "Flipout correlation \(flipout), the bias's share of the variance \(biasShare)")
    }

    /// Flipout's signs are ±1 from the generator's bits in the documented order (element i
    /// from bit i mod 64 of draw i/64; 0 → −1), whole and partial words alike, and about half
    /// of them are −1.
    @Test(arguments: [1, 63, 64, 65, 1_000])
    func signsComeFromTheDrawsBits(_ count: Int) {
        var rng = RandomGenerator(seed: 12), reference = rng
        let signs = randomSigns([count], rng: &rng).values
        var expected: [Float] = [], bits: UInt64 = 0
        for i in 0..<count {
            if i % 64 == 0 { bits = reference.next() }
            expected.append((bits >> UInt64(i % 64)) & 1 == 0 ? -1 : 1)
        }
        #expect(signs == expected)
        #expect(rng.next() == reference.next(), "one draw per 64 signs")
        if count == 1_000 { #expect(abs(signs.filter { $0 < 0 }.count - 500) < 60) }
    }
}
