import CredenceData
import CredenceNN

// Data sets feed the training loop. The conformance lives here, in the first module that
// sees both, because CredenceNN and CredenceData are siblings that do not import each other.
extension InMemoryDataset: BatchSource {
    public func trainingBatch(_ indices: [Int]) throws -> TrainingBatch {
        let b = batch(indices)
        return TrainingBatch(inputs: b.inputs, labels: b.labels, targets: b.targets)
    }
}
