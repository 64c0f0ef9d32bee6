import CredenceData
import CredenceTensor
import Foundation

/// A fresh temporary directory, removed by `cleanup()`.
struct TemporaryDirectory {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "credence-data-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}

/// True when the files a test reads are present; tests that need them are disabled otherwise.
enum Available {
    static let fashionMNIST = FileManager.default.fileExists(
        atPath: FashionMNIST.directory(options: DataOptions()) + "/t10k-labels-idx1-ubyte.gz")
    static let bundledSets = BundledSets.File.allCases.allSatisfy {
        FileManager.default.fileExists(atPath: BundledSets.path(of: $0, options: DataOptions()))
    }
}

/// How many labels fall in each class.
func histogram(_ labels: [Int32], classCount: Int) -> [Int] {
    var counts = [Int](repeating: 0, count: classCount)
    for label in labels { counts[Int(label)] += 1 }
    return counts
}
