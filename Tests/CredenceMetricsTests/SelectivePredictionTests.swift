import CredenceMetrics
import CredenceTensor
import Foundation
import Testing

@Suite struct SelectivePredictionTests {
    /// Confidences 0.9, 0.8, 0.7, 0.6 (already in rank order), correct T, F, T, T.
    func fixture() throws -> (Predictive, [Int32]) {
        (try pointPredictive([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.6, 0.4]]), [0, 1, 0, 0])
    }

    @Test func aurcByHand() throws {
        let (p, y) = try fixture()
        // Risk of the k most confident: k=1: 0, k=2: 1/2, k=3: 1/3, k=4: 1/4.
        // AURC = (0 + 1/2 + 1/3 + 1/4)/4 = 13/48. Optimal (the one error last): (0 + 0 + 0 + 1/4)/4 = 1/16.
        let rc = try riskCoverage(p, labels: y)
        #expect(close(rc.aurc, 13.0 / 48))
        #expect(close(rc.optimalAURC, 1.0 / 16))
        #expect(close(rc.excessAURC, 13.0 / 48 - 1.0 / 16))
        #expect(rc.errorRate == 0.25 && rc.coverage == [0.25, 0.5, 0.75, 1])
        #expect(close(try areaUnderRiskCoverageCurve(p, labels: y), 13.0 / 48))
        // A perfect ranking has E-AURC 0.
        #expect(close(try riskCoverage(p, labels: [0, 0, 0, 1]).excessAURC, 0))
    }

    @Test func accuracyRejectionCurveByHand() throws {
        let (p, y) = try fixture()
        // Reject 0 → keep 4 (3/4 correct); 0.25 → keep 3 (2/3); 0.5 → keep 2 (1/2); 0.9 → keep round(0.4) → at least 1 (1/1).
        let curve = try accuracyRejectionCurve(p, labels: y, rejectionRates: [0, 0.25, 0.5, 0.9])
        #expect(curve.map(\.retainedCount) == [4, 3, 2, 1])
        #expect(zip(curve.map(\.accuracy), [0.75, 2.0 / 3, 0.5, 1]).allSatisfy { close($0, $1) })
        #expect(throws: MetricsError.self) { try accuracyRejectionCurve(p, labels: y, rejectionRates: [1]) }
    }

    @Test func tiedConfidencesCountInProportion() throws {
        // Constant confidence: any order is as good as another, so the expected risk is the error
        // rate at every coverage (here 1/4), and AURC = 1/4; accuracy after rejection stays 3/4.
        let p = try pointPredictive([[Float]](repeating: [0.6, 0.4], count: 4))
        let y: [Int32] = [0, 1, 0, 0]
        #expect(close(try riskCoverage(p, labels: y).aurc, 0.25))
        #expect(try accuracyRejectionCurve(p, labels: y, rejectionRates: [0, 0.5]).allSatisfy { close($0.accuracy, 0.75) })
    }

    @Test func rejectingUncertainExamplesHelpsAnInformativeModel() throws {
        // Labels drawn with probability = confidence: accuracy rises as the least confident are rejected.
        var rng = RandomGenerator(seed: 9)
        var values: [Float] = [], labels: [Int32] = []
        for _ in 0..<2000 {
            let c = 0.5 + 0.5 * rng.uniformFloat()
            values += [c, 1 - c]
            labels.append(rng.uniformFloat() < c ? 0 : 1)
        }
        let p = try Predictive(probabilities: Tensor(shape: [2000, 2], values: values))
        let curve = try accuracyRejectionCurve(p, labels: labels, rejectionRates: [0, 0.5, 0.9])
        #expect(curve[0].accuracy < curve[1].accuracy && curve[1].accuracy < curve[2].accuracy)
        let rc = try riskCoverage(p, labels: labels)
        #expect(rc.aurc < rc.errorRate && rc.excessAURC > 0)
    }
}
