import CredenceInference
import CredenceTensor

/// AutoAttack's protocol (Croce & Hein 2020): attacks run one after the other, each only on the
/// examples every earlier one failed on, and an example is robust only if all fail.
///
/// - `.standard`: APGD-CE, APGD-T (targets), FAB-T (targets), Square (queries) — AutoAttack's
///   standard version.
/// - `.randomized` (AutoAttack's 'rand' version, for stochastic models): APGD-CE and APGD-DLR
///   with expectation over transformation — the target's `eotSamples` (AutoAttack: 20).
///
/// Whether an attack fooled an example is judged by the target's predictive at the returned
/// point (for a posterior, the model average of its `eotSamples` samples). An APGD whose loss
/// needs more classes than the model has (targeted DLR: 4, DLR: 3) is left out.
public struct AutoAttack: Sendable {
    public enum Version: String, Codable, Sendable, CaseIterable {
        case standard
        case randomized = "rand"
    }

    public var version: Version
    public var norm: AttackNorm
    public var epsilon: Float
    /// APGD's steps (100).
    public var steps: Int
    /// APGD-T's and FAB-T's targets (9).
    public var targetClasses: Int
    /// Square's queries (5000).
    public var queries: Int
    public var inputRange: ClosedRange<Float>

    public init(version: Version = .standard, norm: AttackNorm = .linf, epsilon: Float, steps: Int = 100, targetClasses: Int = 9,
                queries: Int = 5000, inputRange: ClosedRange<Float> = 0...1) {
        self.version = version
        self.norm = norm
        self.epsilon = epsilon
        self.steps = steps
        self.targetClasses = targetClasses
        self.queries = queries
        self.inputRange = inputRange
    }

    /// The attacks in order, by name, for a model with `classes` classes.
    public func attacks(classes: Int) -> [(name: String, attack: any Attack)] {
        let apgd = { (loss: AttackLoss) in
            APGD(norm: norm, epsilon: epsilon, steps: steps, loss: loss, targetClasses: targetClasses, inputRange: inputRange)
        }
        let all: [(String, any Attack, AttackLoss)]
        switch version {
        case .standard:
            all = [("apgd-ce", apgd(.crossEntropy), .crossEntropy), ("apgd-t", apgd(.targetedDLR), .targetedDLR),
                   ("fab-t", FAB(norm: norm, epsilon: epsilon, steps: steps, targetClasses: targetClasses, inputRange: inputRange),
                    .targetedLogitDifference),
                   ("square", Square(norm: norm, epsilon: epsilon, queries: queries, inputRange: inputRange), .crossEntropy)]
        case .randomized:
            all = [("apgd-ce", apgd(.crossEntropy), .crossEntropy), ("apgd-dlr", apgd(.dlr), .dlr)]
        }
        return all.filter { $0.2.minimumClasses <= classes }.map { ($0.0, $0.1) }
    }

    /// Adversarial versions of `inputs`, and after each attack how many examples were still
    /// classified correctly (the first entry: clean).
    public func run(_ inputs: Tensor, labels: [Int32], target: AttackTarget,
                    rng: inout RandomGenerator) throws -> (adversarial: Tensor, robustAfter: [(name: String, robust: Int)]) {
        _ = try exampleCount(inputs, labels: labels)  // checks the shapes
        var adversarial = inputs
        let clean = try target.logProbabilities(inputs, rng: &rng)
        var robust = zip(mostLikelyClasses(clean), labels).map { $0 == $1 }
        var counts = [("clean", robust.filter { $0 }.count)]
        for (name, attack) in attacks(classes: clean.shape.last ?? 1) {
            let remaining = robust.indices.filter { robust[$0] }
            if !remaining.isEmpty {
                let rows = try attack.perturb(try inputs.selectingRows(remaining), labels: remaining.map { labels[$0] }, target: target,
                                              rng: &rng)
                let predicted = try target.predictions(rows, rng: &rng)
                var fooled: [Int] = [], fooledRows: [Int] = []
                for (k, i) in remaining.enumerated() where predicted[k] != labels[i] {
                    robust[i] = false
                    fooled.append(i)
                    fooledRows.append(k)
                }
                if !fooled.isEmpty { try adversarial.setRows(fooled, from: try rows.selectingRows(fooledRows)) }
            }
            counts.append((name, robust.filter { $0 }.count))
        }
        return (adversarial, counts)
    }
}

extension AutoAttack: Attack {
    public func perturb(_ inputs: Tensor, labels: [Int32], target: AttackTarget, rng: inout RandomGenerator) throws -> Tensor {
        try run(inputs, labels: labels, target: target, rng: &rng).adversarial
    }
}
