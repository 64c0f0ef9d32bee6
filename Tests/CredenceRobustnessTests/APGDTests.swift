import CredenceData
import CredenceInference
import CredenceMetrics
import CredenceNN
@testable import CredenceRobustness
import CredenceTensor
import Foundation
import Testing

/// The DLR losses, their streaming over posterior samples, and APGD (CE, DLR, targeted)
/// against analytic answers, its constraints, and PGD.
@Suite struct APGDTests {
    /// DLR and targeted DLR equal their definitions, and their gradients with respect to the
    /// log-probabilities equal central differences (rows with well-separated entries, so the
    /// ranking does not change within ±h).
    @Test(arguments: [AttackLoss.dlr, .targetedDLR, .crossEntropy, .targetedLogitDifference])
    func lossesMatchTheirDefinitionsAndFiniteDifferences(_ loss: AttackLoss) {
        var rng = RandomGenerator(seed: 1)
        for trial in 0..<20 {
            let c = 6
            let z = (0..<c).map { k in Float(k) * 0.7 + Float(rng.uniformDouble()) * 0.3 - 4 }.shuffled(using: &rng)
            let label = trial % c, target = (trial + 2) % c
            func value(_ row: [Float]) -> Double {
                var g = [Float](repeating: 0, count: c)
                return row.withUnsafeBufferPointer { r in g.withUnsafeMutableBufferPointer { loss.evaluate(r, label: label, target: target, gradient: $0) } }
            }
            var gradient = [Float](repeating: 0, count: c)
            let v = z.withUnsafeBufferPointer { r in gradient.withUnsafeMutableBufferPointer { loss.evaluate(r, label: label, target: target, gradient: $0) } }
            let sorted = z.map(Double.init).sorted(by: >)
            let expected: Double
            switch loss {
            case .crossEntropy: expected = -Double(z[label])
            case .dlr:
                let other = (0..<c).filter { $0 != label }.map { Double(z[$0]) }.max()!
                expected = -(Double(z[label]) - other) / (sorted[0] - sorted[2] + 1e-12)
            case .targetedDLR:
                expected = -(Double(z[label]) - Double(z[target])) / (sorted[0] - 0.5 * (sorted[2] + sorted[3]) + 1e-12)
            case .targetedLogitDifference: expected = Double(z[target]) - Double(z[label])
            }
            #expect(abs(v - expected) < 1e-6 * max(1, abs(expected)), "\(loss) trial \(trial): \(v) vs \(expected)")
            let h: Float = 1e-2
            for k in 0..<c {
                var plus = z, minus = z
                plus[k] += h; minus[k] -= h
                let numeric = (value(plus) - value(minus)) / Double(2 * h)
                #expect(abs(Double(gradient[k]) - numeric) < 1e-3 * max(1, abs(numeric)), "\(loss) trial \(trial), class \(k): \(gradient[k]) vs \(numeric)")
            }
        }
    }

    static let model = try! Sequential(.mlp(inputShape: [4], hidden: [8], outputs: 5))

    /// Over an ensemble of three networks, the model average's DLR (two passes over the
    /// members) is the DLR of log p̄ with the gradient of its central difference, and the mean
    /// sample loss is the members' mean DLR — also targeted.
    @Test(arguments: [AttackLoss.dlr, .targetedDLR])
    func theModelAveragesDLRStreamsOverTheSamples(_ loss: AttackLoss) throws {
        var rng = RandomGenerator(seed: 2)
        let members = (0..<3).map { _ in Tensor.randomNormal(shape: [Self.model.parameterCount], standardDeviation: 0.8, rng: &rng) }
        let ensemble = try EnsemblePosterior(model: Self.model, members: members, task: .classification)
        let x = Tensor(shape: [3, 4], values: (0..<12).map { _ in Float(rng.uniformDouble()) })
        let labels: [Int32] = [0, 3, 4], targets: [Int32] = [2, 1, 0]
        func logMean(_ input: Tensor) throws -> [[Double]] {
            let p = try members.map { try Self.model.predict(input, parameters: $0).softmaxLastAxis().values.map(Double.init) }
            return (0..<3).map { i in (0..<5).map { c in Foundation.log((0..<3).reduce(0.0) { $0 + p[$1][i * 5 + c] } / 3) } }
        }
        func averageLoss(_ input: Tensor, _ i: Int) throws -> Double {
            let z = try logMean(input)[i].map(Float.init)
            var g = [Float](repeating: 0, count: 5)
            return z.withUnsafeBufferPointer { r in
                g.withUnsafeMutableBufferPointer { loss.evaluate(r, label: Int(labels[i]), target: Int(targets[i]), gradient: $0) }
            }
        }
        let evaluation = try AttackTarget(posterior: ensemble, eotSamples: 3).evaluate(x, labels: labels, loss: loss, targets: targets, rng: &rng)
        let h: Float = 1e-3
        for i in 0..<3 {
            #expect(abs(evaluation.loss[i] - (try averageLoss(x, i))) < 1e-5)
            for j in 0..<4 {
                var plus = x.values, minus = x.values
                plus[i * 4 + j] += h; minus[i * 4 + j] -= h
                let fd = (try averageLoss(Tensor(shape: x.shape, values: plus), i) - averageLoss(Tensor(shape: x.shape, values: minus), i)) / Double(2 * h)
                #expect(abs(Double(evaluation.gradient[i, j]) - fd) < 2e-3 * max(1, abs(fd)), "example \(i), input \(j): \(evaluation.gradient[i, j]) vs \(fd)")
            }
        }
        let means = try AttackTarget(posterior: ensemble, eotSamples: 3, loss: .meanSampleLoss)
            .evaluate(x, labels: labels, loss: loss, targets: targets, rng: &rng)
        var expected = [Double](repeating: 0, count: 3)
        for m in members {
            let one = try AttackTarget(posterior: try PointPosterior(model: Self.model, parameters: m, task: .classification))
                .evaluate(x, labels: labels, loss: loss, targets: targets, rng: &rng)
            for i in 0..<3 { expected[i] += one.loss[i] / 3 }
        }
        #expect(zip(means.loss, expected).allSatisfy { abs($0 - $1) < 1e-6 })
    }

    /// On the linear two-class model the cross-entropy is convex in x: one APGD-CE run's best
    /// point has the analytic worst-case loss, L∞ (the vertex x − ε·sign(Δw)·(2y − 1)) and L2.
    @Test(arguments: AttackNorm.allCases)
    func apgdReachesTheKnownOptimumOfAConvexModel(_ norm: AttackNorm) throws {
        let (posterior, dw) = AttackTests.linear(seed: 4)
        let (x, y) = AttackTests.points(16, seed: 5)
        var rng = RandomGenerator(seed: 6)
        let epsilon: Float = 0.08
        let run = try APGD(norm: norm, epsilon: epsilon, steps: 30)
            .singleRun(x, labels: y, targets: nil, target: AttackTarget(posterior: posterior), rng: &rng)
        let w = posterior.parameters.values, db = Double(w[9] - w[8])
        let size = norm == .linf ? dw.reduce(0) { $0 + Double(abs($1)) } : dw.reduce(0) { $0 + Double($1 * $1) }.squareRoot()
        for i in 0..<16 {
            let d = (0..<4).reduce(db) { $0 + Double(dw[$1]) * Double(x[i, $1]) }
            let worst = (y[i] == 1 ? d : -d) - Double(epsilon) * size
            #expect(abs(run.bestLoss[i] - Foundation.log1p(Foundation.exp(-worst))) < 1e-4, "\(norm) example \(i)")
        }
    }

    /// Every point APGD returns lies in its ε-ball and the input range, for both norms and the
    /// three losses, from inputs at the range's edges.
    @Test(arguments: AttackNorm.allCases, [AttackLoss.crossEntropy, .dlr, .targetedDLR])
    func apgdStaysInTheBallAndTheRange(_ norm: AttackNorm, _ loss: AttackLoss) throws {
        let model = try Sequential(.mlp(inputShape: [6], hidden: [16], outputs: 4))
        var rng = RandomGenerator(seed: 7)
        let posterior = try PointPosterior(model: model, parameters: model.initialParameters(rng: &rng), task: .classification)
        let x = Tensor(shape: [20, 6], values: (0..<120).map { _ in Float(rng.uniformDouble() < 0.5 ? 0.02 : 0.97) })
        let y = (0..<20).map { Int32($0 % 4) }
        let epsilon: Float = 0.3
        let adversarial = try APGD(norm: norm, epsilon: epsilon, steps: 12, loss: loss, targetClasses: 3)
            .perturb(x, labels: y, target: AttackTarget(posterior: posterior), rng: &rng)
        for i in 0..<20 {
            let delta = (0..<6).map { adversarial[i, $0] - x[i, $0] }
            let size = norm == .linf ? delta.map(abs).max()! : delta.reduce(0) { $0 + $1 * $1 }.squareRoot()
            #expect(size <= epsilon + 1e-5)
            #expect((0..<6).allSatisfy { adversarial[i, $0] >= 0 && adversarial[i, $0] <= 1 })
        }
    }

    /// AutoAttack's checkpoints for 100 steps: after 22 steps, then intervals 19, 16, …, down to 6.
    @Test func theCheckpointScheduleIsAutoAttacks() {
        let schedule = APGD(epsilon: 0.1, steps: 100).checkpointSchedule
        #expect(schedule.first == 22 && schedule.minimum == 6 && schedule.decrease == 3)
        let short = APGD(epsilon: 0.1, steps: 10).checkpointSchedule
        #expect(short.first == 2 && short.minimum == 1 && short.decrease == 1)
    }

    /// On two moons, APGD-CE (100 steps, one run) is within one example of 200 of PGD-10 and
    /// PGD-50 at every ε and at least as strong as each over the three ε in total — not always
    /// at every ε: on this 2-D problem a run ended one example short at one ε (measured: APGD
    /// 0.995 / 0.865 / 0.545, PGD-10 0.995 / 0.870 / 0.540, PGD-50 0.995 / 0.860 / 0.560).
    @Test func apgdIsAtLeastAsStrongAsPGD() throws {
        let map = try TwoMoonsMAP()
        var rng = map.rng
        let test = map.test, target = AttackTarget(posterior: map.posterior), range = TwoMoonsMAP.range
        var apgdTotal = 0.0, pgd10Total = 0.0, pgd50Total = 0.0
        for epsilon: Float in [0.1, 0.2, 0.3] {
            let apgd = try robustAccuracy(APGD(epsilon: epsilon, inputRange: range), target: target, inputs: test.inputs,
                                          labels: test.labels, samples: 1, rng: &rng)
            let pgd10 = try robustAccuracy(PGD(epsilon: epsilon, steps: 10, inputRange: range), target: target, inputs: test.inputs,
                                           labels: test.labels, samples: 1, rng: &rng)
            let pgd50 = try robustAccuracy(PGD(epsilon: epsilon, steps: 50, inputRange: range), target: target, inputs: test.inputs,
                                           labels: test.labels, samples: 1, rng: &rng)
            #expect(apgd <= min(pgd10, pgd50) + 0.005 + 1e-9, "ε \(epsilon): APGD-CE \(apgd) vs PGD-10 \(pgd10), PGD-50 \(pgd50)")
            apgdTotal += apgd
            pgd10Total += pgd10
            pgd50Total += pgd50
        }
        #expect(apgdTotal <= min(pgd10Total, pgd50Total) + 1e-9, "APGD-CE \(apgdTotal) vs PGD-10 \(pgd10Total), PGD-50 \(pgd50Total), summed over ε")
    }
}
