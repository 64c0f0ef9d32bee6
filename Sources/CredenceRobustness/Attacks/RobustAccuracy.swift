import CredenceInference
import CredenceMetrics
import CredenceTensor

/// An attack: adversarial versions of inputs for their labels against a target.
public protocol Attack: Sendable {
    func perturb(_ inputs: Tensor, labels: [Int32], target: AttackTarget, rng: inout RandomGenerator) throws -> Tensor
}

extension PGD: Attack {}
extension APGD: Attack {}

/// The number of examples in `inputs` [N, …], once there is one label per example.
func exampleCount(_ inputs: Tensor, labels: [Int32]) throws -> Int {
    let n = inputs.shape.first ?? 0
    guard labels.count == n else {
        throw InferenceError.invalidOption("an attack needs one label per input: \(labels.count) labels for \(n) inputs")
    }
    return n
}

/// A targeted attack's classes: one per example, when there are any.
func checkTargets(_ targets: [Int32]?, count n: Int) throws {
    if let targets, targets.count != n {
        throw InferenceError.invalidOption("a targeted attack needs one target class per input: \(targets.count) for \(n)")
    }
}

/// What an attack left: the adversarial inputs, the posterior's predictive on them, and its
/// accuracy there.
public struct RobustEvaluation {
    public var adversarial: Tensor
    public var predictive: Predictive
    public var robustAccuracy: Double
    /// For a stochastic posterior evaluated `repeats` > 1 times with fresh samples: the fraction
    /// of examples classified correctly in every evaluation (a randomized defence counts as
    /// robust on a point only if it survives each draw). Nil otherwise.
    public var robustInEveryRepeat: Double? {
        correctInEveryRepeat.map { correct in Double(correct.filter { $0 }.count) / Double(Swift.max(correct.count, 1)) }
    }
    /// Per example: classified correctly in every one of the `repeats` evaluations (nil as above).
    public var correctInEveryRepeat: [Bool]?
}

/// Runs `attack` on `inputs` in batches of `batchSize` and scores the predictive of `victim`
/// (default: `target.posterior`; another posterior for a transfer attack crafted on the target
/// as a surrogate) on the adversarial inputs (`scoreRobustness`).
public func evaluateRobustness(_ attack: any Attack, target: AttackTarget, inputs: Tensor, labels: [Int32], victim: (any Posterior)? = nil,
                               samples: Int = 32, repeats: Int = 1, batchSize: Int = 500,
                               rng: inout RandomGenerator) throws -> RobustEvaluation {
    let n = inputs.shape.first ?? 0
    guard n > 0, labels.count == n else {
        throw InferenceError.invalidOption("robust accuracy needs inputs and one label each: \(n) inputs, \(labels.count) labels")
    }
    var adversarial = inputs
    for start in stride(from: 0, to: n, by: batchSize) {
        let rows = start..<Swift.min(start + batchSize, n)
        try adversarial.setRows(Array(rows), from: try attack.perturb(try inputs.rows(rows), labels: Array(labels[rows]), target: target,
                                                                        rng: &rng))
    }
    return try scoreRobustness(adversarial, labels: labels, posterior: victim ?? target.posterior, samples: samples, repeats: repeats,
                               rng: &rng)
}

/// The predictive of `posterior` (`samples` Monte-Carlo samples) on `adversarial` inputs and its
/// accuracy; a stochastic posterior is scored `repeats` times.
public func scoreRobustness(_ adversarial: Tensor, labels: [Int32], posterior: any Posterior, samples: Int = 32, repeats: Int = 1,
                            rng: inout RandomGenerator) throws -> RobustEvaluation {
    guard repeats >= 1 else { throw InferenceError.invalidOption("repeated evaluations must be ≥ 1, got \(repeats)") }
    let predictive = try posterior.predictive(adversarial, samples: samples, rng: &rng)
    let robust = try accuracy(predictive, labels: labels)
    guard repeats > 1, posterior.sampleCount(requested: 2) != posterior.sampleCount(requested: 1) else {
        return RobustEvaluation(adversarial: adversarial, predictive: predictive, robustAccuracy: robust)
    }
    var survived = predictive.correctness(labels)
    for _ in 1..<repeats {
        let again = try posterior.predictive(adversarial, samples: samples, rng: &rng).correctness(labels)
        survived = zip(survived, again).map { $0 && $1 }
    }
    return RobustEvaluation(adversarial: adversarial, predictive: predictive, robustAccuracy: robust, correctInEveryRepeat: survived)
}

/// Accuracy of `target.posterior`'s predictive on the adversarial versions of `inputs` that
/// `attack` makes — the robust accuracy at the attack's ε (`evaluateRobustness`).
public func robustAccuracy(_ attack: any Attack, target: AttackTarget, inputs: Tensor, labels: [Int32], samples: Int = 32,
                           batchSize: Int = 500, rng: inout RandomGenerator) throws -> Double {
    try evaluateRobustness(attack, target: target, inputs: inputs, labels: labels, samples: samples, batchSize: batchSize,
                           rng: &rng).robustAccuracy
}
