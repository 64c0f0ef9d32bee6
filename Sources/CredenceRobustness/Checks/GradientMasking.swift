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

    /// `robustByEpsilon`: the evaluation's (ε, robust accuracy) points.
    public func run(target: AttackTarget, inputs: Tensor, labels: [Int32], norm: AttackNorm, inputRange: ClosedRange<Float>,
                    robustByEpsilon: [(epsilon: Float, robust: Double)], rng: inout RandomGenerator) throws -> [MaskingCheck] {
        var checks: [MaskingCheck] = []
        let points = robustByEpsilon.sorted { $0.epsilon < $1.epsilon }
        if points.count > 1 {
            let rises = zip(points, points.dropFirst()).filter { $1.robust > $0.robust + 1e-9 }
            checks.append(MaskingCheck(name: "robust accuracy falls with ε", passed: rises.isEmpty,
                                       detail: points.map { "ε \($0.epsilon): \(format($0.robust))" }.joined(separator: ", ")))
        }
        let n = Swift.min(examples, inputs.shape.first ?? 0)
        guard n > 0, let epsilon = points.last?.epsilon, epsilon > 0 else { return checks }
        let x = try inputs.rows(0..<n), y = Array(labels[0..<n])

        let gradient = try target.evaluate(x, labels: y, rng: &rng).gradient
        let perRow = gradient.count / n, g = gradient.values
        let flat = (0..<n).filter { i in g[(i * perRow)..<((i + 1) * perRow)].allSatisfy { $0 == 0 } }.count
        checks.append(MaskingCheck(name: "input gradients are not zero", passed: Double(flat) <= 0.01 * Double(n),
                                   detail: "\(flat) of \(n) examples have an all-zero input gradient at the clean input"))

        func robust(_ attack: any Attack) throws -> Double {
            try robustAccuracy(attack, target: target, inputs: x, labels: y, samples: samples, rng: &rng)
        }
        let fgsm = try robust(PGD.fgsm(norm: norm, epsilon: epsilon, inputRange: inputRange))
        let pgd = try robust(PGD(norm: norm, epsilon: epsilon, steps: 10, inputRange: inputRange))
        checks.append(MaskingCheck(name: "PGD-10 ≤ FGSM", passed: pgd <= fgsm + 0.005,
                                   detail: "at ε \(epsilon): PGD-10 \(format(pgd)), FGSM \(format(fgsm))"))
        let apgd = try robust(APGD(norm: norm, epsilon: epsilon, inputRange: inputRange))
        checks.append(MaskingCheck(name: "APGD-CE ≤ PGD-10", passed: apgd <= pgd + 0.005,
                                   detail: "at ε \(epsilon): APGD-CE \(format(apgd)), PGD-10 \(format(pgd))"))
        let whiteBox = Swift.min(pgd, apgd)
        if norm == .linf || (inputs.shape.count >= 3 && inputs.shape.suffix(2).allSatisfy { $0 >= 5 }) {
            let square = try robust(Square(norm: norm, epsilon: epsilon, queries: squareQueries, inputRange: inputRange))
            checks.append(MaskingCheck(name: "black-box Square is not stronger than white-box", passed: square >= whiteBox - 0.005,
                                       detail: "at ε \(epsilon): Square (\(squareQueries) queries) \(format(square)), best white-box \(format(whiteBox))"))
        }
        let width = inputRange.upperBound - inputRange.lowerBound
        let box = norm == .linf ? width : width * Float(perRow).squareRoot()
        let large = try robust(PGD(norm: norm, epsilon: box, steps: 20, restarts: 2, inputRange: inputRange))
        checks.append(MaskingCheck(name: "an ε covering the input range leaves ≈ 0", passed: large <= 0.02,
                                   detail: "PGD-20 × 2 restarts at ε \(box): \(format(large))"))
        return checks
    }

    func format(_ value: Double) -> String { String(format: "%.4f", value) }
}
