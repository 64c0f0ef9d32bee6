import Foundation
import Testing
@testable import CredenceData
import CredenceTensor

@Suite struct HeldOutClassTests {
    @Test func heldOutClassesLeaveBothSplitsAndTheRestAreRelabelled() throws {
        let full = try loadDataset(.shapes, options: DataOptions(seed: 2))
        let (train, test) = try loadDataset(.shapes, options: DataOptions(seed: 2, heldOutClasses: [1]))
        #expect(train.task == .classification(classCount: 3) && test.task == .classification(classCount: 3))
        // Classes 0, 2, 3 become 0, 1, 2; class 1 is gone from both splits, every other example stays, in order.
        let keptTrain = full.train.labels.indices.filter { full.train.labels[$0] != 1 }
        #expect(train.count == keptTrain.count && test.count == full.test.labels.filter { $0 != 1 }.count)
        #expect(train.labels == keptTrain.map { [0, -1, 1, 2][Int(full.train.labels[$0])] })
        #expect(try train.inputs.rows(0..<1) == full.train.inputs.rows(keptTrain[0]..<(keptTrain[0] + 1)))
        // trainLimit counts the kept examples.
        #expect(try loadDataset(.shapes, options: DataOptions(seed: 2, trainLimit: 10, heldOutClasses: [1])).train.count == 10)
    }

    @Test func restrictingRelabelsInTheOrderGivenAndKeepsClassNames() throws {
        var data = try InMemoryDataset(name: "toy", inputs: Tensor(shape: [5, 1], values: [0, 1, 2, 3, 4]),
                                       labels: [3, 0, 2, 3, 1], classCount: 4)
        data.classNames = ["a", "b", "c", "d"]
        let kept = data.restricted(toClasses: [0, 3])
        #expect(kept.labels == [1, 0, 1] && kept.inputs.values == [0, 1, 3] && kept.classNames == ["a", "d"])
        #expect(data.inputs(ofClasses: [2, 1]).values == [2, 4])
    }

    @Test func impossibleHoldOutsAreRefusedByName() throws {
        func message(_ name: DatasetName, _ classes: [Int]) -> String {
            do {
                _ = try loadDataset(name, options: DataOptions(heldOutClasses: classes))
                return "no error"
            } catch { return "\(error)" }
        }
        #expect(message(.shapes, [4]).contains("class 4 does not exist: shapes has classes 0–3"))
        #expect(message(.shapes, [0, 1, 2]).contains("leaves 1; at least 2 must remain"))
        #expect(message(.regression1D, [0]).contains("regression set"))
    }

    @Test func theHeldOutClassesAreTheOODSet() throws {
        let options = DataOptions(seed: 5, heldOutClasses: [0, 2])
        let test = try loadDataset(.shapes, options: options).test
        let ood = try loadOODInputs(.heldOutClasses, dataset: .shapes, test: test, options: options)
        let full = try loadDataset(.shapes, options: DataOptions(seed: 5)).test
        #expect(ood == full.inputs(ofClasses: [0, 2]))
        #expect(ood.shape[0] + test.count == full.count)
        #expect(try loadOODInputs(.heldOutClasses, dataset: .shapes, test: test, options: options, count: 7).shape == [7, 1, 28, 28])
        #expect(throws: DataError.self) {
            try loadOODInputs(.heldOutClasses, dataset: .shapes, test: full, options: DataOptions(seed: 5))
        }
    }
}

@Suite struct OODSourceTests {
    @Test func sourcesParseFromTheirStringFormAndRoundTrip() throws {
        #expect(try OODSource(parsing: "mnist") == .builtIn(.mnist5k))
        #expect(try OODSource(parsing: "far") == .builtIn(.far))
        #expect(try OODSource(parsing: "held-out-classes") == .heldOutClasses)
        #expect(try OODSource(parsing: "data/kmnist.npy") == .file(path: "data/kmnist.npy"))
        #expect(try OODSource(parsing: "t10k-images-idx3-ubyte.gz") == .file(path: "t10k-images-idx3-ubyte.gz"))
        #expect(throws: DataError.self) { try OODSource(parsing: "gaussian-nose") }
        let sources: [OODSource] = [.builtIn(.uniformNoise), .heldOutClasses, .file(path: "x.csv")]
        let json = try JSONEncoder().encode(sources)
        #expect(String(decoding: json, as: UTF8.self) == #"["uniform-noise","held-out-classes","x.csv"]"#)
        #expect(try JSONDecoder().decode([OODSource].self, from: json) == sources)
    }

    @Test func filesOfInputsLoadInEveryFormat() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let test = try loadDataset(.shapes, options: DataOptions(seed: 0)).test
        let images = try test.inputs.rows(0..<6)
        // .npy with the image shape, and flattened to rows of 784.
        try NumPy.write(images, to: dir.file("a.npy"))
        try NumPy.write(try images.reshaped([6, 784]), to: dir.file("b.npy"))
        for name in ["a.npy", "b.npy"] {
            let x = try loadOODInputs(.file(path: dir.file(name)), dataset: .shapes, test: test, options: DataOptions())
            #expect(x == images, "\(name)")
        }
        // IDX unsigned bytes are pixels: divided by 255.
        let bytes = images.values.map { ($0 * 255).rounded() }
        try IDX.write(IDXArray(elementType: .uint8, shape: [6, 28, 28], values: bytes), to: dir.file("c-idx3-ubyte.gz"), compress: true)
        let fromIDX = try loadOODInputs(.file(path: dir.file("c-idx3-ubyte.gz")), dataset: .shapes, test: test, options: DataOptions(), count: 4)
        #expect(fromIDX.shape == [4, 1, 28, 28])
        #expect(zip(fromIDX.values, images.values).allSatisfy { abs($0 - $1) <= 0.5 / 255 + 1e-6 })
        // CSV rows of features for a 2-D set.
        let moons = try loadDataset(.twoMoons, options: DataOptions()).test
        try "x,y\n10,10\n-10,3.5\n".write(toFile: dir.file("far.csv"), atomically: true, encoding: .utf8)
        let points = try loadOODInputs(.file(path: dir.file("far.csv")), dataset: .twoMoons, test: moons, options: DataOptions())
        #expect(points.shape == [2, 2] && points.values == [10, 10, -10, 3.5])
    }

    @Test func malformedFilesAreRefusedNamingTheFile() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let test = try loadDataset(.shapes, options: DataOptions(seed: 0)).test
        func message(_ name: String) -> String {
            do {
                _ = try loadOODInputs(.file(path: dir.file(name)), dataset: .shapes, test: test, options: DataOptions())
                return "no error"
            } catch { return "\(error)" }
        }
        try NumPy.write(Tensor(shape: [3, 100], values: Array(repeating: 0.5, count: 300)), to: dir.file("small.npy"))
        #expect(message("small.npy").contains("small.npy") && message("small.npy").contains("784"))
        var nan = Array(repeating: Float(0.5), count: 2 * 784)
        nan[784 + 3] = .nan
        try NumPy.write(Tensor(shape: [2, 784], values: nan), to: dir.file("nan.npy"))
        #expect(message("nan.npy").contains("example 1 holds a NaN"))
        try NumPy.write(Tensor(shape: [1, 784], values: Array(repeating: 255, count: 784)), to: dir.file("pixels.npy"))
        #expect(message("pixels.npy").contains("divide 0–255 pixels by 255"))
        #expect(message("missing.npy").contains("not found"))
    }
}
