@testable import CredenceBench
import CredenceData
import CredenceNN
import CredenceTensor
import Testing

/// `credence perf --parts vi|sgmcmc`: the MAP step and the candidates take turns in short blocks.
@Suite struct InterleavedTimingTests {
    @Test func blocksRotateTheOrderSoEveryWorkloadRunsOncePerBlock() {
        #expect(interleavingOrder(workloads: 3, blocks: 4) == [0, 1, 2, 1, 2, 0, 2, 0, 1, 0, 1, 2])
        #expect(interleavingOrder(workloads: 1, blocks: 2) == [0, 0])
        #expect(interleavingOrder(workloads: 2, blocks: 0).isEmpty)
    }

    /// Every candidate takes its warm-up steps and then `variationalSteps` per round, on
    /// batches of 128; one ratio per round.
    @Test func everyWorkloadTakesItsStepsInEveryRound() throws {
        var rng = RandomGenerator(seed: 3)
        let data = try InMemoryDataset(name: "timing", inputs: Tensor.randomNormal(shape: [256, 1, 28, 28], rng: &rng),
                                       labels: (0..<256).map { Int32($0 % 10) }, classCount: 10)
        var options = PerformanceOptions()
        (options.variationalSteps, options.variationalRounds, options.interleavingBlocks, options.warmupSteps) = (4, 2, 2, 1)
        final class Counter { var steps = 0, batchSizes: Set<Int> = [] }
        let first = Counter(), second = Counter()
        func counting(_ counter: Counter) -> (inout RandomGenerator) throws -> TimedStep {
            { _ in { batch, _ in counter.steps += 1; counter.batchSizes.insert(batch.inputs.shape[0]) } }
        }
        var logged: [String] = []
        let result = try interleavedWithMAP(data: data, options: options, candidates: [("first", counting(first)), ("second", counting(second))],
                                            log: { name, _ in logged.append(name) })
        #expect(first.steps == 1 + 2 * 4 && second.steps == 1 + 2 * 4)
        #expect(first.batchSizes == [128] && second.batchSizes == [128])
        #expect(result.ratios["first"]?.count == 2 && result.ratios["second"]?.count == 2)
        #expect(result.ratios.values.joined().allSatisfy { $0.isFinite && $0 > 0 })
        #expect(result.throughput.keys.sorted() == ["first", "second"])
        #expect(logged == ["first", "second", "first", "second"])
    }
}
