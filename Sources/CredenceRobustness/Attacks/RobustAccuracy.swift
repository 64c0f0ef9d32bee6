import CredenceInference
import CredenceMetrics
import CredenceTensor

/// An attack: adversarial versions of inputs for their labels against a target (`PGD`, `APGD`).
public protocol Attack: Sendable {
    func perturb(_ inputs: Tensor, labels: [Int32], target: AttackTarget, rng: inout RandomGenerator) throws -> Tensor
}

extension PGD: Attack {}
extension APGD: Attack {}

/// Accuracy of `target.posterior`'s predictive (`samples` Monte-Carlo samples) on the
/// adversarial versions of `inputs` that `attack` makes — the robust accuracy at the
/// attack's ε — processed in batches of `batchSize`.
public func robustAccuracy(_ attack: any Attack, target: AttackTarget, inputs: Tensor, labels: [Int32], samples: Int = 32,
                           batchSize: Int = 500, rng: inout RandomGenerator) throws -> Double {
    let n = inputs.shape.first ?? 0
    guard n > 0, labels.count == n else {
        throw InferenceError.invalidOption("robust accuracy needs inputs and one label each: \(n) inputs, \(labels.count) labels")
    }
    var correct = 0.0
    for start in stride(from: 0, to: n, by: batchSize) {
        let rows = start..<Swift.min(start + batchSize, n)
        let batchLabels = Array(labels[rows])
        let adversarial = try attack.perturb(try inputs.rows(rows), labels: batchLabels, target: target, rng: &rng)
        let predictive = try target.posterior.predictive(adversarial, samples: samples, rng: &rng)
        correct += try accuracy(predictive, labels: batchLabels) * Double(rows.count)
    }
    return correct / Double(n)
}
