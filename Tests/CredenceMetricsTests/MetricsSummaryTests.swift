import CredenceMetrics
import CredenceTensor
import Foundation
import Testing

@Suite struct MetricsSummaryTests {
    @Test func summaryRowAgreesWithTheIndividualMetrics() throws {
        let p = try ReferenceFixture.predictive(), y = ReferenceFixture.labels
        let row = try metricsSummary(p, labels: y)
        #expect(row.examples == 10 && row.samples == 1 && row.classes == 3 && row.binCount == 15)
        #expect(row.accuracy == (try accuracy(p, labels: y)))
        #expect(row.negativeLogLikelihood == (try negativeLogLikelihood(p, labels: y)))
        #expect(row.brierScore == (try brierScore(p, labels: y)))
        #expect(row.expectedCalibrationError == (try expectedCalibrationError(p, labels: y)))
        #expect(row.maximumCalibrationError == (try maximumCalibrationError(p, labels: y)))
        #expect(row.adaptiveCalibrationError == (try adaptiveCalibrationError(p, labels: y)))
        #expect(row.aurc == (try areaUnderRiskCoverageCurve(p, labels: y)))
        #expect(row.meanMutualInformation == 0)
        #expect(row.oodExamples == nil && row.oodAUROCEntropy == nil)
    }

    @Test func summaryWithOODAndJSONRoundTrip() throws {
        let inD = try sampledPredictive([[[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]], [[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]]])
        let ood = try sampledPredictive([[[0.6, 0.4], [0.3, 0.7]], [[0.2, 0.8], [0.7, 0.3]]])
        let row = try metricsSummary(inD, labels: [0, 1, 1], outOfDistribution: ood)
        let byEntropy = try oodDetection(inDistribution: inD, outOfDistribution: ood, score: .entropy)
        #expect(row.oodExamples == 2)
        #expect(row.oodAUROCEntropy == byEntropy.auroc && row.oodAUPREntropy == byEntropy.averagePrecision)
        #expect(row.oodFPR95Entropy == byEntropy.falsePositiveRateAt95)
        #expect(row.oodAUROCMaxProbability != nil && row.oodAUROCMutualInformation != nil)
        // Members disagree more on the OOD inputs: MI separates them perfectly.
        #expect(row.oodAUROCMutualInformation == 1)
        let json = try JSONEncoder().encode(row)
        #expect(try JSONDecoder().decode(MetricsSummary.self, from: json) == row)
    }

    @Test func regressionSummaryRow() throws {
        let p = try Predictive(means: Tensor(shape: [2, 2, 1], values: [0, 1, 2, 1]), variances: Tensor(shape: [2, 2, 1], values: [1, 1, 1, 1]))
        let y = Tensor(shape: [2, 1], values: [1, 1])
        let row = try regressionMetricsSummary(p, targets: y)
        #expect(row.rootMeanSquaredError == 0)   // predictive means (1, 1)
        #expect(row.meanAleatoricVariance == 1 && row.meanEpistemicVariance == 0.5)   // Var μ = (1, 0)
        #expect(row.negativeLogLikelihood == (try gaussianNegativeLogLikelihood(p, targets: y)))
        #expect(row.mixtureNegativeLogLikelihood == (try mixtureNegativeLogLikelihood(p, targets: y)))
        #expect(row.coverage.count == 3)
        #expect(throws: MetricsError.self) { try metricsSummary(p, labels: [0, 0]) }
    }
}
