@testable import CredenceMetrics
import CredenceTensor
import Testing

@Suite struct AgreementTests {
    /// Three inputs, hand-computed: the top classes agree on the first and third; the total
    /// variations are ½(0.1 + 0.1) = 0.1, ½(0.6 + 0.6) = 0.6 and 0 (same distribution).
    @Test func topOneAgreementAndTotalVariationByHand() throws {
        let p = try Predictive(probabilities: Tensor(shape: [3, 2], values: [0.7, 0.3, 0.2, 0.8, 0.5, 0.5].map { Float($0) }))
        let q = try Predictive(probabilities: Tensor(shape: [3, 2], values: [0.8, 0.2, 0.8, 0.2, 0.5, 0.5].map { Float($0) }))
        let a = try PredictiveAgreement(p, reference: q)
        #expect(a.examples == 3)
        #expect(abs(a.topOneAgreement - 2.0 / 3) < 1e-12)
        #expect(abs(a.meanTotalVariation - 0.7 / 3) < 1e-6)
        let same = try PredictiveAgreement(q, reference: q)
        #expect(same.topOneAgreement == 1 && same.meanTotalVariation == 0)
        let other = try Predictive(probabilities: Tensor(shape: [2, 2], values: [0.5, 0.5, 0.5, 0.5]))
        #expect(throws: MetricsError.self) { try PredictiveAgreement(other, reference: q) }
        let regression = try Predictive(means: Tensor(shape: [3, 1], values: [0, 1, 2]), variances: Tensor(shape: [3, 1], values: [1, 1, 1]))
        #expect(throws: MetricsError.self) { try PredictiveAgreement(regression, reference: q) }
    }
}
