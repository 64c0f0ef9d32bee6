import CredenceData
import CredenceTensor
import Testing

/// Ten examples `[10, 2]` whose row i is (i, −i), label i mod 3.
func tenExamples() throws -> InMemoryDataset {
    let values = (0..<10).flatMap { [Float($0), -Float($0)] }
    return try InMemoryDataset(name: "ten", inputs: Tensor(shape: [10, 2], values: values),
                               labels: (0..<10).map { Int32($0 % 3) }, classCount: 3)
}

@Test func batchesInOrderCoverEveryIndexOnceAndKeepPartialBatch() throws {
    let data = try tenExamples()
    let batches = data.batches(size: 4)
    #expect(batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]])
    #expect(data.batches(size: 4, dropLast: true) == [[0, 1, 2, 3], [4, 5, 6, 7]])
    #expect(data.batches(size: 10) == [Array(0..<10)])
}

@Test func shuffledBatchesArePermutationsAndDifferPerEpoch() throws {
    let data = try tenExamples()
    var rng: RandomGenerator? = RandomGenerator(seed: 3)
    let epoch1 = data.batches(size: 3, shuffle: &rng)
    let epoch2 = data.batches(size: 3, shuffle: &rng)
    #expect(epoch1.map(\.count) == [3, 3, 3, 1])
    #expect(epoch1.flatMap { $0 }.sorted() == Array(0..<10))
    #expect(epoch2.flatMap { $0 }.sorted() == Array(0..<10))
    #expect(epoch1 != epoch2)
    #expect(epoch1.flatMap { $0 } != Array(0..<10))

    var same: RandomGenerator? = RandomGenerator(seed: 3)
    #expect(data.batches(size: 3, shuffle: &same) == epoch1)
    var plain = RandomGenerator(seed: 3)
    #expect(data.batches(size: 3, shuffle: &plain) == epoch1)

    var none: RandomGenerator? = nil
    #expect(data.batches(size: 3, shuffle: &none, dropLast: true) == [[0, 1, 2], [3, 4, 5], [6, 7, 8]])
}

@Test func batchGathersRowsAndLabelsInRequestedOrder() throws {
    let data = try tenExamples()
    let batch = data.batch([7, 0, 7])
    #expect(batch.inputs.shape == [3, 2])
    #expect(batch.inputs.values == [7, -7, 0, 0, 7, -7])
    #expect(batch.labels == [1, 0, 1])
    #expect(batch.targets == nil)
    #expect(data.all().inputs == data.inputs)

    var inOrder: RandomGenerator? = nil
    let sequence = data.miniBatches(size: 4, shuffle: &inOrder)
    #expect(sequence.map(\.count) == [4, 4, 2])
    #expect(sequence.flatMap(\.labels) == data.labels)
}

@Test func regressionBatchesCarryTargets() throws {
    let x = Tensor(shape: [3, 1], values: [1, 2, 3])
    let data = try InMemoryDataset(name: "r", inputs: x, targets: Tensor([10, 20, 30]))
    #expect(data.task == .regression(outputCount: 1))
    let batch = data.batch([2, 0])
    #expect(batch.labels.isEmpty)
    #expect(batch.targets?.shape == [2, 1])
    #expect(batch.targets?.values == [30, 10])
}

@Test func initialisersRejectMismatchedCountsAndBadLabels() throws {
    let x = Tensor(shape: [3, 2], repeating: 0)
    #expect(throws: DataError.labelOutOfRange(dataset: "bad", index: 1, label: 5, classCount: 3)) {
        try InMemoryDataset(name: "bad", inputs: x, labels: [0, 5, 1], classCount: 3)
    }
    #expect(throws: DataError.self) { try InMemoryDataset(name: "bad", inputs: x, labels: [0, 1], classCount: 3) }
    #expect(throws: DataError.self) { try InMemoryDataset(name: "bad", inputs: x, targets: Tensor([1, 2])) }
    #expect(throws: DataError.self) { try InMemoryDataset(name: "bad", inputs: x, labels: [-1, 0, 0], classCount: 2) }
}

@Test func splitIsDisjointCompleteAndDeterministic() throws {
    let data = try tenExamples()
    var rng = RandomGenerator(seed: 11)
    let (train, validation) = try data.split(validationFraction: 0.3, rng: &rng)
    #expect(train.count == 7 && validation.count == 3)
    #expect(train.name == "ten/train" && validation.name == "ten/validation")
    // Row i is (i, -i): recover each example's original index from its first feature.
    let trainIDs = stride(from: 0, to: 14, by: 2).map { Int(train.inputs.values[$0]) }
    let validationIDs = stride(from: 0, to: 6, by: 2).map { Int(validation.inputs.values[$0]) }
    #expect(Set(trainIDs).isDisjoint(with: validationIDs))
    #expect((trainIDs + validationIDs).sorted() == Array(0..<10))
    #expect(train.labels == trainIDs.map { Int32($0 % 3) })

    var again = RandomGenerator(seed: 11)
    let (train2, _) = try data.split(validationFraction: 0.3, rng: &again)
    #expect(train2.inputs == train.inputs)
    var other = RandomGenerator(seed: 12)
    #expect(try data.split(validationFraction: 0.3, rng: &other).train.inputs != train.inputs)
}

@Test func splitRejectsFractionsThatLeaveAnEmptyPart() throws {
    let data = try tenExamples()
    var rng = RandomGenerator(seed: 0)
    for fraction in [0.0, 1.0, -0.5, 0.01, 0.99] {
        #expect(throws: DataError.self) { try data.split(validationFraction: fraction, rng: &rng) }
    }
}

@Test func subsetAndPrefixKeepTaskAndNames() throws {
    let data = try tenExamples()
    let sub = data.subset([9, 1])
    #expect(sub.inputs.values == [9, -9, 1, -1] && sub.labels == [0, 1])
    #expect(sub.task == data.task && sub.inputShape == [2])
    let first = data.prefix(4)
    #expect(first.count == 4 && first.labels == [0, 1, 2, 0])
    #expect(data.prefix(nil).count == 10 && data.prefix(50).count == 10)
}
