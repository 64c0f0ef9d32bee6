@testable import CredenceBench
import CredenceInference
import Foundation
import Testing

/// `credence perf --parts hmc`: the gold-standard tasks' log-posteriors, timed as the chains call them.
@Suite struct HamiltonianPerformanceTests {
    /// The tasks are the shapes `scripts/hmc-gradient-reference.py` builds in PyTorch.
    @Test func theTasksHaveTheReferenceShapes() throws {
        let tasks = try hamiltonianTasks()
        #expect(tasks.map(\.name) == ["two-moons", "regression-1d", "auto-mpg"])
        // 2-16-16-2, 1-16-16-2, 7-16-16-1 + one noise variance.
        #expect(tasks.map(\.target.dimension) == [354, 338, 418])
        #expect(tasks.map(\.target.posterior.datasetSize) == [1000, 1000, 392])
    }

    /// The part needs no Fashion-MNIST files (the data directory here is empty).
    @Test func theHMCPartRunsWithoutImageData() throws {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("credence-perf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: empty) }
        var options = PerformanceOptions()
        options.parts = [.hmc]
        options.hamiltonianEvaluations = 2
        options.dataDirectory = empty.path
        let report = try measurePerformance(options)
        let rates = try #require(report.hamiltonianGradientsPerSecond)
        #expect(rates.keys.sorted() == ["auto-mpg", "regression-1d", "two-moons"])
        #expect(rates.values.allSatisfy { $0.isFinite && $0 > 0 })
        #expect(report.mlpTrainingSamplesPerSecond == nil)
    }
}
