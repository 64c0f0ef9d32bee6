@testable import CredenceBench
import CredenceData
import CredenceInference
import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation
import Testing

/// Numbers at the edges of the evaluation path: each gives finite figures or a clear refusal.
@Suite struct EdgeNumbersTests {
    /// Every figure of `evaluationMetrics` that is a number, by name.
    static func numbers(_ metrics: EvaluationMetrics) throws -> [(String, Double)] {
        let json = try JSONSerialization.jsonObject(with: try ResultStore.encoder.encode(metrics)) as Any
        var out: [(String, Double)] = []
        func walk(_ value: Any, _ path: String) {
            if let object = value as? [String: Any] { for (k, v) in object { walk(v, path + "." + k) } }
            else if let array = value as? [Any] { for (i, v) in array.enumerated() { walk(v, path + "[\(i)]") } }
            else if let number = value as? Double { out.append((path, number)) }
        }
        walk(json, "metrics")
        return out
    }

    /// Logits of ±1e30 (a saturated network): probabilities are exact 0s and 1s, and every
    /// metric — NLL of a confidently wrong prediction included — is a finite number.
    @Test func extremeLogitsGiveFiniteMetrics() throws {
        let logits = Tensor(shape: [4, 3], values: [1e30, -1e30, 0, -1e30, 1e30, 0, 0, 0, 1e30, 1e30, 1e30, -1e30])
        let p = try Predictive(logits: logits)
        #expect(p.meanProbabilities.allSatisfy { $0.isFinite && $0 >= 0 && $0 <= 1 })
        let labels: [Int32] = [0, 0, 2, 1]   // the second is confidently wrong
        let metrics = try evaluationMetrics(p, truth: .labels(labels), ood: [("same", { p })])
        let bad = try Self.numbers(metrics).filter { !$0.1.isFinite }
        #expect(bad.isEmpty, "\(bad)")
    }

    /// One example, and labels of one class only: finite figures; detection scores that need
    /// both outcomes are left out rather than made up.
    @Test func oneExampleAndOneClass() throws {
        let one = try Predictive(probabilities: Tensor(shape: [1, 3], values: [0.7, 0.2, 0.1]))
        let single = try evaluationMetrics(one, truth: .labels([0]))
        let figures = try Self.numbers(single)
        #expect(figures.allSatisfy { $0.1.isFinite }, "\(figures)")
        #expect(single.classification?.accuracy == 1 && single.misclassification.isEmpty)
        var rng = RandomGenerator(seed: 1)
        let p = try Predictive(logits: Tensor.randomNormal(shape: [20, 3], rng: &rng))
        let sameClass = try evaluationMetrics(p, truth: .labels([Int32](repeating: 1, count: 20)))
        #expect(try Self.numbers(sameClass).allSatisfy { $0.1.isFinite })
    }

    /// An empty OOD set, NaN and out-of-range inputs are refused with what is wrong.
    @Test func emptyNonFiniteAndOutOfRangeInputsAreRefused() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("credence-edges-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let (_, test) = try loadDataset(.shapes, options: DataOptions())
        func refusal(_ values: [Float], rows: Int, _ name: String) throws -> String {
            let path = dir.appendingPathComponent(name).path
            try NumPy.write(Tensor(shape: [rows, 1, 28, 28], values: values), to: path)
            do {
                _ = try loadOODInputs(.file(path: path), dataset: .shapes, test: test, options: DataOptions())
                return "accepted"
            } catch { return "\(error)" }
        }
        let empty = try refusal([], rows: 0, "empty.npy")
        #expect(empty.contains("empty.npy") && empty.contains("holds no examples"), "\(empty)")
        var values = [Float](repeating: 0.5, count: 2 * 784)
        values[900] = .nan
        let nan = try refusal(values, rows: 2, "nan.npy")
        #expect(nan.contains("nan.npy") && nan.contains("finite"), "\(nan)")
        values[900] = 3
        let range = try refusal(values, rows: 2, "range.npy")
        #expect(range.contains("range.npy") && range.contains("[0, 1]"), "\(range)")

        // A data set holding a NaN is refused where it is made: a network would turn the NaN
        // into plausible figures (ReLU maps NaN to 0).
        let inputs = Tensor(shape: [2, 2], values: [0, 1, .nan, 1])
        let error = try #require(throws: DataError.self) { try InMemoryDataset(name: "edge", inputs: inputs, labels: [0, 1], classCount: 2) }
        #expect("\(error)".contains("edge: example 1 holds a NaN"), "\(error)")
        #expect(throws: DataError.self) { try InMemoryDataset(name: "edge", inputs: Tensor(shape: [1, 1], values: [0]), targets: Tensor(shape: [1], values: [.infinity])) }
    }
}
