import Foundation
import Testing
@testable import CredenceNN
import CredenceTensor

@Suite struct SequentialTests {
    @Test func layoutUsesPyTorchStateDictNames() throws {
        let model = try Sequential(.mlp(inputShape: [1, 28, 28], hidden: [512, 512], outputs: 10, dropout: 0.1))
        #expect(model.layout.entries.map(\.name) == ["1.weight", "1.bias", "4.weight", "4.bias", "7.weight", "7.bias"])
        #expect(model.parameterCount == 669_706)  // as the reference's PyTorch MLP
        #expect(model.layout.entry(named: "4.weight")?.shape == [512, 512])
        #expect(model.layout.entry(named: "4.weight")?.offset == 784 * 512 + 512)
        let cnn = try Sequential(.smallCNN())
        #expect(cnn.parameterCount == 421_642)
        #expect(cnn.outputShape == [10])
    }

    @Test func denseMatchesHandComputation() throws {
        let model = try Sequential(ModelSpec(inputShape: [2], layers: [.dense(inputs: 2, outputs: 2, bias: true)]))
        // W = [[1, 2], [3, 4]] (rows = outputs), b = [0.5, -1]; x = [1, -1] → [1-2+0.5, 3-4-1]
        let theta = Tensor([1, 2, 3, 4, 0.5, -1])
        let y = try model.predict(Tensor(shape: [1, 2], values: [1, -1]), parameters: theta)
        #expect(y.values == [-0.5, -2])
    }

    @Test func wholeModelGradientMatchesFiniteDifferences() throws {
        // Dense–tanh–Dense–gelu–Dense with cross-entropy: the gradient w.r.t. the flat
        // parameter vector and w.r.t. the input, against central differences.
        let model = try Sequential(ModelSpec(inputShape: [3], layers: [
            .dense(inputs: 3, outputs: 4, bias: true), .activation(.tanh),
            .dense(inputs: 4, outputs: 4, bias: true), .activation(.gelu),
            .dense(inputs: 4, outputs: 3, bias: true)]))
        var rng = RandomGenerator(seed: 3)
        let theta = model.initialParameters(rng: &rng)
        let x = Tensor.randomNormal(shape: [5, 3], rng: &rng)
        try expectModelGradientsMatchFiniteDifferences(model, parameters: theta, inputs: x, labels: [0, 2, 1, 1, 0])
    }

    @Test func dropoutIsIdentityInEvalAndScaledInTraining() throws {
        let model = try Sequential(ModelSpec(inputShape: [1000], layers: [.dropout(rate: 0.25)]))
        let x = Tensor(shape: [4, 1000], repeating: 1)
        let empty = Tensor(shape: [0])
        #expect(try model.predict(x, parameters: empty, mode: .eval) == x)
        let y = try model.predict(x, parameters: empty, mode: .train, rng: RandomGenerator(seed: 1))
        let kept = y.values.filter { $0 != 0 }
        #expect(kept.allSatisfy { abs($0 - 4.0 / 3.0) < 1e-6 })
        // 4000 Bernoulli(0.75) draws: 5 standard errors ≈ 5·√(4000·0.75·0.25) ≈ 137.
        #expect(abs(kept.count - 3000) < 137)
        let again = try model.predict(x, parameters: empty, mode: .mcSample, rng: RandomGenerator(seed: 1))
        #expect(again == y, "same seed, same mask")
    }

    @Test func badInputsThrowTypedErrors() throws {
        let model = try Sequential(.mlp(inputShape: [4], hidden: [8], outputs: 2))
        var rng = RandomGenerator(seed: 0)
        let theta = model.initialParameters(rng: &rng)
        #expect(throws: ModelError.self) { try model.predict(Tensor(shape: [2, 5], repeating: 0), parameters: theta) }
        #expect(throws: ModelError.parameterCount(got: 3, expected: theta.count)) {
            try model.predict(Tensor(shape: [2, 4], repeating: 0), parameters: Tensor([1, 2, 3]))
        }
        // A Dense after images without Flatten: rejected when the model is built.
        let bad = ModelSpec(inputShape: [1, 28, 28], layers: [.dense(inputs: 784, outputs: 10, bias: true)])
        let error = try #require(throws: ModelError.self) { try Sequential(bad) }
        #expect(error.description.contains("Flatten"))
        #expect(throws: ModelError.self) { try Sequential(ModelSpec(inputShape: [4], layers: [.dropout(rate: 1)])) }
    }

    @Test func specRoundTripsThroughJSON() throws {
        let spec = ModelSpec.smallCNN(dropout: 0.2)
        let data = try JSONEncoder().encode(spec)
        #expect(try JSONDecoder().decode(ModelSpec.self, from: data) == spec)
    }

    @Test func monteCarloWithoutDropoutEqualsSoftmaxOfPredict() throws {
        let model = try Sequential(.mlp(inputShape: [3], hidden: [16], outputs: 4))
        var rng = RandomGenerator(seed: 9)
        let theta = model.initialParameters(rng: &rng)
        let x = Tensor.randomNormal(shape: [7, 3], rng: &rng)
        let probs = try model.monteCarloProbabilities(x, parameters: theta, samples: 3, rng: &rng)
        let expected = try model.predict(x, parameters: theta).softmaxLastAxis().values
        #expect(probs.shape == [3, 7, 4])
        for s in 0..<3 {
            let sample = Array(probs.values[(s * 28)..<((s + 1) * 28)])
            #expect(zip(sample, expected).allSatisfy { abs($0 - $1) < 1e-6 })
        }
    }

    @Test func monteCarloDropoutMatchesSeparatePasses() throws {
        // The batched MC path (shared prefix, stacked samples) must give per-sample
        // probabilities that are valid distributions, differ across samples, and are
        // reproducible from the seed.
        let model = try Sequential(.mlp(inputShape: [3], hidden: [32, 32], outputs: 4, dropout: 0.5))
        var rng = RandomGenerator(seed: 2)
        let theta = model.initialParameters(rng: &rng)
        let x = Tensor.randomNormal(shape: [5, 3], rng: &rng)
        var r1 = RandomGenerator(seed: 11), r2 = RandomGenerator(seed: 11)
        let a = try model.monteCarloProbabilities(x, parameters: theta, samples: 8, rng: &r1)
        let b = try model.monteCarloProbabilities(x, parameters: theta, samples: 8, rng: &r2)
        #expect(a == b)
        let sums = try a.sum(axes: [2]).values
        #expect(sums.allSatisfy { abs($0 - 1) < 1e-5 })
        #expect(Array(a.values[0..<20]) != Array(a.values[20..<40]), "samples must differ under dropout")
    }

    /// A suffix that opens with dropout gets its stacked input with the masks applied as the
    /// copies are made: the same probabilities, bit for bit, as copying the prefix and running
    /// the dropout layer — over several blocks a worker, for a prefix of even size (one pass,
    /// the pattern in windows) and of odd size (copy, then the pattern over the stack).
    @Test(arguments: [32, 33])
    func stackingWithTheDropoutMasksGivesTheLayersNumbers(_ width: Int) throws {
        let model = try Sequential(.mlp(inputShape: [3], hidden: [width, 16], outputs: 4, dropout: 0.3))
        var rng = RandomGenerator(seed: 4)
        let theta = model.initialParameters(rng: &rng)
        let x = Tensor.randomNormal(shape: [5, 3], rng: &rng)
        let split = try #require(model.firstStochasticLayer)
        #expect(model.layers[split] is Dropout)
        var context = ForwardContext(mode: .mcSample, rng: RandomGenerator(seed: 1))
        let prefix = try model(Variable(constant: x), parameters: Variable(constant: theta), context: &context, layers: 0..<split).value
        #expect(prefix.count % 2 == width % 2)
        func stacked(fused: Bool) throws -> Tensor {
            var r = RandomGenerator(seed: 11)
            let layers = (fused ? split + 1 : split)..<model.layers.count
            return try model.stackedMonteCarloProbabilities(prefix, samples: 9, samplesPerBlock: 2, leading: fused ? .dropout(rate: 0.3) : .none,
                                                            rng: &r) { input, context in
                try model(input, parameters: Variable(constant: theta), context: &context, layers: layers)
            }
        }
        let (fused, layered) = (try stacked(fused: true), try stacked(fused: false))
        #expect(fused.values.map(\.bitPattern) == layered.values.map(\.bitPattern))
        #expect(Set(fused.values).count > 9 * 4, "the samples differ under dropout")
    }

    /// MC dropout through the dense layer after the first dropout, as that layer's product
    /// without dropout less the dropped units' terms (at rate 0.1 after a ReLU about one term
    /// in twenty): the probabilities of running the dropout and dense layers on the stacked
    /// copies, to rounding, from the same draws (the layers after it draw the same masks) — for
    /// a layer of 128 outputs too, whose transposed weight gets rows padded off 512 bytes.
    @Test(arguments: [32, 128])
    func monteCarloThroughTheDenseLayerAfterDropoutGivesTheLayersProbabilities(_ width: Int) throws {
        let model = try Sequential(.mlp(inputShape: [6], hidden: [64, width], outputs: 5, dropout: 0.1))
        var rng = RandomGenerator(seed: 8)
        let theta = model.initialParameters(rng: &rng)
        let x = Tensor.randomNormal(shape: [7, 6], rng: &rng)
        let split = try #require(model.firstStochasticLayer)
        var context = ForwardContext(mode: .mcSample, rng: RandomGenerator(seed: 1))
        let prefix = try model(Variable(constant: x), parameters: Variable(constant: theta), context: &context, layers: 0..<split).value
        let dense = try #require(model.layers[split + 1] as? Dense)
        #expect(Sequential.dropsFewEnough(prefix, rate: 0.1, into: dense))
        #expect(!Sequential.dropsFewEnough(prefix, rate: 0.9, into: dense), "most terms dropped: the GEMM")
        #expect(!Sequential.dropsFewEnough(Tensor(shape: [3, 8], repeating: 1), rate: 0.1, into: Dense(inputs: 8, outputs: 2)),
                "a small layer: the GEMM")
        var infinite = prefix
        infinite.withUnsafeMutableBufferPointer { $0[3] = .infinity }
        #expect(!Sequential.dropsFewEnough(infinite, rate: 0.1, into: dense), "an infinite input: dropping it gives a finite output")
        // monteCarloProbabilities splits its generator as below before it stacks the samples.
        var r1 = RandomGenerator(seed: 11)
        let subtracted = try model.monteCarloProbabilities(x, parameters: theta, samples: 9, rng: &r1)
        var r2 = RandomGenerator(seed: 11)
        _ = r2.split()
        let layered = try model.stackedMonteCarloProbabilities(prefix, samples: 9, samplesPerBlock: Sequential.rowsPerBlock / 7,
                                                               leading: .dropout(rate: 0.1), rng: &r2) { input, context in
            try model(input, parameters: Variable(constant: theta), context: &context, layers: split + 1..<model.layers.count)
        }
        #expect(subtracted.shape == layered.shape)
        let error = zip(subtracted.values, layered.values).map { Swift.abs($0 - $1) }.max()!
        #expect(error < 1e-6, "largest difference \(error)")
        #expect(Set(subtracted.values).count > 9 * 5, "the samples differ under dropout")
    }

    /// The small CNN's ReLU → max-pooling pairs run as one pass (`rectifiedMaxPool`): its loss
    /// and parameter gradient equal, bit for bit, running every layer on its own.
    @Test func reluThenMaxPoolingInOnePassGivesTheLayersNumbers() throws {
        let model = try Sequential(.smallCNN(inputShape: [1, 12, 12], outputs: 3))
        var rng = RandomGenerator(seed: 9)
        let theta = model.initialParameters(rng: &rng)
        let x = Tensor.randomNormal(shape: [4, 1, 12, 12], rng: &rng)
        let pairs = model.layers.indices.dropLast().filter { i in (try? model.rectifiedMaxPool(at: i, Variable(constant: x))) != nil }
        #expect(pairs.count == 2, "the CNN has two ReLU → max-pooling pairs")
        func run(fused: Bool) throws -> ([UInt32], [UInt32]) {
            let tape = Tape()
            let parameters = tape.variable(theta)
            var context = ForwardContext(mode: .train, rng: RandomGenerator(seed: 1))
            var h = tape.variable(x)
            if fused {
                h = try model(h, parameters: parameters, context: &context)
            } else {
                for i in model.layers.indices {
                    h = try model.forwardLayer(i, h, parameters: try model.layerParameters(i, of: parameters), context: &context)
                }
            }
            let loss = try (h * h).sum()
            return ([loss.value.scalar.bitPattern], tape.gradients(of: loss)[parameters].values.map(\.bitPattern))
        }
        let (fused, layered) = (try run(fused: true), try run(fused: false))
        #expect(fused.0 == layered.0 && fused.1 == layered.1)
    }

    /// A ReLU followed by dropout runs as one pass over an untracked input in a stochastic mode
    /// (`rectifiedDropout`): the same draw and the same numbers, bit for bit, as the two layers
    /// one after the other (which a tracked input takes, the tape differentiating each); eval
    /// mode and a dropout-free chain are untouched.
    @Test(arguments: [32, 33])
    func reluThenDropoutInOnePassGivesTheLayersNumbers(_ width: Int) throws {
        let model = try Sequential(.mlp(inputShape: [3], hidden: [width, width], outputs: 4, dropout: 0.3))
        var rng = RandomGenerator(seed: 6)
        let theta = model.initialParameters(rng: &rng)
        let x = Tensor.randomNormal(shape: [7, 3], rng: &rng)
        var probe = ForwardContext(mode: .mcSample, rng: RandomGenerator(seed: 1))
        #expect(try model.rectifiedDropout(at: 1, Variable(constant: x), context: &probe) != nil, "layers 1 and 2 are ReLU and dropout")
        // The outputs and the generator's next draw (the same draws were taken).
        func run(tracked: Bool, mode: ForwardMode) throws -> ([UInt32], UInt64) {
            var context = ForwardContext(mode: mode, rng: RandomGenerator(seed: 3))
            let input = tracked ? Tape().variable(x) : Variable(constant: x)
            let y = try model(input, parameters: Variable(constant: theta), context: &context).value
            return (y.values.map(\.bitPattern), context.rng.next())
        }
        for mode in [ForwardMode.mcSample, .train, .eval] {
            let (fused, layered) = (try run(tracked: false, mode: mode), try run(tracked: true, mode: mode))
            #expect(fused.0 == layered.0 && fused.1 == layered.1, "\(mode)")
        }
    }
}
