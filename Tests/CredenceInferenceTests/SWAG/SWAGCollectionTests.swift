@testable import CredenceInference
import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation
import Testing

/// Moment collection, the step schedule, option validation and the archive round trip.
@Suite struct SWAGCollectionTests {
    static let model = SWAGSamplingTests.model
    static var p: Int { model.parameterCount }

    /// Known iterates θₜ[i] = (i + 1)·sin(0.7t + i) + 0.1t, t = 1…n.
    static func iterate(_ t: Int) -> Tensor {
        Tensor((0..<p).map { i in Float(Double(i + 1) * Foundation.sin(0.7 * Double(t) + Double(i)) + 0.1 * Double(t)) })
    }

    static func state(_ method: SWAGCollection, collecting n: Int) throws -> SWAGCollection.State {
        var rng = RandomGenerator(seed: 0)
        var state = try method.initialState(model: model, parameters: iterate(0), task: .classification, rng: &rng)
        for t in 1...n { method.collect(iterate(t), into: &state) }
        return state
    }

    @Test func momentsAreTheMeanVarianceAndLastKDeviationsOfTheIterates() throws {
        let n = 7, k = 3
        let state = try Self.state(SWAGCollection(collectEvery: 1, rank: k), collecting: n)
        let moments = state.moments
        #expect(moments.count == n)
        let iterates = (1...n).map { Self.iterate($0).values.map(Double.init) }
        for i in 0..<Self.p {
            let mean = iterates.map { $0[i] }.reduce(0, +) / Double(n)
            let second = iterates.map { $0[i] * $0[i] }.reduce(0, +) / Double(n)
            #expect(abs(moments.mean[i] - mean) <= 1e-14 * Swift.max(1, abs(mean)))
            #expect(abs(moments.secondMoment[i] - second) <= 1e-14 * Swift.max(1, second))
            // Σ_diag in Double, rounded once to Float.
            #expect(abs(Double(moments.variance[i]) - (second - mean * mean)) <= 1e-6 * (second - mean * mean) + 1e-12)
        }
        // The last K deviations, oldest first: θₜ − θ̄ₜ with θ̄ₜ the mean of θ₁…θₜ.
        let deviations = moments.deviations
        #expect(deviations.shape == [k, Self.p])
        for (row, t) in ((n - k + 1)...n).enumerated() {
            for i in 0..<Self.p {
                let runningMean = iterates[0..<t].map { $0[i] }.reduce(0, +) / Double(t)
                #expect(abs(Double(deviations[row, i]) - (iterates[t - 1][i] - runningMean)) <= 1e-6, "row \(row), parameter \(i)")
            }
        }
        // Before the buffer wraps, rows are the deviations collected so far.
        let early = try Self.state(SWAGCollection(collectEvery: 1, rank: 5), collecting: 2).moments.deviations
        #expect(early.shape == [2, Self.p])
        #expect(abs(Double(early[1, 4]) - (iterates[1][4] - (iterates[0][4] + iterates[1][4]) / 2)) <= 1e-6)
    }

    @Test func posteriorsCarryTheMoments() throws {
        let state = try Self.state(SWAGCollection(collectEvery: 1, rank: 3), collecting: 7)
        let swag = try SWAGCollection(collectEvery: 1, rank: 3).swagPosterior(from: state)
        #expect(swag.mean == state.moments.meanTensor)
        #expect(swag.variance == state.moments.variance)
        #expect(swag.deviations == state.moments.deviations)
        #expect(swag.collections == 7)
        // SWA keeps the mean only; SWAG-Diagonal keeps no deviations.
        let swaMethod = SWAGCollection.swa(collectEvery: 1)
        let swaState = try Self.state(swaMethod, collecting: 7)
        #expect(swaState.moments.secondMoment.isEmpty && swaState.moments.deviations.shape == [0, Self.p])
        let swa = try #require(try swaMethod.posterior(from: swaState).base as? SWAPosterior)
        #expect(swa.mean == swag.mean && swa.method == "swa" && swa.storedFloatCount == Self.p)
        #expect(throws: InferenceError.self) { try swaMethod.swagPosterior(from: swaState) }
        let diagonal = SWAGCollection(collectEvery: 1, covariance: .diagonal)
        let diagonalState = try Self.state(diagonal, collecting: 7)
        #expect(diagonalState.moments.deviations.shape == [0, Self.p])
        #expect(try diagonal.swagPosterior(from: diagonalState).covariance == .diagonal)
    }

    @Test func updateStepsThenCollectsOnSchedule() throws {
        // startAfter 3, every 2 steps, 10 steps → collections after steps 5, 7 and 9.
        let method = SWAGCollection(learningRate: .constant(0.1), collectEvery: 2, startAfter: 3, rank: 4)
        var rng = RandomGenerator(seed: 1)
        let x = Tensor.randomNormal(shape: [8, 4], rng: &rng)
        let batch = TrainingBatch(inputs: x, labels: [0, 1, 0, 1, 1, 0, 0, 1])
        var state = try method.initialState(model: Self.model, parameters: Self.iterate(0), task: .classification, rng: &rng)
        var visited: [Tensor] = []
        for _ in 0..<10 {
            try method.update(&state, batch: batch, rng: &rng)
            visited.append(state.parameters)
        }
        #expect(state.steps == 10 && state.moments.count == 3)
        #expect(visited[0] != Self.iterate(0), "update takes an SGD step")
        for i in 0..<Self.p {
            let mean = [4, 6, 8].map { Double(visited[$0].values[i]) }.reduce(0, +) / 3
            #expect(abs(state.moments.mean[i] - mean) <= 1e-12)
        }
    }

    @Test func rejectsImpossibleOptionsBeforeWork() throws {
        let model = Self.model
        #expect(throws: InferenceError.self) { try SWAGCollection(collectEvery: 0).validate(model: model) }
        #expect(throws: InferenceError.self) { try SWAGCollection(collectEvery: 1, startAfter: -1).validate(model: model) }
        #expect(throws: InferenceError.self) { try SWAGCollection(collectEvery: 1, rank: 1).validate(model: model) }
        #expect(throws: InferenceError.self) { try SWAGCollection(collectEvery: 1, scale: 0).validate(model: model) }
        #expect(throws: InferenceError.self) { try SWAGCollection(momentum: 1, collectEvery: 1).validate(model: model) }
        try SWAGCollection(collectEvery: 1, rank: 1, covariance: .diagonal).validate(model: model)
        // Too few collections for a covariance: a clear error, not a NaN.
        let method = SWAGCollection(collectEvery: 1, rank: 3)
        #expect(throws: InferenceError.self) { try method.swagPosterior(from: try Self.state(method, collecting: 1)) }
        #expect(SWAGCollection.collectionInterval(datasetSize: 1000, batchSize: 128, perEpoch: 4) == 2)
    }

    @Test(arguments: [SWAGCovariance.diagonal, .lowRankPlusDiagonal])
    func archiveRoundTripGivesTheSameSamples(_ kind: SWAGCovariance) throws {
        let method = SWAGCollection(collectEvery: 1, rank: 4, covariance: kind, scale: 0.37)
        let posterior = try method.swagPosterior(from: try Self.state(method, collecting: 9))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("swag-\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try posterior.archive().save(to: path)
        let loaded = try #require(try loadPosterior(from: path) as? SWAGPosterior)
        #expect(loaded.method == "swag" && loaded.covariance == kind && loaded.scale == 0.37)
        #expect(loaded.collections == 9 && loaded.rank == 4 && loaded.storedFloatCount == posterior.storedFloatCount)
        var a = RandomGenerator(seed: 9), b = RandomGenerator(seed: 9)
        for _ in 0..<3 { #expect(try posterior.sampleParameters(rng: &a) == (try loaded.sampleParameters(rng: &b))) }
        let x = Tensor.randomNormal(shape: [5, 4], rng: &a)
        var c = RandomGenerator(seed: 2), d = RandomGenerator(seed: 2)
        #expect(try posterior.predictive(x, samples: 4, rng: &c).probabilities == (try loaded.predictive(x, samples: 4, rng: &d).probabilities))
    }

    @Test func swaArchiveRoundTrip() throws {
        let method = SWAGCollection.swa(collectEvery: 1)
        let posterior = try method.swaPosterior(from: try Self.state(method, collecting: 5))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("swa-\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try posterior.archive().save(to: path)
        let loaded = try #require(try loadPosterior(from: path) as? SWAPosterior)
        #expect(loaded.method == "swa" && loaded.mean == posterior.mean && loaded.collections == 5)
        var rng = RandomGenerator(seed: 0)
        #expect(try loaded.predictive(Tensor.ones([2, 4]), samples: 8, rng: &rng).sampleCount == 1)
    }
}
