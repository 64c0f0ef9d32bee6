@testable import CredenceInference
import CredenceNN
import CredenceTensor
import Foundation
import Testing

/// The explicit log-posterior: weight decay is a Gaussian prior (stated as an equality of
/// optimizer steps), gradients against Double references, temperature, and validation.
@Suite struct LogPosteriorTests {
    static let classifier = try! Sequential(.mlp(inputShape: [2], hidden: [8], outputs: 3))

    /// A seeded classification batch of `count` examples (≥ 32 splits over the worker threads).
    static func batch(_ count: Int, classes: Int = 3, seed: UInt64) -> TrainingBatch {
        var rng = RandomGenerator(seed: seed)
        let x = Tensor.randomNormal(shape: [count, 2], rng: &rng)
        return TrainingBatch(inputs: x, labels: (0..<count).map { _ in Int32(rng.integer(below: classes)) })
    }

    static func initial(_ model: Sequential, seed: UInt64 = 0) -> Tensor {
        var rng = RandomGenerator(seed: seed)
        return model.initialParameters(rng: &rng)
    }

    /// max |a − b| / max |b|.
    static func relativeDifference(_ a: Tensor, _ b: Tensor) -> Double {
        let (x, y) = (a.values, b.values)
        let scale = y.map { abs(Double($0)) }.max() ?? 1
        return zip(x, y).map { abs(Double($0) - Double($1)) }.max()! / max(scale, 1e-30)
    }

    /// Six steps of an optimizer with `weightDecay: λ` on the mean-loss gradient against six
    /// steps of the same optimizer without decay on ∇U/N under the prior `prior`; returns the
    /// relative parameter difference after the last step.
    static func stepDifference(_ kind: OptimizerKind, decay: Float, datasetSize: Int, prior: GaussianPrior) throws -> Double {
        let model = classifier
        let target = try LogPosterior(model: model, objective: .crossEntropy(labelSmoothing: 0), prior: prior,
                                      datasetSize: datasetSize)
        let trainer = Trainer(model: model, optimizer: Optimizer([], parameterCount: 0),
                              configuration: TrainingConfiguration(epochs: 1))
        var decayed = Optimizer.make(kind, learningRate: .constant(0.1), momentum: 0.9, weightDecay: decay,
                                     parameterCount: model.parameterCount)
        var plain = Optimizer.make(kind, learningRate: .constant(0.1), momentum: 0.9, weightDecay: 0,
                                   parameterCount: model.parameterCount)
        var (a, b) = (initial(model), initial(model))
        for step in 0..<6 {
            let batch = Self.batch(48, seed: 50 + UInt64(step))
            var (ra, rb) = (RandomGenerator(seed: UInt64(step)), RandomGenerator(seed: UInt64(step)))
            let parts = try trainer.lossAndGradientParts(parameters: a, batch: batch, rng: &ra, mode: .eval).gradientParts
            decayed.update(&a, gradientParts: parts)
            plain.update(&b, gradient: try target.scaledGradientForMeanLoss(parameters: b, batch: batch, rng: &rb).gradient)
        }
        return relativeDifference(b, a)
    }

    /// (a) weight decay λ ≡ GaussianPrior.fromWeightDecay(λ, N), λ = 5e-3, N = 1000, six steps.
    /// Tolerance 1e-6 relative. Measured: SGD (momentum 0.9) 0, bit-identical; Adam 1.2e-7
    /// (one Float ulp of a parameter). ∇U/N is formed with the same Float operations as
    /// `AddWeightDecay`, (Σ shard parts) + c·θ, but the prior's coefficient is
    /// c = Float(λN · Float(1/N)), and Float(1/1000) rounds so that c is the Float after λ;
    /// Adam's normalisation exposes that 1-ulp difference, SGD's steps round it away. With
    /// N = 1024 (or 777, or 60000) c = λ and both are bit-identical.
    /// (b) Negative control: precision λ (forgetting N) differs by 9e-3 (SGD) and 0.86 (Adam).
    @Test(arguments: [OptimizerKind.sgd, .adam])
    func weightDecayIsAGaussianPriorOfPrecisionLambdaN(_ kind: OptimizerKind) throws {
        let (decay, n): (Float, Int) = (5e-3, 1000)
        let same = try Self.stepDifference(kind, decay: decay, datasetSize: n,
                                           prior: try .fromWeightDecay(decay, datasetSize: n))
        #expect(same <= 1e-6, "\(kind): weight decay vs prior differ by \(same) relative")
        let forgotten = try Self.stepDifference(kind, decay: decay, datasetSize: n, prior: try GaussianPrior(precision: Double(decay)))
        #expect(forgotten > 1e-4, "\(kind): the prior δ = λ (without N) must give another update; differs by only \(forgotten)")
    }

    /// U(θ) in Double for a one-layer network y = Wx + b (weight [outputs, 2] then bias), with
    /// the categorical or (D = outputs/2) heteroscedastic Gaussian likelihood and N(0, δ⁻¹I).
    static func referencePotential(_ theta: [Double], _ batch: TrainingBatch, gaussian: Bool, n: Int, precision: Double) -> Double {
        let k = theta.count / 3, x = batch.inputs.values.map(Double.init)
        var nll = 0.0
        for e in 0..<batch.count {
            let out = (0..<k).map { o in theta[2 * o] * x[2 * e] + theta[2 * o + 1] * x[2 * e + 1] + theta[2 * k + o] }
            if gaussian {
                let d = k / 2, y = batch.targets!.values.map(Double.init)
                for j in 0..<d {
                    let v = log1p(exp(-abs(out[d + j]))) + max(out[d + j], 0) + 1e-6
                    let r = y[e * d + j] - out[j]
                    nll += 0.5 * (log(2 * Double.pi) + log(v) + r * r / v)
                }
            } else {
                let m = out.max()!
                nll -= out[Int(batch.labels[e])] - m - log(out.reduce(0) { $0 + exp($1 - m) })
            }
        }
        let squares = theta.reduce(0) { $0 + $1 * $1 }
        return Double(n) / Double(batch.count) * nll + precision / 2 * squares - Double(theta.count) / 2 * log(precision / (2 * Double.pi))
    }

    /// potential's value and gradient against the Double reference and its central differences
    /// (h = 1e-5) for a 2→3 softmax network (9 parameters) and a 2→4 Gaussian network
    /// (D = 2, 12 parameters), 40 examples (two shards on two workers), N = 300. Tolerance:
    /// 2e-5 relative for U and 1e-4 of the largest gradient component (Float arithmetic).
    @Test(arguments: [false, true])
    func potentialMatchesADoubleReference(_ gaussian: Bool) throws {
        let outputs = gaussian ? 4 : 3
        let model = try Sequential(ModelSpec(inputShape: [2], layers: [.dense(inputs: 2, outputs: outputs, bias: true)]))
        var batch = Self.batch(40, seed: 9)
        var rng = RandomGenerator(seed: 10)
        if gaussian { batch = TrainingBatch(inputs: batch.inputs, targets: Tensor.randomNormal(shape: [40, 2], rng: &rng)) }
        let precision = 3.0, n = 300
        let target = try LogPosterior(model: model, objective: gaussian ? .gaussianNegativeLogLikelihood : .crossEntropy(labelSmoothing: 0),
                                      prior: try GaussianPrior(precision: precision), datasetSize: n)
        let theta = Tensor.randomNormal(shape: [model.parameterCount], standardDeviation: 0.7, rng: &rng)
        let (u, g) = try target.potential(parameters: theta, batch: batch, rng: &rng)
        let t = theta.values.map(Double.init)
        let reference = Self.referencePotential(t, batch, gaussian: gaussian, n: n, precision: precision)
        #expect(abs(u - reference) <= 2e-5 * abs(reference), "U = \(u), reference \(reference)")
        let h = 1e-5
        let numeric = (0..<t.count).map { i -> Double in
            var (plus, minus) = (t, t)
            plus[i] += h
            minus[i] -= h
            return (Self.referencePotential(plus, batch, gaussian: gaussian, n: n, precision: precision)
                - Self.referencePotential(minus, batch, gaussian: gaussian, n: n, precision: precision)) / (2 * h)
        }
        let scale = numeric.map(abs).max()!
        for i in 0..<t.count {
            #expect(abs(Double(g.values[i]) - numeric[i]) <= 1e-4 * scale, "∂U/∂θ\(i): \(g.values[i]) vs \(numeric[i])")
        }
    }

    /// The sharded gradient equals one tape over the whole batch, N·∇(mean loss) + δθ, to 1e-5.
    @Test func shardedGradientEqualsTheSingleShardGradient() throws {
        let model = Self.classifier, n = 500, precision = 2.0
        let target = try LogPosterior(model: model, objective: .crossEntropy(labelSmoothing: 0),
                                      prior: try GaussianPrior(precision: precision), datasetSize: n)
        let theta = Self.initial(model), batch = Self.batch(64, seed: 3)
        var rng = RandomGenerator(seed: 0)
        let sharded = try target.potential(parameters: theta, batch: batch, rng: &rng).gradient
        let tape = Tape()
        let variable = tape.variable(theta)
        var context = ForwardContext(mode: .eval)
        let loss = try Objective.crossEntropy(labelSmoothing: 0).loss(
            try model(Variable(constant: batch.inputs), parameters: variable, context: &context), batch: batch)
        var single = tape.gradients(of: loss)[variable] * Float(n)
        single.addInPlace(theta, scale: Float(precision))
        #expect(Self.relativeDifference(sharded, single) <= 1e-5)
    }

    /// A prior other than the Gaussian (the scale mixture) goes its own way — the likelihood's
    /// part formed whole, then the prior's own gradient and log density: the potential differs
    /// from the Gaussian prior's by exactly the priors' difference, in value (1e-9) and gradient (1e-5).
    @Test func anotherPriorAddsItsOwnGradientAndValue() throws {
        let model = Self.classifier, n = 500
        let gaussian = try GaussianPrior(precision: 2)
        let theta = Self.initial(model), batch = Self.batch(64, seed: 3)
        func potential(_ prior: any ParameterPrior) throws -> (value: Double, gradient: Tensor) {
            var rng = RandomGenerator(seed: 0)
            return try LogPosterior(model: model, objective: .crossEntropy(labelSmoothing: 0), prior: prior, datasetSize: n)
                .potential(parameters: theta, batch: batch, rng: &rng)
        }
        let (withGaussian, withMixture) = (try potential(gaussian), try potential(ParameterPriorTests.mixture))
        let valueShift = gaussian.logDensity(theta) - ParameterPriorTests.mixture.logDensity(theta)
        #expect(abs(withMixture.value - (withGaussian.value + valueShift)) <= 1e-9 * abs(withMixture.value))
        var expected = withGaussian.gradient
        gaussian.addGradient(of: theta, to: &expected, scale: 1)       // take the Gaussian's −∇log p back out
        ParameterPriorTests.mixture.addGradient(of: theta, to: &expected, scale: -1)  // and put the mixture's in
        #expect(Self.relativeDifference(withMixture.gradient, expected) <= 1e-5)
    }

    /// logDensity = −U/T with gradient −∇U/T (T = 1: the exact negation), and
    /// scaledGradientForMeanLoss = (U/N, ∇U/N).
    @Test func temperatureAndMeanLossScaling() throws {
        let model = Self.classifier, n = 800
        let prior = try GaussianPrior(precision: 4)
        let theta = Self.initial(model), batch = Self.batch(40, seed: 4)
        func make(_ t: Double) throws -> LogPosterior {
            try LogPosterior(model: model, objective: .crossEntropy(labelSmoothing: 0), prior: prior, datasetSize: n, temperature: t)
        }
        var rng = RandomGenerator(seed: 0)
        let (u, gradU) = try make(1).potential(parameters: theta, batch: batch, rng: &rng)
        let bayes = try make(1).logDensity(parameters: theta, batch: batch, rng: &rng)
        #expect(bayes.value == -u && bayes.gradient == gradU * -1)
        let cold = try make(0.4).logDensity(parameters: theta, batch: batch, rng: &rng)
        #expect(abs(cold.value + u / 0.4) <= 1e-12 * abs(u))
        #expect(Self.relativeDifference(cold.gradient, gradU * Float(-1 / 0.4)) <= 1e-6)
        let mean = try make(3).scaledGradientForMeanLoss(parameters: theta, batch: batch, rng: &rng)
        #expect(abs(mean.value - u / Double(n)) <= 1e-12 * abs(u))
        #expect(Self.relativeDifference(mean.gradient, gradU * Float(1 / Double(n))) <= 1e-6)
    }
}

/// The priors: per-layer windows, the scale mixture against direct Double computations,
/// and every validation error.
@Suite struct ParameterPriorTests {
    /// Modules of `.mlp([2], [8], 3)`: dense "0" (θ[0..<24]) and dense "2" (θ[24..<51]).
    @Test func perModulePrecisionsHitTheirWindows() throws {
        let layout = LogPosteriorTests.classifier.layout
        let prior = try GaussianPrior(modulePrecisions: ["0": 2, "2": 50], layout: layout)
        #expect(prior.windows == [.init(range: 0..<24, precision: 2), .init(range: 24..<51, precision: 50)])
        var rng = RandomGenerator(seed: 1)
        let theta = Tensor.randomNormal(shape: [51], rng: &rng)
        var gradient = Tensor(shape: [51], repeating: 1)
        prior.addGradient(of: theta, to: &gradient, scale: 0.5)
        let t = theta.values
        for i in 0..<51 {
            let precision: Float = i < 24 ? 2 : 50
            #expect(abs(gradient.values[i] - (1 - 0.5 * precision * t[i])) <= 1e-6 * (1 + abs(gradient.values[i])), "element \(i)")
        }
        let direct = (0..<51).reduce(0.0) { s, i in
            let p = i < 24 ? 2.0 : 50.0
            return s + 0.5 * log(p / (2 * Double.pi)) - p / 2 * Double(t[i]) * Double(t[i])
        }
        #expect(abs(prior.logDensity(theta) - direct) <= 1e-12 * abs(direct))
        // Draws: window variances 1/2 and 1/50 from 400 × (24 or 27) values, within 8%.
        var sums = [0.0, 0.0]
        for _ in 0..<400 {
            for (i, v) in prior.sample(count: 51, rng: &rng).values.enumerated() { sums[i < 24 ? 0 : 1] += Double(v * v) }
        }
        #expect(abs(sums[0] / (400 * 24) / 0.5 - 1) <= 0.08 && abs(sums[1] / (400 * 27) * 50 - 1) <= 0.08, "\(sums)")
        let isotropic = try GaussianPrior.fromWeightDecay(0.01, datasetSize: 500)
        #expect(abs(isotropic.isotropicPrecision! - 5) <= 1e-6)
    }

    /// Two shard gradients inside one prior window (the samplers' usual case) go through one AVX2
    /// pass (`FastMath.twoPartGradient`) that gives the portable loops' gradient and Σθ² bit for
    /// bit — at likelihood scale 1 and not, on chunks with tails, with zeros, a subnormal, huge
    /// values and infinities in θ and the parts.
    @Test(arguments: [Float(1), -3]) func twoShardGradientKernelEqualsTheLoops(scale: Float) throws {
        try #require(FastMath.hasVectorKernels, "no AVX2 on this CPU: only the loops run")
        let n = 64 * 37 + 29   // 64 chunks of 37 or 38 values: every chunk has a tail past a multiple of 8
        var rng = RandomGenerator(seed: 12)
        var parts = (0..<2).map { _ in Tensor.randomNormal(shape: [n], rng: &rng) }, theta = Tensor.randomNormal(shape: [n], rng: &rng) * 30
        let specials: [Float] = [0, -0.0, 1e-40, 3e37, -3e37, .infinity, -.infinity]
        theta.withUnsafeMutableBufferPointer { t in for (k, v) in specials.enumerated() { t[k * 101] = v } }
        parts[1].withUnsafeMutableBufferPointer { p in for (k, v) in specials.enumerated() { p[k * 103 + 7] = v } }
        var layout = ParameterLayout()
        layout.append(name: "0.weight", layer: 0, shape: [n])
        let prior = try GaussianPrior(modulePrecisions: ["0": 2], layout: layout)
        func formed(_ vector: Bool) -> ([UInt32], [UInt64]) {
            let g = ScaledGradient(parts: parts, likelihoodScale: scale, windows: prior.windows, priorScale: 0.25, likelihoodValue: 0,
                                   valueScale: 1)
            var out = [Float](repeating: .nan, count: n)
            theta.withUnsafeBufferPointer { t in
                out.withUnsafeMutableBufferPointer { o in
                    for j in 0..<g.chunks.count { g.form(j, theta: t, into: o.baseAddress! + g.chunks.range(j).lowerBound, vectorKernels: vector) }
                }
            }
            return (out.map(\.bitPattern), g.squares.map(\.bitPattern))
        }
        let (kernel, kernelSquares) = formed(true), (loops, loopSquares) = formed(false)
        #expect(zip(kernel, loops).filter { $0 != $1 }.isEmpty)
        #expect(kernelSquares == loopSquares)
    }

    /// The fused chunked pass equals the passes one after the other, bit for bit: three shard
    /// gradients summed in order, scaled, plus a per-module prior whose window boundary (900)
    /// falls inside a chunk (873..<901); its value equals the separate log prior to 1e-12; and
    /// SGLD's chunked step is θ + ε·g + √(2ε)·ξ with chunk j's ξ from the j-th stream split off
    /// the step's generator — fixed chunks and streams, so no thread count changes it.
    @Test func scaledGradientFormsTheSeparatePassesInOne() throws {
        let model = try Sequential(.mlp(inputShape: [2], hidden: [300], outputs: 3))
        let n = model.parameterCount
        let prior = try GaussianPrior(modulePrecisions: ["0": 2, "2": 50], layout: model.layout)
        #expect(prior.windows.map(\.range) == [0..<900, 900..<n] && ParameterChunks(count: n).range(31) == 873..<901)
        var rng = RandomGenerator(seed: 9)
        let parts = (0..<3).map { _ in Tensor.randomNormal(shape: [n], rng: &rng) }
        let theta = Tensor.randomNormal(shape: [n], rng: &rng)
        let fused = ScaledGradient(parts: parts, likelihoodScale: -3, windows: prior.windows, priorScale: 0.5, likelihoodValue: 7,
                                   valueScale: -2)
        var expected = parts[0]
        expected.withUnsafeMutableBufferPointer { g in
            for part in parts.dropFirst() { part.withUnsafeBufferPointer { p in for i in g.indices { g[i] += p[i] } } }
            for i in g.indices { g[i] *= -3 }
        }
        prior.addGradient(of: theta, to: &expected, scale: 0.5)
        #expect(fused.materialize(theta: theta) == expected)
        let value = 7 - (-2) * prior.logDensity(theta)
        #expect(abs(fused.value - value) <= 1e-12 * abs(value))
        var stepped = theta, none = NoBuffers(), stepRNG = RandomGenerator(seed: 4)
        LangevinDynamics().step(&stepped, &none, gradient: fused, stepSize: 1e-3, noise: true, rng: &stepRNG)
        var root = RandomGenerator(seed: 4)
        var streams = root.split(into: ParameterChunks(count: n).count)
        var manual = theta.values
        let (epsilon, scale) = (Float(1e-3), Float((2e-3).squareRoot()))
        for j in streams.indices {
            let range = ParameterChunks(count: n).range(j)
            var xi = [Float](repeating: 0, count: range.count)
            xi.withUnsafeMutableBufferPointer { FastMath.fillNormalNoise($0, rng: &streams[j], interleaved: true) }
            for i in range { manual[i] += epsilon * expected.values[i] + scale * xi[i - range.lowerBound] }
        }
        #expect(stepped.values == manual)
    }

    static let mixture = try! ScaleMixtureGaussianPrior(mixtureWeight: 0.3, standardDeviation1: 1, standardDeviation2: exp(-3))

    /// log[π N(θ; 0, σ₁²) + (1−π) N(θ; 0, σ₂²)] computed directly in Double, to 1e-12; at
    /// θ = 40 the direct sum underflows (both terms < 1e-308) while the log-sum-exp gives
    /// log π − log σ₁ − θ²/2σ₁² − ½ log 2π.
    @Test func scaleMixtureLogDensityMatchesADirectComputation() {
        let prior = Self.mixture
        let values: [Float] = [-2, -0.3, -0.01, 0, 0.02, 0.5, 3]
        func density(_ x: Double, _ s: Double) -> Double { exp(-x * x / (2 * s * s)) / (s * (2 * Double.pi).squareRoot()) }
        let direct = values.map { v -> Double in
            let x = Double(v)
            return log(0.3 * density(x, 1) + 0.7 * density(x, exp(-3)))
        }
        for (v, d) in zip(values, direct) {
            #expect(abs(prior.logDensity(element: Double(v)) - d) <= 1e-12 * max(1, abs(d)), "θ = \(v)")
        }
        #expect(abs(prior.logDensity(Tensor(values)) - direct.reduce(0, +)) <= 1e-12 * abs(direct.reduce(0, +)))
        let far = prior.logDensity(element: 40)
        #expect(log(0.3 * density(40, 1) + 0.7 * density(40, exp(-3))) == -.infinity)
        #expect(abs(far - (log(0.3) - 800 - 0.5 * log(2 * Double.pi))) <= 1e-12 * 800)
    }

    /// ∇ against central differences (h = 1e-6) of the Double log density, to 1e-4 of
    /// max(1, |∇|) (Float); finite at θ = ±40 (the wide component's −θ/σ₁²); `scale` and
    /// accumulation into an existing gradient; draws have variance πσ₁² + (1−π)σ₂² within 4%.
    @Test func scaleMixtureGradientAndDraws() {
        let prior = Self.mixture
        let values: [Float] = [-2, -0.3, -0.07, -0.01, 0, 0.02, 0.05, 0.5, 3, 40, -40]
        var gradient = Tensor(shape: [values.count], repeating: 0.25)
        prior.addGradient(of: Tensor(values), to: &gradient, scale: 2)
        for (i, v) in values.enumerated() {
            let x = Double(v), h = 1e-6
            let numeric = (prior.logDensity(element: x + h) - prior.logDensity(element: x - h)) / (2 * h)
            let analytic = (Double(gradient.values[i]) - 0.25) / 2
            #expect(abs(analytic - numeric) <= 1e-4 * max(1, abs(numeric)), "θ = \(v): \(analytic) vs \(numeric)")
        }
        var rng = RandomGenerator(seed: 2)
        let draws = prior.sample(count: 100_000, rng: &rng).values
        let variance = draws.reduce(0.0) { $0 + Double($1 * $1) } / Double(draws.count)
        #expect(abs(variance / (0.3 + 0.7 * exp(-6.0)) - 1) <= 0.04, "variance \(variance)")
    }

    /// `body` throws `InferenceError.invalidOption` whose message mentions `fragment`.
    func expectInvalidOption(_ fragment: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("expected an invalid-option error mentioning \"\(fragment)\"", sourceLocation: sourceLocation)
        } catch let InferenceError.invalidOption(message) {
            #expect(message.contains(fragment), "message \"\(message)\" should mention \"\(fragment)\"", sourceLocation: sourceLocation)
        } catch {
            Issue.record("expected invalidOption, got \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func everyInvalidArgumentIsRejected() throws {
        let model = LogPosteriorTests.classifier, layout = model.layout
        for bad in [0, -1, Double.nan, .infinity] {
            expectInvalidOption("\(bad)") { _ = try GaussianPrior(precision: bad) }
        }
        expectInvalidOption("module '2' has none") { _ = try GaussianPrior(modulePrecisions: ["0": 1], layout: layout) }
        expectInvalidOption("no module '1'") { _ = try GaussianPrior(modulePrecisions: ["0": 1, "1": 1, "2": 1], layout: layout) }
        expectInvalidOption("module 2 is -3.0") { _ = try GaussianPrior(modulePrecisions: ["0": 1, "2": -3], layout: layout) }
        for bad: Float in [0, -1e-3, .nan, .infinity] {
            expectInvalidOption("weight decay \(bad)") { _ = try GaussianPrior.fromWeightDecay(bad, datasetSize: 10) }
        }
        expectInvalidOption("got 0") { _ = try GaussianPrior.fromWeightDecay(1e-3, datasetSize: 0) }
        for bad in [0, 1, 1.5, Double.nan] {
            expectInvalidOption("π is \(bad)") { _ = try ScaleMixtureGaussianPrior(mixtureWeight: bad, standardDeviation1: 1, standardDeviation2: 0.1) }
        }
        expectInvalidOption("σ₁ is 0.0") { _ = try ScaleMixtureGaussianPrior(mixtureWeight: 0.5, standardDeviation1: 0, standardDeviation2: 0.1) }
        expectInvalidOption("σ₂ is -1.0") { _ = try ScaleMixtureGaussianPrior(mixtureWeight: 0.5, standardDeviation1: 1, standardDeviation2: -1) }
        expectInvalidOption("σ₂ is inf") { _ = try ScaleMixtureGaussianPrior(mixtureWeight: 0.5, standardDeviation1: 1, standardDeviation2: .infinity) }

        let prior = try GaussianPrior(precision: 1), ce = Objective.crossEntropy(labelSmoothing: 0)
        expectInvalidOption("got 0") { _ = try LogPosterior(model: model, objective: ce, prior: prior, datasetSize: 0) }
        for bad in [0, -1, Double.nan, .infinity] {
            expectInvalidOption("temperature is \(bad)") { _ = try LogPosterior(model: model, objective: ce, prior: prior, datasetSize: 10, temperature: bad) }
        }
        expectInvalidOption("label smoothing 0.1") { _ = try LogPosterior(model: model, objective: .crossEntropy(labelSmoothing: 0.1), prior: prior, datasetSize: 10) }
        expectInvalidOption("mean squared error") { _ = try LogPosterior(model: model, objective: .meanSquaredError, prior: prior, datasetSize: 10) }
        #expect(throws: InferenceError.self) { _ = try LogPosterior(model: model, objective: .gaussianNegativeLogLikelihood, prior: prior, datasetSize: 10) }
        let other = try Sequential(.mlp(inputShape: [2], hidden: [4], outputs: 3))
        #expect(throws: ModelError.parameterCount(got: other.parameterCount, expected: model.parameterCount)) {
            _ = try LogPosterior(model: model, objective: ce, prior: try GaussianPrior(modulePrecisions: ["0": 1, "2": 1], layout: other.layout), datasetSize: 10)
        }

        let target = try LogPosterior(model: model, objective: ce, prior: prior, datasetSize: 40)
        var rng = RandomGenerator(seed: 0)
        #expect(throws: ModelError.parameterCount(got: 10, expected: model.parameterCount)) {
            _ = try target.potential(parameters: Tensor(shape: [10]), batch: LogPosteriorTests.batch(4, seed: 0), rng: &rng)
        }
        let theta = LogPosteriorTests.initial(model)
        expectInvalidOption("got 41") { _ = try target.potential(parameters: theta, batch: LogPosteriorTests.batch(41, seed: 0), rng: &rng) }
        expectInvalidOption("got 0") {
            _ = try target.logDensity(parameters: theta, batch: TrainingBatch(inputs: Tensor(shape: [0, 2])), rng: &rng)
        }
    }
}
