import CredenceData
import CredenceInference
import CredenceMetrics
import CredenceNN
@testable import CredenceRobustness
import CredenceTensor
import Foundation
import Testing

/// A network that rounds its inputs to a grid first: its input gradient is zero almost
/// everywhere (gradient masking by quantisation, the classic false sense of robustness).
struct QuantizedInputs: NetworkModel {
    let chain: Sequential
    let levels: Float
    var spec: ModelSpec { chain.spec }
    var layout: ParameterLayout { chain.layout }
    var inputShape: [Int] { chain.inputShape }
    var outputShape: [Int] { chain.outputShape }
    var buffers: [NamedBuffer] { [] }
    var isStochastic: Bool { false }
    var layerChain: Sequential? { nil }
    func initialParameters(rng: inout RandomGenerator) -> Tensor { chain.initialParameters(rng: &rng) }
    func callAsFunction(_ x: Variable, parameters: Variable, context: inout ForwardContext) throws -> Variable {
        try chain(Variable(constant: x.value.map { ($0 * levels).rounded() / levels }), parameters: parameters, context: &context)
    }
    func monteCarloProbabilities(_ x: Tensor, parameters: Tensor, samples: Int, rng: inout RandomGenerator) throws -> Tensor {
        try chain.monteCarloProbabilities(x.map { ($0 * levels).rounded() / levels }, parameters: parameters, samples: samples, rng: &rng)
    }
}

/// The Square attack: its schedule, its constraints, and that it — and ZOO — find adversarial
/// examples a gradient attack cannot on a gradient-masked model.
@Suite struct SquareTests {
    @Test func theScheduleHalvesAtTheReferencePoints() {
        let square = Square(epsilon: 0.1, queries: 10_000)
        #expect(square.fraction(atQuery: 0) == 0.8 && square.fraction(atQuery: 10) == 0.8 && square.fraction(atQuery: 11) == 0.4)
        #expect(square.fraction(atQuery: 201) == 0.1 && square.fraction(atQuery: 9_999) == 0.8 / 512)
        #expect(Square(epsilon: 0.1, queries: 100).fraction(atQuery: 1) == 0.2, "rescaled to 100 queries: query 1 is 100 of 10,000")
    }

    /// Images 1 × 8 × 8 at the range's edges: every point within ε (L∞ and L2) and the range.
    @Test(arguments: AttackNorm.allCases)
    func squareStaysInTheBallAndTheRange(_ norm: AttackNorm) throws {
        let model = try Sequential(.mlp(inputShape: [1, 8, 8], hidden: [16], outputs: 3))
        var rng = RandomGenerator(seed: 1)
        let posterior = try PointPosterior(model: model, parameters: model.initialParameters(rng: &rng), task: .classification)
        let x = Tensor(shape: [12, 1, 8, 8], values: (0..<768).map { _ in Float(rng.uniformDouble() < 0.5 ? 0.03 : 0.96) })
        let y = (0..<12).map { Int32($0 % 3) }
        let epsilon: Float = norm == .linf ? 0.2 : 1.5
        let adversarial = try Square(norm: norm, epsilon: epsilon, queries: 60).perturb(x, labels: y, target: AttackTarget(posterior: posterior), rng: &rng)
        for i in 0..<12 {
            let delta = zip(try adversarial.row(i).values, try x.row(i).values).map { $0 - $1 }
            let size = norm == .linf ? delta.map(abs).max()! : delta.reduce(0) { $0 + $1 * $1 }.squareRoot()
            #expect(size <= epsilon + 1e-4, "\(norm) example \(i): \(size)")
            #expect(try adversarial.row(i).values.allSatisfy { $0 >= 0 && $0 <= 1 })
        }
    }

    /// On two moons behind a quantiser (steps of 1/4), PGD's gradients are zero, so it leaves the
    /// accuracy where the random start puts it; Square, which only queries, takes it far lower.
    @Test func squareBreaksAGradientMaskedModelThatPGDCannot() throws {
        let map = try TwoMoonsMAP()
        var rng = map.rng
        let test = map.test, range = TwoMoonsMAP.range, epsilon: Float = 0.3
        let masked = try PointPosterior(model: QuantizedInputs(chain: map.chain, levels: 4), parameters: map.posterior.parameters,
                                        task: .classification)
        let target = AttackTarget(posterior: masked)
        let clean = try accuracy(masked.predictive(test.inputs, samples: 1, rng: &rng), labels: test.labels)
        let gradient = try target.evaluate(test.inputs, labels: test.labels, rng: &rng).gradient
        #expect(gradient.values.allSatisfy { $0 == 0 }, "the quantiser masks every gradient")
        let pgd = try robustAccuracy(PGD(epsilon: epsilon, steps: 20, randomStart: false, inputRange: range), target: target,
                                     inputs: test.inputs, labels: test.labels, samples: 1, rng: &rng)
        let square = try robustAccuracy(Square(epsilon: epsilon, queries: 300, inputRange: range), target: target,
                                        inputs: test.inputs, labels: test.labels, samples: 1, rng: &rng)
        #expect(pgd == clean, "PGD without a random start cannot move: \(pgd) vs clean \(clean)")
        #expect(square < clean - 0.15, "Square \(square) vs clean \(clean)")
        // ZOO's finite differences at the paper's h = 1e-4 see the quantiser's zero gradient too;
        // with h = 0.1, wider than its steps' half-width, they see through it.
        let zooFine = try robustAccuracy(ZOO(epsilon: epsilon, steps: 30, learningRate: 0.05, inputRange: range), target: target,
                                         inputs: test.inputs, labels: test.labels, samples: 1, rng: &rng)
        let zoo = try robustAccuracy(ZOO(epsilon: epsilon, steps: 30, learningRate: 0.05, differenceStep: 0.1, inputRange: range),
                                     target: target, inputs: test.inputs, labels: test.labels, samples: 1, rng: &rng)
        #expect(zooFine == clean && zoo < clean - 0.15, "ZOO h 1e-4: \(zooFine), h 0.1: \(zoo), clean \(clean)")

        // AutoAttack on the same model: the gradient-based stages gain little (APGD-T is left
        // out: two classes; FAB-T's boundary walk has only zero gradients to follow), its Square
        // stage does the work.
        let auto = try AutoAttack(epsilon: epsilon, queries: 300, inputRange: range).run(test.inputs, labels: test.labels, target: target, rng: &rng)
        #expect(auto.robustAfter.map(\.name) == ["clean", "apgd-ce", "fab-t", "square"])
        let counts = auto.robustAfter.map(\.robust)
        #expect(counts[3] < counts[2] - 20 && Double(counts[3]) / 200 <= square + 0.02, "\(auto.robustAfter)")
    }

    /// The gradient-masking checks flag the quantised model — every input gradient is zero, and
    /// Square beats the white-box attacks — and pass on the plain network behind it.
    @Test func theMaskingChecksFlagTheQuantisedModelAndPassThePlainOne() throws {
        let map = try TwoMoonsMAP()
        var rng = map.rng
        let test = map.test, range = TwoMoonsMAP.range
        let masked = try PointPosterior(model: QuantizedInputs(chain: map.chain, levels: 4), parameters: map.posterior.parameters,
                                        task: .classification)
        let checks = GradientMaskingChecks(examples: 200, squareQueries: 300, samples: 1)
        func failed(_ posterior: PointPosterior) throws -> Set<String> {
            let target = AttackTarget(posterior: posterior)
            let robust = try robustAccuracy(PGD(epsilon: 0.3, steps: 10, inputRange: range), target: target, inputs: test.inputs,
                                            labels: test.labels, samples: 1, rng: &rng)
            let results = try checks.run(target: target, inputs: test.inputs, labels: test.labels, norm: .linf, inputRange: range,
                                         robustByEpsilon: [(0.3, robust)], rng: &rng)
            return Set(results.filter { !$0.passed }.map(\.name))
        }
        let maskedFailures = try failed(masked)
        #expect(maskedFailures.contains("input gradients are not zero"), "\(maskedFailures)")
        #expect(maskedFailures.contains("black-box Square is not stronger than white-box"), "\(maskedFailures)")
        let plainFailures = try failed(map.posterior)
        #expect(!plainFailures.contains("input gradients are not zero") && !plainFailures.contains("an ε covering the input range leaves ≈ 0"),
                "\(plainFailures)")
    }

    /// ZOO on the linear two-class model: every example's margin falls (or turns negative, where
    /// it stops), and the points stay in the ball and the range.
    @Test(arguments: AttackNorm.allCases)
    func zooStaysInTheBallAndLowersTheMargin(_ norm: AttackNorm) throws {
        let (posterior, _) = AttackTests.linear(seed: 4)
        let (x, y) = AttackTests.points(16, seed: 5)
        var rng = RandomGenerator(seed: 6)
        let target = AttackTarget(posterior: posterior)
        let epsilon: Float = 0.08
        let adversarial = try ZOO(norm: norm, epsilon: epsilon, steps: 40, learningRate: 0.01).perturb(x, labels: y, target: target, rng: &rng)
        let before = scoreMargins(try target.logProbabilities(x, rng: &rng), classes: y, targeted: false)
        let after = scoreMargins(try target.logProbabilities(adversarial, rng: &rng), classes: y, targeted: false)
        for i in 0..<16 {
            let delta = (0..<4).map { adversarial[i, $0] - x[i, $0] }
            let size = norm == .linf ? delta.map(abs).max()! : delta.reduce(0) { $0 + $1 * $1 }.squareRoot()
            #expect(size <= epsilon + 1e-5 && (0..<4).allSatisfy { adversarial[i, $0] >= 0 && adversarial[i, $0] <= 1 })
            // Fooled (it then stops), or the margin fell.
            #expect(before[i] <= 0 || after[i] < 0 || after[i] < before[i] - 0.01, "\(norm) example \(i): margin \(before[i]) → \(after[i])")
        }
    }
}
