import CredenceTensor
import Foundation

/// Which per-example uncertainty a detector or selective classifier ranks by.
/// Higher score = more uncertain (more likely OOD or misclassified).
public enum UncertaintyScore: String, Sendable, Codable, CaseIterable {
    /// `1 − max_c p̄_c` (maximum softmax probability baseline, Hendrycks & Gimpel 2017).
    case maxProbability
    /// Total predictive entropy `H[p̄]`.
    case entropy
    /// Mutual information `H[p̄] − E_s H[p_s]` (epistemic; 0 when S = 1).
    case mutualInformation
    /// Expected entropy `E_s H[p_s]` (aleatoric).
    case expectedEntropy
}

extension Predictive {
    /// `argmax_c p̄[n, c]` per example (the first class on ties). Empty for regression.
    public var predictedClass: [Int] {
        guard task == .classification else { return [] }
        let c = outputCount
        return meanProbabilities.withUnsafeBufferPointer { m in
            (0..<exampleCount).map { n in
                var best = 0
                for j in 1..<c where m[n * c + j] > m[n * c + best] { best = j }
                return best
            }
        }
    }

    /// Top-1 confidence `max_c p̄[n, c]` per example. Empty for regression.
    public var confidence: [Double] {
        guard task == .classification else { return [] }
        let c = outputCount
        return meanProbabilities.withUnsafeBufferPointer { m in
            (0..<exampleCount).map { n in
                var best = m[n * c]
                for j in 1..<c where m[n * c + j] > best { best = m[n * c + j] }
                return best
            }
        }
    }

    /// Mutual information between the label and the posterior sample (epistemic
    /// uncertainty, BALD; Houlsby et al. 2011, Depeweg et al. 2018):
    /// `I[y; θ | x] = H[p̄] − E_s H[p_s] ≥ 0` by Jensen. Rounding can make the difference a
    /// tiny negative number; it is clamped to 0. Exactly 0 when `S = 1`. Empty for regression.
    public var mutualInformation: [Double] {
        zip(totalEntropy, expectedEntropy).map { Swift.max(0, $0 - $1) }
    }

    /// Whether the entropy splits into an aleatoric and an epistemic part: several samples, or
    /// an expected entropy given by a distilled student (`expectedEntropyIsGiven`). Without
    /// either, the mutual information is identically 0 and the expected entropy the total.
    public var decomposesEntropy: Bool { task == .classification && (sampleCount > 1 || expectedEntropyIsGiven) }

    /// Total predictive variance `Var[y] = E_s σ²_s + Var_s μ_s` (aleatoric + epistemic,
    /// the law of total variance), `N × D`. Empty for classification.
    public var totalVariance: [Double] {
        zip(aleatoricVariance, epistemicVariance).map { $0 + $1 }
    }

    /// Variance of each class probability across samples, `(1/S) Σₛ (p_s[n, c] − p̄[n, c])²`,
    /// row-major `N × C` (one more pass over the samples; all zeros when `S = 1`).
    /// Each sample row is normalised as in `meanProbabilities`. Empty for regression.
    public func classProbabilityVariance() -> [Double] {
        guard task == .classification, let probabilities else { return [] }
        let (s, n, c) = (sampleCount, exampleCount, outputCount)
        var variance = [Double](repeating: 0, count: n * c)
        probabilities.withUnsafeBufferPointer { p in
            for r in 0..<(s * n) {
                let row = r * c, example = r % n
                var sum = 0.0
                for j in 0..<c { sum += Double(p[row + j]) }
                for j in 0..<c {
                    let e = Double(p[row + j]) / sum - meanProbabilities[example * c + j]
                    variance[example * c + j] += e * e
                }
            }
        }
        let inv = 1 / Double(s)
        return variance.map { $0 * inv }
    }

    /// The per-example uncertainty named by `score` (higher = more uncertain).
    /// - Throws: `MetricsError.wrongTask` for a regression predictive.
    public func uncertainty(_ score: UncertaintyScore) throws -> [Double] {
        try require(.classification, for: "uncertainty(\(score.rawValue))")
        switch score {
        case .maxProbability: return confidence.map { 1 - $0 }
        case .entropy: return totalEntropy
        case .mutualInformation: return mutualInformation
        case .expectedEntropy: return expectedEntropy
        }
    }
}
