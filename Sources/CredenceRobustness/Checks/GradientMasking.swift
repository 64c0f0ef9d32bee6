import CredenceInference
import CredenceMetrics
import CredenceTensor
import Foundation

/// One sanity check of an attack evaluation (Carlini et al. 2019, "On evaluating adversarial
/// robustness"; Athalye et al. 2018; AutoAttack's own flags): when one fails, the robust
/// accuracy is more likely an artefact of masked gradients than robustness.
public struct MaskingCheck: Codable, Sendable, Equatable {
    public var name: String
    public var passed: Bool
    /// The numbers behind it.
    public var detail: String
}

/// The usual gradient-masking checks of a robustness evaluation, on the first `examples`
/// inputs at the largest budget ε:
///
/// - robust accuracy does not rise with ε (from the evaluation's own points);
/// - few examples have an all-zero input gradient at the clean input (≤ 1 %);
/// - iterative beats single-step: PGD-10 ≤ FGSM + 0.5 points;
/// - APGD-CE (100 steps) ≤ PGD-10 + 0.5 points;
/// - the black-box Square (`squareQueries`) is not stronger than the best white-box attack by
///   more than 0.5 points;
/// - an ε as wide as the input range (PGD-20 with restarts) takes robust accuracy to ≤ 2 %.
///
/// For a stochastic posterior every attack uses the target's EOT samples.
public struct GradientMaskingChecks: Sendable {
    public var examples: Int
    public var squareQueries: Int
    public var samples: Int

    public init(examples: Int = 500, squareQueries: Int = 1000, samples: Int = 32) {
        self.examples = examples
        self.squareQueries = squareQueries
        self.samples = samples
    }

    /// What the checks' attacks left on one batch of examples, in counts, so batches measured
    /// apart (on different MPI ranks) add up to the measurement of all of them.
    public struct Measurement: Codable, Sendable, Equatable {
        public var examples = 0
        /// Examples with an all-zero input gradient at the clean input.
        public var flatGradients = 0
        /// Examples still classified correctly after each attack (`square` nil when not run).
        public var fgsm = 0, pgd = 0, apgd = 0, covering = 0
        public var square: Int?

        public init() {}

        public static func + (a: Measurement, b: Measurement) -> Measurement {
            var sum = a
            sum.examples += b.examples
            sum.flatGradients += b.flatGradients
            sum.fgsm += b.fgsm
            sum.pgd += b.pgd
            sum.apgd += b.apgd
            sum.covering += b.covering
            if let x = a.square, let y = b.square { sum.square = x + y } else { sum.square = a.examples == 0 ? b.square : b.examples == 0 ? a.square : nil }
            return sum
        }
    }

    /// `robustByEpsilon`: the evaluation's (ε, robust accuracy) points. The first `examples`
    /// inputs are measured as one batch (`measure`) and judged (`checks`).
    public func run(target: AttackTarget, inputs: Tensor, labels: [Int32], norm: AttackNorm, inputRange: ClosedRange<Float>,
                    robustByEpsilon: [(epsilon: Float, robust: Double)], rng: inout RandomGenerator) throws -> [MaskingCheck] {
        let n = Swift.min(examples, inputs.shape.first ?? 0)
        guard n > 0, let epsilon = robustByEpsilon.map(\.epsilon).max(), epsilon > 0 else {
            return checks(Measurement(), robustByEpsilon: robustByEpsilon, norm: norm, inputRange: inputRange, inputSize: 0)
        }
        let measured = try measure(target: target, inputs: try inputs.rows(0..<n), labels: Array(labels[0..<n]), norm: norm,
                                   epsilon: epsilon, inputRange: inputRange, rng: &rng)
        return checks(measured, robustByEpsilon: robustByEpsilon, norm: norm, inputRange: inputRange, inputSize: inputs.count / (inputs.shape.first ?? 1))
    }

    /// Runs the checks' attacks at budget `epsilon` (the evaluation's largest) on a batch.
    public func measure(target: AttackTarget, inputs x: Tensor, labels y: [Int32], norm: AttackNorm, epsilon: Float,
                        inputRange: ClosedRange<Float>, rng: inout RandomGenerator) throws -> Measurement {
        let n = try exampleCount(x, labels: y)
        var measured = Measurement()
        guard n > 0 else { return measured }
        measured.examples = n
        let gradient = try target.evaluate(x, labels: y, rng: &rng).gradient
        let perRow = gradient.count / n, g = gradient.values
        measured.flatGradients = (0..<n).filter { i in g[(i * perRow)..<((i + 1) * perRow)].allSatisfy { $0 == 0 } }.count

        func robust(_ attack: any Attack) throws -> Int {
            let correct = try evaluateRobustness(attack, target: target, inputs: x, labels: y, samples: samples, rng: &rng).predictive
                .correctness(y)
            return correct.filter { $0 }.count
        }
        measured.fgsm = try robust(PGD.fgsm(norm: norm, epsilon: epsilon, inputRange: inputRange))
        measured.pgd = try robust(PGD(norm: norm, epsilon: epsilon, steps: 10, inputRange: inputRange))
        measured.apgd = try robust(APGD(norm: norm, epsilon: epsilon, inputRange: inputRange))
        if norm == .linf || (x.shape.count >= 3 && x.shape.suffix(2).allSatisfy { $0 >= 5 }) {
            measured.square = try robust(Square(norm: norm, epsilon: epsilon, queries: squareQueries, inputRange: inputRange))
        }
        measured.covering = try robust(PGD(norm: norm, epsilon: Self.coveringEpsilon(norm: norm, inputRange: inputRange, inputSize: perRow),
                                           steps: 20, restarts: 2, inputRange: inputRange))
        return measured
    }

    /// The checks judged from the evaluation's points and the (summed) measurement of its
    /// examples; `inputSize`: values per example.
    public func checks(_ measured: Measurement, robustByEpsilon: [(epsilon: Float, robust: Double)], norm: AttackNorm,
                       inputRange: ClosedRange<Float>, inputSize: Int) -> [MaskingCheck] {
        var checks: [MaskingCheck] = []
        let points = robustByEpsilon.sorted { $0.epsilon < $1.epsilon }
        if points.count > 1 {
            let rises = zip(points, points.dropFirst()).filter { $1.robust > $0.robust + 1e-9 }
            checks.append(MaskingCheck(name: "robust accuracy falls with ε", passed: rises.isEmpty,
                                       detail: points.map { "ε \($0.epsilon): \(format($0.robust))" }.joined(separator: ", ")))
        }
        let n = measured.examples
        guard n > 0, let epsilon = points.last?.epsilon, epsilon > 0 else { return checks }
        func fraction(_ count: Int) -> Double { Double(count) / Double(n) }
        checks.append(MaskingCheck(name: "input gradients are not zero", passed: Double(measured.flatGradients) <= 0.01 * Double(n),
                                   detail: "\(measured.flatGradients) of \(n) examples have an all-zero input gradient at the clean input"))
        let fgsm = fraction(measured.fgsm), pgd = fraction(measured.pgd), apgd = fraction(measured.apgd)
        checks.append(MaskingCheck(name: "PGD-10 ≤ FGSM", passed: pgd <= fgsm + 0.005,
                                   detail: "at ε \(epsilon): PGD-10 \(format(pgd)), FGSM \(format(fgsm))"))
        checks.append(MaskingCheck(name: "APGD-CE ≤ PGD-10", passed: apgd <= pgd + 0.005,
                                   detail: "at ε \(epsilon): APGD-CE \(format(apgd)), PGD-10 \(format(pgd))"))
        let whiteBox = Swift.min(pgd, apgd)
        if let square = measured.square.map(fraction) {
            checks.append(MaskingCheck(name: "black-box Square is not stronger than white-box", passed: square >= whiteBox - 0.005,
                                       detail: "at ε \(epsilon): Square (\(squareQueries) queries) \(format(square)), best white-box \(format(whiteBox))"))
        }
        let covering = fraction(measured.covering)
        let box = Self.coveringEpsilon(norm: norm, inputRange: inputRange, inputSize: inputSize)
        checks.append(MaskingCheck(name: "an ε covering the input range leaves ≈ 0", passed: covering <= 0.02,
                                   detail: "PGD-20 × 2 restarts at ε \(box): \(format(covering))"))
        return checks
    }

    /// The budget that covers the whole input range: its width (L∞), or the width times √size (L2).
    static func coveringEpsilon(norm: AttackNorm, inputRange: ClosedRange<Float>, inputSize: Int) -> Float {
        let width = inputRange.upperBound - inputRange.lowerBound
        return norm == .linf ? width : width * Float(inputSize).squareRoot()
    }

    func format(_ value: Double) -> String { String(format: "%.4f", value) }
}
