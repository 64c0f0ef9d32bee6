import Testing
@testable import CredenceData
import CredenceTensor

@Suite struct SyntheticShapesTests {
    @Test func shapesAreSeededBalancedImagesInRange() throws {
        let (train, test) = try loadDataset(.shapes, options: DataOptions(seed: 3))
        #expect(train.inputs.shape == [1000, 1, 28, 28] && test.count == 500)
        #expect(train.task == .classification(classCount: 4))
        #expect((0..<4).allSatisfy { c in train.labels.filter { $0 == Int32(c) }.count == 250 })
        #expect(train.inputs.values.allSatisfy { $0 >= 0 && $0 <= 1 })
        let again = try loadDataset(.shapes, options: DataOptions(seed: 3)).train
        #expect(again.inputs == train.inputs)
        #expect(try loadDataset(.shapes, options: DataOptions(seed: 4)).train.inputs != train.inputs)
        // Each class draws a different amount of ink on average: disc and square are filled,
        // the cross is thin.
        var ink = [Double](repeating: 0, count: 4)
        let pixels = train.inputs.values
        for i in 0..<train.count { for j in 0..<784 { ink[Int(train.labels[i])] += Double(pixels[i * 784 + j]) } }
        #expect(ink[1] > ink[0] && ink[0] > ink[3], "mean ink per class \(ink)")
        // Shifts apply (images in [0, 1]).
        _ = try applyShift(Shift(.gaussianBlur, severity: 5), to: try test.inputs.rows(0..<4), seed: 0)
    }
}
