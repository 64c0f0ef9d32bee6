import CredenceBench
import CredenceData
import CredenceNN
import CredenceTensor
import Foundation
import Testing

/// A temporary folder of prediction files for the score tests, removed by `cleanup()`.
struct ScoreFiles {
    let directory: String

    init() throws {
        directory = NSTemporaryDirectory() + "credence-score-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    func cleanup() { try? FileManager.default.removeItem(atPath: directory) }

    /// Writes `values` with `shape` as a `<f4` `.npy` file; returns its path.
    @discardableResult
    func npy(_ name: String, shape: [Int], _ values: [Float]) throws -> String {
        try NumPy.write(Tensor(shape: shape, values: values), to: path(name))
        return path(name)
    }

    /// Writes integer labels as an `<i8` `.npy` file; returns its path.
    @discardableResult
    func npyLabels(_ name: String, _ labels: [Int]) throws -> String {
        try Gzip.writeFile(path(name), bytes: NumPy.encode(integers: labels), compress: false)
        return path(name)
    }

    /// Writes `text` as is; returns its path.
    @discardableResult
    func text(_ name: String, _ text: String) throws -> String {
        try Gzip.writeFile(path(name), bytes: Array(text.utf8), compress: false)
        return path(name)
    }

    /// Writes named tensors as a `.safetensors` file; returns its path.
    @discardableResult
    func safetensors(_ name: String, _ tensors: [(String, Tensor)]) throws -> String {
        var file = SafeTensorsFile()
        for (key, tensor) in tensors { file[key] = tensor }
        try file.write(to: path(name))
        return path(name)
    }
}

/// Deterministic `N × C` probabilities from a seed: a softmax of Gaussian logits with the
/// true class boosted by `margin` for most examples, and the labels.
func syntheticPredictions(examples n: Int, classes c: Int, seed: UInt64, margin: Float = 2)
    -> (probabilities: [Float], labels: [Int]) {
    var rng = RandomGenerator(seed: seed)
    let logits = Tensor.randomNormal(shape: [n, c], rng: &rng).values
    var labels: [Int] = [], probabilities: [Float] = []
    for i in 0..<n {
        let y = (i * 7 + 3) % c
        labels.append(y)
        var row = Array(logits[(i * c)..<((i + 1) * c)])
        row[y] += margin
        let m = row.max()!
        let e = row.map { Foundation.exp(Double($0 - m)) }
        let total = e.reduce(0, +)
        probabilities += e.map { Float($0 / total) }
    }
    return (probabilities, labels)
}

/// The error `body` throws, as its description (nil when it does not throw).
func scoreErrorMessage(_ body: () throws -> Any) -> String? {
    do { _ = try body(); return nil } catch { return "\(error)" }
}
