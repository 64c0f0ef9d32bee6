import Testing
@testable import CredenceNN
import CredenceTensor

@Suite struct AugmentationTests {
    /// Against a direct reading of torchvision's recipe: pad by p with zeros, crop the H×W window
    /// at (p + dy, p + dx), flip it left–right — with the draws replayed from the same seed.
    @Test func cropAndFlipShiftsWithZerosAndMirrors() throws {
        let (n, c, h, w, p) = (6, 2, 5, 4, 2)
        let images = Tensor(shape: [n, c, h, w], values: (0..<(n * c * h * w)).map { Float($0 + 1) })
        var rng = RandomGenerator(seed: 9), replay = RandomGenerator(seed: 9)
        let out = try AugmentedObjective.cropAndFlip(images, padding: p, rng: &rng)
        var flips = 0, shifts = 0
        for i in 0..<n {
            let dy = replay.integer(below: 2 * p + 1) - p, dx = replay.integer(below: 2 * p + 1) - p, flip = replay.bernoulli(0.5)
            flips += flip ? 1 : 0
            shifts += dy != 0 || dx != 0 ? 1 : 0
            for ch in 0..<c {
                for y in 0..<h {
                    for x in 0..<w {
                        let sx = (flip ? w - 1 - x : x) + dx, sy = y + dy
                        let expected: Float = (0..<h).contains(sy) && (0..<w).contains(sx) ? images.values[((i * c + ch) * h + sy) * w + sx] : 0
                        #expect(out.values[((i * c + ch) * h + y) * w + x] == expected, "image \(i) (\(dy), \(dx), flip \(flip)) at \(ch),\(y),\(x)")
                    }
                }
            }
        }
        #expect(flips > 0 && flips < n && shifts > 0)  // the seed exercises both branches
        #expect(try AugmentedObjective.cropAndFlip(images, padding: 0, rng: &rng).values.allSatisfy { $0 > 0 })  // no zeros shifted in
        #expect(throws: TrainingError.self) { try AugmentedObjective.cropAndFlip(Tensor(shape: [2, 3], repeating: 0), padding: 1, rng: &rng) }
    }

    @Test func augmentedObjectiveNamesItselfAndDrawsFromTheStepsGenerator() throws {
        let objective = AugmentedObjective(base: Objective.crossEntropy(labelSmoothing: 0), augmentation: .cropFlip, padding: 3)
        #expect(objective.identity == "cross-entropy augment=crop-flip padding=3")
        let model = try Sequential(.lenet5(inputShape: [1, 12, 12], outputs: 3))
        var rng = RandomGenerator(seed: 1)
        let theta = Variable(constant: model.initialParameters(rng: &rng))
        let batch = TrainingBatch(inputs: Tensor.randomNormal(shape: [4, 1, 12, 12], rng: &rng), labels: [0, 1, 2, 0])
        func loss(seed: UInt64) throws -> Float {
            var context = ForwardContext(mode: .train, rng: RandomGenerator(seed: seed))
            return try objective.loss(model: model, parameters: theta, batch: batch, context: &context).loss.value.scalar
        }
        #expect(try loss(seed: 5) == loss(seed: 5))
        #expect(try loss(seed: 5) != loss(seed: 6))
    }

    /// Gaussian-noise augmentation adds N(0, σ²) to every input value: the noise the base
    /// objective sees has mean ≈ 0 and standard deviation ≈ σ (20,000 values: ±3 standard errors).
    @Test func gaussianNoiseAugmentationAddsNoiseOfItsSigma() throws {
        /// Hands back the inputs it was given as its "outputs".
        struct Recorder: TrainingObjective {
            var identity: String { "recorder" }
            var isClassification: Bool { true }
            func loss(model: any NetworkModel, parameters: Variable, batch: TrainingBatch,
                      context: inout ForwardContext) throws -> (loss: Variable, outputs: Tensor) {
                (Variable(constant: Tensor(0)), batch.inputs)
            }
        }
        let sigma: Float = 0.3
        let objective = AugmentedObjective(base: Recorder(), augmentation: .gaussianNoise, noiseSigma: sigma)
        #expect(objective.identity == "recorder augment=gaussian-noise sigma=0.3")
        let model = try Sequential(.mlp(inputShape: [100], hidden: [], outputs: 2))
        let inputs = Tensor(shape: [200, 100], values: (0..<20_000).map { Float($0 % 7) })
        var context = ForwardContext(mode: .train, rng: RandomGenerator(seed: 2))
        let seen = try objective.loss(model: model, parameters: Variable(constant: Tensor(shape: [model.parameterCount], repeating: 0)),
                                      batch: TrainingBatch(inputs: inputs, labels: [Int32](repeating: 0, count: 200)), context: &context).outputs
        let noise = zip(seen.values, inputs.values).map { Double($0 - $1) }
        let mean = noise.reduce(0, +) / Double(noise.count)
        let sd = (noise.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(noise.count)).squareRoot()
        #expect(abs(mean) < 3 * Double(sigma) / Double(noise.count).squareRoot(), "mean \(mean)")
        #expect(abs(sd - Double(sigma)) < 3 * Double(sigma) / (2 * Double(noise.count)).squareRoot(), "sd \(sd)")
    }
}
