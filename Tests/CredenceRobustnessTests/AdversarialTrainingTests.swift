import CredenceData
import CredenceInference
import CredenceNN
@testable import CredenceRobustness
import CredenceTensor
import Foundation
import Testing

/// The adversarial training objectives against hand-worked answers on a linear two-class
/// model, where the input gradient of the cross-entropy of class y points along
/// s = sign(w_other − w_y) everywhere, so the worst L∞ point of the ε-ball is x + ε·s.
@Suite struct AdversarialTrainingTests {
    static let inputs = 5
    static let model = try! Sequential(.mlp(inputShape: [inputs], hidden: [], outputs: 2))

    /// θ, a batch and the weight difference w₁ − w₀ (read off the model's logits at unit inputs).
    static func problem(seed: UInt64, batch: Int = 6) throws -> (theta: Tensor, batch: TrainingBatch, difference: [Float]) {
        var rng = RandomGenerator(seed: seed)
        let theta = Tensor.randomNormal(shape: [model.parameterCount], standardDeviation: 1, rng: &rng)
        let x = Tensor(shape: [batch, inputs], values: (0..<(batch * inputs)).map { _ in rng.normalFloat() })
        let labels = (0..<batch).map { Int32($0 % 2) }
        let zero = try model.predict(Tensor(shape: [1, inputs], repeating: 0), parameters: theta).values
        let difference = try (0..<inputs).map { j -> Float in
            var e = [Float](repeating: 0, count: inputs); e[j] = 1
            let z = try model.predict(Tensor(shape: [1, inputs], values: e), parameters: theta).values
            return (z[1] - zero[1]) - (z[0] - zero[0])
        }
        return (theta, TrainingBatch(inputs: x, labels: labels), difference)
    }

    /// x + ε·s per example, s = sign(w_other − w_y) (the untargeted worst case).
    static func corner(_ batch: TrainingBatch, difference: [Float], epsilon: Float) -> Tensor {
        var out = batch.inputs
        out.withUnsafeMutableBufferPointer { v in
            for i in 0..<batch.count {
                let toward: Float = batch.labels[i] == 0 ? 1 : -1
                for j in 0..<inputs { v[i * inputs + j] += epsilon * toward * (difference[j] > 0 ? 1 : -1) }
            }
        }
        return out
    }

    static func crossEntropy(at x: Tensor, theta: Tensor, labels: [Int32]) throws -> Double {
        Double(try Loss.softmaxCrossEntropy(logits: Variable(constant: try model.predict(x, parameters: theta)), labels: labels).value.scalar)
    }

    /// The objective's loss and ∇θ at θ, with the step's randomness from `seed`.
    static func lossAndGradient(_ objective: AdversarialObjective, theta: Tensor, batch: TrainingBatch,
                                seed: UInt64 = 9) throws -> (loss: Double, gradient: Tensor) {
        let tape = Tape()
        let variable = tape.variable(theta)
        var context = ForwardContext(mode: .train, rng: RandomGenerator(seed: seed))
        let (loss, _) = try objective.loss(model: model, parameters: variable, batch: batch, context: &context)
        return (Double(loss.value.scalar), tape.gradients(of: loss)[variable])
    }

    /// Central differences of the objective in θ (the attack rerun with the same randomness:
    /// its point moves only when a sign flips, so Danskin's theorem makes this the gradient).
    static func expectGradientMatchesFiniteDifferences(_ objective: AdversarialObjective, theta: Tensor, batch: TrainingBatch) throws {
        let (_, gradient) = try lossAndGradient(objective, theta: theta, batch: batch)
        let h: Float = 1e-2
        for k in 0..<theta.count {
            var plus = theta.values, minus = theta.values
            plus[k] += h; minus[k] -= h
            let numeric = (try lossAndGradient(objective, theta: Tensor(shape: theta.shape, values: plus), batch: batch).loss
                - (try lossAndGradient(objective, theta: Tensor(shape: theta.shape, values: minus), batch: batch).loss)) / Double(2 * h)
            #expect(abs(Double(gradient.values[k]) - numeric) < 2e-3 * max(1, abs(numeric)),
                    "\(objective.identity), θ[\(k)]: \(gradient.values[k]) vs \(numeric)")
        }
    }

    /// PGD-AT's loss is the cross-entropy at the corner x + ε·s (2.5ε of steps reach it from
    /// any start), with its gradient; with an ε warm-up of 2 epochs, halfway through the first
    /// epoch it is the corner of ε/4.
    @Test func pgdTrainsAtTheWorstCornerOfTheBall() throws {
        let (theta, batch, difference) = try Self.problem(seed: 1)
        let epsilon: Float = 0.2
        let objective = try AdversarialObjective(AdversarialTraining(kind: .pgd, epsilon: epsilon, steps: 5), inputRange: nil)
        let (loss, _) = try Self.lossAndGradient(objective, theta: theta, batch: batch)
        let expected = try Self.crossEntropy(at: Self.corner(batch, difference: difference, epsilon: epsilon), theta: theta, labels: batch.labels)
        #expect(abs(loss - expected) < 1e-5, "\(loss) vs \(expected)")
        #expect(loss > (try Self.crossEntropy(at: batch.inputs, theta: theta, labels: batch.labels)))
        try Self.expectGradientMatchesFiniteDifferences(objective, theta: theta, batch: batch)

        let warming = try AdversarialObjective(AdversarialTraining(kind: .pgd, epsilon: epsilon, steps: 5, warmupEpochs: 2), inputRange: nil)
        var early = batch
        early.epochsDone = 0.5
        let (warmLoss, _) = try Self.lossAndGradient(warming, theta: theta, batch: early)
        let quarter = try Self.crossEntropy(at: Self.corner(batch, difference: difference, epsilon: epsilon / 4), theta: theta, labels: batch.labels)
        #expect(abs(warmLoss - quarter) < 1e-5, "\(warmLoss) vs \(quarter)")
        #expect(warming.identity == "pgd-at eps=0.2 steps=5 step=0.1 warmup=2.0")
    }

    /// L2 PGD-AT's loss is the cross-entropy at x + ε·d/‖d‖ (d = w_other − w_y: the worst point
    /// of the L2 ball, where the input gradient points everywhere): steps of 2ε along ∇/‖∇‖₂
    /// from a random start in the ball, each projected back radially, converge to it.
    @Test func l2PGDTrainsAtTheWorstPointOfTheL2Ball() throws {
        let (theta, batch, difference) = try Self.problem(seed: 3)
        let epsilon: Float = 0.5
        let settings = AdversarialTraining(kind: .pgd, epsilon: epsilon, steps: 10, stepSize: 2 * epsilon, norm: .l2)
        let objective = try AdversarialObjective(settings, inputRange: nil)
        #expect(objective.identity == "pgd-at eps=0.5 steps=10 step=1.0 norm=l2")
        let (loss, _) = try Self.lossAndGradient(objective, theta: theta, batch: batch)
        let length = difference.reduce(0) { $0 + $1 * $1 }.squareRoot()
        var worst = batch.inputs
        worst.withUnsafeMutableBufferPointer { v in
            for i in 0..<batch.count {
                let toward: Float = batch.labels[i] == 0 ? 1 : -1
                for j in 0..<Self.inputs { v[i * Self.inputs + j] += epsilon * toward * difference[j] / length }
            }
        }
        let expected = try Self.crossEntropy(at: worst, theta: theta, labels: batch.labels)
        #expect(abs(loss - expected) < 1e-4 * max(1, expected), "\(loss) vs \(expected)")
        try Self.expectGradientMatchesFiniteDifferences(objective, theta: theta, batch: batch)

        // Only PGD and TRADES take an L2 budget; an L2 budget may exceed 1.
        #expect(throws: TrainingError.self) { try AdversarialTraining(kind: .fgsmRS, epsilon: 0.1, norm: .l2).validate() }
        #expect(throws: TrainingError.self) { try AdversarialTraining(kind: .ibp, epsilon: 0.1, norm: .l2).validate() }
        #expect(throws: Never.self) { try AdversarialTraining(kind: .trades, epsilon: 2, norm: .l2).validate() }
        #expect(throws: TrainingError.self) { try AdversarialTraining(kind: .pgd, epsilon: 2).validate() }
    }

    /// The single-step attacks' points: FGSM-RS stays in the ε-ball with δ·s ∈ [ε/4, ε]
    /// (a start in ±ε, a step of 1.25ε, projected); N-FGSM is not projected: δ·s = u·s + ε,
    /// u uniform in ±2ε, so some coordinates leave the ε-ball and the mean of δ·s is ε.
    @Test func singleStepAttacksStartFromNoiseAndStepOnce() throws {
        let (theta, batch, difference) = try Self.problem(seed: 2, batch: 400)
        let epsilon: Float = 0.1
        func displacements(_ kind: AdversarialTrainingKind) throws -> [Float] {
            let attack = InnerAttack(settings: AdversarialTraining(kind: kind, epsilon: epsilon), scale: 1, inputRange: nil, passes: 1)
            var rng = RandomGenerator(seed: 3)
            let labels = batch.labels
            let x = try attack.perturb(batch.inputs, model: Self.model, parameters: Variable(constant: theta), mode: .train, rng: &rng) {
                try Loss.softmaxCrossEntropy(logits: $0, labels: labels)
            }
            return (0..<(batch.count * Self.inputs)).map { k in
                let i = k / Self.inputs, j = k % Self.inputs
                let s: Float = (batch.labels[i] == 0 ? 1 : -1) * (difference[j] > 0 ? 1 : -1)
                return (x.values[k] - batch.inputs.values[k]) * s
            }
        }
        let rs = try displacements(.fgsmRS)
        #expect(rs.allSatisfy { $0 >= 0.25 * epsilon - 1e-6 && $0 <= epsilon + 1e-6 })
        let n = try displacements(.nFGSM)
        #expect(n.allSatisfy { $0 >= -epsilon - 1e-6 && $0 <= 3 * epsilon + 1e-6 })
        #expect(n.filter { $0 > epsilon * 1.01 }.count > n.count / 4)
        let mean = n.reduce(0, +) / Float(n.count)
        #expect(abs(mean - epsilon) < 0.05 * epsilon, "mean displacement \(mean)")
    }

    /// TRADES's inner ascent of KL(p(x) ‖ p(x′)) from x + 0.001·N(0, I) runs to one of the
    /// corners x ± ε·s of every example; the loss is CE(x) + β·KL at the points found, and its
    /// gradient — through both f(x) and f(x′) — equals central differences.
    @Test func tradesAddsTheKLAtTheCornerItFound() throws {
        let (theta, batch, difference) = try Self.problem(seed: 4)
        let epsilon: Float = 0.3, beta: Float = 3
        let settings = AdversarialTraining(kind: .trades, epsilon: epsilon, beta: beta)
        let objective = try AdversarialObjective(settings, inputRange: nil)
        let (loss, _) = try Self.lossAndGradient(objective, theta: theta, batch: batch, seed: 9)

        // The objective's attack, rerun with its randomness (the step's generator's first draw).
        var stepRNG = RandomGenerator(seed: 9)
        var rng = RandomGenerator(seed: stepRNG.next())
        let clean = Variable(constant: try Self.model.predict(batch.inputs, parameters: theta))
        let found = try InnerAttack(settings: settings, scale: 1, inputRange: nil, passes: 1)
            .perturb(batch.inputs, model: Self.model, parameters: Variable(constant: theta), mode: .train, rng: &rng) {
                try AdversarialObjective.meanKL(fromLogits: clean, toLogits: $0)
            }
        let up = Self.corner(batch, difference: difference, epsilon: epsilon).values
        let down = Self.corner(batch, difference: difference, epsilon: -epsilon).values
        for i in 0..<batch.count {
            let row = (i * Self.inputs)..<((i + 1) * Self.inputs)
            let atCorner = row.allSatisfy { abs(found.values[$0] - up[$0]) < 1e-5 } || row.allSatisfy { abs(found.values[$0] - down[$0]) < 1e-5 }
            #expect(atCorner, "example \(i) ended at \(Array(found.values[row])), not at a corner")
        }
        let kl = try AdversarialObjective.meanKL(fromLogits: clean, toLogits: Variable(constant: try Self.model.predict(found, parameters: theta)))
        let expected = try Self.crossEntropy(at: batch.inputs, theta: theta, labels: batch.labels) + Double(beta) * Double(kl.value.scalar)
        #expect(abs(loss - expected) < 1e-5, "\(loss) vs \(expected)")
        #expect(kl.value.scalar > 0)
        try Self.expectGradientMatchesFiniteDifferences(objective, theta: theta, batch: batch)
    }

    /// The KL against its definition Σ p (log p − log q), averaged over rows.
    @Test func meanKLIsTheAverageKullbackLeiblerDivergence() throws {
        let a = Tensor(shape: [2, 3], values: [0.1, 2, -1, 0, 0, 0]), b = Tensor(shape: [2, 3], values: [1, 0.5, 0.2, 3, -2, 1])
        let p = a.softmaxLastAxis().values, logP = a.logSoftmaxLastAxis().values, logQ = b.logSoftmaxLastAxis().values
        let expected = (0..<6).reduce(0.0) { $0 + Double(p[$1]) * Double(logP[$1] - logQ[$1]) } / 2
        let value = try AdversarialObjective.meanKL(fromLogits: Variable(constant: a), toLogits: Variable(constant: b)).value.scalar
        #expect(abs(Double(value) - expected) < 1e-6)
    }
}

/// Adversarial training through `train` and the method registry, end to end on two moons.
@Suite struct AdversarialTrainingRunTests {
    static func options(_ kind: AdversarialTrainingKind?, epsilon: Float = 0.3) -> TrainingOptions {
        var o = TrainingOptions()
        o.dataset = .twoMoons; o.epochs = 8; o.learningRate = 3e-3; o.seed = 4
        o.adversarial = kind.map { AdversarialTraining(kind: $0, epsilon: epsilon, steps: $0.isSingleStep ? nil : 5) }
        return o
    }

    /// PGD-AT buys robustness the plain network lacks: PGD at the training ε = 0.3 breaks fewer
    /// of its test points (the same attack, the same test set: 0.83 against 0.70 when written),
    /// at a small cost in clean accuracy (0.94 against 0.98).
    @Test func pgdTrainingMakesTheNetworkRobustAtItsBudget() throws {
        func robustAndClean(_ kind: AdversarialTrainingKind?) throws -> (robust: Double, clean: Double) {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("credence-at-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let path = dir.appendingPathComponent("net.safetensors").path
            let o = Self.options(kind)
            let run = try train(o, checkpointPath: path, objective: try AdversarialObjective.forOptions(o))
            let posterior = try loadPosterior(from: path)
            let test = try loadRunData(o).test
            var rng = RandomGenerator(seed: 1)
            let robust = try robustAccuracy(PGD(epsilon: 0.3, steps: 20, inputRange: -10...10), target: AttackTarget(posterior: posterior),
                                            inputs: test.inputs, labels: test.labels, rng: &rng)
            return (robust, run.test.accuracy!)
        }
        let plain = try robustAndClean(nil), trained = try robustAndClean(.pgd)
        #expect(trained.robust > plain.robust + 0.08, "robust accuracy: PGD-AT \(trained.robust), plain \(plain.robust)")
        #expect(trained.clean > 0.8, "clean accuracy of the PGD-AT network: \(trained.clean)")
    }

    /// The same with an L2 budget: L2 PGD-AT at ε = 0.42 (the L∞ test's 0.3 box's half-diagonal
    /// in 2-D) makes the network more robust to L2 PGD at that ε than the plain one (0.80
    /// against 0.67 when written; at ε = 0.3, 0.88 against 0.84).
    @Test func l2PGDTrainingMakesTheNetworkRobustToL2Attacks() throws {
        func robust(_ adversarial: AdversarialTraining?) throws -> Double {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("credence-at-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let path = dir.appendingPathComponent("net.safetensors").path
            var o = Self.options(nil)
            o.adversarial = adversarial
            _ = try train(o, checkpointPath: path, objective: try AdversarialObjective.forOptions(o))
            let test = try loadRunData(o).test
            var rng = RandomGenerator(seed: 1)
            return try robustAccuracy(PGD(norm: .l2, epsilon: 0.42, steps: 20, inputRange: -10...10),
                                      target: AttackTarget(posterior: try loadPosterior(from: path)),
                                      inputs: test.inputs, labels: test.labels, rng: &rng)
        }
        let plain = try robust(nil), trained = try robust(AdversarialTraining(kind: .pgd, epsilon: 0.42, steps: 5, norm: .l2))
        #expect(trained > plain + 0.05, "L2 robust accuracy: L2 PGD-AT \(trained), plain \(plain)")
    }

    /// Options that ask for adversarial training are refused without its objective, a
    /// checkpoint trained on one objective is not resumed on another, and methods with a
    /// training phase of their own refuse adversarial training before any work.
    @Test func adversarialRunsAreNeverMixedUp() throws {
        let o = Self.options(.pgd)
        #expect(throws: TrainingError.self) { _ = try train(o) }
        var warming = o.adversarial!
        warming.warmupEpochs = 2   // an objective of other settings than the options record
        #expect(throws: TrainingError.self) { _ = try train(o, objective: try AdversarialObjective(warming)) }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("credence-at-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("net.safetensors").path
        var short = o
        short.epochs = 1
        _ = try train(short, checkpointPath: path, objective: try AdversarialObjective(short))
        var other = Self.options(.trades)
        other.epochs = 2
        #expect(throws: ResumeError.self) { _ = try train(other, checkpointPath: path, resume: true, objective: try AdversarialObjective(other)) }
        var longer = o
        longer.epochs = 2
        let resumed = try train(longer, checkpointPath: path, resume: true, objective: try AdversarialObjective(longer))
        #expect(resumed.resumedFromEpoch == 1)

        // Methods' own phases (SWAG's collection, VI) get the same composed objective: the
        // adversarial loss inside the options' augmentation.
        var noisy = o
        noisy.augmentation = .gaussianNoise
        let composed = try noisy.trainingObjective(for: try loadRunData(noisy).train, adversarial: try AdversarialObjective(noisy))
        #expect(composed.identity == AdversarialTraining(kind: .pgd, epsilon: 0.3, steps: 5).identity + " augment=gaussian-noise sigma=0.25")
        #expect(noisy.altersTrainingInputs && !TrainingOptions().altersTrainingInputs)

        let context = MethodContext(options: o)
        for name in ["map", "mc-dropout", "laplace", "ensemble", "vi", "stf-bnn", "swag", "swa"] {
            #expect(throws: Never.self, "\(name)") { try MethodRegistry.make(name, recorded: [:]).validateRun(context) }
        }
        var regression = o
        regression.dataset = .regression1D
        #expect(throws: InferenceError.self) { try MethodRegistry.make("map", recorded: [:]).validateRun(MethodContext(options: regression)) }
        var bounded = o
        bounded.adversarial = AdversarialTraining(kind: .ibp, epsilon: 0.1)
        #expect(throws: InferenceError.self) { try MethodRegistry.make("vi", recorded: [:]).validateRun(MethodContext(options: bounded)) }
        for name in ["sgld", "hmc", "gped"] {
            let error = #expect(throws: InferenceError.self) { try MethodRegistry.make(name, recorded: [:]).validateRun(context) }
            #expect("\(error!)".contains("map, "), "\(error!)")
        }
    }
}
