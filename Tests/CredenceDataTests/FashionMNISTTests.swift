import CredenceData
import CredenceTensor
import Foundation
import Testing

@Test(.enabled(if: Available.fashionMNIST,
               "Fashion-MNIST files absent: sudo apt-get install dataset-fashion-mnist (or scripts/setup.sh)"))
func fashionMNISTLoadsWithOfficialShapesAndBalancedClasses() throws {
    let (train, test) = try loadDataset(.fashionMNIST, options: DataOptions())
    #expect(train.count == 60_000 && test.count == 10_000)
    #expect(train.inputs.shape == [60_000, 1, 28, 28] && test.inputShape == [1, 28, 28])
    #expect(train.task == .classification(classCount: 10))
    #expect(histogram(train.labels, classCount: 10) == [Int](repeating: 6000, count: 10))
    #expect(histogram(test.labels, classCount: 10) == [Int](repeating: 1000, count: 10))
    #expect(train.classNames.count == 10 && train.name == "fashion-mnist/train")

    test.inputs.withUnsafeBufferPointer { p in
        #expect(p.min() == 0 && p.max() == 1)
        // Every value is k/255 computed as a Float division (torchvision's ToTensor numbers).
        var inexact = 0
        for v in p.prefix(20_000) where Float((v * 255).rounded()) / 255 != v { inexact += 1 }
        #expect(inexact == 0)
    }
    // First test label of Fashion-MNIST is 9 (ankle boot); first training label also 9.
    #expect(test.labels.first == 9 && train.labels.first == 9)
}

@Test(.enabled(if: Available.fashionMNIST, "Fashion-MNIST files absent: sudo apt-get install dataset-fashion-mnist"))
func trainLimitKeepsTheFirstExamples() throws {
    let (train, test) = try FashionMNIST.load(options: DataOptions(trainLimit: 100))
    #expect(train.count == 100 && test.count == 10_000)
}

@Test func missingDirectoryErrorNamesTheFileAndThePackage() throws {
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    #expect {
        try loadDataset(.fashionMNIST, options: DataOptions(directory: dir.path))
    } throws: { error in
        let message = "\(error)"
        return message.contains(dir.path + "/train-images-idx3-ubyte.gz")
            && message.contains("sudo apt-get install dataset-fashion-mnist")
            && message.contains(FashionMNIST.environmentVariable)
    }
}

@Test func directoryPrecedenceIsOptionThenEnvironmentThenDefault() {
    let env = [FashionMNIST.environmentVariable: "/from/env"]
    #expect(FashionMNIST.directory(options: DataOptions(directory: "/opt"), environment: env) == "/opt")
    #expect(FashionMNIST.directory(options: DataOptions(), environment: env) == "/from/env")
    #expect(FashionMNIST.directory(options: DataOptions(), environment: [:]) == FashionMNIST.defaultDirectory)
}

/// Writes a miniature Fashion-MNIST (`n` images of 28×28) into `dir`.
func writeMiniFashionMNIST(_ dir: TemporaryDirectory, images: Int, labels: Int, imageSide: Int = 28) throws {
    for prefix in ["train", "t10k"] {
        let pixels = (0..<(images * imageSide * imageSide)).map { Float($0 % 256) }
        try IDX.write(IDXArray(elementType: .uint8, shape: [images, imageSide, imageSide], values: pixels),
                      to: dir.file("\(prefix)-images-idx3-ubyte.gz"), compress: true)
        try IDX.write(IDXArray(elementType: .uint8, shape: [labels], values: (0..<labels).map { Float($0 % 10) }),
                      to: dir.file("\(prefix)-labels-idx1-ubyte.gz"), compress: true)
    }
}

@Test func miniatureFilesLoadAndScaleBy255() throws {
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    try writeMiniFashionMNIST(dir, images: 3, labels: 3)
    let (train, test) = try FashionMNIST.load(options: DataOptions(directory: dir.path))
    #expect(train.inputs.shape == [3, 1, 28, 28] && test.labels == [0, 1, 2])
    let expected: [Float] = [0, 1 / 255, 2 / 255]
    #expect(Array(train.inputs.values.prefix(3)) == expected)
    #expect(train.inputs.values[255] == 1)
}

@Test func imageAndLabelCountMismatchNamesBothFiles() throws {
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    try writeMiniFashionMNIST(dir, images: 3, labels: 4)
    #expect(throws: DataError.countMismatch(imagesPath: dir.file("train-images-idx3-ubyte.gz"), imageCount: 3,
                                            labelsPath: dir.file("train-labels-idx1-ubyte.gz"), labelCount: 4)) {
        try FashionMNIST.load(options: DataOptions(directory: dir.path))
    }
}

@Test func wrongImageSizeIsRejected() throws {
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    try writeMiniFashionMNIST(dir, images: 2, labels: 2, imageSide: 8)
    #expect {
        try FashionMNIST.load(options: DataOptions(directory: dir.path))
    } throws: { error in
        guard case let .unexpectedShape(path, shape, _)? = error as? DataError else { return false }
        return path.hasSuffix("train-images-idx3-ubyte.gz") && shape == [2, 8, 8]
    }
}
