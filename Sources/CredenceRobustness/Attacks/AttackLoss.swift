import CredenceInference
import CredenceTensor

/// The loss an attack ascends, as a function of one example's log-probabilities z (C values;
/// for a posterior, those of its model average or of one sample — `EOTLoss`).
public enum AttackLoss: String, Codable, Sendable, CaseIterable {
    /// −z_y: cross-entropy of the true class (of the target class, descended, in targeted PGD).
    case crossEntropy = "ce"
    /// The difference of logits ratio (Croce & Hein 2020): −(z_y − max_{i≠y} z_i)/(z_π1 − z_π3),
    /// π sorting z in decreasing order. Unchanged by shifting or scaling z, so the
    /// log-probabilities give the logits' value; needs C ≥ 3.
    case dlr
    /// Its targeted form (APGD-T): −(z_y − z_t)/(z_π1 − ½(z_π3 + z_π4)) for target class t;
    /// needs C ≥ 4.
    case targetedDLR = "dlr-targeted"
    /// z_t − z_y for target class t (FAB-T's boundary function: ≥ 0 once t is at least as likely
    /// as the true class).
    case targetedLogitDifference = "logit-difference-targeted"

    /// Whether the loss needs a target class per example.
    public var isTargeted: Bool { self == .targetedDLR || self == .targetedLogitDifference }

    /// The fewest classes the loss is defined for.
    public var minimumClasses: Int {
        switch self {
        case .crossEntropy, .targetedLogitDifference: return 2
        case .dlr: return 3
        case .targetedDLR: return 4
        }
    }

    public func validate(classes: Int) throws {
        guard classes >= minimumClasses else {
            throw InferenceError.invalidOption("the \(rawValue) loss needs at least \(minimumClasses) classes; the model has \(classes)")
        }
    }

    /// The loss of one example with log-probabilities `z`, true class `label` and (targeted
    /// DLR) `target`; ∂loss/∂z is written into `gradient` (same count as `z`).
    public func evaluate(_ z: UnsafeBufferPointer<Float>, label: Int, target: Int,
                         gradient: UnsafeMutableBufferPointer<Float>) -> Double {
        for c in gradient.indices { gradient[c] = 0 }
        switch self {
        case .crossEntropy:
            gradient[label] = -1
            return -Double(z[label])
        case .targetedLogitDifference:
            gradient[target] += 1
            gradient[label] -= 1
            return Double(z[target]) - Double(z[label])
        case .dlr, .targetedDLR:
            // The four largest entries' classes, in decreasing order.
            var top = [Int](repeating: -1, count: 4)
            for c in z.indices {
                var k = 3
                while k >= 0, top[k] < 0 || z[top[k]] < z[c] { k -= 1 }
                k += 1
                guard k < 4 else { continue }
                for j in stride(from: 3, to: k, by: -1) { top[j] = top[j - 1] }
                top[k] = c
            }
            let value = { (c: Int) in Double(z[c]) }
            if self == .dlr {
                let other = top[0] == label ? top[1] : top[0]
                let numerator = value(label) - value(other), denominator = value(top[0]) - value(top[2]) + 1e-12
                gradient[label] += Float(-1 / denominator)
                gradient[other] += Float(1 / denominator)
                gradient[top[0]] += Float(numerator / (denominator * denominator))
                gradient[top[2]] -= Float(numerator / (denominator * denominator))
                return -numerator / denominator
            }
            let numerator = value(label) - value(target)
            let denominator = value(top[0]) - 0.5 * (value(top[2]) + value(top[3])) + 1e-12
            gradient[label] += Float(-1 / denominator)
            gradient[target] += Float(1 / denominator)
            let spread = Float(numerator / (denominator * denominator))
            gradient[top[0]] += spread
            gradient[top[2]] -= 0.5 * spread
            gradient[top[3]] -= 0.5 * spread
            return -numerator / denominator
        }
    }
}

/// The margin per example of [N, C] log-probabilities (or logits): z_y − max_{i≠y} z_i, or for
/// a targeted attack (`classes` = targets) max_{i≠t} z_i − z_t; ≤ 0 means the attack succeeded.
/// What the score-based attacks (Square, ZOO) descend.
func scoreMargins(_ scores: Tensor, classes: [Int32], targeted: Bool) -> [Float] {
    let c = scores.shape.last ?? 1, z = scores.values
    return classes.enumerated().map { i, y in
        let row = (i * c)..<((i + 1) * c), own = z[i * c + Int(y)]
        let other = row.filter { $0 != i * c + Int(y) }.map { z[$0] }.max() ?? -.infinity
        return targeted ? other - own : own - other
    }
}
