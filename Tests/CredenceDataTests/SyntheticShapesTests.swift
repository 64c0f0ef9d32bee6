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

@Suite struct OODSetTests {
    @Test func imageOODSetsMatchTheTestSet() throws {
        let (_, test) = try loadDataset(.shapes, options: DataOptions(seed: 1))
        let options = DataOptions(seed: 1)
        for name in [OODSetName.uniformNoise, .gaussianNoise, .inverted, .flipped, .far] {
            let x = try loadOODSet(name, like: test, options: options, count: 50)
            #expect(x.shape == [50, 1, 28, 28], "\(name)")
            #expect(x.values.allSatisfy { $0.isFinite }, "\(name)")
        }
        // Flipping twice is the identity; inverted is 1 − x.
        let flipped = try loadOODSet(.flipped, like: test, options: options, count: 3)
        let image = try test.inputs.rows(0..<3)
        #expect(flipped[0, 0, 0, 0] == image[0, 0, 27, 27] && flipped[2, 0, 5, 9] == image[2, 0, 22, 18])
        let inverted = try loadOODSet(.inverted, like: test, options: options, count: 3)
        #expect(abs(inverted[1, 0, 14, 14] - (1 - image[1, 0, 14, 14])) < 1e-6)
        // Image-only sets refuse 2-D data with a typed error.
        let moons = try loadDataset(.twoMoons, options: options).test
        #expect(throws: DataError.self) { try loadOODSet(.flipped, like: moons, options: options) }
    }
}
