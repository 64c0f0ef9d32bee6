import CredenceMetrics
import CredenceTensor
import Foundation
import Testing

@Suite struct DetectionMetricsTests {
    // Positives score higher when detection works; ties across the classes at 0.8, 0.5 and 0.3.
    let positives = [0.9, 0.8, 0.8, 0.5, 0.3, 0.7]
    let negatives = [0.8, 0.2, 0.5, 0.1, 0.4, 0.5, 0.3]

    @Test func handComputedScoresMatchScikitLearn() throws {
        // AUROC = Σ_pos (#neg below + ½ #neg tied) / (6·7):
        // 0.9 → 7; 0.8 → 6 + ½ (twice) = 13; 0.5 → 4 + ½·2 = 5; 0.3 → 2 + ½ = 2.5; 0.7 → 6. 33.5/42.
        // sklearn.metrics.roc_auc_score and the reference's rankdata AUROC: 0.7976190476190477.
        #expect(close(try areaUnderROC(positives: positives, negatives: negatives), 33.5 / 42))
        #expect(close(try areaUnderROC(positives: positives, negatives: negatives), 0.7976190476190477))
        // AP over thresholds 0.9, 0.8, 0.7, 0.5, 0.3 (recall steps of 1/6, 2/6, 1/6, 1/6, 1/6):
        // 1/6·1 + 2/6·3/4 + 1/6·4/5 + 1/6·5/8 + 1/6·6/11; sklearn average_precision_score: 0.7450757575757576.
        let ap = 1.0 / 6 + 2.0 / 6 * 0.75 + 1.0 / 6 * 0.8 + 1.0 / 6 * 0.625 + 1.0 / 6 * 6 / 11
        #expect(close(try averagePrecision(positives: positives, negatives: negatives), ap))
        #expect(close(try averagePrecision(positives: positives, negatives: negatives), 0.7450757575757576))
        // TPR first reaches ≥ 95 % (6/6) at threshold 0.3, where 5 of 7 negatives score ≥ 0.3.
        #expect(close(try falsePositiveRate(positives: positives, negatives: negatives), 5.0 / 7))
        // sklearn roc_curve(drop_intermediate=False): 9 points, (0,0) … (1,1).
        let curve = try rocCurve(positives: positives, negatives: negatives)
        let sklearn: [(Double, Double)] = [(0, 0), (0, 1.0 / 6), (1.0 / 7, 0.5), (1.0 / 7, 4.0 / 6), (3.0 / 7, 5.0 / 6),
                                           (4.0 / 7, 5.0 / 6), (5.0 / 7, 1), (6.0 / 7, 1), (1, 1)]
        #expect(curve.count == sklearn.count)
        for (point, expected) in zip(curve, sklearn) {
            #expect(close(point.falsePositiveRate, expected.0) && close(point.truePositiveRate, expected.1))
        }
        let all = try detectionScores(positives: positives, negatives: negatives)
        #expect(all.auroc == (try areaUnderROC(positives: positives, negatives: negatives)))
        #expect(all.positiveCount == 6 && all.negativeCount == 7 && all.rocCurve.count == 9)
    }

    @Test func perfectReversedAndConstantScores() throws {
        let high = (0..<50).map { 1 + Double($0) }, low = (0..<70).map { -Double($0) }
        #expect(try areaUnderROC(positives: high, negatives: low) == 1)
        #expect(try areaUnderROC(positives: low, negatives: high) == 0)
        #expect(try averagePrecision(positives: high, negatives: low) == 1)
        #expect(try falsePositiveRate(positives: high, negatives: low) == 0)
        let constant = [Double](repeating: 0.3, count: 40)
        #expect(try areaUnderROC(positives: Array(constant.prefix(10)), negatives: constant) == 0.5)
        // AP of a constant score = the positive fraction, 10 / 50.
        #expect(close(try averagePrecision(positives: Array(constant.prefix(10)), negatives: constant), 0.2))
    }

    @Test func rocCurveIsDownsampledForPlots() throws {
        var rng = RandomGenerator(seed: 5)
        let p = (0..<3000).map { _ in Double(rng.normalFloat()) + 1 }, n = (0..<3000).map { _ in Double(rng.normalFloat()) }
        let curve = try rocCurve(positives: p, negatives: n, maxPoints: 200)
        #expect(curve.count == 200)
        #expect(curve.first!.truePositiveRate == 0 && curve.last!.truePositiveRate == 1 && curve.last!.falsePositiveRate == 1)
        #expect(zip(curve, curve.dropFirst()).allSatisfy { $0.falsePositiveRate <= $1.falsePositiveRate })
        // Two unit-variance Gaussians one apart: AUROC = Φ(1/√2) ≈ 0.7602; n = 3000 each, SE ≈ 0.007.
        #expect(close(try areaUnderROC(positives: p, negatives: n), 0.7602, 0.03))
    }

    @Test func invalidScoresAreTypedErrors() {
        #expect(throws: MetricsError.empty(name: "positive scores")) { try areaUnderROC(positives: [], negatives: [1]) }
        #expect(throws: MetricsError.empty(name: "negative scores")) { try averagePrecision(positives: [1], negatives: []) }
        #expect(throws: MetricsError.nonFinite(name: "negative scores", location: "index 1", value: .infinity)) {
            try areaUnderROC(positives: [1], negatives: [0, .infinity])
        }
        #expect(throws: MetricsError.self) { try falsePositiveRate(atTruePositiveRate: 0, positives: [1], negatives: [0]) }
    }

    @Test func outOfDistributionDetection() throws {
        // In-distribution: confident; OOD: near uniform. Every score separates them perfectly,
        // except mutual information of a point estimate (all zeros → 0.5).
        let inD = try pointPredictive([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.05, 0.15, 0.8]])
        let ood = try pointPredictive([[0.34, 0.33, 0.33], [0.4, 0.3, 0.3]])
        for score in [UncertaintyScore.entropy, .maxProbability, .expectedEntropy] {
            let d = try oodDetection(inDistribution: inD, outOfDistribution: ood, score: score)
            #expect(d.auroc == 1 && d.averagePrecision == 1 && d.falsePositiveRateAt95 == 0)
        }
        #expect(try oodDetection(inDistribution: inD, outOfDistribution: ood, score: .mutualInformation).auroc == 0.5)
        // Sampled OOD predictive whose members disagree: MI ranks it above agreeing in-distribution samples.
        let agreeing = try sampledPredictive([[[0.7, 0.3]], [[0.7, 0.3]]])
        let disagreeing = try sampledPredictive([[[0.9, 0.1]], [[0.1, 0.9]]])
        #expect(try oodDetection(inDistribution: agreeing, outOfDistribution: disagreeing, score: .mutualInformation).auroc == 1)
        let twoClass = try pointPredictive([[0.5, 0.5]])
        #expect(throws: MetricsError.self) { try oodDetection(inDistribution: inD, outOfDistribution: twoClass, score: .entropy) }
    }

    @Test func misclassificationDetectionByConfidence() throws {
        // Uncertainty 1 − max p̄ = 0.1, 0.4, 0.2, 0.45 with correctness T, F, T, F: errors rank highest → AUROC 1.
        let p = try pointPredictive([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.55, 0.45]])
        let d = try misclassificationDetection(p, labels: [0, 1, 1, 1], score: .maxProbability)
        #expect(d.auroc == 1 && d.positiveCount == 2 && d.negativeCount == 2)
        // Labels making the confident examples wrong instead: AUROC 0.
        #expect(try misclassificationDetection(p, labels: [1, 0, 0, 0], score: .entropy).auroc == 0)
        #expect(throws: MetricsError.self) { try misclassificationDetection(p, labels: [0, 0, 1, 0], score: .entropy) }
    }
}
