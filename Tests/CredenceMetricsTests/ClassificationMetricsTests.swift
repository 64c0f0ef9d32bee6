import CredenceMetrics
import CredenceTensor
import Foundation
import Testing

@Suite struct ClassificationMetricsTests {
    @Test func referenceFixtureAccuracyNLLBrier() throws {
        let p = try ReferenceFixture.predictive(), y = ReferenceFixture.labels
        // argmax = [0, 1, 0, 2, 0, 1, 0, 0, 2, 1] vs y = [0, 1, 2, 2, 1, 1, 0, 0, 2, 0]: rows 2, 4, 9 wrong → 7/10.
        #expect(try accuracy(p, labels: y) == 0.7)
        // NLL = −(ln .6 + ln .7 + ln .33 + ln .9 + ln .45 + ln .8 + ln .4 + ln .98 + ln .5 + ln .15)/10 ≈ 0.66299.
        let byHand = -[0.6, 0.7, 0.33, 0.9, 0.45, 0.8, 0.4, 0.98, 0.5, 0.15].reduce(0.0) { $0 + log($1) } / 10
        #expect(close(try negativeLogLikelihood(p, labels: y), byHand, 1e-6))
        // Brier: per row Σ (p − onehot)² = .26, .14, .6734, .015, .555, .06, .545, .0006, .375, 1.145;
        // sum 3.769 → 0.3769.
        #expect(close(try brierScore(p, labels: y), 0.3769, 1e-6))
        // The PyTorch reference's `metrics()` on the same float32 array (see CalibrationTests).
        #expect(close(try negativeLogLikelihood(p, labels: y), 0.6629935550998064, 1e-12))
        #expect(close(try brierScore(p, labels: y), 0.37690000023156417, 1e-12))
    }

    @Test func brierOfCorrectOneHotIsZeroAndWrongIsTwo() throws {
        let p = try pointPredictive([[0, 1, 0], [1, 0, 0]])
        #expect(try brierScore(p, labels: [1, 0]) == 0)
        #expect(try brierScore(p, labels: [0, 1]) == 2)   // (0 − 1)² + (1 − 0)² per row
        #expect(try accuracy(p, labels: [1, 0]) == 1)
    }

    @Test func negativeLogLikelihoodClampsAtOneInATrillion() throws {
        // p(y) = 0 → −ln(1e−12) = 27.631021; the other row is certain and correct (0).
        let p = try pointPredictive([[1, 0], [0, 1]])
        #expect(close(try negativeLogLikelihood(p, labels: [1, 1]), -log(1e-12) / 2))
    }

    @Test func sampledPredictiveScoresTheMeanProbability() throws {
        // p̄ = ((0.9 + 0.5)/2, (0.1 + 0.5)/2) = (0.7, 0.3); NLL of label 0 = −ln 0.7 (not the mean of −ln 0.9, −ln 0.5).
        let p = try sampledPredictive([[[0.9, 0.1]], [[0.5, 0.5]]])
        #expect(close(try negativeLogLikelihood(p, labels: [0]), -log(0.7), 1e-7))
    }

    @Test func badLabelsAreTypedErrors() throws {
        let p = try pointPredictive([[0.5, 0.5], [0.9, 0.1]])
        #expect(throws: MetricsError.labelOutOfRange(index: 1, label: 2, classCount: 2)) { try accuracy(p, labels: [0, 2]) }
        #expect(throws: MetricsError.labelOutOfRange(index: 0, label: -1, classCount: 2)) { try brierScore(p, labels: [-1, 0]) }
        #expect(throws: MetricsError.countMismatch(name: "labels", count: 3, expected: 2)) {
            try negativeLogLikelihood(p, labels: [0, 1, 1])
        }
        let regression = try Predictive(means: Tensor(shape: [1, 1], values: [0]), variances: Tensor(shape: [1, 1], values: [1]))
        #expect(throws: MetricsError.wrongTask(metric: "accuracy", expected: "classification", found: "regression")) {
            try accuracy(regression, labels: [0])
        }
    }

    @Test func decisionsUnderACostMatrix() throws {
        let p = try pointPredictive([[0.6, 0.4], [0.3, 0.7], [0.55, 0.45]])
        let y: [Int32] = [0, 0, 1]
        // 0–1 loss reproduces argmax; realised cost = 1 − accuracy = 1 − 1/3.
        let zeroOne = try minimumExpectedCostDecisions(p, costs: [[0, 1], [1, 0]], labels: y)
        #expect(zeroOne.decisions == [0, 1, 0])
        #expect(close(zeroOne.meanRealizedCost!, 1 - (try accuracy(p, labels: y))))
        // Missing class 1 costs 5, a false alarm 1, abstaining 0.5 (third column).
        // Expected costs per decision: row 0: (0.4·5, 0.6·1, 0.5) = (2, 0.6, 0.5) → abstain;
        // row 1: (3.5, 0.3, 0.5) → 1; row 2: (2.25, 0.55, 0.5) → abstain.
        // Realised: row 0 abstain 0.5, row 1 (y = 0, decide 1) 1, row 2 abstain 0.5 → mean 2/3.
        let costs: [[Double]] = [[0, 1, 0.5], [5, 0, 0.5]]
        let outcome = try minimumExpectedCostDecisions(p, costs: costs, labels: y)
        #expect(outcome.decisions == [2, 1, 2])
        #expect(close(outcome.meanRealizedCost!, 2.0 / 3.0))
        #expect(close(outcome.meanExpectedCost, (0.5 + 0.3 + 0.5) / 3, 1e-7))
        #expect(throws: MetricsError.self) { try minimumExpectedCostDecisions(p, costs: [[0, 1]]) }
        #expect(throws: MetricsError.self) { try minimumExpectedCostDecisions(p, costs: [[0, 1], [1]]) }
        #expect(throws: MetricsError.self) { try minimumExpectedCostDecisions(p, costs: [[0, .nan], [1, 0]]) }
    }
}
