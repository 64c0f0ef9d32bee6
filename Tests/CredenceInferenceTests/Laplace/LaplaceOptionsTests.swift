@testable import CredenceInference
import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation
import Testing

/// Illegal option combinations are rejected with typed errors before any data is read.
@Suite struct LaplaceOptionsTests {
    /// A batch source that records whether it was read.
    final class TouchDetector: BatchSource {
        var touched = false
        var count: Int { 10 }
        func trainingBatch(_ indices: [Int]) throws -> TrainingBatch {
            touched = true
            return TrainingBatch(inputs: Tensor(shape: [indices.count, 784], repeating: 0), labels: indices.map { _ in 0 })
        }
    }

    @Test func modelIndependentCombinationsAreRejectedAtConstruction() {
        #expect(throws: LaplaceError.self) { try Laplace(subset: .subnetwork, structure: .kronecker, subnetworkIndices: [0, 1]) }
        do {
            _ = try Laplace(subset: .subnetwork, structure: .kronecker, subnetworkIndices: [0])
            Issue.record("KFAC over a subnetwork must be refused")
        } catch let LaplaceError.illegalCombination(message) {
            #expect(message.contains("full, low-rank or diagonal"))
        } catch { Issue.record("unexpected \(error)") }
        #expect(throws: LaplaceError.self) { try Laplace(subset: .subnetwork, structure: .full) }  // no indices
        #expect(throws: LaplaceError.self) { try Laplace(subset: .lastLayer, structure: .full, subnetworkIndices: [3]) }
        #expect(throws: LaplaceError.self) { try Laplace(structure: .lowRank, rank: 0) }
        #expect(throws: LaplaceError.self) { try Laplace(priorPrecision: 0) }
        #expect(throws: LaplaceError.self) { try Laplace(temperature: -1) }
        #expect(throws: LaplaceError.self) { try Laplace(regression: .homoscedastic, noiseStandardDeviation: 0) }
        // Legal ones construct.
        for subset in WeightSubset.allCases {
            for structure in HessianStructure.allCases where !(subset == .subnetwork && structure == .kronecker) {
                #expect(throws: Never.self) {
                    try Laplace(subset: subset, structure: structure, subnetworkIndices: subset == .subnetwork ? [0] : nil)
                }
            }
        }
    }

    /// Full curvature over all 669,706 weights of the 784-512-512-10 MLP: refused with the
    /// weight count and the memory it would take, before the data source is touched.
    @Test func fullOverAllWeightsOfALargeNetIsRefusedBeforeWork() throws {
        let model = try Sequential(.mlp(inputShape: [784], hidden: [512, 512], outputs: 10))
        let source = TouchDetector()
        let laplace = try Laplace(subset: .all, structure: .full)
        do {
            _ = try fitPosterior(laplace, model: model, parameters: Tensor(shape: [model.parameterCount], repeating: 0),
                                 task: .classification, data: source, epochs: 1, batchSize: 10, seed: 0)
            Issue.record("expected a refusal")
        } catch let error as LaplaceError {
            guard case let .tooLarge(parameters, bytes, _, _) = error else { Issue.record("wrong error \(error)"); return }
            #expect(parameters == 669_706 && bytes == 669_706 * 669_706 * 8)
            #expect(error.description.contains("3588") && error.description.contains("kronecker"), "\(error)")  // 3.588 TB
        }
        #expect(!source.touched)
        // The same subset with KFAC, and full over the last layer, are accepted.
        try Laplace(subset: .all, structure: .kronecker).validate(model: model)
        try Laplace(subset: .lastLayer, structure: .full).validate(model: model)
        #expect(throws: LaplaceError.self) { try Laplace(subset: .all, structure: .lowRank).validate(model: model) }
    }

    /// Convolutional layers: the last-layer subset works with every structure; subsets with
    /// convolutions use per-example Jacobian rows — not with KFAC, and only up to the dense limit.
    @Test func convolutionalModels() throws {
        let model = try Sequential(.smallCNN(inputShape: [1, 8, 8], outputs: 3))  // 52,035 weights, the first conv 320
        for structure in HessianStructure.allCases { try Laplace(subset: .lastLayer, structure: structure).validate(model: model) }
        #expect(throws: LaplaceError.self) { try Laplace(subset: .all, structure: .diagonal).validate(model: model) }  // 52,035 > 12,000
        #expect(throws: LaplaceError.self) { try Laplace(subset: .firstLayer, structure: .kronecker).validate(model: model) }
        try Laplace(subset: .firstLayer, structure: .full).validate(model: model)
        try Laplace(subset: .subnetwork, structure: .diagonal, subnetworkIndices: [0, 3, 400]).validate(model: model)
        do {
            try Laplace(subset: .all, structure: .kronecker).validate(model: model)
            Issue.record("KFAC over a convolution must be refused")
        } catch let LaplaceError.illegalCombination(message) {
            #expect(message.contains("layer 0 (conv2d"), "\(message)")
        }
    }

    /// A heteroscedastic regression network must output D means and D raw variances.
    @Test func regressionOutputsAreChecked() throws {
        let model = try Sequential(.mlp(inputShape: [2], hidden: [4], outputs: 3))
        var rng = RandomGenerator(seed: 0)
        let theta = model.initialParameters(rng: &rng)
        #expect(throws: LaplaceError.self) {
            try Laplace(regression: .heteroscedastic).initialState(model: model, parameters: theta, task: .regression, rng: &rng)
        }
        _ = try Laplace(regression: .homoscedastic).initialState(model: model, parameters: theta, task: .regression, rng: &rng)
    }

    @Test func optionsHaveStableNames() {
        #expect(WeightSubset.allCases.map(\.rawValue) == ["all", "last-layer", "first-layer", "subnetwork"])
        #expect(HessianStructure.allCases.map(\.rawValue) == ["diagonal", "kronecker", "full", "low-rank"])
        #expect(PredictiveKind.allCases.map(\.rawValue) == ["monte-carlo", "glm"])
        #expect(LinkApproximation.allCases.map(\.rawValue) == ["probit", "monte-carlo"])
    }
}
