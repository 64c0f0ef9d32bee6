import CredenceMetrics
import CredenceTensor
import Foundation
import Testing

@Suite struct PredictiveTests {
    @Test func derivedQuantitiesOfAPointEstimate() throws {
        let p = try pointPredictive([[0.7, 0.2, 0.1], [0.25, 0.25, 0.5]])
        #expect(p.task == .classification && p.sampleCount == 1 && p.exampleCount == 2 && p.outputCount == 3)
        #expect(p.predictedClass == [0, 2])
        #expect(close(p.confidence[0], 0.7, 1e-7) && close(p.confidence[1], 0.5, 1e-7))
        // H[(0.7, 0.2, 0.1)] = −(0.7 ln 0.7 + 0.2 ln 0.2 + 0.1 ln 0.1) = 0.249675 + 0.321888 + 0.230259 = 0.801819
        #expect(close(p.totalEntropy[0], 0.801819, 1e-5))
        // One sample: expected entropy equals total entropy and MI is exactly 0.
        #expect(p.expectedEntropy == p.totalEntropy)
        #expect(p.mutualInformation == [0, 0])
        #expect(p.classProbabilityVariance().allSatisfy { $0 == 0 })
    }

    @Test func entropyOfUniformIsLogC() throws {
        for c in [2, 3, 10] {
            let p = try pointPredictive([[Float](repeating: 1 / Float(c), count: c)])
            #expect(close(p.totalEntropy[0], log(Double(c)), 1e-6))
        }
    }

    @Test func mutualInformationIsZeroWhenSamplesAgree() throws {
        let row: [[Float]] = [[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]]
        let p = try sampledPredictive([row, row, row, row])
        #expect(p.mutualInformation.allSatisfy { $0 < 1e-12 })
        #expect(zip(p.totalEntropy, p.expectedEntropy).allSatisfy { close($0, $1, 1e-12) })
    }

    @Test func mutualInformationOfDisagreeingSamples() throws {
        // Sample 1 says class 0 for sure, sample 2 class 1: p̄ = (½, ½), H[p̄] = ln 2,
        // E H[p_s] = 0, so MI = ln 2 (maximal epistemic uncertainty for two classes).
        let p = try sampledPredictive([[[1, 0]], [[0, 1]]])
        #expect(close(p.totalEntropy[0], log(2)) && close(p.expectedEntropy[0], 0) && close(p.mutualInformation[0], log(2)))
        // Variance of each class probability across the two samples: ((1 − ½)² + (0 − ½)²)/2 = ¼.
        #expect(p.classProbabilityVariance() == [0.25, 0.25])
        // Random disagreeing samples: total = expected + MI, MI > 0.
        var rng = RandomGenerator(seed: 3)
        let logits = Tensor.randomNormal(shape: [8, 50, 4], standardDeviation: 2, rng: &rng)
        let q = try Predictive(logits: logits)
        for n in 0..<50 {
            #expect(q.mutualInformation[n] > 0)
            #expect(close(q.totalEntropy[n], q.expectedEntropy[n] + q.mutualInformation[n], 1e-12))
        }
    }

    @Test func logitsGoThroughAStableSoftmax() throws {
        // softmax(1000, 0) = (1, e^−1000 ≈ 0): no overflow.
        let p = try Predictive(logits: Tensor(shape: [1, 2], values: [1000, 0]))
        #expect(p.meanProbabilities == [1, 0])
        // softmax(ln 3, 0) = (¾, ¼); at T = 2, softmax(ln 3 / 2, 0) = (√3, 1)/(√3 + 1).
        let z = Tensor(shape: [1, 2], values: [Float(log(3.0)), 0])
        #expect(close(try Predictive(logits: z).meanProbabilities[0], 0.75, 1e-7))
        #expect(close(try Predictive(logits: z, temperature: 2).meanProbabilities[0], 3.0.squareRoot() / (3.0.squareRoot() + 1), 1e-7))
    }

    @Test func regressionLawOfTotalVariance() throws {
        // Two samples for one example: μ = (0, 2), σ² = (1, 3). E μ = 1; aleatoric E σ² = 2;
        // epistemic Var μ = ((0−1)² + (2−1)²)/2 = 1; total = 3.
        let p = try Predictive(means: Tensor(shape: [2, 1, 1], values: [0, 2]), variances: Tensor(shape: [2, 1, 1], values: [1, 3]))
        #expect(p.task == .regression)
        #expect(p.predictiveMean == [1] && p.aleatoricVariance == [2] && p.epistemicVariance == [1] && p.totalVariance == [3])
        #expect(p.predictedClass.isEmpty && p.meanProbabilities.isEmpty)
    }

    @Test func batchesConcatenateAlongExamples() throws {
        let a = try sampledPredictive([[[0.9, 0.1]], [[0.7, 0.3]]])
        let b = try sampledPredictive([[[0.2, 0.8], [0.5, 0.5]], [[0.4, 0.6], [0.5, 0.5]]])
        let joined = try Predictive.concatenating([a, b])
        #expect(joined.sampleCount == 2 && joined.exampleCount == 3)
        #expect(joined.meanProbabilities == a.meanProbabilities + b.meanProbabilities)
        #expect(joined.mutualInformation == a.mutualInformation + b.mutualInformation)
        #expect(throws: MetricsError.self) { try Predictive.concatenating([a, try pointPredictive([[0.5, 0.5]])]) }
        #expect(throws: MetricsError.self) { try Predictive.concatenating([]) }
    }

    /// A distilled student's expected entropy is taken as given, clamped to [0, H[p̄]], and the
    /// mutual information is the difference; batches of such predictives concatenate as such.
    @Test func aGivenExpectedEntropyDecomposesTheTotal() throws {
        let probabilities = Tensor(shape: [3, 2], values: [0.5, 0.5, 0.9, 0.1, 1, 0])
        let p = try Predictive(probabilities: probabilities, expectedEntropy: [0.25, 0.5, -0.1])
        let h = [log(2.0), -(0.9 * log(0.9) + 0.1 * log(0.1)), 0]
        #expect(p.expectedEntropyIsGiven && p.sampleCount == 1)
        #expect(zip(p.totalEntropy, h).allSatisfy { abs($0 - $1) < 1e-6 })
        #expect(abs(p.expectedEntropy[0] - 0.25) < 1e-12 && p.expectedEntropy[1] == p.totalEntropy[1] && p.expectedEntropy[2] == 0,
                "clamped into [0, H[p̄]]: \(p.expectedEntropy)")
        #expect(abs(p.mutualInformation[0] - (log(2.0) - 0.25)) < 1e-6 && p.mutualInformation[1] == 0)
        let joined = try Predictive.concatenating([p, p])
        #expect(joined.expectedEntropyIsGiven && joined.expectedEntropy == p.expectedEntropy + p.expectedEntropy)
        #expect(throws: MetricsError.self) { try Predictive.concatenating([p, try pointPredictive([[0.5, 0.5]])]) }
        #expect(throws: MetricsError.self) { try Predictive(probabilities: probabilities, expectedEntropy: [0.1]) }
        #expect(throws: MetricsError.self) { try Predictive(probabilities: probabilities, expectedEntropy: [0.1, .nan, 0]) }
        #expect(throws: MetricsError.self) { try Predictive(probabilities: probabilities.reshaped([1, 3, 2]), expectedEntropy: [0, 0, 0]) }
    }

    @Test func invalidProbabilitiesAreTypedErrors() throws {
        // A row summing to 1.1: the error names sample 0, example 1.
        #expect(throws: MetricsError.rowNotNormalized(sample: 0, example: 1, sum: Double(Float(0.5)) + Double(Float(0.6)), tolerance: 1e-3)) {
            try pointPredictive([[0.5, 0.5], [0.5, 0.6]])
        }
        do {
            _ = try sampledPredictive([[[0.5, 0.5]], [[Float.nan, 1]]])
            Issue.record("NaN accepted")
        } catch let MetricsError.nonFinite(name, location, _) {
            #expect(name == "probabilities" && location == "sample 1, example 0, class 0")
        }
        #expect(throws: MetricsError.probabilityOutOfRange(location: "sample 0, example 0, class 0", value: 1.5)) {
            try pointPredictive([[1.5, -0.5]])
        }
        #expect(throws: MetricsError.self) { try Predictive(probabilities: Tensor([0.5, 0.5])) }               // rank 1
        #expect(throws: MetricsError.self) { try Predictive(probabilities: Tensor(shape: [0, 3], values: [])) } // empty
        #expect(throws: MetricsError.self) { try Predictive(logits: Tensor(shape: [1, 2], values: [.infinity, 0])) }
        #expect(throws: MetricsError.self) { try Predictive(logits: Tensor(shape: [1, 2], values: [1, 0]), temperature: 0) }
        #expect(throws: MetricsError.negativeVariance(location: "sample 0, example 1, output 0", value: -1)) {
            try Predictive(means: Tensor(shape: [2, 1], values: [0, 0]), variances: Tensor(shape: [2, 1], values: [1, -1]))
        }
        #expect(throws: MetricsError.self) {
            try Predictive(means: Tensor(shape: [2, 1], values: [0, 0]), variances: Tensor(shape: [1, 2], values: [1, 1]))
        }
        // A message a user can act on.
        let message = MetricsError.rowNotNormalized(sample: 2, example: 7, sum: 1.2, tolerance: 1e-3).description
        #expect(message.contains("sample 2, example 7") && message.contains("1.2"))
    }
}
