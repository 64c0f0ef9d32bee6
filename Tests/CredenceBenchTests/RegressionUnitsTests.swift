@testable import CredenceBench
import CredenceData
import CredenceInference
import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation
import Testing

/// Regression sets whose targets were standardised are scored in the targets' own units.
@Suite struct RegressionUnitsTests {
    /// A 1-D set with targets standardised by μ = 30, σ = 8, and a random network for it.
    static func fixture() throws -> (data: InMemoryDataset, model: Sequential, parameters: Tensor) {
        var rng = RandomGenerator(seed: 11)
        let x = Tensor.randomNormal(shape: [40, 3], mean: 0, standardDeviation: 1, rng: &rng)
        let z = Tensor.randomNormal(shape: [40, 1], mean: 0, standardDeviation: 1, rng: &rng)
        var data = try InMemoryDataset(name: "toy/test", inputs: x, targets: z)
        data.targetStandardization = Standardization(mean: [30], standardDeviation: [8])
        let model = try Sequential(.mlp(inputShape: [3], hidden: [8], outputs: 2))
        return (data, model, model.initialParameters(rng: &rng))
    }

    @Test func trainingSummaryAndPosteriorEvaluationReportOriginalUnits() throws {
        let (data, model, parameters) = try Self.fixture()
        var raw = data
        raw.targetStandardization = nil
        let standardized = try evaluate(model: model, parameters: parameters, on: raw)
        let original = try evaluate(model: model, parameters: parameters, on: data)
        let rmse = try #require(standardized.rootMeanSquaredError), nll = try #require(standardized.negativeLogLikelihood)
        #expect(abs(try #require(original.rootMeanSquaredError) - 8 * rmse) < 1e-4 * rmse)
        #expect(abs(try #require(original.negativeLogLikelihood) - (nll + log(8.0))) < 1e-4)
        // The posterior table agrees with the training summary for a point posterior.
        let posterior = try PointPosterior(model: model, parameters: parameters, task: .regression)
        let table = try #require(try evaluatePosterior(posterior, on: data, samples: 1, seeding: .sequential(0)).regression)
        #expect(abs(table.rootMeanSquaredError - 8 * rmse) < 1e-4 * rmse)
        #expect(abs(table.negativeLogLikelihood - (nll + log(8.0))) < 1e-4)
        #expect(abs(table.mixtureNegativeLogLikelihood - (nll + log(8.0))) < 1e-4, "one sample: the mixture is the Gaussian")
    }
}
