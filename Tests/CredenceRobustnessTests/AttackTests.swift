import CredenceData
import CredenceInference
import CredenceMetrics
import CredenceNN
@testable import CredenceRobustness
import CredenceTensor
import Foundation
import Testing

/// FGSM and PGD against analytic answers on linear models, the ε-ball and input range, and
/// EOT over posterior samples (the loss of the model average and the mean sample loss).
@Suite struct AttackTests {
    /// Two logits of a linear model on 4 inputs: the logit difference d = Δw·x + Δb.
    static let model = try! Sequential(ModelSpec(inputShape: [4], layers: [.dense(inputs: 4, outputs: 2, bias: true)]))

    static func linear(seed: UInt64) -> (PointPosterior, dw: [Float]) {
        var rng = RandomGenerator(seed: seed)
        let theta = model.initialParameters(rng: &rng)
        let w = theta.values
        return (try! PointPosterior(model: model, parameters: theta, task: .classification), (0..<4).map { w[4 + $0] - w[$0] })
    }

    static func points(_ n: Int, seed: UInt64) -> (Tensor, [Int32]) {
        var rng = RandomGenerator(seed: seed)
        let x = Tensor(shape: [n, 4], values: (0..<(n * 4)).map { _ in 0.3 + 0.4 * Float(rng.uniformDouble()) })
        return (x, (0..<n).map { Int32($0 % 2) })
    }

    /// On a linear model the cross-entropy rises fastest, within an L∞ ball, at
    /// x − ε·sign(Δw)·(2y − 1): FGSM's step, exactly; within an L2 ball at x − ε·Δw/‖Δw‖·(2y − 1).
    @Test(arguments: AttackNorm.allCases)
    func fgsmOnALinearModelIsTheAnalyticWorstCase(_ norm: AttackNorm) throws {
        let (posterior, dw) = Self.linear(seed: 1)
        let (x, y) = Self.points(8, seed: 2)
        var rng = RandomGenerator(seed: 3)
        let epsilon: Float = 0.1
        let adversarial = try PGD.fgsm(norm: norm, epsilon: epsilon).perturb(x, labels: y, target: AttackTarget(posterior: posterior), rng: &rng)
        let length = dw.reduce(0) { $0 + $1 * $1 }.squareRoot()
        for i in 0..<8 {
            let away: Float = y[i] == 1 ? -1 : 1
            for j in 0..<4 {
                let move = norm == .linf ? epsilon * (dw[j] > 0 ? 1 : -1) : epsilon * dw[j] / length
                #expect(abs(adversarial[i, j] - (x[i, j] + away * move)) < 1e-6, "example \(i), input \(j)")
            }
        }
    }

    /// PGD maximises a convex loss over the ball: on the linear model it reaches the same
    /// optimum vertex from a random start, so its loss equals the analytic worst case.
    @Test func pgdReachesTheKnownOptimumOfAConvexModel() throws {
        let (posterior, dw) = Self.linear(seed: 4)
        let (x, y) = Self.points(16, seed: 5)
        var rng = RandomGenerator(seed: 6)
        let target = AttackTarget(posterior: posterior)
        let pgd = PGD(norm: .linf, epsilon: 0.08, steps: 20, randomStart: true, restarts: 2, stopWhenFooled: false)
        let adversarial = try pgd.perturb(x, labels: y, target: target, rng: &rng)
        let (loss, _) = try target.lossAndInputGradient(adversarial, labels: y, rng: &rng)
        let w = posterior.parameters.values, db = Double(w[9] - w[8])
        for i in 0..<16 {
            let d = (0..<4).reduce(db) { $0 + Double(dw[$1]) * Double(x[i, $1]) }
            let worst = (y[i] == 1 ? d : -d) - 0.08 * dw.reduce(0) { $0 + Double(abs($1)) }
            #expect(abs(loss[i] - Foundation.log1p(Foundation.exp(-worst))) < 1e-4, "example \(i)")
        }
    }

    /// Every perturbation stays within its ε-ball and the input range, also from random
    /// starts near the range's edges, for both norms and targeted attacks.
    @Test(arguments: AttackNorm.allCases)
    func perturbationsStayInTheBallAndTheRange(_ norm: AttackNorm) throws {
        let model = try Sequential(.mlp(inputShape: [6], hidden: [16], outputs: 3))
        var rng = RandomGenerator(seed: 7)
        let posterior = try PointPosterior(model: model, parameters: model.initialParameters(rng: &rng), task: .classification)
        let x = Tensor(shape: [20, 6], values: (0..<120).map { _ in Float(rng.uniformDouble() < 0.5 ? 0.02 : 0.97) })
        let y = (0..<20).map { Int32($0 % 3) }, targets = (0..<20).map { Int32(($0 + 1) % 3) }
        let epsilon: Float = 0.3
        for attack in [PGD(norm: norm, epsilon: epsilon, steps: 5), PGD(norm: norm, epsilon: epsilon, steps: 5, targets: targets)] {
            let adversarial = try attack.perturb(x, labels: y, target: AttackTarget(posterior: posterior), rng: &rng)
            for i in 0..<20 {
                let delta = (0..<6).map { adversarial[i, $0] - x[i, $0] }
                let size = norm == .linf ? delta.map(abs).max()! : delta.reduce(0) { $0 + $1 * $1 }.squareRoot()
                #expect(size <= epsilon + 1e-5)
                #expect((0..<6).allSatisfy { adversarial[i, $0] >= 0 && adversarial[i, $0] <= 1 })
            }
        }
    }

    /// EOT over an ensemble of three linear networks: the mean-sample-loss gradient is the mean
    /// of the members' gradients, and the model-average loss and gradient are −log p̄ and its
    /// central difference — computed sample by sample, never holding the members together.
    @Test func eotGradientsAreThoseOfTheExpectedLosses() throws {
        let members = (0..<3).map { Self.linear(seed: 10 + UInt64($0)).0.parameters }
        let ensemble = try EnsemblePosterior(model: Self.model, members: members, task: .classification)
        let (x, y) = Self.points(4, seed: 8)
        var rng = RandomGenerator(seed: 9)
        func memberProbabilities(_ input: Tensor) throws -> [[Double]] {
            try members.map { m in try Self.model.predict(input, parameters: m).softmaxLastAxis().values.map(Double.init) }
        }
        let mean = AttackTarget(posterior: ensemble, loss: .meanSampleLoss)
        let (meanLoss, meanGradient) = try mean.lossAndInputGradient(x, labels: y, rng: &rng)
        var expectedGradient = Tensor(shape: x.shape, repeating: 0)
        for m in members {
            let single = AttackTarget(posterior: try PointPosterior(model: Self.model, parameters: m, task: .classification), loss: .meanSampleLoss)
            expectedGradient.addInPlace(try single.lossAndInputGradient(x, labels: y, rng: &rng).gradient, scale: 1 / 3)
        }
        #expect(zip(meanGradient.values, expectedGradient.values).allSatisfy { abs($0 - $1) < 1e-6 })
        let p = try memberProbabilities(x)
        for i in 0..<4 {
            let expected = (0..<3).reduce(0.0) { $0 - Foundation.log(p[$1][i * 2 + Int(y[i])]) } / 3
            #expect(abs(meanLoss[i] - expected) < 1e-5)
        }

        let bma = AttackTarget(posterior: ensemble, loss: .bayesModelAverage)
        let (bmaLoss, bmaGradient) = try bma.lossAndInputGradient(x, labels: y, rng: &rng)
        func averageLoss(_ input: Tensor, _ i: Int) throws -> Double {
            let q = try memberProbabilities(input)
            return -Foundation.log((0..<3).reduce(0.0) { $0 + q[$1][i * 2 + Int(y[i])] } / 3)
        }
        let h: Float = 1e-3
        for i in 0..<4 {
            #expect(abs(bmaLoss[i] - (try averageLoss(x, i))) < 1e-5)
            for j in 0..<4 {
                var plus = x.values, minus = x.values
                plus[i * 4 + j] += h; minus[i * 4 + j] -= h
                let fd = (try averageLoss(Tensor(shape: x.shape, values: plus), i) - averageLoss(Tensor(shape: x.shape, values: minus), i)) / Double(2 * h)
                #expect(abs(Double(bmaGradient[i, j]) - fd) < 2e-3, "example \(i), input \(j): \(bmaGradient[i, j]) vs \(fd)")
            }
        }
    }

    /// On two moons, robust accuracy falls as ε grows, PGD is at least as strong as FGSM, and a
    /// large ε leaves almost nothing — the usual gradient-masking sanity checks.
    @Test func robustAccuracyFallsWithEpsilonAndPGDBeatsFGSM() throws {
        var map = try TwoMoonsMAP()
        let test = map.test, target = AttackTarget(posterior: map.posterior), range = TwoMoonsMAP.range
        var accuracies: [Double] = []
        for epsilon: Float in [0, 0.1, 0.3, 1] {
            accuracies.append(try robustAccuracy(PGD(epsilon: epsilon, steps: 10, inputRange: range), target: target,
                                                 inputs: test.inputs, labels: test.labels, samples: 1, rng: &map.rng))
        }
        #expect(accuracies[0] > 0.95)
        #expect(zip(accuracies, accuracies.dropFirst()).allSatisfy { $0 >= $1 }, "robust accuracy rises with ε: \(accuracies)")
        // ε = 3 covers the whole clipped box, yet one 10-step run from one start leaves 7–9 % of
        // the points stuck where the sign steps overshoot (measured); four restarts of 50 steps
        // leave none — an optimisation limit, not masked gradients.
        let large = try robustAccuracy(PGD(epsilon: 3, steps: 50, restarts: 4, inputRange: range), target: target,
                                       inputs: test.inputs, labels: test.labels, samples: 1, rng: &map.rng)
        #expect(large < 0.02, "\(large)")
        let fgsm = try robustAccuracy(PGD.fgsm(epsilon: 0.3, inputRange: range), target: target, inputs: test.inputs,
                                      labels: test.labels, samples: 1, rng: &map.rng)
        #expect(accuracies[2] <= fgsm, "PGD \(accuracies[2]) vs FGSM \(fgsm)")
    }

    /// Stopping the examples the model already misclassifies keeps every run identical up to
    /// that step, so every example a full PGD run fools stays fooled, and robust accuracy can
    /// only fall; a stochastic posterior is attacked for every step regardless.
    @Test func stoppingFooledExamplesOnlyStrengthensPGD() throws {
        let map = try TwoMoonsMAP(dataSeed: 4, initSeed: 5, fitSeed: 6, epochs: 30)
        let test = map.test, target = AttackTarget(posterior: map.posterior)
        for epsilon: Float in [0.2, 0.4] {
            func fooled(_ stop: Bool) throws -> [Bool] {
                var attackRNG = RandomGenerator(seed: 7)
                let pgd = PGD(epsilon: epsilon, steps: 20, inputRange: -3...3, stopWhenFooled: stop)
                let adversarial = try pgd.perturb(test.inputs, labels: test.labels, target: target, rng: &attackRNG)
                let predictions = try target.evaluate(adversarial, labels: test.labels, rng: &attackRNG).predictions
                return zip(predictions, test.labels).map { $0 != $1 }
            }
            let full = try fooled(false), stopped = try fooled(true)
            #expect(zip(full, stopped).allSatisfy { !$0 || $1 }, "ε \(epsilon): an example the full run fools escaped the stopped run")
            #expect(stopped.filter { $0 }.count >= full.filter { $0 }.count)
        }
    }

    /// A stochastic posterior's adversarial inputs scored five times: an example counts as
    /// robust only if every scoring classifies it correctly, so that figure is at most the single
    /// scoring's; a deterministic one is scored once.
    @Test func repeatedScoringsOfAStochasticPosterior() throws {
        let model = try Sequential(.mlp(inputShape: [6], hidden: [32], outputs: 3, dropout: 0.5))
        var rng = RandomGenerator(seed: 11)
        let theta = model.initialParameters(rng: &rng)
        let x = Tensor(shape: [60, 6], values: (0..<360).map { _ in Float(rng.uniformDouble()) })
        let y = (0..<60).map { Int32($0 % 3) }
        let dropout = try MCDropoutPosterior(model: model, parameters: theta, task: .classification)
        let once = try scoreRobustness(x, labels: y, posterior: dropout, samples: 2, repeats: 1, rng: &rng)
        #expect(once.robustInEveryRepeat == nil)
        let five = try scoreRobustness(x, labels: y, posterior: dropout, samples: 2, repeats: 5, rng: &rng)
        let every = try #require(five.robustInEveryRepeat)
        #expect(every <= five.robustAccuracy)
        let point = try PointPosterior(model: model, parameters: theta, task: .classification)
        #expect(try scoreRobustness(x, labels: y, posterior: point, samples: 2, repeats: 5, rng: &rng).robustInEveryRepeat == nil)
    }

    /// EOT on a genuinely random model whose expectation can be written out: MC dropout (rate ½)
    /// on one hidden layer of two units, so each example's mask is one of four, equally likely.
    /// With 20,000 samples per gradient, the mean-sample-loss and model-average losses and their
    /// input gradients equal the exact expectations over the four masks (central differences of
    /// the exact function) within Monte-Carlo error.
    @Test func eotOnMCDropoutMatchesTheExactExpectationOverMasks() throws {
        let model = try Sequential(.mlp(inputShape: [2], hidden: [2], outputs: 2, dropout: 0.5))
        var rng = RandomGenerator(seed: 21)
        let theta = Tensor.randomNormal(shape: [model.parameterCount], standardDeviation: 1.2, rng: &rng)
        let posterior = try MCDropoutPosterior(model: model, parameters: theta, task: .classification)
        let x = Tensor(shape: [3, 2], values: [0.3, -0.8, 1.1, 0.4, -0.5, 0.9]), y: [Int32] = [0, 1, 1]
        let w = theta.values.map(Double.init)   // W1 [2, 2], b1 [2], W2 [2, 2], b2 [2]
        /// log p(y | x, mask) for each of the four masks (kept units scaled by 2).
        func logProbabilities(_ input: [Double], _ label: Int) -> [Double] {
            let h = (0..<2).map { j in max(0, w[j * 2] * input[0] + w[j * 2 + 1] * input[1] + w[4 + j]) }
            return [(0.0, 0.0), (0, 1), (1, 0), (1, 1)].map { (m0: Double, m1: Double) -> Double in
                let kept = [2 * m0 * h[0], 2 * m1 * h[1]]
                let z = (0..<2).map { c in w[6 + c * 2] * kept[0] + w[6 + c * 2 + 1] * kept[1] + w[10 + c] }
                let top = z.max()!
                return z[label] - top - Foundation.log(z.reduce(0) { $0 + Foundation.exp($1 - top) })
            }
        }
        func meanLoss(_ input: [Double], _ label: Int) -> Double { -logProbabilities(input, label).reduce(0, +) / 4 }
        func averageLoss(_ input: [Double], _ label: Int) -> Double {
            -Foundation.log(logProbabilities(input, label).reduce(0) { $0 + Foundation.exp($1) } / 4)
        }
        for (kind, exact) in [(EOTLoss.meanSampleLoss, meanLoss), (.bayesModelAverage, averageLoss)] {
            let evaluation = try AttackTarget(posterior: posterior, eotSamples: 20_000, loss: kind).evaluate(x, labels: y, rng: &rng)
            for i in 0..<3 {
                let input = [Double(x[i, 0]), Double(x[i, 1])], label = Int(y[i])
                #expect(abs(evaluation.loss[i] - exact(input, label)) < 0.02 * max(1, exact(input, label)), "\(kind) example \(i) loss")
                for j in 0..<2 {
                    var plus = input, minus = input
                    plus[j] += 1e-5; minus[j] -= 1e-5
                    let fd = (exact(plus, label) - exact(minus, label)) / 2e-5
                    #expect(abs(Double(evaluation.gradient[i, j]) - fd) < 0.03 * max(1, abs(fd)),
                            "\(kind) example \(i), input \(j): EOT \(evaluation.gradient[i, j]) vs exact \(fd)")
                }
            }
        }
    }
}
